//! One canary sweep over everything a test saw: every byte the processes wrote and
//! every response body it read, so that no output is skipped by accident.
//!
//! ```
//! use opskit_testkit::sweep::Sweep;
//!
//! let mut sweep = Sweep::default();
//! sweep.record("GET /readyz", "{\"status\":\"pass\"}");
//! sweep.process("notes", &["{\"event\":\"service.stopped\"}".to_owned()], "");
//! sweep.assert_clean(&["canary-token-3f9c"]);
//! assert_eq!(sweep.len(), 3);
//! ```

use opskit_secret::canary::find_leak;

/// The outputs a test collected, each named by where it came from.
#[derive(Debug, Default)]
pub struct Sweep {
    outputs: Vec<(String, Vec<u8>)>,
}

impl Sweep {
    /// Keeps `bytes`, read from `source` (a response body, a file, a log).
    pub fn record(&mut self, source: impl Into<String>, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.outputs.push((source.into(), bytes.as_ref().to_vec()));
        self
    }

    /// Keeps a response's body and passes the response on, so a test sweeps exactly
    /// what it asserts on: `let (status, body) = sweep.response("GET /", get(..)?);`.
    pub fn response(
        &mut self,
        source: impl Into<String>,
        response: (u16, String),
    ) -> (u16, String) {
        self.record(source, response.1.as_bytes());
        response
    }

    /// Keeps a whole response, headers included, and passes it on.
    pub fn exchange(
        &mut self,
        source: impl Into<String>,
        response: crate::process::Response,
    ) -> crate::process::Response {
        let source = source.into();
        self.record(format!("{source} (headers)"), response.head());
        self.record(source, response.body.as_bytes());
        response
    }

    /// Keeps everything a finished process wrote: its stdout lines and its stderr.
    pub fn process(&mut self, name: &str, stdout_lines: &[String], stderr: &str) -> &mut Self {
        self.record(format!("{name} stdout"), stdout_lines.join("\n"));
        self.record(format!("{name} stderr"), stderr)
    }

    /// How many outputs were kept.
    pub fn len(&self) -> usize {
        self.outputs.len()
    }

    /// Whether nothing was kept.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
    }

    /// Panics when any canary appears in any output, as is or percent-encoded,
    /// naming the output and showing where (the canary itself replaced).
    ///
    /// # Panics
    ///
    /// On a leak; when nothing was recorded or a canary is empty (a sweep of nothing,
    /// or for nothing, proves nothing).
    #[track_caller]
    pub fn assert_clean(&self, canaries: &[&str]) {
        assert!(!self.outputs.is_empty(), "the sweep recorded no output");
        for canary in canaries {
            assert!(!canary.is_empty(), "an empty canary proves nothing");
            for (source, bytes) in &self.outputs {
                if let Some(leak) = find_leak(bytes, canary) {
                    panic!("secret leaked into {source}: {leak}");
                }
            }
        }
    }
}
