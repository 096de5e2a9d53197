//! The linter's state while it reads one migration file, and how it records what it
//! finds. Each statement family adds its methods in a file of its own.

use std::collections::HashSet;

use sqlparser::ast::ObjectName;

use super::dialect::{Dialect, key};
use super::report::{Finding, LintReport};
use super::rules::Rule;

pub(super) struct Linter {
    pub(super) dialect: Dialect,
    /// Whether the migration runs inside a transaction.
    pub(super) in_transaction: bool,
    /// `CONCURRENTLY` statements seen so far.
    pub(super) concurrent_statements: usize,
    /// Tables created by this migration: changing them cannot break an older binary.
    pub(super) new_tables: HashSet<String>,
    /// Constraints this migration added `NOT VALID`, as `table.constraint` keys.
    pub(super) not_valid: HashSet<String>,
    pub(super) report: LintReport,
    /// The line the current statement starts on (1-based).
    pub(super) line: usize,
}

impl Linter {
    /// A linter for the file `sql`: a file whose first line is `-- no-transaction`
    /// runs outside a transaction on PostgreSQL.
    pub(super) fn new(sql: &str, dialect: Dialect) -> Self {
        Self {
            dialect,
            in_transaction: dialect == Dialect::Sqlite || !sql.starts_with("-- no-transaction"),
            concurrent_statements: 0,
            new_tables: HashSet::new(),
            not_valid: HashSet::new(),
            report: LintReport::default(),
            line: 0,
        }
    }

    pub(super) fn find(&mut self, rule: Rule, message: String) {
        self.report.findings.push(Finding {
            rule,
            line: self.line,
            message,
        });
    }

    /// A finding of a lock-risk rule: on PostgreSQL only.
    pub(super) fn lock_risk(&mut self, rule: Rule, message: String) {
        if self.dialect == Dialect::Postgres {
            self.find(rule, message);
        }
    }

    /// Whether `table` was created by this migration.
    pub(super) fn is_new(&self, table: &ObjectName) -> bool {
        self.new_tables.contains(&key(table, self.dialect))
    }
}
