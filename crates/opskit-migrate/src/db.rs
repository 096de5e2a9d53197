//! What the guard does on each database: read the state, lock, apply.

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection, SqliteConnection};

use crate::classify::Classification;
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;
use crate::status::{AppliedRow, RecordRow};

const SQLX_TABLE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

const SQLX_TABLE_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)";

const RECORDS_TABLE_SQLITE: &str = "CREATE TABLE IF NOT EXISTS _opskit_migrations (
    version BIGINT PRIMARY KEY,
    compat TEXT NOT NULL,
    classified_by TEXT NOT NULL,
    summary TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    recorded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)";

const RECORDS_TABLE_POSTGRES: &str = "CREATE TABLE IF NOT EXISTS _opskit_migrations (
    version BIGINT PRIMARY KEY,
    compat TEXT NOT NULL,
    classified_by TEXT NOT NULL,
    summary TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// A migration to apply, with its classification.
pub(crate) struct ToApply<'a> {
    pub(crate) version: i64,
    pub(crate) description: &'a str,
    pub(crate) sql: &'a str,
    pub(crate) checksum: &'a [u8],
    pub(crate) no_tx: bool,
    pub(crate) classification: Classification,
}

/// A connection the guard works on. Implemented for sqlx's SQLite and PostgreSQL
/// connections (pooled ones dereference to these).
pub trait GuardConnection: Send + private::Sealed {
    #[doc(hidden)]
    fn db(&mut self) -> Db<'_>;
}

mod private {
    pub trait Sealed {}
    impl Sealed for sqlx::SqliteConnection {}
    impl Sealed for sqlx::PgConnection {}
}

impl GuardConnection for SqliteConnection {
    fn db(&mut self) -> Db<'_> {
        Db::Sqlite(self)
    }
}

impl GuardConnection for PgConnection {
    fn db(&mut self) -> Db<'_> {
        Db::Postgres(self)
    }
}

