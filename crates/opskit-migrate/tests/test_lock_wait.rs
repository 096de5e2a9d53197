//! A migration that waits for a table's lock never stalls the table's traffic for
//! longer than one lock timeout, and never waits without a bound: on a real
//! PostgreSQL server with a session holding the table, and on a SQLite file another
//! connection writes to.

mod common;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use common::scalar;
use opskit_migrate::{Guard, GuardError, Policy, State};
use opskit_testkit::CapturedLogs;
use opskit_testkit::assert_contains;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use tracing::instrument::WithSubscriber;

/// A value bound as a parameter by the blocking session: it must appear nowhere.
const CANARY: &str = "canary-param-5e1b07";

const CREATE: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\nINSERT INTO t (id, body) VALUES (1, 'one'), (2, 'two');\n";
const ALTER: &str = "ALTER TABLE t ADD COLUMN extra TEXT;\n";

/// A migrations directory: `1_create_t.sql`, and with `alter` `2_add_extra.sql`
/// holding it.
fn migrations(alter: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_create_t.sql"), CREATE).unwrap();
    if let Some(sql) = alter {
        std::fs::write(dir.path().join("2_add_extra.sql"), sql).unwrap();
    }
    dir
}

async fn guard(dir: &Path) -> Guard {
    Guard::from_dir(dir).await.unwrap()
}

/// Applies migration 1, so the bookkeeping tables exist before anything is held.
async fn prepare(url: &str) {
    let dir = migrations(None);
    guard(dir.path())
        .await
        .run(url, Policy::Apply)
        .await
        .unwrap();
}

/// The guard of `1_create_t.sql` and `2_add_extra.sql` holding `alter`, waiting
/// at most `timeout` for a table's lock on each of `tries` tries.
async fn guard_trying(alter: &str, timeout: Duration, tries: u32) -> Guard {
    let dir = migrations(Some(alter));
    guard(dir.path())
        .await
        .table_lock_timeout(timeout)
        .table_lock_tries(tries)
}

/// A fresh PostgreSQL database with migration 1 applied, and `t` held by the
/// `nightly-report` session of [`pg_blocker`]; `None` without a server.
async fn pg_with_held_table() -> Option<(common::Postgres, PgConnection)> {
    let db = common::postgres().await?;
    prepare(&db.url).await;
    let blocker = pg_blocker(&db.url).await;
    Some((db, blocker))
}

/// A PostgreSQL session named `nightly-report` in an open transaction that read
/// `t` with a bound parameter: it holds ACCESS SHARE on `t` until it ends.
async fn pg_blocker(url: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(url)
        .unwrap()
        .application_name("nightly-report");
    let mut conn = PgConnection::connect_with(&options).await.unwrap();
    conn.execute("BEGIN").await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM t WHERE body <> $1")
        .bind(CANARY)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn
}

