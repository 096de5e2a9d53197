//! Helpers the opskit crates' own tests share. Not published: a crate's tests
//! depend on it as a dev-dependency.
//!
//! [`postgres_admin_url`] finds the PostgreSQL server the tests may use, or says
//! that there is none.
//!
//! [`CapturedLogs`] keeps what a tracing subscriber writes, to assert on events and
//! to check that a canary secret never reaches a log line:
//!
//! ```
//! use opskit_testkit::CapturedLogs;
//!
//! let logs = CapturedLogs::default();
//! tracing::subscriber::with_default(logs.json_subscriber(), || {
//!     tracing::warn!(event = "secret.file_permissions", path = "/run/secrets/token", "readable by others");
//! });
//! let events = logs.events();
//! assert_eq!(events[0]["fields"]["event"], "secret.file_permissions");
//! assert!(logs.text().contains("/run/secrets/token"));
//! ```
//!
//! For tests that run a service as a real process: [`process`] starts it with a
//! clean environment and reads its events, [`load`] keeps requests in flight over
//! raw TCP, [`prometheus`] parses what `/metrics` serves, [`pgbouncer`] puts a
//! real PgBouncer in transaction pooling in front of the test server, and [`sweep`]
//! looks for canary secrets in everything a test saw.

pub mod load;
pub mod otlp;
pub mod outage;
pub mod pgbouncer;
pub mod process;
pub mod prometheus;
pub mod sweep;

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;

/// Asserts that `text` (a report, a log, a response) contains `expected`, and
/// shows the whole text when it does not.
#[track_caller]
pub fn assert_contains(text: impl AsRef<str>, expected: impl AsRef<str>) {
    let (text, expected) = (text.as_ref(), expected.as_ref());
    assert!(text.contains(expected), "{expected:?} is not in:\n{text}");
}

/// Everything written to it, kept in memory; clones share the buffer.
///
/// It is a [`MakeWriter`], so it can be handed to any `tracing_subscriber` builder
/// (or to `opskit_telemetry::subscriber`).
#[derive(Clone, Debug, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// A subscriber writing JSON lines (tracing-subscriber's own layout) here.
    pub fn json_subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        tracing_subscriber::fmt()
            .json()
            .with_writer(self.clone())
            .finish()
    }

    /// All that was written, as text (lossily, should it not be UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Every line, parsed as JSON.
    ///
    /// # Panics
    ///
    /// When a line is not JSON, naming the line: in a test, that is the failure.
    pub fn events(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("a log line is not JSON ({err}): {line}"))
            })
            .collect()
    }

    /// The first line whose `event` field is `name`.
    ///
    /// # Panics
    ///
    /// When there is none, showing every line.
    pub fn event(&self, name: &str) -> Value {
        self.events()
            .into_iter()
            .find(|line| line["event"] == name)
            .unwrap_or_else(|| panic!("no {name} event in:\n{}", self.text()))
    }
}

/// Whether this process runs as root, whose reads ignore file modes: a test of
/// an unreadable file runs its part as another user then.
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .map(|uids| uids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The URL of the PostgreSQL server for tests, from `OPSKIT_TEST_POSTGRES_URL`
/// (which `.ci/run` starts and sets), connecting as a role that may create databases
/// and roles.
///
/// Without it, a developer's machine skips the PostgreSQL tests: `None`, and a line
/// saying `SKIPPED` and how to run them.
///
/// # Panics
///
/// Without it under `CI=true`: in CI nothing skips.
pub fn postgres_admin_url() -> Option<String> {
    if let Ok(url) = std::env::var("OPSKIT_TEST_POSTGRES_URL") {
        return Some(url);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "OPSKIT_TEST_POSTGRES_URL is not set: CI must run the PostgreSQL tests (.ci/run starts a server and sets it)"
        );
    }
    eprintln!(
        "SKIPPED: no PostgreSQL server (set OPSKIT_TEST_POSTGRES_URL=postgres://user:password@host/postgres to run this test)"
    );
    None
}

/// The CA certificate that signed the PostgreSQL test server's TLS certificate, from
/// `OPSKIT_TEST_POSTGRES_CA` (`.ci/run` makes both and sets it), with the admin URL.
///
/// Without them, a developer's machine skips the TLS tests: `None`, and a line saying
/// `SKIPPED` and how to run them.
///
/// # Panics
///
/// Without them under `CI=true`: in CI nothing skips.
pub fn postgres_tls() -> Option<(String, std::path::PathBuf)> {
    let url = postgres_admin_url()?;
    if let Some(ca) = std::env::var_os("OPSKIT_TEST_POSTGRES_CA") {
        return Some((url, ca.into()));
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "OPSKIT_TEST_POSTGRES_CA is not set: CI must run the TLS tests (.ci/run turns TLS on and sets it)"
        );
    }
    eprintln!(
        "SKIPPED: the PostgreSQL server's CA is not known (set OPSKIT_TEST_POSTGRES_CA to the CA certificate's path to run this test)"
    );
    None
}

/// The span opskit's `RequestTracingLayer` makes for `GET /notes/{id}`, made by
/// hand with the same target, name and fields (`url.path` = `path`, `request_id`):
/// what a test compares opskit's log lines with, and what a bench measures a span
/// alone with.
pub fn request_span_by_hand(path: &str, request_id: &str) -> tracing::Span {
    tracing::info_span!(
        target: "opskit::http",
        "request",
        otel.name = "GET /notes/{id}",
        otel.kind = "server",
        http.request.method = "GET",
        http.route = "/notes/{id}",
        url.path = path,
        request_id = request_id,
    )
}

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
