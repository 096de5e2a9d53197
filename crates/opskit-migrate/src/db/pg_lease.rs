//! The PostgreSQL migration lock: a lease row in `_opskit_migration_lock` (beside
//! the migrations table, in its schema) with an expiry, which holds through a
//! transaction pooler (PgBouncer `pool_mode = transaction`), plus sqlx's
//! advisory-lock key, checked so that the guard and `sqlx migrate run` (and guards
//! of earlier releases) still exclude each other.
//!
//! Every statement here is one simple-protocol statement in its own implicit
//! transaction: no prepared statement and no session state outlives it, so each
//! may reach any server connection of the pool. See the crate's design notes
//! ("The migration lock behind a pooler") for why a lease and not a
//! transaction-scoped lock.

use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::Lease;
use super::tables::literal;
use crate::error::{GuardError, unreachable};

/// The lease table `table`. One row per lock name; the guard uses the name
/// `migrate`.
fn lease_table(table: &str) -> String {
    format!(
        "CREATE TABLE {table} (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    expires_at TIMESTAMPTZ NOT NULL
)"
    )
}

/// Runs one simple-protocol statement and returns its first row, if any.
async fn simple(
    conn: &mut PgConnection,
    sql: String,
    doing: &'static str,
) -> Result<Option<sqlx::postgres::PgRow>, GuardError> {
    // Every value interpolated is ours: a number, a holder name of [A-Za-z0-9.:_-],
    // or the lease table's name, which `Tables` checked.
    sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_optional(conn)
        .await
        .map_err(unreachable(doing))
}

/// Creates the lease table unless it exists; a concurrent creation is success.
async fn ensure_table(conn: &mut PgConnection, table: &str) -> Result<(), GuardError> {
    let exists = format!("SELECT to_regclass({}) IS NOT NULL", literal(table));
    let present = |row: Option<sqlx::postgres::PgRow>| {
        row.and_then(|r| r.try_get::<bool, _>(0).ok())
            .unwrap_or(false)
    };
    if present(simple(conn, exists.clone(), "reading the schema").await?) {
        return Ok(());
    }
    if let Err(err) = sqlx::raw_sql(AssertSqlSafe(lease_table(table)))
        .execute(&mut *conn)
        .await
        && !present(simple(conn, exists, "reading the schema").await?)
    {
        return Err(unreachable("creating the migration lock table")(err));
    }
    Ok(())
}

/// Takes the lease for `lease.holder` when it is free or expired. Returns whether
/// it was taken.
async fn try_lease(conn: &mut PgConnection, lease: &Lease) -> Result<bool, GuardError> {
    let sql = format!(
        "INSERT INTO {table} AS l (name, holder, expires_at) \
         VALUES ('migrate', '{holder}', clock_timestamp() + interval '{ms} milliseconds') \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
         acquired_at = clock_timestamp(), expires_at = excluded.expires_at \
         WHERE l.expires_at < clock_timestamp() OR l.holder = excluded.holder RETURNING 1",
        table = lease.table,
        holder = lease.holder,
        ms = lease.ttl.as_millis().max(1),
    );
    Ok(simple(conn, sql, "taking the migration lock")
        .await?
        .is_some())
}

/// Whether sqlx's advisory lock is free: taken and released in one implicit
/// transaction, so nothing is left on the server connection.
async fn sqlx_lock_free(conn: &mut PgConnection, key: i64) -> Result<bool, GuardError> {
    let row = simple(
        conn,
        format!("SELECT pg_try_advisory_xact_lock({key})"),
        "taking the migration lock",
    )
    .await?;
    Ok(row
        .and_then(|r| r.try_get::<bool, _>(0).ok())
        .unwrap_or(false))
}

/// Takes the lease, then waits for sqlx's advisory lock to be free, polling, for
/// at most `timeout` in all. On a timeout the lease is given back and the error
/// names who holds what the guard waited for.
pub(super) async fn lock(
    conn: &mut PgConnection,
    timeout: Duration,
    lease: &Lease,
) -> Result<(), GuardError> {
    ensure_table(conn, &lease.table).await?;
    let key = super::pg_advisory::advisory_key(conn, "taking the migration lock").await?;
    let start = Instant::now();
    let mut pause = Duration::from_millis(50);
    let mut leased = false;
    loop {
        if !leased {
            leased = try_lease(conn, lease).await?;
        }
        if leased && sqlx_lock_free(conn, key).await? {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            let holder = if leased {
                unlock(conn, lease).await?;
                super::pg_advisory::lock_holder(conn, key).await
            } else {
                lease_holder(conn, lease).await
            };
            return Err(GuardError::LockTimeout {
                holder,
                waited: start.elapsed(),
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Extends the lease by its time to live; [`GuardError::LockLost`] when another
/// guard took it over after it expired.
pub(super) async fn renew(conn: &mut PgConnection, lease: &Lease) -> Result<(), GuardError> {
    let sql = format!(
        "UPDATE {table} SET expires_at = clock_timestamp() + interval '{ms} milliseconds' \
         WHERE name = 'migrate' AND holder = '{holder}' RETURNING 1",
        table = lease.table,
        holder = lease.holder,
        ms = lease.ttl.as_millis().max(1),
    );
    if simple(conn, sql, "renewing the migration lock")
        .await?
        .is_some()
    {
        return Ok(());
    }
    Err(GuardError::LockLost {
        holder: lease_holder(conn, lease).await,
        ttl: lease.ttl,
    })
}

/// Gives the lease back, if this holder still has it.
pub(super) async fn unlock(conn: &mut PgConnection, lease: &Lease) -> Result<(), GuardError> {
    let sql = format!(
        "DELETE FROM {} WHERE name = 'migrate' AND holder = '{}'",
        lease.table, lease.holder
    );
    simple(conn, sql, "releasing the migration lock")
        .await
        .map(drop)
}

/// Who holds the lease and until when, for an error message.
async fn lease_holder(conn: &mut PgConnection, lease: &Lease) -> String {
    let sql = format!(
        "SELECT holder, to_char(acquired_at, 'YYYY-MM-DD HH24:MI:SS TZ'), \
         greatest(0, extract(epoch FROM expires_at - clock_timestamp()))::float8 \
         FROM {} WHERE name = 'migrate'",
        lease.table
    );
    match simple(conn, sql, "reading the migration lock").await {
        Ok(Some(row)) => format!(
            "guard {} (lease taken at {}, expires in {:.1} s unless renewed)",
            row.try_get::<String, _>(0).unwrap_or_default(),
            row.try_get::<String, _>(1).unwrap_or_default(),
            row.try_get::<f64, _>(2).unwrap_or_default(),
        ),
        Ok(None) => "another guard (it released the lock as this one gave up)".to_owned(),
        Err(err) => format!("another guard (the lock table could not be read: {err})"),
    }
}
