//! PostgreSQL maintenance and administration statements the parser does not take
//! (or takes without the detail that matters), classified by their words: `VACUUM`,
//! `REINDEX`, `CLUSTER`, `REFRESH MATERIALIZED VIEW`, database-wide statements and
//! catalogue-only changes.

use super::linter::Linter;
use super::rules;

/// A statement's upper-cased words, split on whitespace, parentheses, commas and
/// semicolons.
struct Words<'a>(Vec<&'a str>);

impl<'a> Words<'a> {
    fn new(upper: &'a str) -> Self {
        Self(
            upper
                .split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';'))
                .filter(|w| !w.is_empty())
                .collect(),
        )
    }

    fn has(&self, word: &str) -> bool {
        self.0.contains(&word)
    }

    fn starts(&self, prefix: &[&str]) -> bool {
        self.0.len() >= prefix.len() && self.0[..prefix.len()] == *prefix
    }
}

impl Linter {
    /// PostgreSQL maintenance and administration statements, classified by their
    /// words. Returns whether the statement was one of them.
    pub(super) fn maintenance(&mut self, sql: &str) -> bool {
        let upper = sql.to_ascii_uppercase();
        let words = Words::new(&upper);
        self.rebuild(&words) || self.administration(&words)
    }

    /// `ANALYZE`, `VACUUM`, `REINDEX`, `CLUSTER`, `REFRESH MATERIALIZED VIEW`: what
    /// rebuilds or rewrites under lock, or cannot run inside a transaction.
    fn rebuild(&mut self, words: &Words<'_>) -> bool {
        if words.starts(&["ANALYZE"]) {
        } else if words.starts(&["VACUUM"]) {
            self.outside_transaction_only("VACUUM");
            if words.has("FULL") {
                self.lock_risk(
                    rules::REWRITE_UNDER_LOCK,
                    "VACUUM FULL rewrites the table under an exclusive lock".into(),
                );
            }
        } else if words.starts(&["REINDEX"]) {
            if words.has("CONCURRENTLY") {
                self.outside_transaction_only("REINDEX CONCURRENTLY");
            } else {
                self.lock_risk(
                    rules::REWRITE_UNDER_LOCK,
                    "REINDEX blocks writes (and reads that use the index) while it rebuilds".into(),
                );
            }
        } else if words.starts(&["CLUSTER"]) {
            self.lock_risk(
                rules::REWRITE_UNDER_LOCK,
                "CLUSTER rewrites the table under an exclusive lock".into(),
            );
        } else if words.starts(&["REFRESH", "MATERIALIZED", "VIEW"]) {
            if !words.has("CONCURRENTLY") {
                self.lock_risk(
                    rules::REWRITE_UNDER_LOCK,
                    "REFRESH MATERIALIZED VIEW blocks reads of the view while its query runs"
                        .into(),
                );
            }
        } else {
            return false;
        }
        true
    }

    /// Database-wide statements, catalogue-only changes in forms the parser does
    /// not take, `DO` blocks that end the transaction, and `DETACH PARTITION`.
    fn administration(&mut self, words: &Words<'_>) -> bool {
        let has = |word: &str| words.has(word);
        let starts = |prefix: &[&str]| words.starts(prefix);
        if starts(&["CREATE", "DATABASE"])
            || starts(&["DROP", "DATABASE"])
            || starts(&["ALTER", "SYSTEM"])
            || starts(&["CREATE", "TABLESPACE"])
        {
            self.outside_transaction_only(&words.0[..2].join(" "));
        } else if starts(&["ALTER", "INDEX"])
            || starts(&["CREATE", "STATISTICS"])
            || starts(&["CREATE", "DOMAIN"])
            || starts(&["ALTER", "DEFAULT", "PRIVILEGES"])
            || starts(&["CREATE", "MATERIALIZED", "VIEW"])
            || (starts(&["CREATE", "TABLE"]) && has("LIKE"))
            || (starts(&["CREATE", "INDEX"]) && has("ONLY"))
            || (starts(&["ALTER", "TABLE"]) && has("CLUSTER") && has("ON"))
            || (starts(&["ALTER", "TABLE"]) && has("SET") && has("STATISTICS"))
            || (starts(&["ALTER", "TABLE"]) && has("ADD") && has("GENERATED") && has("VIRTUAL"))
        {
            // New objects, names, planner hints, catalogue-only changes (forms the
            // parser does not take): nothing an older binary sees, no long lock.
        } else if starts(&["DO"]) && self.in_transaction && (has("COMMIT") || has("ROLLBACK")) {
            self.find(
                rules::TRANSACTION_CONTROL,
                "a DO block ends the transaction the migration runs in".into(),
            );
        } else if starts(&["ALTER", "TABLE"]) && has("DETACH") && has("PARTITION") {
            let table = words.0.get(2).map(|w| w.to_lowercase()).unwrap_or_default();
            self.find(
                rules::DETACH_PARTITION,
                format!("detaches a partition of {table}: its rows leave the parent"),
            );
            if has("CONCURRENTLY") {
                self.outside_transaction_only("DETACH PARTITION CONCURRENTLY");
            }
        } else {
            return false;
        }
        true
    }
}
