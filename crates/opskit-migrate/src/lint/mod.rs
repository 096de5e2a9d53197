//! The migration linter: what each statement does to the binary one release older,
//! and which statements take dangerous locks.
//!
//! ```
//! use opskit_migrate::lint::{Dialect, Severity, lint};
//!
//! let report = lint("ALTER TABLE notes DROP COLUMN body;\nCREATE INDEX notes_title ON notes (title);", Dialect::Postgres);
//! let ids: Vec<&str> = report.findings.iter().map(|f| f.rule.id).collect();
//! assert_eq!(ids, ["OPS-C002", "OPS-L001"]);
//! assert_eq!(report.findings[0].message, "drops column body of notes");
//! assert_eq!(report.findings[0].line, 1);
//! assert_eq!(report.findings[1].rule.severity, Severity::LockRisk);
//! assert!(report.is_contract());
//! ```

// The file is split into statements (`split`), each read by the `Linter` (`linter`)
// and handed to its family: `create`, `drop`, `alter_table`, `rename`,
// `transaction` (transaction control, `CONCURRENTLY`, `LOCK TABLE`) and
// `maintenance` (PostgreSQL statements read by their words), from `statement`.
mod alter_table;
mod create;
mod dialect;
mod drop;
mod linter;
mod maintenance;
mod rename;
mod report;
pub mod rules;
mod split;
mod statement;
mod transaction;

pub use dialect::Dialect;
pub use report::{Finding, LintReport};
pub use rules::{Rule, Severity};

/// Lints a migration file. Never panics: SQL that does not parse is a finding.
///
/// A file whose first line is `-- no-transaction` (sqlx's marker) runs outside a
/// transaction on PostgreSQL; any other runs inside one, where transaction control
/// statements and `CONCURRENTLY` cannot work.
///
/// Time and memory are linear in the file's size: data statements (`INSERT`,
/// `UPDATE`, `DELETE`, `COPY`), which an older binary never notices, are counted
/// without being parsed. For measured times and memory, see `docs/benchmarks.md` in
/// the repository ("linting large migration files").
pub fn lint(sql: &str, dialect: Dialect) -> LintReport {
    let mut linter = linter::Linter::new(sql, dialect);
    for chunk in split::split(sql, dialect) {
        linter.chunk(chunk.sql, chunk.line);
    }
    linter.report
}
