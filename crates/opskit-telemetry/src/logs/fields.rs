//! Span fields as JSON text, written straight into the span's buffer: what the JSON
//! line format reads back for `span` and `spans`. A span made through
//! [`defer_fields`] gets its text only when a line first needs it
//! ([`write_deferred`]).

use std::cell::Cell;
use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats span fields as a JSON object (`{"route":"/notes/{id}","id":7}`) the way
/// tracing-subscriber's `JsonFields` does, without building a `serde_json` map per
/// span: each field is escaped into a `String` as it is visited. A field recorded
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
        // A span made through `defer_fields`: its fields are written when a line
        // first needs them, and most requests write none.
        if DEFER_NEXT.replace(false) {
            return Ok(());
        }
        // Every other span is formatted when it is made, whether or not a line is ever
        // logged in it: the object is written into a reused buffer, with no dynamic
        // call per piece, and copied into the span's buffer once.
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                scratch.clear();
                write_object(&mut scratch, &fields)?;
                let written = writer.write_str(&scratch);
                if scratch.capacity() > MAX_SCRATCH {
                    *scratch = String::new();
                }
                written
            }
            // A field's Debug that makes a span of its own.
            Err(_) => {
                let mut object = String::new();
                write_object(&mut object, &fields)?;
                writer.write_str(&object)
            }
        })
    }

    fn add_fields(
        &self,
        current: &'writer mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if current.fields.is_empty() {
            return write_object(&mut current.fields, fields);
        }
        // Reopen the object: drop its '}' and go on after the last field.
        let was_empty = current.fields == "{}";
        current.fields.pop();
        let mut visitor = Visitor {
            out: &mut current.fields,
            first: was_empty,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        let result = visitor.finish();
        current.fields.push('}');
        result
    }
}

thread_local! {
    /// Set while [`defer_fields`] makes a span: the next span formatted on this
    /// thread is left without its text.
    static DEFER_NEXT: Cell<bool> = const { Cell::new(false) };
    static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Past this, a thread's scratch buffer is let go after use.
const MAX_SCRATCH: usize = 16 * 1024;

/// Makes a span with `make`, asking [`JsonSpanFields`] to leave the span's fields
/// unwritten: the caller keeps their values and writes them with [`write_deferred`]
/// before a line reads them. Returns what `make` made and whether the fields were
/// left unwritten (`false` when no JSON format saw the span: another format, a
/// filter that hides it, no subscriber).
///
/// The format sees the span first among the layers that write its fields (the
/// filter under it formats nothing), so the span left unwritten is the one `make`
/// makes.
pub(crate) fn defer_fields<T>(make: impl FnOnce() -> T) -> (T, bool) {
    DEFER_NEXT.set(true);
    let made = make();
    (made, !DEFER_NEXT.replace(false))
}

/// Writes into `current` (a deferred span's fields: empty, or an object of the fields
/// recorded on the span since it was made) the text [`JsonSpanFields`] would have
/// written: `fields` as a JSON object of strings, in their order, then the fields
/// recorded since, as a field recorded later is added.
pub(crate) fn write_deferred(current: &mut String, fields: &[(&str, &str)]) {
    let later = std::mem::take(current);
    current.reserve(
        later.len()
            + fields
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>()
            + 2,
    );
    current.push('{');
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            current.push(',');
        }
        write_string(current, name);
        current.push(':');
        write_string(current, value);
    }
    match later.strip_prefix('{') {
        Some(rest) if rest != "}" && !fields.is_empty() => {
            current.push(',');
            current.push_str(rest);
        }
        Some(rest) if rest != "}" => current.push_str(rest),
        _ => current.push('}'),
    }
}

fn write_object<R: RecordFields>(out: &mut String, fields: &R) -> fmt::Result {
    out.push('{');
    let mut visitor = Visitor {
        out,
        first: true,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    let result = visitor.finish();
    out.push('}');
    result
}

struct Visitor<'a> {
    out: &'a mut String,
    first: bool,
    result: fmt::Result,
}

