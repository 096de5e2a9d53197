//! The guard on SQLite: an exclusive transaction per migration is the lock, taken
//! within a busy timeout per try.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Executor, Sqlite, SqliteConnection};

use super::elsewhere::{SQLITE_CANDIDATES, sqlite_quoted};
use super::private::{Driver, Reader};
use super::queries::{Bookkeeping, db_error};
use super::tables::{Ident, Tables, literal};
use super::{Failure, Lease, ToApply, TryWait};
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;

/// The bookkeeping queries, on SQLite.
type Queries = Bookkeeping<Sqlite>;

/// Whether `schema` is a schema of this connection (`main`, `temp`, or an
/// attached database).
async fn attached(conn: &mut SqliteConnection, schema: &Ident) -> Result<bool, GuardError> {
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_database_list")
        .fetch_all(&mut *conn)
        .await
        .map_err(unreachable("reading the schema"))?;
    Ok(names.iter().any(|name| schema.is(name)))
}

/// [`GuardError::TableName`] for a schema SQLite does not have.
fn not_attached(name: &str, schema: &Ident) -> GuardError {
    GuardError::TableName {
        name: name.to_owned(),
        problem: format!(
            "SQLite has no schema {} on this connection, and cannot create one: a schema is a database file attached with ATTACH DATABASE (main and temp aside)",
            schema.written
        ),
    }
}

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Reader for SqliteConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn existing(&mut self, t: &Tables) -> Result<[bool; 3], GuardError> {
        if let Some(schema) = &t.schema
            && !attached(self, schema).await?
        {
            return Err(not_attached(&t.sqlx, schema));
        }
        let bare = t.bare_names();
        // SQLite compares names without regard to ASCII case, as NOCASE does; the
        // names are literals of names `Tables` checked.
        let sql = format!(
            "SELECT name FROM {} WHERE type = 'table' AND name COLLATE NOCASE IN ({})",
            t.sqlite_master(),
            bare.iter()
                .map(|n| literal(n))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let names: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_all(&mut *self)
            .await
            .map_err(unreachable("reading the schema"))?;
        Ok(bare.map(|table| names.iter().any(|n| n.eq_ignore_ascii_case(&table))))
    }

    async fn candidates(&mut self) -> Result<Vec<String>, GuardError> {
        let names: Vec<String> = sqlx::query_scalar(SQLITE_CANDIDATES)
            .fetch_all(&mut *self)
            .await
            .map_err(unreachable("reading the schema"))?;
        Ok(names.iter().map(|name| sqlite_quoted(name)).collect())
    }
}

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Driver for SqliteConnection {
    /// sqlx's check: a listed schema must be attached already, since SQLite
    /// cannot create one.
    async fn create_schemas(&mut self, t: &Tables) -> Result<(), GuardError> {
        for schema in &t.create_schemas {
            if !attached(self, schema).await? {
                return Err(not_attached(&schema.written, schema));
            }
        }
        Ok(())
    }

    /// SQLite locks per migration, in [`apply_one`](Driver::apply_one).
    async fn lock(
        &mut self,
        _timeout: Duration,
        _lease: &Lease,
        _t: &Tables,
    ) -> Result<(), GuardError> {
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
            if Queries::already_applied(self, m.tables, m.version).await? {
                return Ok(false);
            }
            self.execute(m.sql.clone())
                .await
                .map_err(|e| Failure::Migration(e.to_string()))?;
            Queries::insert_rows(self, m, start).await?;
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

    /// Every migration runs inside `BEGIN EXCLUSIVE` on SQLite, `-- no-transaction`
    /// ones too: a failure leaves nothing behind.
    fn may_be_partial(&self, _m: &ToApply<'_>) -> bool {
        false
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
