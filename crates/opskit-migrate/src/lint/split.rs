//! Splitting a migration file into statements, so one statement that does not parse
//! does not hide the others.

use super::dialect::Dialect;

/// A statement's text and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    pub(crate) sql: &'a str,
    pub(crate) line: usize,
}

/// Splits on `;` outside strings, quoted identifiers, comments and dollar quotes.
/// Chunks holding only whitespace and comments are dropped.
///
/// PostgreSQL's `E'...'` strings take backslash escapes and its block comments nest;
/// SQLite's do neither. A SQLite `CREATE TRIGGER` is one statement with its
/// `BEGIN ...; END` body: inside it, only the `;` after `; END` ends it (as
/// `sqlite3_complete` decides). One pass, with the line counted as it goes: linear
/// in the size of the file.
pub(crate) fn split(sql: &str, dialect: Dialect) -> Vec<Chunk<'_>> {
    let bytes = sql.as_bytes();
    let postgres = dialect == Dialect::Postgres;
    let mut chunks = Vec::new();
    let mut lines = LineCounter::default();
    let mut start = 0;
    let mut i = 0;
    // Whether the current statement is a SQLite trigger (known at its first `;`),
    // and its last tokens (comments and whitespace are not tokens).
    let mut trigger: Option<bool> = None;
    let mut last = Last::Other;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' if postgres && is_escape_string_prefix(bytes, i) => {
                i = skip_escape_string(bytes, i);
                last = Last::Other;
            }
            b'\'' | b'"' | b'`' => {
                i = skip_quoted(bytes, i);
                last = Last::Other;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(sql, i, postgres),
            b'$' => {
                i = skip_dollar_quoted(sql, i);
                last = Last::Other;
            }
            b';' => {
                let in_trigger =
                    !postgres && *trigger.get_or_insert_with(|| is_trigger(&sql[start..i]));
                if in_trigger && last != Last::SemicolonEnd {
                    // A statement of the body: the trigger goes on.
                    last = Last::Semicolon;
                    i += 1;
                    continue;
                }
                push(sql, start, i, &mut lines, &mut chunks, postgres);
                i += 1;
                start = i;
                trigger = None;
                last = Last::Other;
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .map_or(bytes.len(), |n| i + n);
                last = if last == Last::Semicolon && bytes[i..end].eq_ignore_ascii_case(b"end") {
                    Last::SemicolonEnd
                } else {
                    Last::Other
                };
                i = end;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                last = Last::Other;
                i += 1;
            }
        }
    }
    push(sql, start, bytes.len(), &mut lines, &mut chunks, postgres);
    chunks
}

/// The last tokens of a statement, for where a SQLite trigger's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Last {
    Other,
    /// `;`
    Semicolon,
    /// `;` then `END`: the next `;` ends the trigger.
    SemicolonEnd,
}

/// Whether `chunk` starts with `CREATE [TEMP|TEMPORARY] TRIGGER` (after comments).
fn is_trigger(chunk: &str) -> bool {
    let Some(code) = first_code(chunk, false) else {
        return false;
    };
    let mut words = chunk[code..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty());
    let is_word = |w: Option<&str>, name: &str| w.is_some_and(|w| w.eq_ignore_ascii_case(name));
    let first = words.next();
    let mut second = words.next();
    if is_word(second, "temp") || is_word(second, "temporary") {
        second = words.next();
    }
    is_word(first, "create") && is_word(second, "trigger")
}

/// Counts lines up to a byte offset, resuming where the last count stopped (offsets
/// only grow), so that numbering every statement stays linear.
#[derive(Default)]
struct LineCounter {
    offset: usize,
    line: usize,
}

impl LineCounter {
    fn line_at(&mut self, sql: &str, offset: usize) -> usize {
        self.line += sql.as_bytes()[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = offset;
        self.line + 1
    }
}

fn push<'a>(
    sql: &'a str,
    start: usize,
    end: usize,
    lines: &mut LineCounter,
    chunks: &mut Vec<Chunk<'a>>,
    postgres: bool,
) {
    let text = &sql[start..end];
    let Some(offset) = first_code(text, postgres) else {
        return;
    };
    let line = lines.line_at(sql, start + offset);
    chunks.push(Chunk {
        sql: text[offset..].trim_end(),
        line,
    });
}

/// Offset of the first character that is neither whitespace nor inside a comment.
fn first_code(text: &str, postgres: bool) -> Option<usize> {
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
        } else if text[i..].starts_with("--") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if text[i..].starts_with("/*") {
            i = skip_block_comment(text, i, postgres);
        } else {
            return Some(i);
        }
    }
    None
}

