//! The guard on PostgreSQL: the migration lock's lease (`pg_lease`), a transaction
//! per migration unless the file says `-- no-transaction`, each try under a
//! `lock_timeout` (`postgres_wait`) and holding sqlx's advisory lock for its
//! transaction, so `sqlx migrate run` never applies beside it.
//!
//! Behind a transaction pooler (PgBouncer `pool_mode = transaction`) consecutive
//! transactions may reach different server connections. So every query here is
//! unnamed (`persistent(false)`: sqlx 0.9 names a statement whenever it is
//! persistent, even with a statement cache of 0) and runs inside an explicit
//! transaction (sqlx parses an unnamed statement and binds it in two round
//! trips, which must reach one server connection), or is a simple-protocol
//! statement without parameters. No `SET` outlives its transaction except the
//! `-- no-transaction` path's, documented in the crate's pooler notes.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Postgres, Transaction};

use super::elsewhere::PG_CANDIDATES;
use super::pg_advisory::advisory_key;
use super::pg_lease;
use super::postgres_wait::{
    backend_pid, drop_invalid_indexes, holders, is_lock_timeout, refuse_invalid_index,
    reset_lock_timeout, set_lock_timeout, watched,
};
use super::private::{Driver, Reader};
use super::queries::{Bookkeeping, db_error};
use super::tables::{Tables, literal};
use super::{Failure, Lease, ToApply, TryWait, pg_error};
use crate::error::{GuardError, unreachable};
use crate::lint::Dialect;
use crate::lock_wait::Blocker;

/// The bookkeeping queries, on PostgreSQL.
type Queries = Bookkeeping<Postgres>;

/// Whether each of `names` (SQL names) exists, as one simple-protocol query.
async fn exist<const N: usize>(
    conn: &mut PgConnection,
    function: &str,
    names: [&str; N],
) -> Result<[bool; N], GuardError> {
    let columns: Vec<String> = names
        .iter()
        .map(|name| format!("{function}({}) IS NOT NULL", literal(name)))
        .collect();
    // Simple protocol, no parameters: safe on any server connection of a pool.
    // The names are literals of names `Tables` checked.
    let row = sqlx::raw_sql(AssertSqlSafe(format!("SELECT {}", columns.join(", "))))
        .fetch_one(&mut *conn)
        .await
        .map_err(unreachable("reading the schema"))?;
    Ok(std::array::from_fn(|i| {
        sqlx::Row::try_get::<bool, _>(&row, i).unwrap_or(false)
    }))
}

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Reader for PgConnection {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    /// Which of the three bookkeeping tables exist.
    async fn existing(&mut self, t: &Tables) -> Result<[bool; 3], GuardError> {
        exist(self, "to_regclass", t.bookkeeping()).await
    }

    async fn candidates(&mut self) -> Result<Vec<String>, GuardError> {
        sqlx::raw_sql(PG_CANDIDATES)
            .fetch_all(&mut *self)
            .await
            .and_then(|rows| {
                rows.iter()
                    .map(|row| sqlx::Row::try_get::<String, _>(row, 0))
                    .collect()
            })
            .map_err(unreachable("reading the schema"))
    }
}

// The sealed trait speaks of crate types: nothing outside can call it.
#[allow(private_interfaces)]
impl Driver for PgConnection {
    /// `CREATE SCHEMA IF NOT EXISTS`, as sqlx runs it, for each listed schema that
    /// does not exist (so that PostgreSQL logs no notice for one that does).
    async fn create_schemas(&mut self, t: &Tables) -> Result<(), GuardError> {
        for schema in &t.create_schemas {
            let [exists] = exist(self, "to_regnamespace", [schema.written.as_str()]).await?;
            if !exists {
                let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", schema.written);
                sqlx::raw_sql(AssertSqlSafe(sql))
                    .execute(&mut *self)
                    .await
                    .map_err(unreachable("creating the migrations table's schema"))?;
            }
        }
        Ok(())
    }

    /// Creates the listed schemas (refusing a migrations table in a schema that
    /// still does not exist), takes the lease, then waits for sqlx's advisory
    /// lock to be free (see `pg_lease`), for at most `timeout`.
    async fn lock(
        &mut self,
        timeout: Duration,
        lease: &Lease,
        t: &Tables,
    ) -> Result<(), GuardError> {
        self.create_schemas(t).await?;
        if let Some(schema) = &t.schema {
            let [exists] = exist(self, "to_regnamespace", [schema.written.as_str()]).await?;
            if !exists {
                return Err(GuardError::TableName {
                    name: t.sqlx.clone(),
                    problem: format!(
                        "schema {} does not exist; list it in create-schemas (Migrator::create_schema, Guard::create_schema) or create it",
                        schema.written
                    ),
                });
            }
        }
        pg_lease::lock(self, timeout, lease).await
    }

