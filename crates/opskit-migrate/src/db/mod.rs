//! What the guard does on a database: traits for what differs per database
//! ([`Reader`](private::Reader), [`Driver`](private::Driver)), one file per
//! database, as sqlx's own `migrate/`, and what they all run alike written once
//! (`queries`: [`Shared`](private::Shared), implemented for every sqlx
//! connection), on the tables `tables` names (sqlx's, as its `Migrator` names it,
//! and the guard's beside it); `elsewhere` finds migrations recorded under another
//! name.

// Without a database feature, nothing drives the shared parts.
#![cfg_attr(
    not(any(feature = "postgres", feature = "_sqlite", feature = "any")),
    allow(dead_code)
)]

use std::future::Future;
use std::time::{Duration, Instant};

use crate::classify::Classification;
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;
use crate::status::{AppliedRow, Known, RecordRow};

pub(crate) use retry::apply;
use tables::Spelling;
pub(crate) use tables::Tables;

#[cfg(feature = "any")]
mod any;
mod elsewhere;
#[cfg(feature = "postgres")]
mod pg_advisory;
#[cfg(feature = "postgres")]
mod pg_error;
#[cfg(feature = "postgres")]
mod pg_lease;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
mod postgres_wait;
mod queries;
mod retry;
#[cfg(feature = "_sqlite")]
mod sqlite;
pub(crate) mod tables;

/// The URL schemes this build can connect to, for [`GuardError::UnsupportedDatabase`].
pub(crate) const SUPPORTED_SCHEMES: &str =
    match (cfg!(feature = "postgres"), cfg!(feature = "_sqlite")) {
        (true, true) => "postgres: and sqlite:",
        (true, false) => "postgres: only (the `sqlite` feature is off)",
        (false, true) => "sqlite: only (the `postgres` feature is off)",
        (false, false) => {
            "no database: turn on the `postgres` or `sqlite` feature of opskit-migrate"
        }
    };

/// The PostgreSQL migration lock's lease: who takes it, and for how long each take
/// or renewal holds it (see `pg_lease`).
pub(crate) struct Lease {
    /// This apply's name in the lease row: host, process and a per-apply number,
    /// of `[A-Za-z0-9.:_-]` only (it is written into SQL as a literal).
    pub(crate) holder: String,
    /// How long the lease holds unless renewed.
    pub(crate) ttl: Duration,
    /// The lease table, beside the migrations table.
    pub(crate) table: String,
}

impl Lease {
    /// A lease for one apply of this process, in the lease table beside `tables`.
    pub(crate) fn new(ttl: Duration, tables: &Tables) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static APPLIES: AtomicU64 = AtomicU64::new(0);
        let host: String = std::fs::read_to_string("/etc/hostname")
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .take(64)
            .collect();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let holder = format!(
            "{}:pid-{}:{}-{nanos}",
            if host.is_empty() { "host" } else { &host },
            std::process::id(),
            APPLIES.fetch_add(1, Ordering::Relaxed),
        );
        Self {
            holder,
            ttl,
            table: tables.lock.clone(),
        }
    }
}

/// A migration to apply, with its classification.
pub(crate) struct ToApply<'a> {
    /// The bookkeeping tables its rows go to.
    pub(crate) tables: &'a Tables,
    pub(crate) version: i64,
    pub(crate) description: &'a str,
    pub(crate) sql: &'a sqlx::SqlStr,
    pub(crate) checksum: &'a [u8],
    pub(crate) no_tx: bool,
    pub(crate) classification: Classification,
}

impl ToApply<'_> {
    /// How long it has run, in nanoseconds, as sqlx records `execution_time`.
    fn elapsed_ns(start: Instant) -> i64 {
        i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }
}

/// Why applying stopped.
pub(crate) enum Failure {
    /// The migration's SQL failed.
    Migration(String),
    /// The database failed around it.
    Database(GuardError),
    /// A lock it needed was not granted within the lock timeout; the try was
    /// rolled back. Who held it, when the database said.
    Locked(Vec<crate::lock_wait::Blocker>),
}

