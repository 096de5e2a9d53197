//! The guard on PostgreSQL: sqlx's advisory lock, a transaction per migration
//! unless the file says `-- no-transaction`, each try under a `lock_timeout`
//! (`postgres_wait`).

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection, Postgres};

use super::postgres_wait::{
    backend_pid, drop_invalid_indexes, holders, is_lock_timeout, refuse_invalid_index,
    reset_lock_timeout, set_lock_timeout, watched,
};
use super::private::{Driver, Reader};
use super::queries::{
    already_applied, db_error, fetch_applied, fetch_descriptions, fetch_records, insert_rows,
    record_failure, record_repair,
};
use super::{Failure, ToApply, TryWait, pg_error};
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;
use crate::status::RecordRow;

const SQLX_TABLE: &str = "CREATE TABLE _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
    success BOOLEAN NOT NULL,
    checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL
)";

const RECORDS_TABLE: &str = "CREATE TABLE _opskit_migrations (
    version BIGINT PRIMARY KEY,
    compat TEXT NOT NULL,
    classified_by TEXT NOT NULL,
    summary TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

const HISTORY_TABLE: &str = "CREATE TABLE _opskit_migration_history (
    version BIGINT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT,
    at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// The bookkeeping tables: sqlx's, the guard's records, the history.