#[doc(hidden)]
#[derive(Debug)]
pub enum Db<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Db<'_> {
    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The applied migrations and the records that matter, read-only, in at most
    /// four queries whatever the number of migrations: which tables exist; version,
    /// success and checksum of every applied migration; descriptions of the applied
    /// migrations this binary does not know (only when there are any); and the
    /// records of those and of failures. `known` is the binary's versions, sorted.
    pub(crate) async fn read(
        &mut self,
        known: &[i64],
    ) -> Result<(Vec<AppliedRow>, Vec<RecordRow>), GuardError> {
        let (has_sqlx, has_records) = match self {
            Self::Sqlite(conn) => {
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', '_opskit_migrations')",
                )
                .fetch_all(&mut **conn)
                .await
                .map_err(unreachable("reading the schema"))?;
                (names.iter().any(|n| n == "_sqlx_migrations"), names.iter().any(|n| n == "_opskit_migrations"))
            }
            Self::Postgres(conn) => sqlx::query_as::<_, (bool, bool)>(
                "SELECT to_regclass('_sqlx_migrations') IS NOT NULL, to_regclass('_opskit_migrations') IS NOT NULL",
            )
            .fetch_one(&mut **conn)
            .await
            .map_err(unreachable("reading the schema"))?,
        };
        let latest = known.last().copied().unwrap_or(i64::MIN);
        let mut applied = Vec::new();
        let mut records = Vec::new();
        macro_rules! read_rows {
            ($conn:expr) => {{
                if has_sqlx {
                    let rows: Vec<(i64, bool, Vec<u8>)> =
                        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
                            .fetch_all(&mut **$conn)
                            .await
                            .map_err(unreachable("reading _sqlx_migrations"))?;
                    let unknown: Vec<String> = rows
                        .iter()
                        .filter(|(version, ..)| known.binary_search(version).is_err())
                        .map(|(version, ..)| version.to_string())
                        .collect();
                    let descriptions: Vec<(i64, String)> = if unknown.is_empty() {
                        Vec::new()
                    } else {
                        // Integers formatted by us: nothing to inject.
                        let sql = format!(
                            "SELECT version, description FROM _sqlx_migrations WHERE version IN ({}) ORDER BY version",
                            unknown.join(",")
                        );
                        sqlx::query_as(&sql)
                            .fetch_all(&mut **$conn)
                            .await
                            .map_err(unreachable("reading _sqlx_migrations"))?
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
                if has_records {
                    let rows: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
                        "SELECT version, compat, summary, outcome, error FROM _opskit_migrations \
                         WHERE version > $1 OR outcome <> 'applied' ORDER BY version",
                    )
                    .bind(latest)
                    .fetch_all(&mut **$conn)
                    .await
                    .map_err(unreachable("reading _opskit_migrations"))?;
                    records = rows
                        .into_iter()
                        .map(|(version, compat, summary, outcome, error)| RecordRow {
                            version,
                            compat,
                            summary,
                            outcome,
                            error,
                        })
                        .collect();
                }
            }};
        }
        match self {
            Self::Sqlite(conn) => read_rows!(conn),
            Self::Postgres(conn) => read_rows!(conn),
        }
        Ok((applied, records))
    }

    pub(crate) async fn ensure_tables(&mut self) -> Result<(), GuardError> {
        let statements = match self {
            Self::Sqlite(_) => [SQLX_TABLE_SQLITE, RECORDS_TABLE_SQLITE],
            Self::Postgres(_) => [SQLX_TABLE_POSTGRES, RECORDS_TABLE_POSTGRES],
        };
        for sql in statements {
            match self {
                Self::Sqlite(conn) => conn.execute(sql).await.map(drop),
                Self::Postgres(conn) => conn.execute(sql).await.map(drop),
            }
            .map_err(unreachable("creating the migration tables"))?;
        }
        Ok(())
    }

    /// PostgreSQL: takes sqlx's advisory lock (the same key `sqlx migrate run`
    /// uses), polling so that the wait is bounded. SQLite locks per migration.
    pub(crate) async fn lock(&mut self, timeout: Duration) -> Result<(), GuardError> {
        let Self::Postgres(conn) = self else {
            return Ok(());
        };
        let key = advisory_key(conn, "taking the migration lock").await?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut **conn)
                .await
                .map_err(unreachable("taking the migration lock"))?;
            if locked {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                let holder = lock_holder(conn, key).await;
                return Err(GuardError::LockTimeout {
                    holder,
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    pub(crate) async fn unlock(&mut self) -> Result<(), GuardError> {
        let Self::Postgres(conn) = self else {
            return Ok(());
        };
        let key = advisory_key(conn, "releasing the migration lock").await?;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut **conn)
            .await
            .map_err(unreachable("releasing the migration lock"))?;
        Ok(())
    }

    /// Applies one migration with its record in one transaction (the SQLite one
    /// exclusive), unless another process applied it meanwhile. Returns whether it
    /// applied it. A failure rolls back and then writes a failure record.
    pub(crate) async fn apply(&mut self, migration: &ToApply<'_>) -> Result<bool, GuardError> {
        let start = Instant::now();
        let outcome = match self {
            Self::Sqlite(conn) => apply_sqlite(conn, migration, start).await,
            Self::Postgres(conn) => apply_postgres(conn, migration, start).await,
        };
        match outcome {
            Ok(applied) => Ok(applied),
            Err(Failure::Database(err)) => Err(err),
            Err(Failure::Migration(message)) => {
                let partial = migration.no_tx;
                self.record_failure(migration, &message, partial).await?;
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
        }
    }

    async fn record_failure(
        &mut self,
        m: &ToApply<'_>,
        message: &str,
        partial: bool,
    ) -> Result<(), GuardError> {
        let outcome = if partial { "failed_partial" } else { "failed" };
        let c = &m.classification;
        let summary = c.summary();
        macro_rules! upsert {
            ($conn:expr, $sql:literal) => {
                sqlx::query($sql)
                    .bind(m.version)
                    .bind(c.compat.as_str())
                    .bind(c.by.as_str())
                    .bind(&summary)
                    .bind(outcome)
                    .bind(message)
                    .execute(&mut **$conn)
                    .await
                    .map(drop)
            };
        }
        match self {
            Self::Sqlite(conn) => upsert!(conn, "INSERT INTO _opskit_migrations (version, compat, classified_by, summary, outcome, error) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (version) DO UPDATE SET compat = excluded.compat, classified_by = excluded.classified_by, summary = excluded.summary, outcome = excluded.outcome, error = excluded.error, recorded_at = CURRENT_TIMESTAMP"),
            Self::Postgres(conn) => upsert!(conn, "INSERT INTO _opskit_migrations (version, compat, classified_by, summary, outcome, error) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (version) DO UPDATE SET compat = excluded.compat, classified_by = excluded.classified_by, summary = excluded.summary, outcome = excluded.outcome, error = excluded.error, recorded_at = now()"),
        }
        .map_err(unreachable("recording a failed migration"))?;
        Ok(())
    }
}

/// Why applying stopped.
enum Failure {
    /// The migration's SQL failed.
    Migration(String),
    /// The database failed around it.
    Database(GuardError),
}

/// sqlx's advisory-lock key for the connection's database.
async fn advisory_key(conn: &mut PgConnection, doing: &'static str) -> Result<i64, GuardError> {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(conn)
        .await
        .map_err(unreachable(doing))?;
    Ok(lock_id(&database))
}

fn db_error(doing: &'static str) -> impl FnOnce(sqlx::Error) -> Failure {
    move |err| Failure::Database(unreachable(doing)(err))
}

/// Whether sqlx's table records `version` already: the re-check under the lock (or
/// inside the migration's transaction), so a replica that waited for another applies
/// nothing twice.
async fn already_applied<'c, DB, E>(executor: E, version: i64) -> Result<bool, Failure>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'c, Database = DB>,
    i64: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let done: Option<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(executor)
            .await
            .map_err(db_error("reading _sqlx_migrations"))?;
    Ok(done.is_some())
}

async fn apply_sqlite(
    conn: &mut SqliteConnection,
    m: &ToApply<'_>,
    start: Instant,
) -> Result<bool, Failure> {
    // An exclusive transaction: replicas starting together wait for one another
    // (up to the busy timeout) and the loser sees the migration applied.
    conn.execute("BEGIN EXCLUSIVE")
        .await
        .map_err(db_error("locking the SQLite database"))?;
    let result = async {
        if already_applied(&mut *conn, m.version).await? {
            return Ok(false);
        }
        conn.execute(m.sql)
            .await
            .map_err(|e| Failure::Migration(e.to_string()))?;
        insert_rows_sqlite(conn, m, start).await?;
        Ok(true)
    }
    .await;
    match result {
        Ok(applied) => {
            conn.execute("COMMIT")
                .await
                .map_err(db_error("committing a migration"))?;
            Ok(applied)
        }
        Err(failure) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(failure)
        }
    }
}