/// How one try waits for a table's lock.
#[derive(Clone, Copy)]
pub(crate) struct TryWait<'a> {
    /// The lock timeout of the try.
    pub(crate) timeout: Duration,
    /// Who names the blockers while the try waits.
    pub(crate) watch: &'a Watch<'a>,
    /// Whether an earlier try of this migration, in this run, was cut short by
    /// its lock timeout.
    pub(crate) retry: bool,
}

/// The second connection that names the blockers while a try waits (PostgreSQL),
/// opened on the guard's URL when it has one, and kept from one try to the next.
pub(crate) struct Watch<'a> {
    /// The URL to open it on: only a PostgreSQL one.
    pub(crate) url: Option<&'a str>,
    #[cfg(feature = "postgres")]
    conn: std::sync::Mutex<Option<sqlx::PgConnection>>,
}

impl<'a> Watch<'a> {
    pub(crate) fn new(url: Option<&'a str>) -> Self {
        Self {
            url,
            #[cfg(feature = "postgres")]
            conn: std::sync::Mutex::new(None),
        }
    }

    /// Takes the connection out, for one try.
    #[cfg(feature = "postgres")]
    pub(crate) fn take(&self) -> Option<sqlx::PgConnection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Puts the connection back after a try.
    #[cfg(feature = "postgres")]
    pub(crate) fn put(&self, conn: Option<sqlx::PgConnection>) {
        *self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = conn;
    }

    /// Opens the connection if it is not open: between tries, so that a connection
    /// slower than a try's timeout still names the blockers of the next.
    pub(crate) async fn prepare(&self) {
        #[cfg(feature = "postgres")]
        if let Some(url) = self.url {
            let conn = match self.take() {
                Some(conn) => Some(conn),
                None => <sqlx::PgConnection as sqlx::Connection>::connect(url)
                    .await
                    .ok(),
            };
            self.put(conn);
        }
    }

