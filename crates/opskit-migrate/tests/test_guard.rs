//! The guard on real databases: SQLite files and a real PostgreSQL server.

mod common;

use std::time::Duration;

use common::{execute, on_sqlite_and_postgres, scalar};
use opskit_migrate::{Compat, Guard, GuardError, Policy, Repair, SchemaStatus, State};
use opskit_testkit::assert_contains;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, SqliteConnection};

async fn guard(set: &str) -> Guard {
    Guard::from_dir(common::migrations(set)).await.unwrap()
}

/// A migrations directory holding `files`: `(name, SQL)`.
fn migrations_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

/// The guard of migration set `set` run once on `url` under `policy`.
async fn run(set: &str, url: &str, policy: Policy) -> Result<SchemaStatus, GuardError> {
    guard(set).await.run(url, policy).await
}

/// Runs `future` on a runtime of its own (on the calling thread).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// Apply 1..N (N expand); the binary of 1..N-1 starts with a warning; apply the
/// contract N+1; the binary of 1..N refuses, naming it; no data is lost.
async fn rollback_drill(url: &str) {
    let status = run("v2", url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
    execute(
        url,
        "INSERT INTO notes (id, title, body, tags) VALUES (1, 'kept', 'through the drill', 'a')",
    )
    .await;

    // Release N-1 against schema N: every newer migration is expand.
    let older = guard("v1").await;
    for policy in [Policy::Verify, Policy::Apply] {
        let status = older.run(url, policy).await.unwrap();
        assert_eq!(status.state, State::AheadCompatible, "{policy:?}");
        assert!(status.is_compatible());
        assert_eq!(status.ahead.len(), 1);
        assert_eq!(status.ahead[0].migration.version, 2);
        assert_eq!(status.ahead[0].compat, Some(Compat::Expand));
    }

    // Release N+1 applies a contract migration.
    let status = run("v3", url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);

    // Rolling back to release N is now refused, with the reason.
    for policy in [Policy::Verify, Policy::Apply] {
        let err = run("v2", url, policy).await.unwrap_err();
        assert_eq!(err.exit_code(), 65);
        let status = err.status().expect("a refusal carries the status");
        assert_eq!(status.state, State::AheadIncompatible);
        let message = err.to_string();
        assert!(message.contains("3 (drop body) is contract"), "{message}");
        assert_contains(&message, "releases before it still read body");
        assert_contains(&message, "drops column body of notes (OPS-C002)");
        assert!(
            message.contains(
                "Roll forward to a release that knows migration 3, or restore the database"
            ),
            "{message}"
        );
    }
    // No data lost along the way.
    assert_eq!(
        scalar(
            url,
            "SELECT COUNT(*) FROM notes WHERE id = 1 AND title = 'kept'"
        )
        .await,
        1
    );
    assert_eq!(rows(url, "notes").await, 2);
}

on_sqlite_and_postgres!(rollback_drill: rollback_drill_on_sqlite, rollback_drill_on_postgres);

#[tokio::test]
async fn rollback_drill_on_in_memory_sqlite() {
    // One connection holds an in-memory database, so drive it through a shared cache.
    let url = "sqlite:file:drill?mode=memory&cache=shared";
    let _keep_alive = SqliteConnection::connect(url).await.unwrap();
    rollback_drill(url).await;
}

/// A rolling deploy of a release with a contract migration: the job before the
/// rollout applies the expand part only; the new release runs with its contract
/// migration held back while the previous one still runs; the job after the
/// rollout applies it, and from then on the previous release refuses.
async fn expand_before_contract_after(url: &str) {
    run("v1", url, Policy::Apply).await.unwrap();
    let next = guard("v3").await;

    // The job before the rollout: 2 (expand) applied, 3 (contract) held back.
    for _ in 0..2 {
        let status = next.run(url, Policy::Expand).await.unwrap();
        assert_eq!(status.state, State::ContractPending);
        assert!(status.is_compatible());
        assert_eq!(status.database_latest, Some(2));
        let pending: Vec<i64> = status.pending.iter().map(|p| p.version).collect();
        assert_eq!(pending, [3]);
        let message = status.to_string();
        assert!(message.contains("3 (drop body)"), "{message}");
        assert_contains(&message, "once the previous release is gone");
    }
    // What the previous release needs is still there, and both releases run.
    assert_eq!(
        scalar(url, "SELECT COUNT(*) FROM notes WHERE body = 'x'").await,
        1
    );
    let status = run("v1", url, Policy::Verify).await.unwrap();
    assert_eq!(status.state, State::AheadCompatible);
    let status = next.run(url, Policy::Verify).await.unwrap();
    assert_eq!(status.state, State::ContractPending);

    // The job after the rollout applies the contract migration.
    let status = next.run(url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
    let err = run("v1", url, Policy::Verify).await.unwrap_err();
    assert_eq!(err.exit_code(), 65, "{err}");
    assert_eq!(err.status().unwrap().state, State::AheadIncompatible);
}

on_sqlite_and_postgres!(
    expand_before_contract_after:
    expand_before_contract_after_on_sqlite,
    expand_before_contract_after_on_postgres
);

/// The contract job fails and rolls back: nothing changed, so the release that was
/// serving stays compatible (a readiness failure here would take every replica out).
#[tokio::test]
async fn a_failed_contract_migration_leaves_the_release_compatible() {
    let dir = migrations_dir(&[
        (
            "1_create.sql",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
        ),
        (
            "2_drop_body.sql",
            "-- opskit: contract\n-- reason: this release no longer reads body\n\
             ALTER TABLE notes DROP COLUMN body;\nALTER TABLE no_such_table DROP COLUMN x;",
        ),
    ]);
    let db = common::sqlite();
    let guard = Guard::from_dir(dir.path()).await.unwrap();
    let status = guard.run(&db.url, Policy::Expand).await.unwrap();
    assert_eq!(status.state, State::ContractPending);
    let err = guard.run(&db.url, Policy::Apply).await.unwrap_err();
    assert_eq!(err.exit_code(), 65, "{err}");
    for policy in [Policy::Verify, Policy::Expand] {
        let status = guard.run(&db.url, policy).await.unwrap();
        assert_eq!(status.state, State::ContractPending, "{policy:?}");
        let message = status.to_string();
        assert!(
            message.contains(
                "2 (drop body) failed before and was rolled back, nothing of it is applied; \
                 fix it and run the contract job again (last error: "
            ) && message.contains("no_such_table"),
            "{message}"
        );
    }
    assert_eq!(
        scalar(
            &db.url,
            "SELECT COUNT(*) FROM pragma_table_info('notes') WHERE name = 'body'"
        )
        .await,
        1,
        "the failed migration changed nothing"
    );
}

#[tokio::test]
async fn expand_never_holds_back_a_migration_only_the_linter_calls_contract() {
    // A rename is contract by the linter, without a header: the release that ships
    // it may need it, so `expand` stops before it and says the schema is behind.
    let db = common::sqlite();
    let err = run("unacknowledged", &db.url, Policy::Expand)
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 65, "{err}");
    let status = err.status().unwrap();
    assert_eq!(status.state, State::Pending);
    assert_eq!(status.database_latest, Some(1));
    assert!(err.to_string().contains("2 (rename)"), "{err}");
    assert_eq!(
        scalar(
            &db.url,
            "SELECT COUNT(*) FROM pragma_table_info('notes') WHERE name = 'title'"
        )
        .await,
        1,
        "the rename did not run"
    );
}

/// A SQLite trigger's body has statements of its own (`BEGIN ...; END`): the guard
/// applies it as one statement, and the trigger works.
#[tokio::test]
async fn a_sqlite_trigger_migration_is_applied_whole() {
    let dir = migrations_dir(&[
        (
            "1_create.sql",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, tags TEXT);",
        ),
        (
            "2_require_tags.sql",
            "-- opskit: contract\n-- reason: older releases write notes without tags\n\
             CREATE TRIGGER notes_tags_required BEFORE INSERT ON notes\n\
             FOR EACH ROW WHEN NEW.tags IS NULL\n\
             BEGIN\n    SELECT RAISE(ABORT, 'notes.tags is required');\nEND;\n\
             INSERT INTO notes (id, tags) VALUES (1, 'seed');",
        ),
    ]);
    let db = common::sqlite();
    let guard = Guard::from_dir(dir.path()).await.unwrap();
    let status = guard.run(&db.url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
    assert_eq!(rows(&db.url, "notes").await, 1);
    let mut conn = SqliteConnection::connect(&db.url).await.unwrap();
    let refused = conn
        .execute("INSERT INTO notes (id) VALUES (2)")
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("notes.tags is required"),
        "{refused}"
    );
}

