//! The guard: status, apply, verify.

use std::time::Duration;

use opskit_secret::{ConnectionString, ExposeSecret};
use serde::Deserialize;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::classify::{Classification, Compat, classify, declared};
use crate::db::{self, GuardConnection, StatusConnection, ToApply};
use crate::error::GuardError;
use crate::lint::Dialect;
use crate::status::{Known, SchemaStatus, State};

/// What the guard does at startup.
///
/// New policies may come (as [`Policy::Expand`] did): a `match` on it needs a
/// wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Policy {
    /// Apply pending migrations under a lock, then verify: for a single service or
    /// the embedded SQLite database.
    Apply,
    /// Never write: for fleets where a separate job migrates. Pending migrations make
    /// the service not ready (not a refusal to start).
    Verify,
    /// Apply the pending migrations up to the first contract one, then verify: the
    /// migration job that runs before a rolling deploy, while the previous release
    /// still serves. The contract migrations wait for a run with [`Policy::Apply`]
    /// once no older release runs (see [`State::ContractPending`]).
    Expand,
}

impl Policy {
    /// `apply`, `verify` or `expand`, as settings and events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Verify => "verify",
            Self::Expand => "expand",
        }
    }
}

/// What a connection made from a URL is for. (Without a database feature, no
/// driver reads it.)
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(any(feature = "postgres", feature = "_sqlite")), allow(dead_code))]
enum Action {
    Status,
    Policy(Policy),
    Repair(i64, Repair),
}

/// What an operator found after a migration failed outside a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// They finished it by hand: it counts as applied.
    Applied,
    /// They undid what it had done: it counts as not applied and runs again.
    NotApplied,
}

impl Repair {
    /// `applied` or `not-applied`, as the command line takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::NotApplied => "not-applied",
        }
    }
}