    async fn renew(&mut self, lease: &Lease) -> Result<(), GuardError> {
        pg_lease::renew(self, lease).await
    }

    async fn unlock(&mut self, lease: &Lease) -> Result<(), GuardError> {
        pg_lease::unlock(self, lease).await
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

    fn may_be_partial(&self, m: &ToApply<'_>) -> bool {
        m.no_tx
    }
}

/// One try of a migration in a transaction with `SET LOCAL lock_timeout`, holding
/// sqlx's advisory lock for the transaction (so `sqlx migrate run`, which holds it
/// for its whole run, never applies beside it), rolled back when the timeout runs
/// out.
async fn apply_in_transaction(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
    start: Instant,
    wait: TryWait<'_>,
) -> Result<bool, Failure> {
    let key = advisory_key(conn, "taking the migration lock")
        .await
        .map_err(Failure::Database)?;
    let mut tx = conn
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    // In the transaction: behind a pooler, the server connection that runs it.
    let pid = backend_pid(&mut tx).await?;
    tx.execute(set_lock_timeout(wait.timeout, true))
        .await
        .map_err(db_error("setting the lock timeout"))?;
    let lock = AssertSqlSafe(format!("SELECT pg_advisory_xact_lock({key})"));
    let (locked, blockers) = watched(tx.execute(lock), pid, wait).await;
    if let Err(err) = locked {
        let blockers = timed_out(tx, err, blockers, "taking sqlx's migration lock").await?;
        return Err(Failure::Locked(
            blockers_or_holders(conn, m, blockers).await,
        ));
    }
    if Queries::already_applied(&mut tx, m.tables, m.version).await? {
        return Ok(false);
    }
    let (result, blockers) = watched(tx.execute(m.sql.clone()), pid, wait).await;
    if let Err(err) = result {
        if is_lock_timeout(&err) {
            let blockers = timed_out(tx, err, blockers, "rolling back a try").await?;
            return Err(Failure::Locked(
                blockers_or_holders(conn, m, blockers).await,
            ));
        }
        return Err(Failure::Migration(pg_error::describe(&err, m.sql.as_str())));
    }
    Queries::insert_rows(&mut tx, m, start).await?;
    tx.commit()
        .await
        .map_err(db_error("committing a migration"))?;
    Ok(true)
}

/// A try's statement failed: a lock timeout is rolled back and gives the blockers
/// the watch saw; any other error fails the database step `doing`.
async fn timed_out(
    tx: Transaction<'_, Postgres>,
    err: sqlx::Error,
    blockers: Vec<Blocker>,
    doing: &'static str,
) -> Result<Vec<Blocker>, Failure> {
    if !is_lock_timeout(&err) {
        return Err(db_error(doing)(err));
    }
    tx.rollback()
        .await
        .map_err(db_error("rolling back a try"))?;
    Ok(blockers)
}

/// The blockers the watch saw, or when it saw none, who holds a lock on a table
/// the migration names.
async fn blockers_or_holders(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
    blockers: Vec<Blocker>,
) -> Vec<Blocker> {
    if blockers.is_empty() {
        holders(conn, m).await
    } else {
        blockers
    }
}

/// One try of a `-- no-transaction` migration, with the session's lock timeout
/// set before and reset after. (Behind a transaction pooler these three
/// statements may reach different server connections: see the crate's pooler
/// notes.)
async fn apply_outside_transaction(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
    start: Instant,
    wait: TryWait<'_>,
) -> Result<bool, Failure> {
    let mut tx = conn
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    let applied = Queries::already_applied(&mut tx, m.tables, m.version).await?;
    tx.commit()
        .await
        .map_err(db_error("reading the migrations table"))?;
    if applied {
        return Ok(false);
    }
    let pid = backend_pid(conn).await?;
    conn.execute(set_lock_timeout(wait.timeout, false))
        .await
        .map_err(db_error("setting the lock timeout"))?;
    let ran = run_outside_transaction(conn, m, pid, wait).await;
    reset_lock_timeout(conn).await?;
    ran?;
    let mut tx = conn
        .begin()
        .await
        .map_err(db_error("starting a transaction"))?;
    Queries::insert_rows(&mut tx, m, start).await?;
    tx.commit()
        .await
        .map_err(db_error("recording a migration"))?;
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