#[tokio::test]
async fn pending_migrations_are_applied_once_and_verify_never_writes() {
    let db = common::sqlite();
    let status = run("v2", &db.url, Policy::Verify).await.unwrap();
    assert_eq!(status.state, State::Pending);
    assert_eq!(
        status.pending.iter().map(|p| p.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert!(
        status
            .to_string()
            .starts_with("2 migration(s) not applied yet: 1 (create notes), 2 (add tags)"),
        "{status}"
    );
    // Verify created nothing, not even the bookkeeping tables.
    assert_eq!(
        scalar(
            &db.url,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
        )
        .await,
        0
    );

    run("v2", &db.url, Policy::Apply).await.unwrap();
    let again = run("v2", &db.url, Policy::Apply).await.unwrap();
    assert_eq!(again.state, State::UpToDate);
    assert_eq!(
        scalar(&db.url, "SELECT COUNT(*) FROM notes WHERE id = 1000").await,
        1,
        "migration 2 ran once"
    );
    assert_eq!(
        scalar(
            &db.url,
            "SELECT COUNT(*) FROM _opskit_migrations WHERE outcome = 'applied'"
        )
        .await,
        2
    );
}

/// The rows of `table`, on either database.
async fn rows(url: &str, table: &str) -> i64 {
    scalar(url, AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"))).await
}

/// The version and the rollback sentence of a [`GuardError::MigrationFailed`].
fn failed(err: &GuardError) -> (i64, &'static str) {
    match err {
        GuardError::MigrationFailed {
            version,
            rolled_back,
            ..
        } => (*version, *rolled_back),
        other => panic!("expected MigrationFailed, got {other}"),
    }
}

async fn failed_migration_is_recorded_and_explained(url: &str) {
    let failing = guard("failing").await;
    let err = failing.run(url, Policy::Apply).await.unwrap_err();
    assert_eq!(
        failed(&err),
        (2, "it was rolled back, nothing of it is applied")
    );
    assert_eq!(err.exit_code(), 65);
    // Nothing of migration 2 stayed: its first statement was rolled back too.
    let audit_tables = if url.starts_with("sqlite") {
        scalar(
            url,
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit'",
        )
        .await
    } else {
        scalar(
            url,
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'audit'",
        )
        .await
    };
    assert_eq!(audit_tables, 0);
    assert_eq!(rows(url, "_sqlx_migrations").await, 1);

    // Nothing of it is applied, so it does not block: a replica that only
    // verifies starts, not ready, and says what happened.
    let status = failing.run(url, Policy::Verify).await.unwrap();
    assert_eq!(status.state, State::Pending);
    assert_eq!(status.retrying[0].migration.version, 2);
    assert!(
        status.retrying[0]
            .error
            .as_deref()
            .unwrap()
            .contains("no_such_table"),
        "{status:?}"
    );
    let message = status.to_string();
    assert_contains(
        &message,
        "2 (half done) failed before and was rolled back, nothing of it is applied; it runs again (last error: ",
    );

    // The fixed file applies at the next deploy, with no hand edits; the history
    // keeps the failed attempt.
    let fixed = guard("failing_fixed").await;
    let status = fixed.run(url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
    assert_eq!(rows(url, "_sqlx_migrations").await, 2);
    assert_eq!(
        scalar(
            url,
            "SELECT COUNT(*) FROM _opskit_migration_history WHERE version = 2 AND event = 'failed'"
        )
        .await,
        1
    );
}

on_sqlite_and_postgres!(
    failed_migration_is_recorded_and_explained:
    a_failed_migration_is_recorded_and_explained_on_sqlite,
    a_failed_migration_is_recorded_and_explained_on_postgres
);

/// A `-- no-transaction` migration cannot be rolled back: what it committed before
/// failing stays, and the guard says so instead of claiming nothing happened.
#[tokio::test]
async fn a_failed_migration_outside_a_transaction_is_reported_as_partial_on_postgres() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let guard = guard("failing_no_tx").await;
    let err = guard.run(&db.url, Policy::Apply).await.unwrap_err();
    assert_eq!(
        failed(&err),
        (
            2,
            "it ran outside a transaction, so parts of it may be applied"
        )
    );
    assert_eq!(err.exit_code(), 65);
    // The batch before the failure was committed and stays.
    assert_eq!(
        scalar(
            &db.url,
            "SELECT COUNT(*) FROM pg_tables WHERE tablename = 'audit'"
        )
        .await,
        1
    );

    // Every later start refuses, and says how to record the repair.
    for policy in [Policy::Verify, Policy::Apply] {
        let err = guard.run(&db.url, policy).await.unwrap_err();
        let status = err.status().expect("a refusal carries the status");
        assert_eq!(status.state, State::Failed);
        assert!(status.failed[0].partial);
        let message = err.to_string();
        assert!(
            message.contains(
                "2 (backfill in batches) (parts may be applied: it ran outside a transaction. Check which of its statements took effect, finish or undo them by hand, then record the result with `opskit-migrate repair --version 2 --as applied` (finished) or `--as not-applied` (undone, so it runs again); error: "
            ),
            "{message}"
        );
        assert!(message.contains("no_such_table"), "{message}");
    }

    // A repair of a migration that is not partly applied is refused (64).
    let err = guard
        .repair_at(&db.url, 1, Repair::NotApplied)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GuardError::Repair { version: 1, .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), 64);

    // The operator undoes what the batch committed and records it: the fixed file
    // then applies at the next deploy.
    execute(&db.url, "DROP TABLE audit").await;
    let status = guard
        .repair_at(&db.url, 2, Repair::NotApplied)
        .await
        .unwrap();
    assert_eq!(status.state, State::Pending);
    let fixed = Guard::from_dir(common::migrations("failing_no_tx_fixed"))
        .await
        .unwrap();
    let status = fixed.run(&db.url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
    assert_eq!(
        scalar(
            &db.url,
            "SELECT COUNT(*) FROM _opskit_migration_history WHERE version = 2"
        )
        .await,
        2,
        "the failure and the repair"
    );
}

/// After a partial failure, an operator who finished the migration by hand records
/// it as applied; releases start again.
#[tokio::test]
async fn a_partly_applied_migration_finished_by_hand_is_recorded_as_applied() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let guard = guard("failing_no_tx").await;
    guard.run(&db.url, Policy::Apply).await.unwrap_err();
    let status = guard.repair_at(&db.url, 2, Repair::Applied).await.unwrap();
    assert_eq!(status.state, State::UpToDate, "{status}");
    let status = guard.run(&db.url, Policy::Verify).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
}

/// SQLite runs every migration inside `BEGIN EXCLUSIVE`, `-- no-transaction` ones
/// too: the COMMIT in this file would end it, so the guard refuses the file instead
/// of reporting a partial failure that could not happen.
#[tokio::test]
async fn a_no_transaction_migration_with_commit_is_refused_on_sqlite() {
    let db = common::sqlite();
    let err = run("failing_no_tx", &db.url, Policy::Apply)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GuardError::InvalidMigration { version: 2, .. }),
        "{err}"
    );
}

