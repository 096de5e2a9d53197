//! Building a guard: from a sqlx `Migrator`, from migrations or from a directory,
//! with its lock timeout; and what it holds.

use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::classify::{Classification, Compat, classify, declared};
use crate::error::GuardError;
use crate::lint::Dialect;
use crate::status::Known;

use super::Guard;

impl Guard {
    /// A guard for the migrations of a sqlx `Migrator` (embedded with
    /// `sqlx::migrate!`, or loaded with `Migrator::new`). Down migrations are ignored.
    pub fn new(migrator: &Migrator) -> Self {
        Self::from_migrations(migrator.iter().cloned())
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
            lock_timeout: Duration::from_secs(60),
        }
    }

    /// Reads the migrations of a directory, as `sqlx migrate` does.
    ///
    /// # Errors
    ///
    /// [`GuardError::Source`] when the directory cannot be read.
    pub async fn from_dir(path: impl AsRef<std::path::Path>) -> Result<Self, GuardError> {
        let path = path.as_ref();
        let migrator = Migrator::new(path).await.map_err(|e| GuardError::Source {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Self::new(&migrator))
    }

    /// Longest wait for the PostgreSQL migration lock (default 60 s).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
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

    /// The binary's versions, sorted.
    pub(super) fn versions(&self) -> Vec<i64> {
        self.migrations.iter().map(|m| m.version).collect()
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
