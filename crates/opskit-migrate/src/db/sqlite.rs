//! The guard on SQLite: an exclusive transaction per migration is the lock.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, Executor, SqliteConnection};

use super::private::{Driver, Reader};
use super::{
    ALREADY_APPLIED_QUERY, Failure, RECORDS_QUERY, RecordTuple, ToApply, db_error, history_insert,
    record_row, record_upsert, repair_queries, sqlx_row,
};
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
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *self)
            .await
            .map_err(unreachable("reading _sqlx_migrations"))
    }

    async fn descriptions(&mut self, versions: &[i64]) -> Result<Vec<(i64, String)>, GuardError> {
        sqlx::query_as(AssertSqlSafe(super::descriptions_query(versions)))
            .fetch_all(&mut *self)
            .await
            .map_err(unreachable("reading _sqlx_migrations"))
    }

    async fn records(&mut self, latest: i64) -> Result<Vec<RecordRow>, GuardError> {
        let rows: Vec<RecordTuple> = sqlx::query_as(RECORDS_QUERY)
            .bind(latest)
            .fetch_all(&mut *self)
            .await
            .map_err(unreachable("reading _opskit_migrations"))?;
        Ok(rows.into_iter().map(record_row).collect())
    }
}

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Driver for SqliteConnection {
    async fn ensure_tables(&mut self) -> Result<(), GuardError> {
        let present = existing(self).await?;
        for (i, sql) in TABLES.into_iter().enumerate() {
            if present[i] {
                continue;
            }
            if let Err(err) = self.execute(sql).await {
                // Another process without the lock (sqlx-cli takes none) created it
                // meanwhile: that is what was wanted.
                if !existing(self).await?[i] {
                    return Err(unreachable("creating the migration tables")(err));
                }
            }
        }
        Ok(())
    }

    /// SQLite locks per migration, in [`apply_one`](Driver::apply_one).
    async fn lock(&mut self, _timeout: Duration) -> Result<(), GuardError> {
        Ok(())
    }

    async fn unlock(&mut self) -> Result<(), GuardError> {
        Ok(())
    }

    async fn apply_one(&mut self, m: &ToApply<'_>, start: Instant) -> Result<bool, Failure> {
        // An exclusive transaction: replicas starting together wait for one another
        // (up to the busy timeout) and the loser sees the migration applied.
        self.execute("BEGIN EXCLUSIVE")
            .await
            .map_err(db_error("locking the SQLite database"))?;
        let result = async {
            let done: Option<i64> = sqlx::query_scalar(ALREADY_APPLIED_QUERY)
                .bind(m.version)
                .fetch_optional(&mut *self)
                .await
                .map_err(db_error("reading _sqlx_migrations"))?;
            if done.is_some() {
                return Ok(false);
            }
            self.execute(m.sql.clone())
                .await
                .map_err(|e| Failure::Migration(e.to_string()))?;
            insert_rows(self, m, start).await?;
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
        let doing = "recording a failed migration";
        for query in [
            record_upsert::<sqlx::Sqlite>(m, outcome, Some(message)),
            history_insert::<sqlx::Sqlite>(m.version, outcome, message),
        ] {
            query
                .execute(&mut *self)
                .await
                .map_err(unreachable(doing))?;
        }
        Ok(())
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
        let doing = "recording a repair";
        let mut tx = self.begin().await.map_err(unreachable(doing))?;
        for query in repair_queries::<sqlx::Sqlite>(m, applied, note) {
            query.execute(&mut *tx).await.map_err(unreachable(doing))?;
        }
        tx.commit().await.map_err(unreachable(doing))
    }
}

/// Which of the three bookkeeping tables exist.
async fn existing(conn: &mut SqliteConnection) -> Result<[bool; 3], GuardError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('_sqlx_migrations', '_opskit_migrations', '_opskit_migration_history')",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(unreachable("reading the schema"))?;
    Ok(TABLE_NAMES.map(|table| names.iter().any(|n| n == table)))
}

/// Inserts the `_sqlx_migrations` row and the guard's record, in the caller's
/// transaction.
async fn insert_rows(
    conn: &mut SqliteConnection,
    m: &ToApply<'_>,
    start: Instant,
) -> Result<(), Failure> {
    sqlx_row::<sqlx::Sqlite>(m, ToApply::elapsed_ns(start), false)
        .execute(&mut *conn)
        .await
        .map_err(db_error("recording a migration in _sqlx_migrations"))?;
    record_upsert::<sqlx::Sqlite>(m, "applied", None)
        .execute(&mut *conn)
        .await
        .map_err(db_error("recording a migration in _opskit_migrations"))?;
    Ok(())
}
