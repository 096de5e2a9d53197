//! The guard on SQLite: an exclusive transaction per migration is the lock, taken
//! within a busy timeout per try.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Executor, Sqlite, SqliteConnection};

use super::private::{Driver, Reader};
use super::queries::{
    already_applied, db_error, fetch_applied, fetch_descriptions, fetch_records, insert_rows,
    record_failure, record_repair,
};
use super::{Failure, Lease, ToApply, TryWait};
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;
use crate::status::RecordRow;

const SQLX_TABLE: &str = "CREATE TABLE _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

const RECORDS_TABLE: &str = "CREATE TABLE _opskit_migrations (
    version BIGINT PRIMARY KEY,
    compat TEXT NOT NULL,
    classified_by TEXT NOT NULL,
    summary TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    recorded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)";

const HISTORY_TABLE: &str = "CREATE TABLE _opskit_migration_history (
    version BIGINT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT,
    at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)";

/// The bookkeeping tables, in the order of [`TABLES`].
const TABLE_NAMES: [&str; 3] = [
    "_sqlx_migrations",
    "_opskit_migrations",
    "_opskit_migration_history",
];
/// Their definitions.
const TABLES: [&str; 3] = [SQLX_TABLE, RECORDS_TABLE, HISTORY_TABLE];

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Reader for SqliteConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn tables(&mut self) -> Result<(bool, bool), GuardError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', '_opskit_migrations')",
        )
        .fetch_all(&mut *self)
        .await
        .map_err(unreachable("reading the schema"))?;
        Ok((
            names.iter().any(|n| n == "_sqlx_migrations"),
            names.iter().any(|n| n == "_opskit_migrations"),
        ))
    }

    async fn applied(&mut self) -> Result<Vec<(i64, bool, Vec<u8>)>, GuardError> {
        fetch_applied::<Sqlite>(self).await
    }

    async fn descriptions(&mut self, versions: &[i64]) -> Result<Vec<(i64, String)>, GuardError> {
        fetch_descriptions::<Sqlite>(self, versions).await
    }

    async fn records(&mut self, latest: i64) -> Result<Vec<RecordRow>, GuardError> {
        fetch_records::<Sqlite>(self, latest).await
    }
}

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Driver for SqliteConnection {
    async fn existing(&mut self) -> Result<[bool; 3], GuardError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', '_opskit_migrations', '_opskit_migration_history')",
        )
        .fetch_all(&mut *self)
        .await
        .map_err(unreachable("reading the schema"))?;
        Ok(TABLE_NAMES.map(|table| names.iter().any(|n| n == table)))
    }

    async fn create_table(&mut self, table: usize) -> Result<(), sqlx::Error> {
        self.execute(TABLES[table]).await.map(drop)
    }

    /// SQLite locks per migration, in [`apply_one`](Driver::apply_one).
    async fn lock(&mut self, _timeout: Duration, _lease: &Lease) -> Result<(), GuardError> {
        Ok(())
    }

    async fn renew(&mut self, _lease: &Lease) -> Result<(), GuardError> {
        Ok(())
    }

    async fn unlock(&mut self, _lease: &Lease) -> Result<(), GuardError> {
        Ok(())
    }

    async fn apply_one(
        &mut self,
        m: &ToApply<'_>,
        start: Instant,
        wait: TryWait<'_>,
    ) -> Result<bool, Failure> {
        // An exclusive transaction: replicas starting together wait for one another
        // (up to the try's busy timeout, then the guard's retries) and the loser
        // sees the migration applied.
        begin_exclusive(self, wait.timeout).await?;
        let result = async {
            if already_applied::<Sqlite>(self, m.version).await? {
                return Ok(false);
            }
            self.execute(m.sql.clone())
                .await
                .map_err(|e| Failure::Migration(e.to_string()))?;
            insert_rows::<Sqlite>(self, m, start).await?;
            Ok(true)
        }
        .await;
        match result {
            Ok(applied) => {
                self.execute("COMMIT")
                    .await
                    .map_err(db_error("committing a migration"))?;
                Ok(applied)
            }
            Err(failure) => {
                let _ = self.execute("ROLLBACK").await;
                Err(failure)
            }
        }
    }

    async fn record_failure(
        &mut self,
        m: &ToApply<'_>,
        outcome: &'static str,
        message: &str,
    ) -> Result<(), GuardError> {
        record_failure::<Sqlite>(self, m, outcome, message).await
    }

    /// Every migration runs inside `BEGIN EXCLUSIVE` on SQLite, `-- no-transaction`
    /// ones too: a failure leaves nothing behind.
    fn may_be_partial(&self, _m: &ToApply<'_>) -> bool {
        false
    }

    async fn repair(
        &mut self,
        m: &ToApply<'_>,
        applied: bool,
        note: &str,
    ) -> Result<(), GuardError> {
        record_repair::<Sqlite>(self, m, applied, note).await
    }
}

/// `BEGIN EXCLUSIVE`, waiting at most `timeout` for another writer
/// (`busy_timeout`, set for the try and put back after): [`Failure::Locked`] when
/// the database stayed busy.
async fn begin_exclusive(conn: &mut SqliteConnection, timeout: Duration) -> Result<(), Failure> {
    let before: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error("reading the busy timeout"))?;
    let busy = |ms: u128| AssertSqlSafe(format!("PRAGMA busy_timeout = {ms}"));
    conn.execute(busy(timeout.as_millis().max(1)))
        .await
        .map_err(db_error("setting the busy timeout"))?;
    let begun = conn.execute("BEGIN EXCLUSIVE").await;
    conn.execute(busy(u128::try_from(before).unwrap_or(0)))
        .await
        .map_err(db_error("restoring the busy timeout"))?;
    match begun {
        Ok(_) => Ok(()),
        Err(err) if is_busy(&err) => Err(Failure::Locked(Vec::new())),
        Err(err) => Err(db_error("locking the SQLite database")(err)),
    }
}

/// Whether `err` is `SQLITE_BUSY` (or one of its extended codes).
fn is_busy(err: &sqlx::Error) -> bool {
    const SQLITE_BUSY: i64 = 5;
    err.as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i64>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_BUSY)
}
