//! The guard and the CLI through a real PgBouncer 1.18 in `pool_mode = transaction`
//! with a server pool of 2: replicas racing, a holder SIGKILLed mid-migration, and
//! every policy and command.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::scalar;
use opskit_migrate::{Guard, Policy, State};
use sqlx::{Connection, Executor, PgConnection};

fn cli(args: &[&str]) -> Command {
    let mut command = common::command(args);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A fresh database and a PgBouncer in front of its server; `None` when either is
/// absent on a developer's machine (the helpers say which).
async fn setup() -> Option<(common::Postgres, opskit_testkit::pgbouncer::PgBouncer)> {
    let db = common::postgres().await?;
    let bouncer = opskit_testkit::pgbouncer::start(db.admin(), 2)?;
    Some((db, bouncer))
}

/// Applies the `v1` set through the pooler at `url`, as the release before.
fn apply_v1(url: &str) {
    let v1 = common::migrations("v1");
    let first = cli(&["apply", "--migrations", v1.to_str().unwrap()])
        .args(["--database-url", url])
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
}

/// A session reading `notes` in an open transaction, straight to the server: an
/// `ALTER TABLE notes` waits for it, try after try, until it commits.
async fn hold_notes(url: &str) -> PgConnection {
    let mut blocker = PgConnection::connect(url).await.unwrap();
    blocker.execute("BEGIN").await.unwrap();
    blocker.execute("SELECT * FROM notes").await.unwrap();
    blocker
}

/// Waits until an apply holds the migration lock's lease; panics after 30 s.
async fn lease_taken(url: &str, poll: Duration) {
    let start = Instant::now();
    while scalar(url, "SELECT count(*) FROM _opskit_migration_lock").await == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "no lease taken");
        tokio::time::sleep(poll).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_replicas_through_pgbouncer_apply_every_migration_exactly_once() {
    let Some((_first, bouncer)) = setup().await else {
        return;
    };
    let v3 = common::migrations("v3");
    for round in 0..10 {
        let db = common::postgres().await.unwrap();
        let url = bouncer.url(db.admin(), db.name());
        let replicas: Vec<Child> = (0..10)
            .map(|_| {
                cli(&["apply", "--migrations", v3.to_str().unwrap()])
                    .args(["--database-url", &url, "--lock-timeout", "50s"])
                    .spawn()
                    .unwrap()
            })
            .collect();
        for replica in replicas {
            let output = replica.wait_with_output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(0),
                "round {round}: {}\npgbouncer log:\n{}",
                text(&output),
                bouncer.log()
            );
        }
        // Applied once each: migration 2 inserts a row with a fixed key.
        assert_eq!(
            scalar(&db.url, "SELECT count(*) FROM _sqlx_migrations").await,
            3
        );
        assert_eq!(scalar(&db.url, "SELECT count(*) FROM notes").await, 1);
        // Nothing left behind: no lease, no advisory lock on a pooled connection.
        assert_eq!(
            scalar(&db.url, "SELECT count(*) FROM _opskit_migration_lock").await,
            0
        );
        assert_eq!(
            scalar(
                &db.url,
                // pg_locks is the whole server's: count this database's only, so
                // another test's (or another run's) lock elsewhere is not counted.
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            .await,
            0,
            "round {round}: an advisory lock was left on a server connection"
        );
        let status = cli(&["status", "--migrations", v3.to_str().unwrap()])
            .args(["--database-url", &url])
            .output()
            .unwrap();
        assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    }
}

/// A migration set whose second migration changes `notes`, in a temporary directory.
fn blocked_set() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::migrations("v1").join("1_create_notes.sql"),
        dir.path().join("1_create_notes.sql"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("2_add_extra.sql"),
        "ALTER TABLE notes ADD COLUMN extra TEXT;\n",
    )
    .unwrap();
    dir
}

