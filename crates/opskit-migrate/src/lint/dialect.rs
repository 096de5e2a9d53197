//! The SQL dialects the linter reads, and how each compares the names of objects.

use serde::Serialize;
use sqlparser::ast::ObjectName;

/// The SQL dialect of the migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// PostgreSQL: lock-risk rules apply.
    Postgres,
    /// SQLite.
    Sqlite,
}

/// How the database compares a name: PostgreSQL folds unquoted identifiers to lower
/// case and keeps quoted ones exact; SQLite compares names without case.
pub(super) fn key(name: &ObjectName, dialect: Dialect) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match (part.as_ident(), dialect) {
            (Some(ident), Dialect::Postgres) if ident.quote_style.is_some() => ident.value.clone(),
            (Some(ident), _) => ident.value.to_lowercase(),
            (None, _) => part.to_string().to_lowercase(),
        })
        .collect();
    parts.join(".")
}