    /// Closes the connection, if one was opened.
    pub(crate) async fn close(self) {
        #[cfg(feature = "postgres")]
        if let Some(conn) = self.take() {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

/// A connection the guard works on: sqlx's `SqliteConnection` (feature `sqlite`)
/// and `PgConnection` (feature `postgres`); pooled connections dereference to these.
pub trait GuardConnection: Send + private::Driver {}

impl<C: Send + private::Driver> GuardConnection for C {}

/// A connection the guard can read the schema's status on: every
/// [`GuardConnection`], and sqlx's `AnyConnection` (feature `any`), so
/// [`Guard::status`](crate::Guard::status) and the health check work on the pool a
/// service has, an `AnyPool` included. Applying needs a [`GuardConnection`].
pub trait StatusConnection: Send + private::Reader {}

impl<C: Send + private::Reader> StatusConnection for C {}

// The sealed trait speaks of crate types: nothing outside can name or call it.
#[allow(private_interfaces, private_bounds)]
pub(crate) mod private {
    use super::{
        Dialect, Duration, Failure, Future, GuardError, Instant, Lease, RecordRow, Spelling,
        Tables, ToApply, TryWait,
    };

    /// What differs per database when reading the status. Sealed: implemented in
    /// this module's children only.
    pub trait Reader: Shared {
        /// The SQL dialect the linter classifies with.
        fn dialect(&self) -> Dialect;

        /// Which of the three bookkeeping tables exist: sqlx's, the guard's
        /// records, the history.
        fn existing(
            &mut self,
            t: &Tables,
        ) -> impl Future<Output = Result<[bool; 3], GuardError>> + Send;

        /// Tables with sqlx's six columns that this connection may read, by their
        /// SQL names (quoted by the database): where migrations applied under
        /// another table name are. A few at most.
        fn candidates(&mut self) -> impl Future<Output = Result<Vec<String>, GuardError>> + Send;
    }

    /// What every database runs alike, through the shared queries: implemented
    /// once, for every sqlx connection, in `queries` (an `AnyConnection` only reads).
    pub trait Shared {
        /// Every row of sqlx's migrations table: version, success, checksum.
        fn applied(
            &mut self,
            t: &Tables,
        ) -> impl Future<Output = Result<Vec<(i64, bool, Vec<u8>)>, GuardError>> + Send;

        /// Descriptions of the applied migrations of `versions`.
        fn descriptions(
            &mut self,
            t: &Tables,
            versions: &[i64],
        ) -> impl Future<Output = Result<Vec<(i64, String)>, GuardError>> + Send;

        /// The guard's records of migrations newer than `latest`, and of failures.
        fn records(
            &mut self,
            t: &Tables,
            latest: i64,
        ) -> impl Future<Output = Result<Vec<RecordRow>, GuardError>> + Send;

        /// Creates bookkeeping table `table` of [`existing`](Reader::existing)'s
        /// three, as `spelling` spells the columns that differ per database.
        fn create_table(
            &mut self,
            t: &Tables,
            table: usize,
            spelling: &Spelling,
        ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

        /// Records a failed migration (`outcome` `failed` or `failed_partial`), and
        /// the attempt in the history, in one transaction.
        fn record_failure(
            &mut self,
            migration: &ToApply<'_>,
            outcome: &'static str,
            message: &str,
        ) -> impl Future<Output = Result<(), GuardError>> + Send;

        /// Records what an operator verified after a partial failure, in one
        /// transaction: `applied` (completed by hand: sqlx's row and the record say
        /// applied) or not (undone by hand: a dirty sqlx row is removed and the
        /// record says failed, so the next deploy runs the migration again).
        fn repair(
            &mut self,
            migration: &ToApply<'_>,
            applied: bool,
            note: &str,
        ) -> impl Future<Output = Result<(), GuardError>> + Send;
    }

    /// What differs per database when writing. Sealed like [`Reader`].
    pub trait Driver: Reader {
        /// Creates the schemas `t` lists that do not exist, as sqlx does
        /// (PostgreSQL); on SQLite, refuses one that is not attached.
        fn create_schemas(
            &mut self,
            t: &Tables,
        ) -> impl Future<Output = Result<(), GuardError>> + Send;

        /// Takes the migration lock for `lease`, waiting at most `timeout`
        /// (creating the schemas `t` lists first, where the lock is a table).
        fn lock(
            &mut self,
            timeout: Duration,
            lease: &Lease,
            t: &Tables,
        ) -> impl Future<Output = Result<(), GuardError>> + Send;

        /// Extends the migration lock's lease before a migration;
        /// [`GuardError::LockLost`] when it expired and another guard took it.
        fn renew(&mut self, lease: &Lease) -> impl Future<Output = Result<(), GuardError>> + Send;

        /// Releases the migration lock.
        fn unlock(&mut self, lease: &Lease) -> impl Future<Output = Result<(), GuardError>> + Send;

        /// Applies one migration with its rows, unless another process applied it
        /// meanwhile, waiting for locks at most `wait.timeout`
        /// ([`Failure::Locked`] after it, rolled back). Returns whether it applied it.
        fn apply_one(
            &mut self,
            migration: &ToApply<'_>,
            start: Instant,
            wait: TryWait<'_>,
        ) -> impl Future<Output = Result<bool, Failure>> + Send;

        /// Whether a failure of `migration` may have left parts of it applied.
        fn may_be_partial(&self, migration: &ToApply<'_>) -> bool;
    }
}

#[allow(unused_imports)] // used by the drivers' methods, behind database features
use private::{Driver, Reader, Shared};

/// The applied migrations and the records that matter, read-only, in at most four
/// queries whatever the number of migrations: which tables exist; version, success
/// and checksum of every applied migration; descriptions of the applied migrations
/// this binary does not know (only when there are any); and the records of those and
/// of failures. (SQLite checks first that a schema the table names is attached.)
/// `known` is the binary's migrations, sorted by version.
///
/// When sqlx's table does not exist, looks for the binary's migrations in another
/// table of sqlx's shape first: [`GuardError::TableElsewhere`] when one holds any
/// (see `elsewhere`).
pub(crate) async fn read<C: StatusConnection + ?Sized>(
    conn: &mut C,
    t: &Tables,
    known: &[Known<'_>],
) -> Result<(Vec<AppliedRow>, Vec<RecordRow>), GuardError> {
    let [mut has_sqlx, mut has_records, _] = conn.existing(t).await?;
    if !has_sqlx && !known.is_empty() && elsewhere::refuse(conn, t, known).await? {
        // Another replica created the table meanwhile: read it.
        [has_sqlx, has_records, _] = conn.existing(t).await?;
    }
    let mut applied = Vec::new();
    if has_sqlx {
        let rows = conn.applied(t).await?;
        let unknown: Vec<i64> = rows
            .iter()
            .map(|(version, ..)| *version)
            .filter(|version| known.binary_search_by_key(version, |k| k.version).is_err())
            .collect();
        let descriptions = if unknown.is_empty() {
            Vec::new()
        } else {
            conn.descriptions(t, &unknown).await?
        };
        applied = rows
            .into_iter()
            .map(|(version, success, checksum)| AppliedRow {
                version,
                description: descriptions
                    .binary_search_by_key(&version, |(v, _)| *v)
                    .map(|i| descriptions[i].1.clone())
                    .unwrap_or_default(),
                success,
                checksum,
            })
            .collect();
    }
    let records = if has_records {
        conn.records(t, known.last().map_or(i64::MIN, |k| k.version))
            .await?
    } else {
        Vec::new()
    };
    Ok((applied, records))
}

/// Creates the bookkeeping tables that are missing (never issuing a `CREATE` for one
/// that exists, so PostgreSQL logs no notice), and takes a concurrent creation by a
/// tool without the lock as success.
pub(crate) async fn ensure_tables<C: GuardConnection + ?Sized>(
    conn: &mut C,
    t: &Tables,
) -> Result<(), GuardError> {
    let present = conn.existing(t).await?;
    if present.contains(&false) {
        conn.create_schemas(t).await?;
    }
    for (i, exists) in present.into_iter().enumerate() {
        if exists {
            continue;
        }
        if let Err(err) = conn.create_table(t, i, Spelling::of(conn.dialect())).await {
            // Another process without the lock (sqlx-cli takes none) created it
            // meanwhile: that is what was wanted.
            if !conn.existing(t).await?[i] {
                return Err(unreachable("creating the migration tables")(err));
            }
        }
    }
    Ok(())
}

/// What failed a migration's SQL: records the failure (rolled back, or partial
/// outside a transaction) unless a tool without a lock (sqlx-cli) applied it
/// meanwhile, which is that tool's success. `Ok(false)` in that case.
pub(crate) async fn migration_failed<C: GuardConnection + ?Sized>(
    conn: &mut C,
    migration: &ToApply<'_>,
    message: String,
) -> Result<bool, GuardError> {
    let applied_meanwhile = conn
        .applied(migration.tables)
        .await?
        .iter()
        .any(|(version, success, _)| *version == migration.version && *success);
    if applied_meanwhile {
        return Ok(false);
    }
    let partial = conn.may_be_partial(migration);
    let outcome = if partial { "failed_partial" } else { "failed" };
    conn.record_failure(migration, outcome, &message).await?;
    Err(GuardError::MigrationFailed {
        version: migration.version,
        description: migration.description.to_owned(),
        message,
        rolled_back: if partial {
            "it ran outside a transaction, so parts of it may be applied"
        } else {
            "it was rolled back, nothing of it is applied"
        },
    })
}
