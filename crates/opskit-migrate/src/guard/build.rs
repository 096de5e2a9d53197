//! Building a guard: from a sqlx `Migrator`, from migrations or from a directory,
//! with its lock timeout; and what it holds.

use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::classify::{Classification, Compat, classify, declared};
use crate::db::{Tables, tables};
use crate::error::GuardError;
use crate::lint::Dialect;
use crate::lock_wait::{self, Bound};
use crate::status::Known;

use super::Guard;

impl Guard {
    /// A guard for the migrations of a sqlx `Migrator` (embedded with
    /// `sqlx::migrate!`, or loaded with `Migrator::new`), reading and writing the
    /// migrations table the `Migrator` names, and creating the schemas it lists, as
    /// sqlx does: `sqlx::migrate!()` takes them from `sqlx.toml`'s `[migrate]`
    /// `table-name` and `create-schemas` (with sqlx's `sqlx-toml` feature), a
    /// `Migrator` gets them from `dangerous_set_table_name` and `create_schema`.
    /// The guard's own tables go beside the migrations table, in its schema. Down
    /// migrations are ignored.
    ///
    /// A name that is not a plain `table` or `schema.table` is refused when the
    /// guard runs ([`GuardError::TableName`]).
    pub fn new(migrator: &Migrator) -> Self {
        let mut guard = Self::from_migrations(migrator.iter().cloned());
        // sqlx keeps these in fields it documents as its own (`migrate!()` sets
        // them); they have no getter in sqlx 0.9.
        guard.table_name = migrator.table_name.to_string();
        guard.create_schemas = migrator
            .create_schemas
            .iter()
            .map(ToString::to_string)
            .collect();
        guard
    }

    /// A guard for the given migrations.
    pub fn from_migrations(migrations: impl IntoIterator<Item = Migration>) -> Self {
        let mut migrations: Vec<Migration> = migrations
            .into_iter()
            .filter(|m| !matches!(m.migration_type, MigrationType::ReversibleDown))
            .collect();
        migrations.sort_by_key(|m| m.version);
        Self {
            migrations,
            table_name: tables::DEFAULT_TABLE.to_owned(),
            create_schemas: Vec::new(),
            lock_timeout: Duration::from_secs(60),
            lock_lease: Duration::from_secs(30),
            table_lock: Bound {
                timeout: lock_wait::DEFAULT_TIMEOUT,
                tries: lock_wait::DEFAULT_TRIES,
            },
        }
    }

    /// Reads the migrations of a directory, as `sqlx migrate` does.
    ///
    /// # Errors
    ///
    /// [`GuardError::Source`] when the directory cannot be read;
    /// [`GuardError::MigrationSet`] when its files are not one set of migrations
    /// (two with one version, a `.sql` name that is not a migration's: see
    /// [`source`](crate::source)).
    pub async fn from_dir(path: impl AsRef<std::path::Path>) -> Result<Self, GuardError> {
        let path = path.as_ref();
        crate::source::migration_files(path)?;
        let migrator = Migrator::new(path).await.map_err(|e| GuardError::Source {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Self::new(&migrator))
    }

    /// Reads and writes sqlx's migrations table under another name than
    /// `_sqlx_migrations`, as sqlx's `Migrator::dangerous_set_table_name` does (and
    /// `sqlx.toml`'s `[migrate] table-name`): `table` or `schema.table`, each part
    /// as SQL writes it (`"Quoted"` keeps its case on PostgreSQL). The guard's own
    /// tables go beside it, in its schema.
    ///
    /// Dangerous as sqlx's is: a guard given another name than the one the
    /// database's migrations were applied under finds none applied. When another
    /// table holds them, it refuses with [`GuardError::TableElsewhere`] rather than
    /// apply them twice. [`Guard::new`] takes the name from the `Migrator`.
    #[must_use]
    pub fn dangerous_set_table_name(mut self, name: impl Into<String>) -> Self {
        self.table_name = name.into();
        self
    }

    /// A schema to create, if it does not exist, before the tables, as sqlx's
    /// `Migrator::create_schema` (`sqlx.toml`'s `[migrate] create-schemas`):
    /// `CREATE SCHEMA IF NOT EXISTS` on PostgreSQL. SQLite cannot create one (a
    /// schema is an attached database file): the guard refuses, as sqlx does, when
    /// it is not attached.
    #[must_use]
    pub fn create_schema(mut self, schema: impl Into<String>) -> Self {
        self.create_schemas.push(schema.into());
        self
    }

    /// The migrations table the guard reads and writes: `_sqlx_migrations` unless
    /// the `Migrator` or [`dangerous_set_table_name`](Self::dangerous_set_table_name)
    /// named another.
    pub fn table_name(&self) -> &str {
        &self.table_name
    }

    /// The bookkeeping tables, or why the name cannot be used.
    pub(super) fn tables(&self) -> Result<Tables, GuardError> {
        Tables::new(&self.table_name, &self.create_schemas)
    }

    /// Longest wait for the PostgreSQL migration lock, the lease replicas take in
    /// turn (default 60 s; see [`lock_lease`](Self::lock_lease)). A table's lock is
    /// [`table_lock_timeout`](Self::table_lock_timeout).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// How long the PostgreSQL migration lock's lease holds unless renewed
    /// (default 30 s, at least 1 s). The guard renews it before each migration, so
    /// a guard killed while it holds the lock (SIGKILL, a lost node) delays the next
    /// apply by at most this long. A single migration may run longer: a
    /// transactional one keeps holding sqlx's advisory lock, so a guard that takes
    /// the lease over waits for it; a `-- no-transaction` one longer than the lease
    /// needs a longer lease. Keep [`lock_timeout`](Self::lock_timeout) longer than
    /// the lease, so a waiting replica outlasts a dead holder's lease.
    #[must_use]
    pub fn lock_lease(mut self, lease: Duration) -> Self {
        self.lock_lease = lease.max(Duration::from_secs(1));
        self
    }

    /// How long one try of a migration waits for a table's lock (PostgreSQL's
    /// `lock_timeout`, SQLite's busy timeout) before it is rolled back and tried
    /// again; default [`lock_wait::DEFAULT_TIMEOUT`], 2 s. Every query on the table
    /// waits behind the migration for up to this long at each try: keep it short. A
    /// file overrides it with `-- opskit: lock_timeout=10s`; see [`lock_wait`].
    #[must_use]
    pub fn table_lock_timeout(mut self, timeout: Duration) -> Self {
        self.table_lock.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many tries a migration gets when its table stays locked (default
    /// [`lock_wait::DEFAULT_TRIES`], 10; at least 1). After the last, the guard stops
    /// with [`GuardError::TableLocked`] and nothing of the migration applied.
    #[must_use]
    pub fn table_lock_tries(mut self, tries: u32) -> Self {
        self.table_lock.tries = tries.max(1);
        self
    }

    /// The migrations, oldest first.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// How a migration of this binary is classified for `dialect`.
    pub fn classify(&self, version: i64, dialect: Dialect) -> Option<Classification> {
        self.migrations
            .iter()
            .find(|m| m.version == version)
            .map(|m| classify(m.sql.as_str(), dialect))
    }

    /// The binary's migrations, as the status compares them.
    pub(super) fn known(&self) -> Vec<Known<'_>> {
        self.migrations
            .iter()
            .map(|m| Known {
                version: m.version,
                description: &m.description,
                sql: m.sql.as_str(),
                checksum: &m.checksum,
                declared_contract: declared(m.sql.as_str()) == Some(Compat::Contract),
            })
            .collect()
    }
}
