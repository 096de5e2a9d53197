//! What can go wrong, in words an operator can act on.

use std::time::Duration;

use crate::status::SchemaStatus;

/// Why the guard refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// The schema is not one this binary can run against.
    #[error("schema incompatible with this binary: {0}")]
    Incompatible(Box<SchemaStatus>),
    /// The database could not be reached or queried.
    #[error(
        "database {}unreachable while {doing}: {message}; {}",
        .database.as_deref().map(|d| format!("{d} ")).unwrap_or_default(),
        unreachable_advice(.database.as_deref())
    )]
    #[non_exhaustive]
    Unreachable {
        /// What the guard was doing.
        doing: &'static str,
        /// The database's URL with its password masked, when the guard was given one.
        database: Option<String>,
        /// The driver's message (never the URL's password).
        message: String,
    },
    /// Another process held the migration lock for longer than the timeout.
    #[error(
        "the migration lock is held by {holder}; waited {waited:?}. Another replica or job is migrating: wait for it, or find it with that description"
    )]
    LockTimeout {
        /// Who holds it, as far as the database says.
        holder: String,
        /// How long the guard waited.
        waited: Duration,
    },
    /// The migration lock's lease ran out between two migrations (a migration ran
    /// longer than the lease) and another guard took it over: this one stops
    /// before applying more. What it applied stays applied; the other guard goes on.
    #[error(
        "the migration lock was lost: its lease of {ttl:?} ran out and {holder} took it over. Nothing half-applied: the other guard applies what is left. If migrations run longer than the lease, raise it (Guard::lock_lease, --lock-lease)"
    )]
    #[non_exhaustive]
    LockLost {
        /// Who holds the lock now.
        holder: String,
        /// The lease's time to live.
        ttl: Duration,
    },
    /// A table the migration changes stayed locked by another session through every
    /// try; each try was rolled back, so nothing of the migration is applied.
    #[error(
        "migration {version} ({description}) was not applied: a table it changes is held by another session: {}. Each of {tries} tries waited {lock_timeout:?} for its lock and was rolled back ({waited:.1?} in all), so nothing of it is applied. Try again later, once that session ends (or end it with pg_terminate_backend(pid))",
        crate::lock_wait::describe(.blockers)
    )]
    #[non_exhaustive]
    TableLocked {
        /// The migration's version.
        version: i64,
        /// Its description.
        description: String,
        /// How many tries.
        tries: u32,
        /// The lock timeout of each try.
        lock_timeout: Duration,
        /// How long from the first try to the last one's end.
        waited: Duration,
        /// Who held the lock at the last try, when the database said.
        blockers: Vec<crate::lock_wait::Blocker>,
    },
    /// An interrupted `CREATE INDEX CONCURRENTLY` left an INVALID index that a
    /// `-- no-transaction` migration names; nothing was executed.
    #[error(
        "migration {version} ({description}) was not run: index {index} on {table} is INVALID, left by an interrupted CREATE INDEX CONCURRENTLY. Run DROP INDEX CONCURRENTLY {index}; then apply again"
    )]
    #[non_exhaustive]
    InvalidIndex {
        /// The migration's version.
        version: i64,
        /// Its description.
        description: String,
        /// The invalid index.
        index: String,
        /// Its table.
        table: String,
    },
    /// A migration failed while being applied.
    #[error(
        "migration {version} ({description}) failed: {message}; {rolled_back}. {}",
        failure_advice(*.version, .rolled_back)
    )]
    MigrationFailed {
        /// Its version.
        version: i64,
        /// Its description.
        description: String,
        /// The database's error.
        message: String,
        /// Whether it was rolled back.
        rolled_back: &'static str,
    },
    /// A migration cannot be applied as written; the guard refused it before
    /// executing or writing anything.
    #[error(
        "migration {version} ({description}) cannot be applied as written: {}. Nothing was executed; fix the migration and deploy again",
        .problems.join("; ")
    )]
    InvalidMigration {
        /// Its version.
        version: i64,
        /// Its description.
        description: String,
        /// What is wrong, one entry per statement, with the rule and its fix.
        problems: Vec<String>,
    },
    /// A repair was asked for that does not apply.
    #[error("cannot repair migration {version}: {message}")]
    Repair {
        /// The migration named.
        version: i64,
        /// Why not.
        message: String,
    },
    /// The URL's scheme is not one the guard supports.
    #[error(
        "unsupported database URL scheme {scheme:?}: this build of the guard supports {supported}"
    )]
    #[non_exhaustive]
    UnsupportedDatabase {
        /// The scheme of the URL.
        scheme: String,
        /// The schemes this build supports (they follow the crate's features).
        supported: &'static str,
    },
    /// The migrations cannot be taken as a set: two share a version, or a file in
    /// the directory is not a migration file though its name ends in `.sql`
    /// (see [`source`](crate::source)). Nothing was run.
    #[error(
        "the migrations in {path} cannot be applied as a set: {}. Nothing was run; fix the names and run again",
        .problems.join("; ")
    )]
    MigrationSet {
        /// The directory (or `the binary's migrations`).
        path: String,
        /// Each problem, naming the file or migration at fault.
        problems: Vec<String>,
    },
    /// The migrations table's name (or a schema to create for it) is not a plain
    /// name the guard can write into SQL. It comes from the `Migrator` (`sqlx.toml`'s
    /// `[migrate] table-name` and `create-schemas`,
    /// `Migrator::dangerous_set_table_name`) or
    /// [`Guard::dangerous_set_table_name`](crate::Guard::dangerous_set_table_name).
    /// Nothing was read or written.
    #[error(
        "cannot use the migrations table name {name:?}: {problem}. The name comes from sqlx.toml's [migrate] table-name or create-schemas (or Migrator::dangerous_set_table_name); nothing was read or written"
    )]
    #[non_exhaustive]
    TableName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// This guard's migrations table does not exist, but another table records
    /// migrations of this binary (same versions and checksums): they were applied
    /// under another table name, and applying them again would run them twice.
    /// Nothing was written.
    #[error(
        "the migrations table {table} does not exist, but {found} records {count} of these migrations (same versions and checksums): they were applied with table name {found}. Give the guard that name (sqlx.toml's [migrate] table-name, read by sqlx::migrate!() with sqlx's sqlx-toml feature and by opskit-migrate from the current directory or --config; or Guard::dangerous_set_table_name). Nothing was applied"
    )]
    #[non_exhaustive]
    TableElsewhere {
        /// The migrations table the guard was given.
        table: String,
        /// The table that records these migrations.
        found: String,
        /// How many of this binary's migrations it records.
        count: usize,
    },
    /// Reading migrations from a directory failed.
    #[error("cannot read migrations from {path}: {message}")]
    Source {
        /// The directory.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl GuardError {
    /// The exit code a service should stop with ([`opskit_exit`]): 65 for an
    /// incompatible schema, a failed or invalid migration, migrations that are not
    /// one set ([`GuardError::MigrationSet`]); 69 when the database is
    /// unreachable or the migration lock was held too long (or its lease was taken
    /// over, [`GuardError::LockLost`]); 75 (try again later)
    /// when a table stayed locked through every try ([`GuardError::TableLocked`]); 64
    /// for a repair that does not apply; 78 for a URL of a database this build does
    /// not support, a migrations table name the guard cannot use
    /// ([`GuardError::TableName`]), or migrations recorded under another table name
    /// ([`GuardError::TableElsewhere`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::TableLocked { .. } => opskit_exit::TEMP_FAILURE,
            Self::Unreachable { .. } | Self::LockTimeout { .. } | Self::LockLost { .. } => {
                opskit_exit::UNAVAILABLE
            }
            Self::Repair { .. } => opskit_exit::USAGE,
            // A URL for a database this build does not speak, or a table name the
            // guard cannot use or that misses the applied migrations, is a
            // setting to fix.
            Self::UnsupportedDatabase { .. }
            | Self::TableName { .. }
            | Self::TableElsewhere { .. } => opskit_exit::CONFIG,
            _ => opskit_exit::DATA_ERROR,
        }
    }

    /// The status found, when the schema was refused.
    pub fn status(&self) -> Option<&SchemaStatus> {
        match self {
            Self::Incompatible(status) => Some(status),
            _ => None,
        }
    }
}