/// Runs sqlx's own migrator over a migration set, as `sqlx migrate run` would.
async fn sqlx_migrate(set: &str, url: &str) {
    let migrator = sqlx::migrate::Migrator::new(common::migrations(set))
        .await
        .unwrap();
    common::sqlx_run(url, &migrator).await.unwrap();
}

async fn sqlx_and_the_guard_read_each_other(url: &str) {
    // sqlx's own migrator applies 1 and 2.
    sqlx_migrate("v2", url).await;
    // The guard sees them applied.
    assert_eq!(
        run("v2", url, Policy::Verify).await.unwrap().state,
        State::UpToDate
    );
    // An older binary finds migration 2 without a record: applied by a tool that
    // keeps none, so it cannot know it is safe.
    let err = run("v1", url, Policy::Verify).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("2 (add tags) has no expand/contract record"),
        "{err}"
    );
    // The guard applies 3; sqlx's migrator then finds nothing to do and no error.
    run("v3", url, Policy::Apply).await.unwrap();
    sqlx_migrate("v3", url).await;
    assert_eq!(rows(url, "_sqlx_migrations").await, 3);
}

on_sqlite_and_postgres!(
    sqlx_and_the_guard_read_each_other:
    sqlx_and_the_guard_read_each_other_on_sqlite,
    sqlx_and_the_guard_read_each_other_on_postgres
);

