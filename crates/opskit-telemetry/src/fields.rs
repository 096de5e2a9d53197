//! Span fields as JSON text, written straight into the span's buffer: what the JSON
//! line format reads back for `span` and `spans`.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats span fields as a JSON object (`{"route":"/notes/{id}","id":7}`) the way
/// tracing-subscriber's `JsonFields` does, without building a `serde_json` map per
/// span: each field is escaped into the buffer as it is visited. A field recorded
/// later is added to the object; the JSON line format reads the last value of a
/// name twice recorded.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut visitor = Visitor::open(&mut writer);
        fields.record(&mut visitor);
        visitor.finish()?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if current.fields.is_empty() {
            return self.format_fields(current.as_writer(), fields);
        }
        // Reopen the object: drop its '}' and go on after the last field.
        let was_empty = current.fields == "{}";
        current.fields.pop();
        let mut writer = current.as_writer();
        let mut visitor = Visitor {
            writer: &mut writer,
            first: was_empty,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.finish()?;
        current.fields.push('}');
        Ok(())
    }
}

struct Visitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl<'a, 'w> Visitor<'a, 'w> {
    /// A visitor that opens the object (`{`) first.
    fn open(writer: &'a mut Writer<'w>) -> Self {
        let result = writer.write_char('{');
        Self {
            writer,
            first: true,
            result,
        }
    }

    fn key(&mut self, field: &Field) -> fmt::Result {
        if !self.first {
            self.writer.write_char(',')?;
        }
        self.first = false;
        write_string(self.writer, field.name())?;
        self.writer.write_char(':')
    }

    fn value(&mut self, field: &Field, value: fmt::Arguments<'_>, quoted: bool) {
        if self.result.is_err() {
            return;
        }
        self.result = self.key(field).and_then(|()| {
            if quoted {
                self.writer.write_char('"')?;
                write!(Escaping(self.writer), "{value}")?;
                self.writer.write_char('"')
            } else {
                self.writer.write_fmt(value)
            }
        });
    }
}

impl VisitOutput<fmt::Result> for Visitor<'_, '_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl Visit for Visitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.value(field, format_args!("{value}"), true);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.value(field, format_args!("{value}"), false);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.value(field, format_args!("{value}"), false);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.value(field, format_args!("{value}"), false);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.value(field, format_args!("{value}"), false);
        } else {
            // JSON has no NaN or infinity: as text, like serde_json's `null` would lose it.
            self.value(field, format_args!("{value}"), true);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.value(field, format_args!("{value:?}"), true);
    }
}

/// `text` as a JSON string, quotes included.
fn write_string(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    writer.write_char('"')?;
    Escaping(writer).write_str(text)?;
    writer.write_char('"')
}

/// Escapes what passes through it for the inside of a JSON string.
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut start = 0;
        for (i, byte) in text.bytes().enumerate() {
            let escaped = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[start..i])?;
            if escaped.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escaped)?;
            }
            start = i + 1;
        }
        self.0.write_str(&text[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        write_string(&mut Writer::new(&mut out), text).unwrap();
        out
    }

    #[test]
    fn strings_come_out_as_json_parses_them() {
        for text in [
            "plain",
            "quote \" and \\ slash",
            "line\nbreak\ttab\r",
            "\u{1}\u{1f}",
            "é ü 雪",
        ] {
            let json = escaped(text);
            assert_eq!(
                serde_json::from_str::<String>(&json).unwrap(),
                text,
                "{json}"
            );
        }
    }
}
