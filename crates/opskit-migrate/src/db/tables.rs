//! The bookkeeping tables' names and definitions: sqlx's migrations table as the
//! `Migrator` names it (`_sqlx_migrations`, or `sqlx.toml`'s `[migrate]
//! table-name`, or `Migrator::dangerous_set_table_name`), and the guard's own
//! tables beside it, in the same schema; with the schemas to create first
//! (`create-schemas`).
//!
//! sqlx writes the name into its SQL as it is given ("may be schema-qualified
//! and/or contain quotes"), and so does the guard, so both name the same table on
//! both databases (PostgreSQL folds an unquoted name to lower case for both; SQLite
//! compares names without regard to ASCII case for both). What the guard accepts is
//! a name that is nothing but a name: `table` or `schema.table`, each part an
//! unquoted identifier of ASCII letters, digits and `_` (not starting with a digit)
//! or a double-quoted one without quotes or control characters inside, at most 63
//! bytes (PostgreSQL cuts longer names short without a word). Anything else is
//! refused, naming it, before the database is reached.

use crate::error::GuardError;
use crate::lint::Dialect;

/// sqlx's default migrations table.
pub(crate) const DEFAULT_TABLE: &str = "_sqlx_migrations";

/// The names the guard takes, for its refusals.
const SHAPE: &str = "use table or schema.table, each part ASCII letters, digits and _ (not starting with a digit) or a double-quoted name without quotes inside";

/// The longest identifier PostgreSQL keeps whole (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER: usize = 63;

/// One part of a name: as written, and what it names (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ident {
    /// As written, quotes included: what goes into SQL.
    pub(crate) written: String,
    /// The identifier itself, without quotes.
    pub(crate) value: String,
}

impl Ident {
    /// Parses one identifier, or says what is wrong with it.
    fn parse(text: &str) -> Result<Self, String> {
        if let Some(inner) = text.strip_prefix('"') {
            let Some(value) = inner.strip_suffix('"') else {
                return Err(format!("{text} opens a quote it does not close"));
            };
            if value.is_empty() {
                return Err("an empty quoted name".into());
            }
            if value.contains('"') {
                return Err(format!("{text} has a quote inside a quoted name"));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("{text:?} has a control character"));
            }
            return Self::checked_length(text, value);
        }
        let mut chars = text.chars();
        match chars.next() {
            None => return Err("an empty part (two dots, or a dot at an end)".into()),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
            Some(c) => {
                return Err(format!("{text:?} starts with {c:?}"));
            }
        }
        if let Some(c) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
            return Err(format!("{text:?} has {c:?} outside quotes"));
        }
        Self::checked_length(text, text)
    }

    fn checked_length(text: &str, value: &str) -> Result<Self, String> {
        if value.len() > MAX_IDENTIFIER {
            return Err(format!(
                "{text} is {} bytes long; PostgreSQL keeps {MAX_IDENTIFIER} and cuts the rest silently",
                value.len()
            ));
        }
        Ok(Self {
            written: text.to_owned(),
            value: value.to_owned(),
        })
    }

    /// Whether this is the schema `name`, as SQLite compares names.
    #[cfg(feature = "_sqlite")]
    pub(crate) fn is(&self, name: &str) -> bool {
        self.value.eq_ignore_ascii_case(name)
    }
}