/// `replicas` copies of `guard` applying on `url` at once, as replicas of a deploy
/// start together: the status each started with.
async fn apply_at_once(guard: Guard, url: &str, replicas: usize) -> Vec<SchemaStatus> {
    let runs: Vec<_> = (0..replicas)
        .map(|_| {
            let guard = guard.clone();
            let url = url.to_owned();
            tokio::spawn(async move { guard.run(&url, Policy::Apply).await })
        })
        .collect();
    let mut statuses = Vec::with_capacity(replicas);
    for run in runs {
        statuses.push(run.await.unwrap().expect("every replica starts"));
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_replicas_applying_at_once_apply_each_migration_exactly_once() {
    let Some(db) = common::postgres().await else {
        return;
    };
    for status in apply_at_once(guard("v3").await, &db.url, 30).await {
        assert_eq!(status.state, State::UpToDate);
    }
    assert_eq!(rows(&db.url, "_sqlx_migrations").await, 3);
    assert_eq!(rows(&db.url, "_opskit_migrations").await, 3);
    assert_eq!(
        scalar(&db.url, "SELECT COUNT(*) FROM notes WHERE id = 1000").await,
        1,
        "migration 2's insert ran once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_replicas_on_one_sqlite_file_apply_each_migration_exactly_once() {
    let db = common::sqlite();
    for status in apply_at_once(guard("v3").await, &db.url, 8).await {
        assert_eq!(status.state, State::UpToDate);
    }
    assert_eq!(rows(&db.url, "_sqlx_migrations").await, 3);
    assert_eq!(
        scalar(&db.url, "SELECT COUNT(*) FROM notes WHERE id = 1000").await,
        1
    );
}

#[tokio::test]
async fn a_held_lock_times_out_naming_the_holder() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let mut holder = PgConnection::connect(&db.url).await.unwrap();
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(database.as_bytes());
    let key = 0x3d32_ad9e * i64::from(crc);
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut holder)
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let guard = guard("v1").await.lock_timeout(Duration::from_millis(800));
    // A guard that ignored its timeout would wait forever: fail instead of hanging.
    let err = tokio::time::timeout(Duration::from_secs(10), guard.run(&db.url, Policy::Apply))
        .await
        .expect("the guard gave up within 10 s of an 800 ms lock timeout")
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "gave up after {waited:?}, before its 800 ms lock timeout"
    );
    assert_eq!(err.exit_code(), 69);
    let message = err.to_string();
    assert_contains(&message, format!("PostgreSQL backend {pid}"));
    assert!(
        message.starts_with("the migration lock is held by"),
        "{message}"
    );
}