async fn apply_postgres(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
    start: Instant,
) -> Result<bool, Failure> {
    if m.no_tx {
        if already_applied(&mut *conn, m.version).await? {
            return Ok(false);
        }
        conn.execute(m.sql)
            .await
            .map_err(|e| Failure::Migration(e.to_string()))?;
        insert_rows_postgres(conn, m, start).await?;
        return Ok(true);
    }
    let mut tx = conn
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    if already_applied(&mut *tx, m.version).await? {
        return Ok(false);
    }
    tx.execute(m.sql)
        .await
        .map_err(|e| Failure::Migration(e.to_string()))?;
    insert_rows_postgres(&mut tx, m, start).await?;
    tx.commit()
        .await
        .map_err(db_error("committing a migration"))?;
    Ok(true)
}

/// Inserts the `_sqlx_migrations` row (as sqlx writes it) and the guard's record, in
/// the caller's transaction; the two databases differ only in the clock function.
macro_rules! insert_rows {
    ($name:ident, $connection:ty, $now:literal) => {
        async fn $name(conn: &mut $connection, m: &ToApply<'_>, start: Instant) -> Result<(), Failure> {
            let elapsed = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
            sqlx::query(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                 VALUES ($1, $2, TRUE, $3, $4)",
            )
            .bind(m.version)
            .bind(m.description)
            .bind(m.checksum)
            .bind(elapsed)
            .execute(&mut *conn)
            .await
            .map_err(db_error("recording a migration in _sqlx_migrations"))?;
            let c = &m.classification;
            sqlx::query(concat!(
                "INSERT INTO _opskit_migrations (version, compat, classified_by, summary, outcome, error) ",
                "VALUES ($1, $2, $3, $4, 'applied', NULL) ON CONFLICT (version) DO UPDATE SET ",
                "compat = excluded.compat, classified_by = excluded.classified_by, summary = excluded.summary, ",
                "outcome = 'applied', error = NULL, recorded_at = ",
                $now
            ))
            .bind(m.version)
            .bind(c.compat.as_str())
            .bind(c.by.as_str())
            .bind(c.summary())
            .execute(&mut *conn)
            .await
            .map_err(db_error("recording a migration in _opskit_migrations"))?;
            Ok(())
        }
    };
}

insert_rows!(insert_rows_sqlite, SqliteConnection, "CURRENT_TIMESTAMP");
insert_rows!(insert_rows_postgres, PgConnection, "now()");

/// sqlx's lock key for a database, so the guard and `sqlx migrate run` exclude
/// each other.
fn lock_id(database: &str) -> i64 {
    const CRC_IEEE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    0x3d32_ad9e * i64::from(CRC_IEEE.checksum(database.as_bytes()))
}

/// Who holds the advisory lock, from `pg_locks` and `pg_stat_activity`.
async fn lock_holder(conn: &mut PgConnection, key: i64) -> String {
    type Holder = (i32, Option<String>, Option<String>, Option<String>);
    let row: Result<Option<Holder>, _> = sqlx::query_as(
        "SELECT a.pid, a.application_name, host(a.client_addr), to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 AND l.objid::bigint = $2 LIMIT 1",
    )
    .bind((key >> 32) & 0xffff_ffff)
    .bind(key & 0xffff_ffff)
    .fetch_optional(&mut *conn)
    .await;
    match row {
        Ok(Some((pid, application, address, since))) => format!(
            "PostgreSQL backend {pid} (application {:?}, client {}, connected since {})",
            application.unwrap_or_default(),
            address.unwrap_or_else(|| "local".into()),
            since.unwrap_or_else(|| "?".into())
        ),
        Ok(None) => "another session (it released the lock as the guard gave up)".to_owned(),
        Err(err) => format!("another session (pg_locks could not be read: {err})"),
    }
}
