//! Migrating: applying the pending migrations (or, with policy expand, those before
//! the first contract one) under the migration lock, each with its record.

use std::sync::OnceLock;

use crate::classify::{Classification, Compat, classify};
use crate::db::{self, GuardConnection, Tables, ToApply};
use crate::error::GuardError;
use crate::lint::Dialect;
use crate::lock_wait::Bound;
use crate::lock_wait::header::lock_timeout;
use crate::status::{SchemaStatus, State};
use sqlx::migrate::Migration;

use super::inspect::refuse_incompatible;
use super::{Guard, TARGET};

impl Guard {
    /// Applies pending migrations under the lock, recording each one's expand or
    /// contract classification in the same transaction, then verifies.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify); [`GuardError::LockTimeout`];
    /// [`GuardError::TableLocked`] when a table stayed locked through every try
    /// (nothing of that migration is applied; see [`lock_wait`](crate::lock_wait));
    /// [`GuardError::InvalidIndex`] when a `-- no-transaction` migration names an
    /// index an interrupted concurrent build left INVALID;
    /// [`GuardError::MigrationFailed`] (the failure is recorded, and the next status
    /// reports it); [`GuardError::InvalidMigration`] when a pending migration cannot
    /// be applied as written (nothing is executed, nothing is written).
    pub async fn apply(&self, conn: &mut impl GuardConnection) -> Result<SchemaStatus, GuardError> {
        self.apply_until(conn, false, None).await
    }

    /// Applies the pending migrations up to the first contract one, under the lock,
    /// as [`apply`](Self::apply) does: the migration job before a rolling deploy. The
    /// contract migrations left are logged (`schema.contract_held_back`) and wait for
    /// [`apply`](Self::apply) once the previous release is gone. When they are all
    /// declared contract in their headers, the status is
    /// [`State::ContractPending`]: this release runs without them.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply); [`GuardError::Incompatible`] with
    /// [`State::Pending`] when a migration held back is contract by the linter only
    /// (declare it `-- opskit: contract` if this release runs without it).
    pub async fn apply_expand(
        &self,
        conn: &mut impl GuardConnection,
    ) -> Result<SchemaStatus, GuardError> {
        self.apply_until(conn, true, None).await
    }

    /// Applies as [`apply`](Self::apply) (or, `expand_only`, as
    /// [`apply_expand`](Self::apply_expand)); with `watch_url`, a try that waits
    /// for a table's lock names who holds it from a second connection.
    pub(super) async fn apply_until(
        &self,
        conn: &mut impl GuardConnection,
        expand_only: bool,
        watch_url: Option<&str>,
    ) -> Result<SchemaStatus, GuardError> {
        crate::source::refuse_bad_versions(&self.migrations)?;
        let tables = self.tables()?;
        // Classification depends only on the files: the migrations the database
        // has not applied are classified before the lock is taken, so a long file
        // never holds other replicas up; those it has applied are never linted, so a
        // replica that finds every migration applied spends nothing on it.
        let classifications = Classifications::new(&self.migrations, conn.dialect());
        let (applied, _) = db::read(&mut *conn, &tables, &self.known()).await?;
        let not_applied: Vec<usize> = (0..self.migrations.len())
            .filter(|&i| {
                !applied
                    .iter()
                    .any(|row| row.version == self.migrations[i].version && row.success)
            })
            .collect();
        self.refuse_invalid(&classifications, &not_applied)?;
        let lease = db::Lease::new(self.lock_lease, &tables);
        conn.lock(self.lock_timeout, &lease, &tables).await?;
        let at = Locked {
            tables: &tables,
            lease: &lease,
            watch_url,
        };
        let result = self
            .apply_locked(&mut *conn, &classifications, expand_only, &at)
            .await;
        let unlocked = conn.unlock(&lease).await;
        let status = result?;
        unlocked?;
        Ok(status)
    }

    /// The work under the lock: reads the status again, applies what this run
    /// applies, and reads the status it leaves.
    async fn apply_locked(
        &self,
        conn: &mut impl GuardConnection,
        classifications: &Classifications<'_>,
        expand_only: bool,
        at: &Locked<'_>,
    ) -> Result<SchemaStatus, GuardError> {
        let (applied, records) = db::read(&mut *conn, at.tables, &self.known()).await?;
        let status = SchemaStatus::compute(&self.known(), &applied, &records);
        // Never apply on top of a schema this binary cannot run against, and
        // refuse before writing anything, bookkeeping tables included.
        let status = refuse_incompatible(status, true)?;
        if status.pending.is_empty() {
            return Ok(status);
        }
        let to_apply = self.to_apply(&status, classifications, expand_only);
        if !to_apply.is_empty() {
            db::ensure_tables(&mut *conn, at.tables).await?;
        }
        self.warn_retrying(&status, &to_apply);
        for index in to_apply {
            self.apply_migration(&mut *conn, index, classifications.get(index), at)
                .await?;
        }
        let (applied, records) = db::read(&mut *conn, at.tables, &self.known()).await?;
        let status = refuse_incompatible(
            SchemaStatus::compute(&self.known(), &applied, &records),
            false,
        )?;
        // Held back only when this release runs without them; otherwise the
        // refusal above says what is missing.
        if status.state == State::ContractPending {
            log_held_back(&status);
        }
        Ok(status)
    }