/// Splits a name at the dots outside quotes.
fn split_parts(name: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in name.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                parts.push(&name[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&name[start..]);
    parts
}

/// A SQL string literal of `text`.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The bookkeeping tables of one guard, as SQL names.
#[derive(Debug, Clone)]
// The parts are read by SQLite's catalog queries only.
#[cfg_attr(not(any(feature = "_sqlite", feature = "any")), allow(dead_code))]
pub(crate) struct Tables {
    /// The schema, when the migrations table names one.
    pub(crate) schema: Option<Ident>,
    /// sqlx's migrations table, without its schema.
    pub(crate) table: Ident,
    /// sqlx's migrations table, as written (schema included): what goes into SQL.
    pub(crate) sqlx: String,
    /// The guard's records, beside it.
    pub(crate) records: String,
    /// The history of failures and repairs, beside it.
    pub(crate) history: String,
    /// The PostgreSQL migration lock's lease table, beside it.
    pub(crate) lock: String,
    /// Schemas to create before the tables, as sqlx does.
    pub(crate) create_schemas: Vec<Ident>,
}

impl Tables {
    /// The tables for sqlx's migrations table `name`, creating `create_schemas`
    /// first; [`GuardError::TableName`] naming what is odd.
    pub(crate) fn new(name: &str, create_schemas: &[String]) -> Result<Self, GuardError> {
        let refuse = |problem: String| GuardError::TableName {
            name: name.to_owned(),
            problem: format!("{problem}; {SHAPE}"),
        };
        let parts = split_parts(name);
        if parts.len() > 2 {
            return Err(refuse(format!(
                "it has {} parts; name it table or schema.table",
                parts.len()
            )));
        }
        let mut parts = parts
            .into_iter()
            .map(Ident::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(refuse)?;
        let table = parts.pop().expect("split gives at least one part");
        let schema = parts.pop();
        let mut create = Vec::new();
        for schema_name in create_schemas {
            let ident = Ident::parse(schema_name).map_err(|problem| GuardError::TableName {
                name: schema_name.clone(),
                problem: format!(
                    "as a schema to create: {problem}; a schema is one part of such a name"
                ),
            })?;
            create.push(ident);
        }
        let prefix = schema
            .as_ref()
            .map(|s| format!("{}.", s.written))
            .unwrap_or_default();
        Ok(Self {
            sqlx: name.to_owned(),
            records: format!("{prefix}_opskit_migrations"),
            history: format!("{prefix}_opskit_migration_history"),
            lock: format!("{prefix}_opskit_migration_lock"),
            schema,
            table,
            create_schemas: create,
        })
    }

    /// The default tables: `_sqlx_migrations` and the guard's beside it.
    #[cfg(test)]
    pub(crate) fn default_names() -> Self {
        Self::new(DEFAULT_TABLE, &[]).expect("the default name is valid")
    }

    /// These tables with `sqlx` (a name PostgreSQL or SQLite quoted) as the
    /// migrations table: for reading another table of migrations.
    pub(crate) fn reading(sqlx: &str) -> Result<Self, GuardError> {
        Self::new(sqlx, &[])
    }

    /// The three bookkeeping tables `existing` reports on, in its order: sqlx's,
    /// the records, the history.
    #[cfg(any(feature = "postgres", feature = "any"))]
    pub(crate) fn bookkeeping(&self) -> [&str; 3] {
        [&self.sqlx, &self.records, &self.history]
    }

    /// The names of the three bookkeeping tables without the schema, as SQLite's
    /// catalog spells them.
    #[cfg(any(feature = "_sqlite", feature = "any", test))]
    pub(crate) fn bare_names(&self) -> [String; 3] {
        [
            self.table.value.clone(),
            "_opskit_migrations".to_owned(),
            "_opskit_migration_history".to_owned(),
        ]
    }

    /// SQLite's catalog of the schema the tables are in.
    #[cfg(any(feature = "_sqlite", feature = "any", test))]
    pub(crate) fn sqlite_master(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.sqlite_master", schema.written),
            None => "sqlite_master".to_owned(),
        }
    }
}

/// How a database spells the bookkeeping tables' columns that differ: a timestamp
/// column with its default, and bytes.
pub(crate) struct Spelling {
    timestamp: &'static str,
    bytes: &'static str,
}

impl Spelling {
    /// How `dialect` spells them, as sqlx does.
    pub(super) fn of(dialect: Dialect) -> &'static Self {
        match dialect {
            Dialect::Postgres => &Self {
                timestamp: "TIMESTAMPTZ NOT NULL DEFAULT now()",
                bytes: "BYTEA",
            },
            Dialect::Sqlite => &Self {
                timestamp: "TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP",
                bytes: "BLOB",
            },
        }
    }
}