impl Visitor<'_> {
    fn key(&mut self, field: &Field) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_string(self.out, field.name());
        self.out.push(':');
    }

    /// A value written by its `Display` (`format_args!`), quoted and escaped or not.
    fn value(&mut self, field: &Field, value: fmt::Arguments<'_>, quoted: bool) {
        if self.result.is_err() {
            return;
        }
        self.key(field);
        if let Some(text) = value.as_str() {
            if quoted {
                write_string(self.out, text);
            } else {
                self.out.push_str(text);
            }
            return;
        }
        self.result = if quoted {
            self.out.push('"');
            let written = Escaping(self.out).write_fmt(value);
            self.out.push('"');
            written
        } else {
            self.out.write_fmt(value)
        };
    }
}

impl VisitOutput<fmt::Result> for Visitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_ok() {
            self.key(field);
            write_string(self.out, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.result.is_ok() {
            self.key(field);
            self.out.push_str(if value { "true" } else { "false" });
        }
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
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    escape(out, text);
    out.push('"');
}

/// Which bytes JSON wants escaped inside a string: `"`, `\` and control characters.
const ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Where the first byte JSON wants escaped is, eight bytes at a time: a control
/// character (below 0x20), `"` (0x22) or `\\` (0x5c).
fn first_escaped(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A high bit set where a byte of `x` is zero (exact for the lowest such byte).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        // Bytes below 0x20 (ASCII and not; bytes of 0x80 and up have their high
        // bit set, which `!word` clears).
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
        let hit = control | zero(word ^ (ONES * 0x22)) | zero(word ^ (ONES * 0x5c));
        if hit != 0 {
            return Some(offset + (hit.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| ESCAPED[usize::from(b)])
        .map(|i| offset + i)
}

/// Appends `text` escaped for the inside of a JSON string.
fn escape(out: &mut String, text: &str) {
    let Some(first) = first_escaped(text.as_bytes()) else {
        out.push_str(text);
        return;
    };
    let mut start = 0;
    for (i, &byte) in text.as_bytes().iter().enumerate().skip(first) {
        if !ESCAPED[usize::from(byte)] {
            continue;
        }
        out.push_str(&text[start..i]);
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
}

/// Escapes what is formatted through it for the inside of a JSON string.
struct Escaping<'a>(&'a mut String);

impl Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        escape(self.0, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, text);
        out
    }

    #[test]
    fn every_byte_that_needs_escaping_is_found_wherever_it_is() {
        for len in 0..24 {
            for at in 0..len {
                for byte in 0u8..=0x7f {
                    let mut text = vec![b'a'; len];
                    text[at] = byte;
                    let expected = text.iter().position(|&b| ESCAPED[usize::from(b)]);
                    assert_eq!(first_escaped(&text), expected, "{byte:#x} at {at} of {len}");
                }
                // Bytes of multi-byte characters never need escaping.
                let mut text = vec![b'a'; len];
                text[at] = 0xa2;
                assert_eq!(first_escaped(&text), None);
            }
        }
        // A later byte needing escaping is found after an earlier one.
        assert_eq!(first_escaped(b"abcdefgh\"ijklmno\"p"), Some(8));
        assert_eq!(first_escaped(b"\x1f\xff\xff\xff\xff\xff\xff\xff"), Some(0));
        assert_eq!(first_escaped("é ü 雪 \u{7f}".as_bytes()), None);
    }

    #[test]
    fn strings_come_out_as_json_parses_them() {
        for text in [
            "plain",
            "quote \" and \\ slash",
            "line\nbreak\ttab\r",
            "\u{1}\u{1f}",
            "é ü 雪",
            "long enough for whole words: \"quoted\", back\\slash, \u{1b}[31m colour",
            "ends with a quote after eight bytes \"",
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