/// Waits until `logs` hold `n` `schema.lock_wait` events; panics after 60 s (a
/// guard that waits without a bound never logs one).
async fn lock_waits(logs: &CapturedLogs, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..600 {
        let waits: Vec<_> = logs
            .events()
            .into_iter()
            .filter(|e| e["fields"]["event"] == "schema.lock_wait")
            .collect();
        if waits.len() >= n {
            return waits;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {n} schema.lock_wait events in 60 s: {}", logs.text());
}

/// Starts `guard` applying on `url`, its events kept in the returned logs.
fn spawn_apply(
    guard: Guard,
    url: &str,
) -> (
    CapturedLogs,
    tokio::task::JoinHandle<Result<opskit_migrate::SchemaStatus, GuardError>>,
) {
    let logs = CapturedLogs::default();
    let url = url.to_owned();
    let task = tokio::spawn(
        async move { guard.run(url.as_str(), Policy::Apply).await }
            .with_subscriber(logs.json_subscriber()),
    );
    (logs, task)
}

const HAS_EXTRA_PG: &str = "SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'extra'";
const ROWS_OF_2: &str = "SELECT count(*) FROM _sqlx_migrations WHERE version = 2";
const RECORDS_OF_2: &str = "SELECT count(*) FROM _opskit_migrations WHERE version = 2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_table_gets_its_migration_once_the_blocker_ends_and_the_waits_name_it() {
    let Some((db, mut blocker)) = pg_with_held_table().await else {
        return;
    };
    let trying = guard_trying(ALTER, Duration::from_secs(1), 30).await;
    let (logs, task) = spawn_apply(trying, &db.url);

    let waits = lock_waits(&logs, 2).await;
    blocker.execute("COMMIT").await.unwrap();
    let status = task.await.unwrap().unwrap();
    assert_eq!(status.state, State::UpToDate);
    assert_eq!(scalar(&db.url, HAS_EXTRA_PG).await, 1);
    assert_eq!(scalar(&db.url, ROWS_OF_2).await, 1, "applied exactly once");

    assert!(
        waits.iter().any(|e| {
            let blockers = e["fields"]["blockers"].as_str().unwrap_or_default();
            blockers.contains("\"nightly-report\"")
                && blockers.contains("idle in transaction")
                && blockers.contains("SELECT count(*) FROM t WHERE body <> $1")
        }),
        "no wait named the blocking session: {waits:?}"
    );
    assert_eq!(waits[0]["fields"]["version"], 2);
    assert_eq!(waits[0]["fields"]["lock_timeout_ms"], 1000);
    assert!(
        !logs.text().contains(CANARY),
        "a parameter reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_are_never_queued_behind_a_waiting_migration_for_longer_than_a_try() {
    let Some((db, mut blocker)) = pg_with_held_table().await else {
        return;
    };
    let trying = guard_trying(ALTER, Duration::from_millis(500), 100).await;
    let (_logs, task) = spawn_apply(trying, &db.url);

    let mut watcher = PgConnection::connect(&db.url).await.unwrap();
    let mut reader = PgConnection::connect(&db.url).await.unwrap();
    // Far above the lock timeout: a reader queued behind an ALTER that waits
    // without a bound (as long as the blocker lives) runs into it and fails.
    reader
        .execute("SET statement_timeout = '20s'")
        .await
        .unwrap();
    for round in 0..3 {
        wait_for_waiting_alter(&mut watcher).await;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut reader)
            .await
            .unwrap_or_else(|err| panic!("round {round}: the reader was stalled: {err}"));
        assert_eq!(count, 2);
    }
    blocker.execute("COMMIT").await.unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(scalar(&db.url, HAS_EXTRA_PG).await, 1);
}

/// Waits until an `ALTER TABLE` waits for a lock (the reader then queues behind
/// it); panics after 60 s.
async fn wait_for_waiting_alter(conn: &mut PgConnection) {
    for _ in 0..1200 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE t%'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the migration's ALTER TABLE never waited for its lock");
}

#[tokio::test]
async fn a_table_held_through_every_try_stops_with_exit_75_and_nothing_applied() {
    let Some((db, _blocker)) = pg_with_held_table().await else {
        return;
    };
    // The file's header wins over the guard's 2 s.
    let dir = migrations(Some(&format!("-- opskit: lock_timeout=300ms\n{ALTER}")));
    let guard = guard(dir.path()).await.table_lock_tries(3);
    let (logs, task) = spawn_apply(guard, &db.url);
    let err = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("the guard gave up within 60 s of 3 tries of 300 ms")
        .unwrap()
        .unwrap_err();

    assert_eq!(err.exit_code(), 75);
    let GuardError::TableLocked {
        tries,
        lock_timeout,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((*tries, *lock_timeout), (3, Duration::from_millis(300)));
    let message = err.to_string();
    assert!(message.contains("held by another session"), "{message}");
    assert!(message.contains("\"nightly-report\""), "{message}");
    assert!(message.contains("Try again later"), "{message}");
    assert!(!message.contains(CANARY), "{message}");

    let waits = lock_waits(&logs, 3).await;
    assert_eq!(waits.len(), 3);
    assert_eq!(waits[2]["fields"]["next_wait_ms"], 0);
    assert_eq!(waits[0]["fields"]["lock_timeout_ms"], 300);
    assert_eq!(scalar(&db.url, HAS_EXTRA_PG).await, 0, "schema unchanged");
    assert_eq!(scalar(&db.url, ROWS_OF_2).await, 0, "nothing recorded");
    assert_eq!(scalar(&db.url, RECORDS_OF_2).await, 0, "no failure either");
}

#[tokio::test]
async fn handed_a_connection_the_guard_names_the_sessions_holding_the_table() {
    let Some((db, _blocker)) = pg_with_held_table().await else {
        return;
    };
    let guard = guard_trying(ALTER, Duration::from_millis(200), 2).await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    let err = guard.apply(&mut conn).await.unwrap_err();
    assert_eq!(err.exit_code(), 75, "{err}");
    let GuardError::TableLocked { blockers, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(blockers.len(), 1, "{err}");
    assert_eq!(blockers[0].application_name, "nightly-report");
    assert_eq!(blockers[0].state, "idle in transaction");
    assert!(!err.to_string().contains(CANARY), "{err}");
}

#[tokio::test]
async fn the_command_exits_75_when_a_table_stays_held() {
    let Some((db, _blocker)) = pg_with_held_table().await else {
        return;
    };
    let dir = migrations(Some(ALTER));
    let apply = |options: &[&str]| {
        let dir = dir.path().to_str().unwrap();
        let (code, _, stderr) = common::cli(
            &[
                &["apply", "--migrations", dir, "--database-url", &db.url],
                options,
            ]
            .concat(),
        );
        (code, stderr)
    };
    let (code, stderr) = apply(&["--table-lock-timeout", "300ms", "--table-lock-tries", "2"]);
    assert_eq!(code, 75, "{stderr}");
    assert!(stderr.contains("\"nightly-report\""), "{stderr}");
    assert!(stderr.contains("Try again later"), "{stderr}");
    assert_eq!(scalar(&db.url, HAS_EXTRA_PG).await, 0);

    let (code, stderr) = apply(&["--table-lock-timeout", "2 s"]);
    assert_eq!(code, 64);
    assert!(stderr.contains("--table-lock-timeout: \"2 s\""));
}

#[tokio::test]
async fn a_bad_lock_timeout_header_is_refused_naming_the_migration_and_line() {
    let db = common::sqlite();
    let dir = migrations(Some(&format!("-- opskit: lock_timeout=10sec\n{ALTER}")));
    let err = guard(dir.path())
        .await
        .run(&db.url, Policy::Apply)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 65);
    let message = err.to_string();
    assert!(message.starts_with("migration 2 (add extra)"), "{message}");
    assert_contains(&message, "line 1: `-- opskit: lock_timeout=10sec`");
    assert!(message.contains("OPS-E004"), "{message}");
}

#[tokio::test]
async fn an_invalid_index_left_by_a_concurrent_build_is_named_with_the_fix() {
    let Some(db) = common::postgres().await else {
        return;
    };
    prepare(&db.url).await;
    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    conn.execute("INSERT INTO t (id, body) VALUES (3, 'one')")
        .await
        .unwrap();
    // A unique build over duplicates fails half-way and leaves t_body INVALID.
    assert!(
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY t_body ON t (body)")
            .await
            .is_err()
    );
    let build = "-- no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY t_body ON t (body);\n";
    let dir = migrations(Some(build));
    let err = guard(dir.path())
        .await
        .run(&db.url, Policy::Apply)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, GuardError::InvalidIndex { .. }), "{message}");
    assert_contains(&message, "index t_body on t is INVALID");
    assert_contains(&message, "Run DROP INDEX CONCURRENTLY t_body;");
    assert_eq!(scalar(&db.url, ROWS_OF_2).await, 0);

    // Doing what it says (and removing the duplicate) lets the migration through.
    conn.execute("DROP INDEX CONCURRENTLY t_body")
        .await
        .unwrap();
    conn.execute("DELETE FROM t WHERE id = 3").await.unwrap();
    let status = guard(dir.path())
        .await
        .run(&db.url, Policy::Apply)
        .await
        .unwrap();
    assert_eq!(status.state, State::UpToDate);
    let valid: bool =
        sqlx::query_scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_body'::regclass")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(valid);
}

