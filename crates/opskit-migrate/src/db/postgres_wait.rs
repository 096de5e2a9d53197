//! Bounded lock waits on PostgreSQL: `lock_timeout` for a try, the blockers named
//! from a second connection while it waits, and the INVALID indexes an interrupted
//! concurrent build leaves.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use super::queries::db_error;
use super::{Failure, ToApply, TryWait};
use crate::error::GuardError;
use crate::lock_wait::Blocker;

/// SQLSTATE `lock_not_available`: the lock timeout ran out.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Whether `err` is a lock timeout.
pub(super) fn is_lock_timeout(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == LOCK_NOT_AVAILABLE)
}

/// The statement that sets the lock timeout: `SET LOCAL` in a transaction, `SET`
/// for the session outside one.
pub(super) fn set_lock_timeout(timeout: Duration, local: bool) -> AssertSqlSafe<String> {
    let scope = if local { "SET LOCAL" } else { "SET" };
    // A number of milliseconds: nothing of the user's text is interpolated.
    AssertSqlSafe(format!(
        "{scope} lock_timeout = {}",
        timeout.as_millis().max(1)
    ))
}

/// The backend pid of `conn`, for `pg_blocking_pids`.
pub(super) async fn backend_pid(conn: &mut PgConnection) -> Result<i32, Failure> {
    // Simple protocol, no parameters: safe on any server connection of a pool.
    sqlx::raw_sql("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .and_then(|row| sqlx::Row::try_get(&row, 0))
        .map_err(db_error("reading the backend pid"))
}

/// Runs `work` (the migration's SQL on the connection of backend `pid`) and, when
/// the guard has a URL, reads who blocks it from a second connection while it
/// runs: the blockers last seen, empty when it never waited. The looks run beside
/// the work, never holding up its end.
pub(super) async fn watched<T>(
    work: impl Future<Output = Result<T, sqlx::Error>>,
    pid: i32,
    wait: TryWait<'_>,
) -> (Result<T, sqlx::Error>, Vec<Blocker>) {
    let Some(url) = wait.watch.url else {
        return (work.await, Vec::new());
    };
    // Four looks a try, none more often than every 25 ms; the first after a
    // quarter of the timeout, so that a migration that does not wait opens nothing.
    let every = (wait.timeout / 4).max(Duration::from_millis(25));
    let mut conn = wait.watch.take();
    let seen = Mutex::new(Vec::new());
    let result = {
        let looks = look(url, &mut conn, pid, every, &seen);
        tokio::pin!(work, looks);
        tokio::select! {
            biased;
            result = &mut work => result,
            () = &mut looks => work.await,
        }
    };
    wait.watch.put(conn);
    let seen = seen.into_inner().unwrap_or_else(PoisonError::into_inner);
    (result, seen)
}

/// Looks for blockers of `pid` every `every`, opening the connection first if need
/// be (so a migration done sooner opens none), and keeps the last ones seen. Runs
/// until dropped.
async fn look(
    url: &str,
    conn: &mut Option<PgConnection>,
    pid: i32,
    every: Duration,
    seen: &Mutex<Vec<Blocker>>,
) {
    loop {
        tokio::time::sleep(every).await;
        if conn.is_none() {
            *conn = PgConnection::connect(url).await.ok();
        }
        if let Some(watcher) = conn.as_mut() {
            match blockers(watcher, pid).await {
                Ok(found) if !found.is_empty() => {
                    *seen.lock().unwrap_or_else(PoisonError::into_inner) = found;
                }
                Ok(_) => {}
                // A broken watcher is opened again at the next look.
                Err(_) => *conn = None,
            }
        }
    }
}

/// The sessions `pid` waits for, from `pg_blocking_pids`: never their parameters,
/// only the text of their query, cut short.
async fn blockers(conn: &mut PgConnection, pid: i32) -> Result<Vec<Blocker>, sqlx::Error> {
    type Row = (i32, String, String, f64, String);
    // A number of ours in a simple-protocol statement: safe behind a pooler.
    let sql = format!(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), \
         coalesce(extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start))::float8, 0), \
         coalesce(left(a.query, 200), '') \
         FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids({pid})) ORDER BY a.pid"
    );
    let rows: Vec<Row> = sqlx::raw_sql(AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?
        .iter()
        .map(sqlx::FromRow::from_row)
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .map(|(pid, app, state, seconds, query)| Blocker::new(pid, app, state, seconds, query))
        .collect())
}

