//! Splitting a migration file into statements, so one statement that does not parse
//! does not hide the others.

/// A statement's text and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    pub(crate) sql: &'a str,
    pub(crate) line: usize,
}

/// Splits on `;` outside strings, quoted identifiers, comments and dollar quotes.
/// Chunks holding only whitespace and comments are dropped.
pub(crate) fn split(sql: &str) -> Vec<Chunk<'_>> {
    let bytes = sql.as_bytes();
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' | b'`' => i = skip_quoted(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
            }
            b'$' => i = skip_dollar_quoted(sql, i),
            b';' => {
                push(sql, start, i, &mut chunks);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push(sql, start, bytes.len(), &mut chunks);
    chunks
}

fn push<'a>(sql: &'a str, start: usize, end: usize, chunks: &mut Vec<Chunk<'a>>) {
    let text = &sql[start..end];
    let Some(offset) = first_code(text) else {
        return;
    };
    let line = sql[..start + offset].matches('\n').count() + 1;
    chunks.push(Chunk {
        sql: text[offset..].trim_end(),
        line,
    });
}

/// Offset of the first character that is neither whitespace nor inside a comment.
fn first_code(text: &str) -> Option<usize> {
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
        } else if text[i..].starts_with("--") {
            i = text[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |n| i + 2 + n + 2);
        } else {
            return Some(i);
        }
    }
    None
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
        split(sql).into_iter().map(|c| (c.sql, c.line)).collect()
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
        assert!(split("-- only a comment\n/* and another */\n;\n").is_empty());
        assert_eq!(texts("SELECT 'it''s; fine'"), [("SELECT 'it''s; fine'", 1)]);
    }
}