const TABLES: [&str; 3] = [SQLX_TABLE, RECORDS_TABLE, HISTORY_TABLE];

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Reader for PgConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn tables(&mut self) -> Result<(bool, bool), GuardError> {
        sqlx::query_as(
            "SELECT to_regclass('_sqlx_migrations') IS NOT NULL, to_regclass('_opskit_migrations') IS NOT NULL",
        )
        .fetch_one(&mut *self)
        .await
        .map_err(unreachable("reading the schema"))
    }

    async fn applied(&mut self) -> Result<Vec<(i64, bool, Vec<u8>)>, GuardError> {
        fetch_applied::<Postgres>(self).await
    }

    async fn descriptions(&mut self, versions: &[i64]) -> Result<Vec<(i64, String)>, GuardError> {
        fetch_descriptions::<Postgres>(self, versions).await
    }

    async fn records(&mut self, latest: i64) -> Result<Vec<RecordRow>, GuardError> {
        fetch_records::<Postgres>(self, latest).await
    }
}

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Driver for PgConnection {
    /// Which of the three bookkeeping tables exist.
    async fn existing(&mut self) -> Result<[bool; 3], GuardError> {
        let (a, b, c): (bool, bool, bool) = sqlx::query_as(
            "SELECT to_regclass('_sqlx_migrations') IS NOT NULL, to_regclass('_opskit_migrations') IS NOT NULL, to_regclass('_opskit_migration_history') IS NOT NULL",
        )
        .fetch_one(&mut *self)
        .await
        .map_err(unreachable("reading the schema"))?;
        Ok([a, b, c])
    }

    async fn create_table(&mut self, table: usize) -> Result<(), sqlx::Error> {
        self.execute(TABLES[table]).await.map(drop)
    }

    /// Takes sqlx's advisory lock (the same key `sqlx migrate run` uses), polling so
    /// that the wait is bounded.
    async fn lock(&mut self, timeout: Duration) -> Result<(), GuardError> {
        let key = advisory_key(self, "taking the migration lock").await?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut *self)
                .await
                .map_err(unreachable("taking the migration lock"))?;
            if locked {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                let holder = lock_holder(self, key).await;
                return Err(GuardError::LockTimeout {
                    holder,
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    async fn unlock(&mut self) -> Result<(), GuardError> {
        let key = advisory_key(self, "releasing the migration lock").await?;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut *self)
            .await
            .map_err(unreachable("releasing the migration lock"))?;
        Ok(())
    }

    async fn apply_one(
        &mut self,
        m: &ToApply<'_>,
        start: Instant,
        wait: TryWait<'_>,
    ) -> Result<bool, Failure> {
        if m.no_tx {
            apply_outside_transaction(self, m, start, wait).await
        } else {
            apply_in_transaction(self, m, start, wait).await
        }
    }

    async fn record_failure(
        &mut self,
        m: &ToApply<'_>,
        outcome: &'static str,
        message: &str,
    ) -> Result<(), GuardError> {
        record_failure::<Postgres>(self, m, outcome, message).await
    }

    fn may_be_partial(&self, m: &ToApply<'_>) -> bool {
        m.no_tx
    }

    async fn repair(
        &mut self,
        m: &ToApply<'_>,
        applied: bool,
        note: &str,
    ) -> Result<(), GuardError> {
        record_repair::<Postgres>(self, m, applied, note).await
    }
}

/// One try of a migration in a transaction with `SET LOCAL lock_timeout`, rolled
/// back when the timeout runs out.
async fn apply_in_transaction(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
    start: Instant,
    wait: TryWait<'_>,
) -> Result<bool, Failure> {
    let pid = backend_pid(conn).await?;
    let mut tx = conn
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    if already_applied::<Postgres>(&mut tx, m.version).await? {
        return Ok(false);
    }
    tx.execute(set_lock_timeout(wait.timeout, true))
        .await
        .map_err(db_error("setting the lock timeout"))?;
    let (result, blockers) = watched(tx.execute(m.sql.clone()), pid, wait).await;
    match result {
        Ok(_) => {}
        Err(err) if is_lock_timeout(&err) => {
            tx.rollback()
                .await
                .map_err(db_error("rolling back a try"))?;
            if blockers.is_empty() {
                return Err(Failure::Locked(holders(conn, m).await));
            }
            return Err(Failure::Locked(blockers));
        }
        Err(err) => {
            return Err(Failure::Migration(pg_error::describe(&err, m.sql.as_str())));
        }
    }
    insert_rows::<Postgres>(&mut tx, m, start).await?;
    tx.commit()
        .await
        .map_err(db_error("committing a migration"))?;
    Ok(true)
}

/// One try of a `-- no-transaction` migration, with the session's lock timeout
/// set before and reset after.
async fn apply_outside_transaction(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
    start: Instant,
    wait: TryWait<'_>,
) -> Result<bool, Failure> {
    if already_applied::<Postgres>(conn, m.version).await? {
        return Ok(false);
    }
    let pid = backend_pid(conn).await?;
    conn.execute(set_lock_timeout(wait.timeout, false))
        .await
        .map_err(db_error("setting the lock timeout"))?;
    let ran = run_outside_transaction(conn, m, pid, wait).await;
    reset_lock_timeout(conn).await?;
    ran?;
    insert_rows::<Postgres>(conn, m, start).await?;
    Ok(true)
}

/// The SQL of a `-- no-transaction` migration under the lock timeout: refused when
/// it names an INVALID index, except one an earlier try of this run left, which is
/// dropped first.
async fn run_outside_transaction(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
    pid: i32,
    wait: TryWait<'_>,
) -> Result<(), Failure> {
    if wait.retry {
        drop_invalid_indexes(conn, m, pid, wait).await?;
    }
    refuse_invalid_index(conn, m).await?;
    let (result, blockers) = watched(conn.execute(m.sql.clone()), pid, wait).await;
    match result {
        Ok(_) => Ok(()),
        Err(err) if is_lock_timeout(&err) && blockers.is_empty() => {
            Err(Failure::Locked(holders(conn, m).await))
        }
        Err(err) if is_lock_timeout(&err) => Err(Failure::Locked(blockers)),
        Err(err) => Err(Failure::Migration(pg_error::describe(&err, m.sql.as_str()))),
    }
}

/// sqlx's advisory-lock key for the connection's database.
async fn advisory_key(conn: &mut PgConnection, doing: &'static str) -> Result<i64, GuardError> {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(conn)
        .await
        .map_err(unreachable(doing))?;
    Ok(lock_id(&database))
}

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