/// The sessions holding a lock on a table the migration's SQL names, read on the
/// guard's own connection right after a try ran out of its lock timeout: who
/// blocks it, when no second connection watched the try. Never their parameters.
pub(super) async fn holders(conn: &mut PgConnection, m: &ToApply<'_>) -> Vec<Blocker> {
    type Row = (i32, String, String, f64, String);
    // Unnamed, in a transaction: one server connection behind a pooler.
    let Ok(mut tx) = conn.begin().await else {
        return Vec::new();
    };
    let rows: Result<Vec<Row>, _> = sqlx::query_as(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''), \
         coalesce(extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start))::float8, 0), \
         coalesce(left(a.query, 200), '') \
         FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND a.pid IN ( \
           SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
           WHERE l.granted AND c.relkind IN ('r', 'p') AND pg_table_is_visible(c.oid) \
           AND c.relname = ANY($1)) ORDER BY a.pid",
    )
    .persistent(false)
    .bind(identifiers(m.sql.as_str()))
    .fetch_all(&mut *tx)
    .await;
    let _ = tx.commit().await;
    rows.unwrap_or_default()
        .into_iter()
        .map(|(pid, app, state, seconds, query)| Blocker::new(pid, app, state, seconds, query))
        .collect()
}

/// The INVALID indexes (an interrupted `CREATE INDEX CONCURRENTLY` leaves one)
/// whose names the migration's SQL mentions, with their tables.
async fn invalid_indexes(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    // Simple protocol, no parameters: safe on any server connection of a pool.
    let invalid: Vec<(String, String)> = sqlx::raw_sql(
        "SELECT i.relname::text, t.relname::text FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
         WHERE NOT x.indisvalid AND pg_table_is_visible(i.oid) ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(sqlx::FromRow::from_row)
    .collect::<Result<_, _>>()?;
    let words = identifiers(m.sql.as_str());
    Ok(invalid
        .into_iter()
        .filter(|(index, _)| words.iter().any(|w| w == index))
        .collect())
}

/// Refuses a `-- no-transaction` migration whose SQL names an INVALID index:
/// building it again fails, or with `IF NOT EXISTS` keeps the broken one.
pub(super) async fn refuse_invalid_index(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
) -> Result<(), Failure> {
    let invalid = invalid_indexes(conn, m)
        .await
        .map_err(db_error("reading the invalid indexes"))?;
    match invalid.into_iter().next() {
        Some((index, table)) => Err(Failure::Database(GuardError::InvalidIndex {
            version: m.version,
            description: m.description.to_owned(),
            index,
            table,
        })),
        None => Ok(()),
    }
}

/// Drops the INVALID indexes the migration names, at a try after one cut short
/// by the lock timeout: that try built them (the check before it found none).
/// `DROP INDEX CONCURRENTLY` waits for the same sessions the build did, so it runs
/// under the same timeout: [`Failure::Locked`] when it runs out.
pub(super) async fn drop_invalid_indexes(
    conn: &mut PgConnection,
    m: &ToApply<'_>,
    pid: i32,
    wait: TryWait<'_>,
) -> Result<(), Failure> {
    let invalid = invalid_indexes(conn, m)
        .await
        .map_err(db_error("reading the invalid indexes"))?;
    for (index, _) in invalid {
        let quoted = format!("\"{}\"", index.replace('"', "\"\""));
        let drop = AssertSqlSafe(format!("DROP INDEX CONCURRENTLY IF EXISTS {quoted}"));
        let (result, blockers) = watched(conn.execute(drop), pid, wait).await;
        match result {
            Ok(_) => {}
            Err(err) if is_lock_timeout(&err) => return Err(Failure::Locked(blockers)),
            Err(err) => return Err(db_error("dropping an index a try left INVALID")(err)),
        }
    }
    Ok(())
}

/// The identifiers of `sql`, lowercased unless quoted, as PostgreSQL folds them.
fn identifiers(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    for quoted in sql.split('"').skip(1).step_by(2) {
        words.push(quoted.to_owned());
    }
    for word in sql.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')) {
        if !word.is_empty() {
            words.push(word.to_lowercase());
        }
    }
    words
}

/// Resets the session's lock timeout after a `-- no-transaction` migration.
pub(super) async fn reset_lock_timeout(conn: &mut PgConnection) -> Result<(), Failure> {
    conn.execute("RESET lock_timeout")
        .await
        .map(drop)
        .map_err(db_error("resetting the lock timeout"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_fold_like_postgres() {
        let words = identifiers("CREATE INDEX CONCURRENTLY Notes_Title ON \"Notes\" (title);");
        assert!(words.contains(&"notes_title".to_owned()));
        assert!(words.contains(&"Notes".to_owned()));
    }
}
