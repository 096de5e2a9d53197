//! A session that holds a lock a migration waits for.

use std::fmt;

/// A session holding a lock the migration waited for, as PostgreSQL's
/// `pg_blocking_pids` and `pg_stat_activity` name it. Its query is cut to 120
/// characters and is the text the session sent: parameters bound to it never
/// appear.
///
/// ```
/// use opskit_migrate::lock_wait::Blocker;
///
/// let blocker = Blocker::new(4242, "nightly-report", "idle in transaction", 31.5, "SELECT count(*) FROM notes");
/// assert_eq!(
///     blocker.to_string(),
///     "pid 4242 (application \"nightly-report\", idle in transaction, in its transaction for 31.5 s, last query: SELECT count(*) FROM notes)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Blocker {
    /// The session's backend pid (`pg_terminate_backend(pid)` ends it).
    pub pid: i32,
    /// Its `application_name`.
    pub application_name: String,
    /// Its state: `active`, `idle in transaction`, ...
    pub state: String,
    /// How long its transaction has run, in seconds (its query's, outside one).
    pub seconds: f64,
    /// The start of its current or last query, at most 120 characters.
    pub query: String,
}

impl Blocker {
    /// A blocker as described; `query` is cut to 120 characters.
    pub fn new(
        pid: i32,
        application_name: impl Into<String>,
        state: impl Into<String>,
        seconds: f64,
        query: impl AsRef<str>,
    ) -> Self {
        Self {
            pid,
            application_name: application_name.into(),
            state: state.into(),
            seconds,
            query: cut(query.as_ref()),
        }
    }
}

/// The first 120 characters of `query`, on one line.
fn cut(query: &str) -> String {
    let one_line: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(120) {
        Some((end, _)) => format!("{}...", &one_line[..end]),
        None => one_line,
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} (application {:?}, {}, in its transaction for {:.1} s, last query: {})",
            self.pid, self.application_name, self.state, self.seconds, self.query
        )
    }
}

/// The blockers as one line, or what is known when none was named.
pub(crate) fn describe(blockers: &[Blocker]) -> String {
    if blockers.is_empty() {
        return "a session the guard could not name (SQLite does not say who)".to_owned();
    }
    blockers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_query_is_cut_to_120_characters_on_one_line() {
        let long = format!("SELECT\n  {}", "x".repeat(300));
        let blocker = Blocker::new(1, "a", "active", 0.0, long);
        assert_eq!(blocker.query.chars().count(), 123);
        assert!(blocker.query.starts_with("SELECT xxx") && blocker.query.ends_with("..."));
    }
}