/// `CREATE TABLE` for bookkeeping table `table` (0: sqlx's, as sqlx creates it; 1:
/// the guard's records; 2: the history) of `t`.
pub(super) fn create_table_sql(t: &Tables, table: usize, spelling: &Spelling) -> String {
    let Spelling { timestamp, bytes } = spelling;
    match table {
        0 => format!(
            "CREATE TABLE {} (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on {timestamp},
    success BOOLEAN NOT NULL,
    checksum {bytes} NOT NULL,
    execution_time BIGINT NOT NULL
)",
            t.sqlx
        ),
        1 => format!(
            "CREATE TABLE {} (
    version BIGINT PRIMARY KEY,
    compat TEXT NOT NULL,
    classified_by TEXT NOT NULL,
    summary TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    recorded_at {timestamp}
)",
            t.records
        ),
        _ => format!(
            "CREATE TABLE {} (
    version BIGINT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT,
    at {timestamp}
)",
            t.history
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &str) -> String {
        Tables::new(name, &[]).unwrap_err().to_string()
    }

    #[test]
    fn the_default_name_keeps_the_guards_tables_unqualified() {
        let t = Tables::default_names();
        assert_eq!(t.sqlx, "_sqlx_migrations");
        assert_eq!(t.records, "_opskit_migrations");
        assert_eq!(t.history, "_opskit_migration_history");
        assert_eq!(t.lock, "_opskit_migration_lock");
        assert_eq!(t.sqlite_master(), "sqlite_master");
    }

    #[test]
    fn a_schema_qualified_name_puts_the_guards_tables_in_that_schema() {
        let t = Tables::new("ops.schema_history", &["ops".into()]).unwrap();
        assert_eq!(t.sqlx, "ops.schema_history");
        assert_eq!(t.records, "ops._opskit_migrations");
        assert_eq!(t.history, "ops._opskit_migration_history");
        assert_eq!(t.lock, "ops._opskit_migration_lock");
        assert_eq!(t.bare_names()[0], "schema_history");
        assert_eq!(t.create_schemas[0].written, "ops");
        let t = Tables::new(r#""Ops Schema"."Migrations.v2""#, &[]).unwrap();
        assert_eq!(t.records, r#""Ops Schema"._opskit_migrations"#);
        assert_eq!(t.table.value, "Migrations.v2");
        assert_eq!(t.sqlite_master(), r#""Ops Schema".sqlite_master"#);
    }

    #[test]
    fn names_that_are_more_than_a_name_are_refused_naming_them() {
        for (name, why) in [
            ("ops.t; DROP TABLE users", "has ';'"),
            ("a.b.c", "3 parts"),
            ("", "empty part"),
            ("ops.", "empty part"),
            ("1table", "starts with '1'"),
            ("my-table", "has '-'"),
            ("\"unclosed", "does not close"),
            ("\"a\"\"b\"", "quote inside"),
            ("\"\"", "empty quoted"),
            ("\"tab\there\"", "control character"),
            (" ops.t", "starts with ' '"),
            ("ops.t ", "has ' '"),
        ] {
            let message = refused(name);
            assert!(message.contains(&format!("{name:?}")), "{message}");
            assert!(message.contains(why), "{name:?}: {message}");
        }
        let long = "x".repeat(64);
        assert!(refused(&long).contains("64 bytes long"));
        let err = Tables::new("ops.t", &["bad schema".into()]).unwrap_err();
        assert!(
            err.to_string().contains("\"bad schema\"")
                && err.to_string().contains("schema to create"),
            "{err}"
        );
        assert_eq!(err.exit_code(), opskit_exit::CONFIG);
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
    }
}