#[tokio::test]
async fn a_file_changed_after_it_ran_is_reported_and_line_endings_are_named() {
    let db = common::sqlite();
    run("crlf", &db.url, Policy::Apply).await.unwrap();
    // The same migration checked out with LF endings.
    let err = run("v1", &db.url, Policy::Verify).await.unwrap_err();
    let status = err.status().unwrap();
    assert_eq!(status.state, State::Modified);
    assert!(status.modified[0].line_endings_only);
    assert!(err.to_string().contains("line endings only"), "{err}");
}

#[tokio::test]
async fn an_unreachable_database_is_exit_69_without_the_password() {
    let err = guard("v1")
        .await
        .run(
            "postgres://app:hunter2-canary@127.0.0.1:1/notes",
            Policy::Verify,
        )
        .await
        .unwrap_err();
    assert_eq!(err.exit_code(), 69);
    assert!(!err.to_string().contains("hunter2-canary"), "{err}");
    assert!(
        err.to_string().starts_with(
            "database postgres://app:***@127.0.0.1:1/notes unreachable while connecting"
        ),
        "{err}"
    );
}

/// A `COMMIT` inside a migration would end the guard's transaction and leave half of
/// it applied: the guard refuses the migration before executing or writing anything.
async fn a_commit_inside_a_migration_is_refused_before_anything_runs(url: &str) {
    let err = run("commit_inside", url, Policy::Apply).await.unwrap_err();
    match &err {
        GuardError::InvalidMigration {
            version, problems, ..
        } => {
            assert_eq!(*version, 2);
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].starts_with("line 3: "), "{problems:?}");
            assert!(problems[0].contains("OPS-E001"), "{problems:?}");
        }
        other => panic!("expected InvalidMigration, got {other}"),
    }
    assert_eq!(err.exit_code(), 65);
    let message = err.to_string();
    assert!(message.contains("Nothing was executed"), "{message}");
    assert!(!message.contains("rolled back"), "{message}");
    // Nothing of either migration, and not even the bookkeeping tables.
    let tables = if url.starts_with("sqlite") {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'"
    } else {
        "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"
    };
    assert_eq!(scalar(url, tables).await, 0, "no table was created");
}

on_sqlite_and_postgres!(
    a_commit_inside_a_migration_is_refused_before_anything_runs:
    a_commit_inside_a_migration_is_refused_on_sqlite,
    a_commit_inside_a_migration_is_refused_on_postgres
);