/// A database behind PgBouncer with `v1` applied through it, its URL through the
/// pooler, and [`blocked_set`] to apply next; `None` without a server.
async fn v1_behind_pooler() -> Option<(
    common::Postgres,
    opskit_testkit::pgbouncer::PgBouncer,
    String,
    tempfile::TempDir,
)> {
    let (db, bouncer) = setup().await?;
    let url = bouncer.url(db.admin(), db.name());
    apply_v1(&url);
    Some((db, bouncer, url, blocked_set()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_holder_killed_mid_migration_delays_the_next_apply_by_its_lease_only() {
    let Some((db, bouncer, url, set)) = v1_behind_pooler().await else {
        return;
    };
    let dir = set.path().to_str().unwrap();

    // A session reading `notes` keeps the ALTER TABLE waiting, try after try.
    let mut blocker = hold_notes(&db.url).await;
    let mut holder = cli(&["apply", "--migrations", dir, "--database-url", &url])
        .args(["--lock-lease", "3s", "--table-lock-timeout", "300ms"])
        .args(["--table-lock-tries", "1000"])
        .spawn()
        .unwrap();
    lease_taken(&db.url, Duration::from_millis(100)).await;
    // Let it wait through a few tries, each renewing the lease.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    holder.kill().unwrap(); // SIGKILL: nothing is released
    let killed = holder.wait_with_output().unwrap();
    assert_eq!(killed.status.code(), None, "{}", text(&killed));
    // The dead holder's lease ends within its 3 s of its last renewal.
    let left: f64 = {
        let mut conn = PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(
            "SELECT extract(epoch FROM expires_at - clock_timestamp())::float8 FROM _opskit_migration_lock",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap()
    };
    assert!(left <= 3.0, "the lease outlives its 3 s by {left} s");
    blocker.execute("COMMIT").await.unwrap();

    // The next deploy takes the lock once the lease ran out, and applies.
    let next = cli(&["apply", "--migrations", dir, "--database-url", &url])
        .args(["--lock-lease", "3s", "--lock-timeout", "30s"])
        .output()
        .unwrap();
    assert_eq!(
        next.status.code(),
        Some(0),
        "{}\npgbouncer log:\n{}",
        text(&next),
        bouncer.log()
    );
    assert_eq!(
        scalar(
            &db.url,
            "SELECT count(*) FROM _sqlx_migrations WHERE version = 2"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn every_policy_and_command_works_through_pgbouncer() {
    let Some((db, bouncer)) = setup().await else {
        return;
    };
    let url = bouncer.url(db.admin(), db.name());
    let v3 = Guard::from_dir(common::migrations("v3")).await.unwrap();
    let status = v3.status_at(&url).await.unwrap();
    assert_eq!(status.state, State::Pending);
    let status = v3.run(&url, Policy::Expand).await.unwrap();
    assert_eq!(status.state, State::ContractPending, "{status:?}");
    assert!(v3.run(&url, Policy::Verify).await.unwrap().is_compatible());
    let status = v3.run(&url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate, "{status:?}");
    // Reads again and again, on whichever server connection PgBouncer gives.
    for _ in 0..20 {
        assert_eq!(v3.status_at(&url).await.unwrap().state, State::UpToDate);
    }
    // On a connection the service opened itself (sqlx's defaults: a statement
    // cache), through the pooler, again and again.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    for _ in 0..20 {
        assert_eq!(v3.status(&mut conn).await.unwrap().state, State::UpToDate);
        assert_eq!(v3.apply(&mut conn).await.unwrap().state, State::UpToDate);
    }
    // No lock timeout (or any SET) leaked onto the pooled server connections.
    for _ in 0..5 {
        let row = sqlx::raw_sql("SHOW lock_timeout")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let value: String = sqlx::Row::get(&row, 0);
        assert_eq!(value, "0");
    }
    conn.close().await.unwrap();

    let dir = common::migrations("v3");
    for command in ["status", "apply", "expand"] {
        let output = cli(&[command, "--migrations", dir.to_str().unwrap()])
            .args(["--database-url", &url])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{command}: {}",
            text(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_taken_over_from_a_live_holder_never_applies_a_migration_twice() {
    let Some((db, _bouncer, url, set)) = v1_behind_pooler().await else {
        return;
    };
    let dir = set.path().to_str().unwrap();

    // One try of the holder outlives its 1 s lease: the table is held for 5 s.
    let mut blocker = hold_notes(&db.url).await;
    let holder = cli(&["apply", "--migrations", dir, "--database-url", &url])
        .args(["--lock-lease", "1s", "--table-lock-timeout", "3s"])
        .args(["--table-lock-tries", "5"])
        .spawn()
        .unwrap();
    let start = Instant::now();
    lease_taken(&db.url, Duration::from_millis(50)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The lease ran out under the live holder: another replica takes it over,
    // and waits for the holder's migration transaction (sqlx's advisory key).
    let taker = cli(&["apply", "--migrations", dir, "--database-url", &url])
        .args(["--lock-lease", "30s", "--lock-timeout", "30s"])
        .args(["--table-lock-timeout", "3s", "--table-lock-tries", "10"])
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(start.elapsed())).await;
    blocker.execute("COMMIT").await.unwrap();

    let holder = holder.wait_with_output().unwrap();
    let taker = taker.wait_with_output().unwrap();
    assert_eq!(taker.status.code(), Some(0), "{}", text(&taker));
    assert_eq!(holder.status.code(), Some(69), "{}", text(&holder));
    assert!(
        String::from_utf8_lossy(&holder.stderr).contains("the migration lock was lost"),
        "{}",
        text(&holder)
    );
    assert_eq!(
        scalar(
            &db.url,
            "SELECT count(*) FROM _sqlx_migrations WHERE version = 2"
        )
        .await,
        1
    );
}