/// What to do after a failed migration: fix and redeploy when it rolled back,
/// record a repair when parts of it may have stayed.
fn failure_advice(version: i64, rolled_back: &str) -> String {
    if rolled_back.starts_with("it was rolled back") {
        "Fix the migration and deploy again".to_owned()
    } else {
        format!(
            "Check which of its statements took effect, finish or undo them by hand, then record the result with `opskit-migrate repair --version {version} --as applied` or `--as not-applied`"
        )
    }
}

/// What to check when a database cannot be reached: a file for SQLite, a server
/// and the way to it otherwise.
fn unreachable_advice(database: Option<&str>) -> &'static str {
    if database.is_some_and(|url| url.starts_with("sqlite:")) {
        "check that the file exists (add ?mode=rwc to the URL to create it) and that the \
         service may read and write it and its directory"
    } else {
        "check the database URL, that the server is up, and the network path to it"
    }
}

pub(crate) fn unreachable(doing: &'static str) -> impl FnOnce(sqlx::Error) -> GuardError {
    move |err| GuardError::Unreachable {
        doing,
        database: None,
        message: err.to_string(),
    }
}

impl GuardError {
    /// Names the database of `url` (masked) and scrubs its password from the
    /// driver's message, which the guard does not control.
    pub(crate) fn at_database(self, url: &str) -> Self {
        let scrub = |text: &str| opskit_secret::scrub_url_secrets(url, text);
        match self {
            Self::Unreachable {
                doing,
                database: None,
                message,
            } => Self::Unreachable {
                doing,
                // A URL the driver took but ConnectionString refuses is not shown.
                database: opskit_secret::ConnectionString::parse(url)
                    .ok()
                    .map(|url| url.masked().to_owned()),
                message: scrub(&message),
            },
            Self::MigrationFailed {
                version,
                description,
                message,
                rolled_back,
            } => Self::MigrationFailed {
                version,
                description,
                message: scrub(&message),
                rolled_back,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_sqlite_file_is_not_told_to_check_a_server() {
        let err = GuardError::Unreachable {
            doing: "connecting",
            database: Some("sqlite:///missing-dir/b.db".to_owned()),
            message: "unable to open database file".to_owned(),
        };
        let text = err.to_string();
        assert!(text.contains("sqlite:///missing-dir/b.db"), "{text}");
        assert!(text.contains("check that the file exists"), "{text}");
        assert!(!text.contains("server is up"), "{text}");
    }

    #[test]
    fn driver_messages_lose_the_password_in_every_form_and_the_database_is_named() {
        let url = "postgres://app:p=ss%21word@db:5432/notes";
        let err = GuardError::Unreachable {
            doing: "connecting",
            database: None,
            message: "server saw p=ss!word (p=ss%21word)".to_owned(),
        }
        .at_database(url);
        assert_eq!(
            err.to_string(),
            "database postgres://app:***@db:5432/notes unreachable while connecting: server saw *** (***); check the database URL, that the server is up, and the network path to it"
        );
        let err = GuardError::MigrationFailed {
            version: 3,
            description: "backfill".to_owned(),
            message: "p=ss!word rejected".to_owned(),
            rolled_back: "it was rolled back, nothing of it is applied",
        }
        .at_database(url);
        assert!(!err.to_string().contains("p=ss"), "{err}");
    }

    #[test]
    fn a_url_the_driver_takes_but_connection_string_refuses_is_scrubbed_not_shown() {
        let err = GuardError::Unreachable {
            doing: "connecting",
            database: None,
            message: "auth hunter22 failed".to_owned(),
        }
        .at_database("postgres://app:hunter22@db/notes#fragment");
        assert_eq!(
            err.to_string(),
            "database unreachable while connecting: auth *** failed; check the database URL, that the server is up, and the network path to it"
        );
    }
}