#[tokio::test]
async fn a_concurrent_build_cut_short_by_the_lock_timeout_leaves_no_invalid_index() {
    let Some(db) = common::postgres().await else {
        return;
    };
    prepare(&db.url).await;
    // A writer in an open transaction: CREATE INDEX CONCURRENTLY waits for it
    // after it has entered its index in the catalogue, INVALID.
    let mut writer = PgConnection::connect(&db.url).await.unwrap();
    writer.execute("BEGIN").await.unwrap();
    writer
        .execute("UPDATE t SET body = body WHERE id = 1")
        .await
        .unwrap();
    let build = "-- no-transaction\nCREATE INDEX CONCURRENTLY t_body ON t (body);\n";
    let guard = guard_trying(build, Duration::from_millis(300), 3).await;
    let err = guard.run(&db.url, Policy::Apply).await.unwrap_err();
    // Every try waited for the writer, the later ones for the drop of the index
    // the first left: the lock is what stops the run, not the index.
    assert_eq!(err.exit_code(), 75, "{err}");
    assert!(
        err.to_string()
            .contains("UPDATE t SET body = body WHERE id = 1"),
        "the writer is named: {err}"
    );
    assert_eq!(scalar(&db.url, ROWS_OF_2).await, 0);
    assert_eq!(scalar(&db.url, RECORDS_OF_2).await, 0);

    // With the writer gone, a run whose tries still find the last one's INVALID
    // index names it with the fix; within a run, the index is dropped and built.
    writer.execute("COMMIT").await.unwrap();
    let left =
        "SELECT count(*) FROM pg_index WHERE indexrelid = to_regclass('t_body') AND NOT indisvalid";
    if scalar(&db.url, left).await == 1 {
        let err = guard.run(&db.url, Policy::Apply).await.unwrap_err();
        assert!(matches!(err, GuardError::InvalidIndex { .. }), "{err}");
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        conn.execute("DROP INDEX CONCURRENTLY t_body")
            .await
            .unwrap();
    }
    let status = guard.run(&db.url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
    let valid =
        "SELECT count(*) FROM pg_index WHERE indexrelid = 't_body'::regclass AND indisvalid";
    assert_eq!(scalar(&db.url, valid).await, 1);
}

/// A second SQLite connection in a write transaction (`BEGIN IMMEDIATE`).
async fn sqlite_writer(url: &str) -> SqliteConnection {
    let mut conn = SqliteConnection::connect(url).await.unwrap();
    conn.execute("BEGIN IMMEDIATE").await.unwrap();
    conn.execute("INSERT INTO t (id, body) VALUES (10, 'written')")
        .await
        .unwrap();
    conn
}

const HAS_EXTRA_SQLITE: &str = "SELECT count(*) FROM pragma_table_info('t') WHERE name = 'extra'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_another_writer_holds_gets_the_migration_once_it_commits() {
    let db = common::sqlite();
    prepare(&db.url).await;
    let mut writer = sqlite_writer(&db.url).await;
    let (logs, task) = spawn_apply(
        guard_trying(ALTER, Duration::from_millis(200), 30).await,
        &db.url,
    );

    let waits = lock_waits(&logs, 2).await;
    assert_eq!(waits[0]["fields"]["lock_timeout_ms"], 200);
    writer.execute("COMMIT").await.unwrap();
    let status = task.await.unwrap().unwrap();
    assert_eq!(status.state, State::UpToDate);
    assert_eq!(scalar(&db.url, HAS_EXTRA_SQLITE).await, 1);
    assert_eq!(scalar(&db.url, ROWS_OF_2).await, 1);
    assert_eq!(
        scalar(&db.url, "SELECT count(*) FROM t WHERE id = 10").await,
        1,
        "the writer's row is kept"
    );
}

#[tokio::test]
async fn a_sqlite_database_held_through_every_try_stops_with_exit_75_and_nothing_applied() {
    let db = common::sqlite();
    prepare(&db.url).await;
    let _writer = sqlite_writer(&db.url).await;
    let guard = guard_trying(ALTER, Duration::from_millis(100), 2).await;
    let err = guard.run(&db.url, Policy::Apply).await.unwrap_err();
    assert_eq!(err.exit_code(), 75, "{err}");
    assert!(err.to_string().contains("Try again later"), "{err}");
    assert_eq!(scalar(&db.url, HAS_EXTRA_SQLITE).await, 0);
    assert_eq!(scalar(&db.url, ROWS_OF_2).await, 0);
    assert_eq!(scalar(&db.url, RECORDS_OF_2).await, 0);
}
