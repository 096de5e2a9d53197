//! The per-file override: `-- opskit: lock_timeout=10s` among the leading comments.

use std::time::Duration;

use super::duration::parse_duration;

/// The key of the header line.
const KEY: &str = "lock_timeout";

/// Whether an `opskit:` header's text is a lock-timeout line (right or wrong), so
/// the expand/contract header leaves it to this module.
pub(crate) fn is_lock_timeout_line(opskit: &str) -> bool {
    opskit.trim_start().starts_with(KEY)
}

/// The file's `lock_timeout` header among its leading `--` comments and blank
/// lines, if any. `Err((line, message))` for a line that says `lock_timeout` but not
/// as `lock_timeout=<whole number><ms|s|m>`.
pub(crate) fn lock_timeout(sql: &str) -> Result<Option<Duration>, (usize, String)> {
    let mut found = None;
    for (index, line) in sql.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        let Some(opskit) = comment.trim().strip_prefix("opskit:") else {
            continue;
        };
        if !is_lock_timeout_line(opskit) {
            continue;
        }
        let value = opskit
            .trim()
            .strip_prefix(KEY)
            .and_then(|v| v.strip_prefix('='));
        let parsed = value.map(|v| parse_duration(v.trim_end()));
        match parsed {
            Some(Ok(duration)) => found = Some(duration),
            Some(Err(err)) => return Err((index + 1, format!("`{line}`: {err}"))),
            None => {
                return Err((
                    index + 1,
                    format!("`{line}` is not understood: write -- opskit: lock_timeout=10s"),
                ));
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_read_among_the_leading_comments_only() {
        let sql = "-- no-transaction\n\n-- opskit: lock_timeout=10s\nCREATE INDEX CONCURRENTLY i ON t (x);";
        assert_eq!(lock_timeout(sql), Ok(Some(Duration::from_secs(10))));
        assert_eq!(
            lock_timeout("SELECT 1;\n-- opskit: lock_timeout=bad"),
            Ok(None)
        );
        assert_eq!(lock_timeout("ALTER TABLE t ADD COLUMN x INT;"), Ok(None));
    }

    #[test]
    fn a_bad_header_names_its_line_and_the_fix() {
        let (line, message) =
            lock_timeout("-- opskit: expand\n-- opskit: lock_timeout=10 s\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(
            message.contains("`-- opskit: lock_timeout=10 s`"),
            "{message}"
        );
        assert!(message.contains("such as 500ms, 2s or 1m"), "{message}");
        let (line, message) = lock_timeout("-- opskit: lock_timeout 10s\n").unwrap_err();
        assert_eq!(line, 1);
        assert!(message.contains("lock_timeout=10s"), "{message}");
    }
}