/// `/* ... */`, nested on PostgreSQL (`/* /* */ */` is one comment there).
fn skip_block_comment(sql: &str, open: usize, nested: bool) -> usize {
    let bytes = sql.as_bytes();
    let mut depth = 1;
    let mut i = open + 2;
    while i < bytes.len() {
        if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else if nested && bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// Whether the quote at `open` starts an `E'...'` string: an `E` right before it that
/// is not the end of a longer word.
fn is_escape_string_prefix(bytes: &[u8], open: usize) -> bool {
    open >= 1
        && matches!(bytes[open - 1], b'E' | b'e')
        && (open < 2 || !(bytes[open - 2].is_ascii_alphanumeric() || bytes[open - 2] == b'_'))
}

/// An `E'...'` string: a backslash escapes the next byte, `''` is a quote.
fn skip_escape_string(bytes: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

fn skip_quoted(bytes: &[u8], open: usize) -> usize {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            // A doubled quote is an escaped quote.
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// `$$ ... $$` or `$tag$ ... $tag$`; a `$1` parameter is not a quote.
fn skip_dollar_quoted(sql: &str, open: usize) -> usize {
    let rest = &sql[open + 1..];
    let tag_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if !rest[tag_len..].starts_with('$') || rest.starts_with(|c: char| c.is_ascii_digit()) {
        return open + 1;
    }
    let delimiter = &sql[open..open + tag_len + 2];
    let body = open + delimiter.len();
    sql[body..]
        .find(delimiter)
        .map_or(sql.len(), |n| body + n + delimiter.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<(&str, usize)> {
        split(sql, Dialect::Postgres)
            .into_iter()
            .map(|c| (c.sql, c.line))
            .collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_comments_and_dollar_quotes() {
        let sql = "-- header; not a statement\nCREATE TABLE a (x text DEFAULT 'a;b');\n\n\
                   /* ; */ INSERT INTO a VALUES ($$;$$);\nDO $body$ BEGIN PERFORM 1; END $body$;\nSELECT $1;";
        assert_eq!(
            texts(sql),
            [
                ("CREATE TABLE a (x text DEFAULT 'a;b')", 2),
                ("INSERT INTO a VALUES ($$;$$)", 4),
                ("DO $body$ BEGIN PERFORM 1; END $body$", 5),
                ("SELECT $1", 6),
            ]
        );
    }

    #[test]
    fn comments_alone_are_not_statements() {
        assert!(
            split(
                "-- only a comment\n/* and another */\n;\n",
                Dialect::Postgres
            )
            .is_empty()
        );
        assert_eq!(texts("SELECT 'it''s; fine'"), [("SELECT 'it''s; fine'", 1)]);
    }

    #[test]
    fn escape_strings_and_nested_comments_hide_their_semicolons_on_postgresql() {
        assert_eq!(
            texts("SELECT E'it\\'s; fine';\n/* /* ; */ still a comment; */ SELECT 2;"),
            [("SELECT E'it\\'s; fine'", 1), ("SELECT 2", 2)]
        );
        // SQLite's comments do not nest: the first */ ends it.
        let sqlite: Vec<&str> = split("/* /* */ SELECT 1; SELECT 2", Dialect::Sqlite)
            .into_iter()
            .map(|c| c.sql)
            .collect();
        assert_eq!(sqlite, ["SELECT 1", "SELECT 2"]);
    }

    #[test]
    fn a_sqlite_trigger_is_one_statement_with_its_body() {
        let sql = "CREATE TABLE t (a INT);\n\
                   CREATE TEMP TRIGGER t_check BEFORE INSERT ON t\n\
                   WHEN NEW.a IS NULL\n\
                   BEGIN\n\
                   \x20 SELECT CASE WHEN 1 THEN RAISE(ABORT, 'a; END') END;\n\
                   \x20 UPDATE t SET a = 0; -- the last one\n\
                   end;\n\
                   DROP TABLE x;";
        let chunks: Vec<(&str, usize)> = split(sql, Dialect::Sqlite)
            .into_iter()
            .map(|c| (c.sql, c.line))
            .collect();
        assert_eq!(chunks.len(), 3, "{chunks:?}");
        assert_eq!(chunks[0], ("CREATE TABLE t (a INT)", 1));
        assert!(chunks[1].0.starts_with("CREATE TEMP TRIGGER"), "{chunks:?}");
        assert!(chunks[1].0.ends_with("-- the last one\nend"), "{chunks:?}");
        assert_eq!(chunks[1].1, 2);
        assert_eq!(chunks[2], ("DROP TABLE x", 8));
        // Text that is not ASCII right before a `;` in the body.
        let accents = split(
            "CREATE TRIGGER t AFTER INSERT ON t BEGIN SELECT 1 AS éà; END; SELECT 2",
            Dialect::Sqlite,
        );
        assert_eq!(accents.len(), 2);
        // PostgreSQL's triggers call a function: no body to keep together.
        let postgres = split(
            "CREATE TRIGGER t BEFORE INSERT ON t EXECUTE FUNCTION f(); DROP TABLE x;",
            Dialect::Postgres,
        );
        assert_eq!(postgres.len(), 2);
    }

    #[test]
    fn lines_are_counted_across_many_statements() {
        let sql = "SELECT 1;\n".repeat(1000);
        let chunks = split(&sql, Dialect::Postgres);
        assert_eq!(chunks.len(), 1000);
        assert_eq!(chunks[999].line, 1000);
    }
}
