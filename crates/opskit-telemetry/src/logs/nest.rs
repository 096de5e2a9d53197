//! JSON lines whose JSON-valued fields are nested, not quoted: `service.starting`'s
//! `config` and `config.invalid`'s `problems` reach a log pipeline as an array it
//! reads directly, not as text it would have to parse a second time.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// The fields opskit writes as JSON text, nested by [`NestingWriter`].
const JSON_FIELDS: [&str; 2] = ["config", "problems"];
/// How each looks in a line while it is still text.
const QUOTED: [&str; 2] = ["\"config\":\"", "\"problems\":\""];

/// Wraps a [`MakeWriter`] of JSON lines: a top-level `config` or `problems` field
/// whose value is a string holding a JSON array or object becomes that array or
/// object. Other lines pass through untouched (one substring search).
#[derive(Debug, Clone)]
pub(crate) struct NestingWriter<M> {
    inner: M,
}

impl<M> NestingWriter<M> {
    pub(crate) fn new(inner: M) -> Self {
        Self { inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for NestingWriter<M> {
    type Writer = Nesting<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Nesting(self.inner.make_writer())
    }
}

/// One line's writer, from [`NestingWriter`].
#[derive(Debug)]
pub(crate) struct Nesting<W>(W);

impl<W: Write> Write for Nesting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match nest(buf) {
            Some(line) => self.0.write_all(&line)?,
            None => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The line with its JSON-valued fields nested, or `None` to keep it as it is.
fn nest(line: &[u8]) -> Option<Vec<u8>> {
    let holds = |quoted: &str| line.windows(quoted.len()).any(|w| w == quoted.as_bytes());
    if !QUOTED.iter().any(|quoted| holds(quoted)) {
        return None;
    }
    let text = std::str::from_utf8(line).ok()?;
    let mut value: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text.trim_end()).ok()?;
    let mut changed = false;
    for field in JSON_FIELDS {
        if let Some(serde_json::Value::String(inner)) = value.get(field)
            && let Ok(parsed @ (serde_json::Value::Array(_) | serde_json::Value::Object(_))) =
                serde_json::from_str::<serde_json::Value>(inner)
        {
            value.insert(field.to_owned(), parsed);
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    let mut out = serde_json::to_vec(&value).ok()?;
    out.push(b'\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::nest;

    #[test]
    fn json_text_in_config_and_problems_becomes_nested_json() {
        let line =
            br#"{"event":"service.starting","config":"[{\"variable\":\"APP_PORT\"}]","pid":7}
"#;
        let nested: serde_json::Value = serde_json::from_slice(&nest(line).unwrap()).unwrap();
        assert_eq!(nested["config"][0]["variable"], "APP_PORT");
        assert_eq!(nested["pid"], 7);
        // Other lines, and text that is not JSON, stay as they are.
        assert!(nest(br#"{"event":"service.ready"}"#).is_none());
        assert!(nest(br#"{"config":"not json"}"#).is_none());
    }
}