/// The migration guard for one binary's migrations.
///
/// ```no_run
/// use opskit_migrate::{Guard, Policy};
///
/// # async fn run() -> Result<(), opskit_migrate::GuardError> {
/// static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations/base");
/// let guard = Guard::new(&MIGRATOR);
/// let status = guard.run("sqlite://data/notes.db?mode=rwc", Policy::Apply).await?;
/// assert!(status.is_compatible());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Guard {
    migrations: Vec<Migration>,
    lock_timeout: Duration,
}

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
    fn versions(&self) -> Vec<i64> {
        self.migrations.iter().map(|m| m.version).collect()
    }

    fn known(&self) -> Vec<Known<'_>> {
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

    /// Compares the binary's migrations with the database, without writing.
    ///
    /// # Errors
    ///
    /// [`GuardError::Unreachable`] when the database cannot be read.
    pub async fn status(
        &self,
        conn: &mut impl StatusConnection,
    ) -> Result<SchemaStatus, GuardError> {
        let (applied, records) = db::read(conn, &self.versions()).await?;
        Ok(SchemaStatus::compute(&self.known(), &applied, &records))
    }

    /// Reads the status and refuses a schema this binary cannot run against. Pending
    /// migrations are not a refusal: the service starts, not ready.
    ///
    /// # Errors
    ///
    /// [`GuardError::Incompatible`] for a contract or unrecorded newer migration, a
    /// modified, missing or failed one; [`GuardError::Unreachable`].
    pub async fn verify(
        &self,
        conn: &mut impl GuardConnection,
    ) -> Result<SchemaStatus, GuardError> {
        let status = self.status(conn).await?;
        refuse_incompatible(status, true)
    }

    /// Applies pending migrations under the lock, recording each one's expand or
    /// contract classification in the same transaction, then verifies.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify); [`GuardError::LockTimeout`];
    /// [`GuardError::MigrationFailed`] (the failure is recorded, and the next status
    /// reports it); [`GuardError::InvalidMigration`] when a pending migration cannot
    /// be applied as written (nothing is executed, nothing is written).
    pub async fn apply(&self, conn: &mut impl GuardConnection) -> Result<SchemaStatus, GuardError> {
        self.apply_until(conn, false).await
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
        self.apply_until(conn, true).await
    }

    async fn apply_until(
        &self,
        conn: &mut impl GuardConnection,
        expand_only: bool,
    ) -> Result<SchemaStatus, GuardError> {
        let dialect = conn.dialect();
        // Classification depends only on the files: done before the lock is taken,
        // so a long file never holds other replicas up.
        let classifications: Vec<Classification> = self
            .migrations
            .iter()
            .map(|m| classify(m.sql.as_str(), dialect))
            .collect();
        self.refuse_invalid(conn, &classifications).await?;
        conn.lock(self.lock_timeout).await?;
        let result = async {
            let (applied, records) = db::read(&mut *conn, &self.versions()).await?;
            let status = SchemaStatus::compute(&self.known(), &applied, &records);
            // Never apply on top of a schema this binary cannot run against, and
            // refuse before writing anything, bookkeeping tables included.
            let status = refuse_incompatible(status, true)?;
            if status.pending.is_empty() {
                return Ok(status);
            }
            // What this run applies: every pending migration, or with policy expand
            // those before the first contract one.
            let mut to_apply = Vec::new();
            for pending in &status.pending {
                let Some(index) = self
                    .migrations
                    .iter()
                    .position(|m| m.version == pending.version)
                else {
                    continue;
                };
                if expand_only && classifications[index].compat == Compat::Contract {
                    break;
                }
                to_apply.push(index);
            }
            if !to_apply.is_empty() {
                conn.ensure_tables().await?;
            }
            for retry in &status.retrying {
                if to_apply
                    .iter()
                    .any(|&i| self.migrations[i].version == retry.migration.version)
                {
                    tracing::warn!(
                        event = "schema.retrying",
                        version = retry.migration.version,
                        description = %retry.migration.description,
                        last_error = retry.error.as_deref().unwrap_or_default(),
                        "migration {} failed before and was rolled back; running it again",
                        retry.migration
                    );
                }
            }
            for index in to_apply {
                let m = &self.migrations[index];
                let migration = ToApply {
                    version: m.version,
                    description: &m.description,
                    sql: &m.sql,
                    checksum: &m.checksum,
                    no_tx: m.no_tx,
                    classification: classifications[index].clone(),
                };
                if db::apply(&mut *conn, &migration).await? {
                    tracing::info!(
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
            }
            let (applied, records) = db::read(&mut *conn, &self.versions()).await?;
            let status = refuse_incompatible(
                SchemaStatus::compute(&self.known(), &applied, &records),
                false,
            )?;
            // Held back only when this release runs without them; otherwise the
            // refusal above says what is missing.
            if status.state == State::ContractPending {
                for held in &status.pending {
                    tracing::info!(
                        event = "schema.contract_held_back",
                        version = held.version,
                        description = %held.description,
                        "migration {held} is held back: policy expand stops at the first contract migration; \
                         apply it (policy apply) once no older release runs"
                    );
                }
            }
            Ok(status)
        }
        .await;
        let unlocked = conn.unlock().await;
        let status = result?;
        unlocked?;
        Ok(status)
    }

    /// Records what an operator verified about a partly applied migration (one that
    /// failed outside a transaction, or that sqlx marked dirty), under the migration
    /// lock: [`Repair::Applied`] when they finished it by hand, [`Repair::NotApplied`]
    /// when they undid it (the next `apply` runs it again). The history table keeps
    /// the failure and the repair. Returns the status after the repair.
    ///
    /// # Errors
    ///
    /// [`GuardError::Repair`] when the migration is not partly applied, or this
    /// binary does not have it; [`GuardError::Unreachable`];
    /// [`GuardError::LockTimeout`].
    pub async fn repair(
        &self,
        conn: &mut impl GuardConnection,
        version: i64,
        repair: Repair,
    ) -> Result<SchemaStatus, GuardError> {
        let dialect = conn.dialect();
        conn.lock(self.lock_timeout).await?;
        let result = async {
            let (applied, records) = db::read(&mut *conn, &self.versions()).await?;
            let status = SchemaStatus::compute(&self.known(), &applied, &records);
            let refuse = |message: String| GuardError::Repair { version, message };
            let Some(failed) = status.failed.iter().find(|f| f.migration.version == version) else {
                return Err(refuse(format!(
                    "it is not partly applied (the schema is {}); only a migration that failed outside a transaction needs a repair",
                    status.state.as_str()
                )));
            };
            let Some(m) = self.migrations.iter().find(|m| m.version == version) else {
                return Err(refuse(
                    "these migrations do not include it; run the repair with the release that has the file".into(),
                ));
            };
            let note = format!(
                "an operator recorded it as {} after a partial failure{}",
                repair.as_str(),
                failed.error.as_deref().map(|e| format!(" (error: {e})")).unwrap_or_default()
            );
            let migration = ToApply {
                version,
                description: &m.description,
                sql: &m.sql,
                checksum: &m.checksum,
                no_tx: m.no_tx,
                classification: classify(m.sql.as_str(), dialect),
            };
            conn.ensure_tables().await?;
            conn.repair(&migration, repair == Repair::Applied, &note)
                .await?;
            tracing::warn!(
                event = "schema.repaired",
                version,
                description = %m.description,
                recorded_as = repair.as_str(),
                "{note}"
            );
            let (applied, records) = db::read(&mut *conn, &self.versions()).await?;
            Ok(SchemaStatus::compute(&self.known(), &applied, &records))
        }
        .await;
        let unlocked = conn.unlock().await;
        let status = result?;
        unlocked?;
        Ok(status)
    }

    /// Refuses, before anything is executed or written, when a migration that is not
    /// applied yet cannot be applied as written (such as a `COMMIT` inside the
    /// transaction it runs in). A migration already applied (by another tool) is
    /// history, not refused.
    async fn refuse_invalid(
        &self,
        conn: &mut impl GuardConnection,
        classifications: &[Classification],
    ) -> Result<(), GuardError> {
        let invalid: Vec<usize> = (0..self.migrations.len())
            .filter(|&i| classifications[i].lint.errors().next().is_some())
            .collect();
        if invalid.is_empty() {
            return Ok(());
        }
        let (applied, _) = db::read(conn, &self.versions()).await?;
        let Some(&index) = invalid.iter().find(|&&i| {
            !applied
                .iter()
                .any(|row| row.version == self.migrations[i].version && row.success)
        }) else {
            return Ok(());
        };
        let m = &self.migrations[index];
        Err(GuardError::InvalidMigration {
            version: m.version,
            description: m.description.to_string(),
            problems: classifications[index]
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

    /// Connects to `url` (`sqlite:` or `postgres:`), runs `policy`, and logs the
    /// outcome as a `schema.status` event (ERROR when refused).
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply) and [`verify`](Self::verify);
    /// [`GuardError::UnsupportedDatabase`] for another scheme.
    pub async fn run(
        &self,
        url: &(impl DatabaseUrl + ?Sized),
        policy: Policy,
    ) -> Result<SchemaStatus, GuardError> {
        let url = url.expose_url();
        let result = self
            .run_inner(url, policy)
            .await
            .map_err(|err| err.at_database(url));
        log_status(&result, policy);
        result
    }

    /// Connects to `url` and reads the status, without writing and without logging:
    /// for a periodic health check.
    ///
    /// # Errors
    ///
    /// [`GuardError::Unreachable`], [`GuardError::UnsupportedDatabase`].
    pub async fn status_at(
        &self,
        url: &(impl DatabaseUrl + ?Sized),
    ) -> Result<SchemaStatus, GuardError> {
        let url = url.expose_url();
        self.status_at_inner(url)
            .await
            .map_err(|err| err.at_database(url))
    }

    /// Connects to `url` and [`repair`](Self::repair)s migration `version`, logging
    /// a `schema.repaired` event.
    ///
    /// # Errors
    ///
    /// As [`repair`](Self::repair); [`GuardError::UnsupportedDatabase`].
    pub async fn repair_at(
        &self,
        url: &(impl DatabaseUrl + ?Sized),
        version: i64,
        repair: Repair,
    ) -> Result<SchemaStatus, GuardError> {
        let url = url.expose_url();
        self.connect_and_run(url, Action::Repair(version, repair))
            .await
            .map_err(|err| err.at_database(url))
    }

    async fn status_at_inner(&self, url: &str) -> Result<SchemaStatus, GuardError> {
        self.connect_and_run(url, Action::Status).await
    }

    async fn run_inner(&self, url: &str, policy: Policy) -> Result<SchemaStatus, GuardError> {
        self.connect_and_run(url, Action::Policy(policy)).await
    }

    /// Connects to `url` with the driver its scheme names, runs `policy` (or only
    /// reads the status), and closes the connection.
    #[cfg_attr(
        not(any(feature = "postgres", feature = "_sqlite")),
        allow(unused_variables)
    )]
    async fn connect_and_run(&self, url: &str, action: Action) -> Result<SchemaStatus, GuardError> {
        match url.split(':').next().unwrap_or_default() {
            #[cfg(feature = "_sqlite")]
            "sqlite" => {
                self.run_on(connect::<sqlx::SqliteConnection>(url).await?, action)
                    .await
            }
            #[cfg(feature = "postgres")]
            "postgres" | "postgresql" => {
                self.run_on(connect::<sqlx::PgConnection>(url).await?, action)
                    .await
            }
            other => Err(GuardError::UnsupportedDatabase {
                scheme: other.to_owned(),
                supported: crate::db::SUPPORTED_SCHEMES,
            }),
        }
    }

    #[cfg(any(feature = "postgres", feature = "_sqlite"))]
    async fn run_on<C>(&self, mut conn: C, action: Action) -> Result<SchemaStatus, GuardError>
    where
        C: GuardConnection + sqlx::Connection,
    {
        let result = match action {
            Action::Policy(policy) => self.run_policy(&mut conn, policy).await,
            Action::Status => self.status(&mut conn).await,
            Action::Repair(version, repair) => self.repair(&mut conn, version, repair).await,
        };
        let _ = conn.close().await;
        result
    }

    #[cfg(any(feature = "postgres", feature = "_sqlite"))]
    async fn run_policy(
        &self,
        conn: &mut impl GuardConnection,
        policy: Policy,
    ) -> Result<SchemaStatus, GuardError> {
        match policy {
            Policy::Apply => self.apply(conn).await,
            Policy::Verify => self.verify(conn).await,
            Policy::Expand => self.apply_expand(conn).await,
        }
    }
}

/// Opens one connection to `url`.
#[cfg(any(feature = "postgres", feature = "_sqlite"))]
async fn connect<C: sqlx::Connection>(url: &str) -> Result<C, GuardError> {
    C::connect(url)
        .await
        .map_err(crate::error::unreachable("connecting"))
}

/// `Ok` for a schema this binary can run against (pending allowed when
/// `pending_ok`), else the refusal.
fn refuse_incompatible(status: SchemaStatus, pending_ok: bool) -> Result<SchemaStatus, GuardError> {
    match status.state {
        State::UpToDate | State::AheadCompatible | State::ContractPending => Ok(status),
        State::Pending if pending_ok => Ok(status),
        _ => Err(GuardError::Incompatible(Box::new(status))),
    }
}

/// The `schema.status` event.
pub(crate) fn log_status(result: &Result<SchemaStatus, GuardError>, policy: Policy) {
    let policy = policy.as_str();
    match result {
        Ok(status) => {
            let ahead: Vec<String> = status
                .ahead
                .iter()
                .map(|a| a.migration.version.to_string())
                .collect();
            let pending: Vec<String> = status
                .pending
                .iter()
                .map(|p| p.version.to_string())
                .collect();
            let (state, binary, database) = (
                status.state.as_str(),
                status.binary_latest,
                status.database_latest,
            );
            let (ahead, pending) = (ahead.join(","), pending.join(","));
            if status.state == State::UpToDate {
                tracing::info!(
                    event = "schema.status",
                    policy,
                    state,
                    binary_latest = binary,
                    database_latest = database,
                    compatible = true,
                    "{status}"
                );
            } else {
                tracing::warn!(
                    event = "schema.status",
                    policy,
                    state,
                    binary_latest = binary,
                    database_latest = database,
                    ahead,
                    pending,
                    compatible = status.is_compatible(),
                    "{status}"
                );
            }
        }
        Err(GuardError::Incompatible(status)) => {
            tracing::error!(
                event = "schema.status",
                policy,
                state = status.state.as_str(),
                binary_latest = status.binary_latest,
                database_latest = status.database_latest,
                compatible = false,
                "{status}"
            );
        }
        Err(err) => {
            let state = match err {
                GuardError::Unreachable { .. } => "unreachable",
                GuardError::LockTimeout { .. } => "locked",
                GuardError::MigrationFailed { .. } => "migration_failed",
                GuardError::UnsupportedDatabase { .. } => "unsupported_database",
                _ => "invalid_migration",
            };
            tracing::error!(event = "schema.status", policy, state, compatible = false, error = %err, "{err}");
        }
    }
}

/// A database URL the guard connects to: a [`ConnectionString`] (the service's
/// setting, its password masked in every message), or a `str`/`String`. Errors show
/// the URL masked whichever is given.
pub trait DatabaseUrl: private::Sealed {
    /// The URL, password included, for the driver only.
    #[doc(hidden)]
    fn expose_url(&self) -> &str;
}

impl DatabaseUrl for ConnectionString {
    fn expose_url(&self) -> &str {
        self.expose_secret()
    }
}

impl DatabaseUrl for str {
    fn expose_url(&self) -> &str {
        self
    }
}

impl DatabaseUrl for String {
    fn expose_url(&self) -> &str {
        self
    }
}

mod private {
    pub trait Sealed {}
    impl Sealed for opskit_secret::ConnectionString {}
    impl Sealed for str {}
    impl Sealed for String {}
}