    /// What this run applies, as indexes into the migrations: every pending
    /// migration, or with policy expand those before the first contract one.
    fn to_apply(
        &self,
        status: &SchemaStatus,
        classifications: &Classifications<'_>,
        expand_only: bool,
    ) -> Vec<usize> {
        let mut to_apply = Vec::new();
        for pending in &status.pending {
            let Some(index) = self
                .migrations
                .iter()
                .position(|m| m.version == pending.version)
            else {
                continue;
            };
            if expand_only && classifications.get(index).compat == Compat::Contract {
                break;
            }
            to_apply.push(index);
        }
        to_apply
    }

    /// Warns of each migration this run applies again after it failed and was
    /// rolled back.
    fn warn_retrying(&self, status: &SchemaStatus, to_apply: &[usize]) {
        for retry in &status.retrying {
            if to_apply
                .iter()
                .any(|&i| self.migrations[i].version == retry.migration.version)
            {
                tracing::warn!(
                    target: TARGET,
                    event = "schema.retrying",
                    version = retry.migration.version,
                    description = %retry.migration.description,
                    last_error = retry.error.as_deref().unwrap_or_default(),
                    "migration {} failed before and was rolled back; running it again",
                    retry.migration
                );
            }
        }
    }

    /// Applies migration `index` with its record, and logs it unless another
    /// process applied it meanwhile.
    async fn apply_migration(
        &self,
        conn: &mut impl GuardConnection,
        index: usize,
        classification: &Classification,
        at: &Locked<'_>,
    ) -> Result<(), GuardError> {
        let m = &self.migrations[index];
        // A bad header was refused before the lock (`refuse_invalid`).
        let bound = Bound {
            timeout: lock_timeout(m.sql.as_str())
                .ok()
                .flatten()
                .unwrap_or(self.table_lock.timeout),
            tries: self.table_lock.tries,
        };
        let migration = ToApply {
            tables: at.tables,
            version: m.version,
            description: &m.description,
            sql: &m.sql,
            checksum: &m.checksum,
            no_tx: m.no_tx,
            classification: classification.clone(),
        };
        if db::apply(&mut *conn, &migration, bound, at.watch_url, at.lease).await? {
            tracing::info!(
                target: TARGET,
                event = "schema.migrated",
                version = m.version,
                description = %m.description,
                compat = migration.classification.compat.as_str(),
                classified_by = migration.classification.by.as_str(),
                "applied migration {} ({}), {}",
                m.version,
                m.description,
                migration.classification.compat.as_str()
            );
        }
        Ok(())
    }

    /// Refuses, before anything is executed or written, when a migration that is not
    /// applied yet cannot be applied as written (such as a `COMMIT` inside the
    /// transaction it runs in). A migration already applied (by another tool) is
    /// history, not refused.
    fn refuse_invalid(
        &self,
        classifications: &Classifications<'_>,
        not_applied: &[usize],
    ) -> Result<(), GuardError> {
        let Some(&index) = not_applied
            .iter()
            .find(|&&i| classifications.get(i).lint.errors().next().is_some())
        else {
            return Ok(());
        };
        let m = &self.migrations[index];
        Err(GuardError::InvalidMigration {
            version: m.version,
            description: m.description.to_string(),
            problems: classifications
                .get(index)
                .lint
                .errors()
                .map(|f| {
                    format!(
                        "line {}: {} ({}; fix: {})",
                        f.line, f.message, f.rule.id, f.rule.fix
                    )
                })
                .collect(),
        })
    }
}

/// Each migration's classification, made the first time it is needed.
struct Classifications<'a> {
    migrations: &'a [Migration],
    dialect: Dialect,
    made: Vec<OnceLock<Classification>>,
}

impl<'a> Classifications<'a> {
    fn new(migrations: &'a [Migration], dialect: Dialect) -> Self {
        Self {
            migrations,
            dialect,
            made: migrations.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// Migration `index`'s classification, linted now if it was not before.
    fn get(&self, index: usize) -> &Classification {
        self.made[index].get_or_init(|| classify(self.migrations[index].sql.as_str(), self.dialect))
    }
}

/// Logs the contract migrations policy expand left pending, which this release runs
/// without.
fn log_held_back(status: &SchemaStatus) {
    for held in &status.pending {
        tracing::info!(
            target: TARGET,
            event = "schema.contract_held_back",
            version = held.version,
            description = %held.description,
            "migration {held} is held back: policy expand stops at the first contract migration; \
             apply it (policy apply) once no older release runs"
        );
    }
}

/// What an apply holds while it has the migration lock: the tables, the lease,
/// and the URL a try that waits for a table's lock names the holders from.
struct Locked<'a> {
    tables: &'a Tables,
    lease: &'a db::Lease,
    watch_url: Option<&'a str>,
}