/// 30 rounds of the guard and a migrator that takes no lock (as `sqlx migrate run`
/// of sqlx-cli 0.8 does), started at the same moment on a fresh database: the guard
/// never fails, and every migration is applied once.
#[tokio::test]
async fn racing_a_tool_without_a_lock_never_fails_the_guard() {
    let Some(_server) = opskit_testkit::postgres_admin_url() else {
        return;
    };
    let guard = std::sync::Arc::new(guard("v3").await);
    let mut lockless = sqlx::migrate::Migrator::new(common::migrations("v3"))
        .await
        .unwrap();
    lockless.set_locking(false);
    let lockless = std::sync::Arc::new(lockless);
    let mut failures = Vec::new();
    for round in 0..30 {
        let db = common::postgres().await.unwrap();
        // Each on a thread and a runtime of its own, released together.
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let tool = std::thread::spawn({
            let (start, lockless, url) = (start.clone(), lockless.clone(), db.url.clone());
            move || {
                block_on(async move {
                    let mut conn = PgConnection::connect(&url).await.unwrap();
                    start.wait();
                    let _ = lockless.run(&mut conn).await;
                })
            }
        });
        let guarded = std::thread::spawn({
            let (start, guard, url) = (start.clone(), guard.clone(), db.url.clone());
            move || {
                block_on(async move {
                    start.wait();
                    guard.run(&url, Policy::Apply).await
                })
            }
        })
        .join()
        .unwrap();
        tool.join().unwrap();
        match guarded {
            Ok(status) if status.state == State::UpToDate => {}
            Ok(status) => failures.push(format!("round {round}: {status}")),
            Err(err) => failures.push(format!("round {round}: {err}")),
        }
        assert_eq!(
            rows(&db.url, "_sqlx_migrations").await,
            3,
            "round {round}: each migration once"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The race made deterministic: a tool without a lock has created sqlx's table,
/// migration 1's table and its row in a transaction it has not committed yet. The
/// guard, which sees none of it, creates sqlx's table and waits on the tool's; when
/// the tool commits, that creation fails (the tool's success, not the database
/// being unreachable), and so would migration 1. The guard re-checks both, records
/// no failure, and applies the rest.
#[tokio::test]
async fn a_migration_applied_meanwhile_by_a_tool_without_a_lock_is_not_a_failure() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let guard = std::sync::Arc::new(guard("v3").await);
    let migration_1 = guard.migrations()[0].clone();
    let mut tool = PgConnection::connect(&db.url).await.unwrap();
    tool.execute("BEGIN").await.unwrap();
    tool.execute(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
         checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .await
    .unwrap();
    tool.execute(migration_1.sql.clone()).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, $2, TRUE, $3, -1)",
    )
    .bind(migration_1.version)
    .bind(&*migration_1.description)
    .bind(&*migration_1.checksum)
    .execute(&mut tool)
    .await
    .unwrap();

    let url = db.url.clone();
    let guarded = std::thread::spawn({
        let guard = guard.clone();
        move || block_on(async move { guard.run(&url, Policy::Apply).await })
    });
    // The guard reaches migration 1's CREATE TABLE and waits on the tool's lock: wait
    // for that wait itself, so the test never takes the already-applied path early.
    let waiting = "SELECT COUNT(*) FROM pg_stat_activity \
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let start = std::time::Instant::now();
    while scalar(&db.url, waiting).await == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the guard never waited on the tool's lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tool.execute("COMMIT").await.unwrap();
    let status = guarded.join().unwrap().unwrap();
    assert_eq!(status.state, State::UpToDate, "{status}");
    assert_eq!(rows(&db.url, "_sqlx_migrations").await, 3);
    assert_eq!(
        rows(&db.url, "_opskit_migration_history").await,
        0,
        "no failure recorded"
    );
}

/// A URL for a database this build does not speak is a setting to fix (78), not a
/// schema problem (65) nor an outage (69); the message names the schemes it has.
#[tokio::test]
async fn an_unsupported_database_url_is_a_configuration_error() {
    let guard = guard("v1").await;
    let url: opskit_secret::ConnectionString =
        "mysql://app:Canary-mysql-pw@db/app".parse().unwrap();
    let err = guard.run(&url, Policy::Apply).await.unwrap_err();
    assert_eq!(err.exit_code(), 78);
    let message = err.to_string();
    assert!(message.contains("\"mysql\""), "{message}");
    assert!(message.contains("postgres:"), "{message}");
    assert!(!message.contains("Canary-mysql-pw"), "{message}");
}
