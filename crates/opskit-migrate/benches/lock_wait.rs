//! A migration's `ALTER TABLE` behind a session that holds ACCESS SHARE on the
//! table, under read and write load: the latency of the table's traffic with the
//! guard's lock timeout (2 s, the default) against the same run without one (a
//! 10-minute timeout: the wait the guard had before), on a real PostgreSQL server.
//!
//! Run with `OPSKIT_TEST_POSTGRES_URL=postgres://user:password@host/postgres cargo
//! bench -p opskit-migrate --features postgres,tls --bench lock_wait`; results in
//! `docs/benchmarks.md`. `BENCH_HOLD_SECS` sets how long the blocker holds the
//! table (default 30).

#![allow(missing_docs, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opskit_migrate::{Guard, Policy};
use sqlx::migrate::{Migration, MigrationType};
use sqlx::{Connection, Executor, PgConnection};

/// Clients, each on its own connection; half read, half write.
const CLIENTS: usize = 8;
/// Each client's pace: 8 clients x 50 = 400 operations a second.
const PACE: Duration = Duration::from_millis(20);
/// Load alone before the blocker, for the baseline.
const BASELINE: Duration = Duration::from_secs(5);

/// One operation: when it started (since the run began), how long it took, whether
/// it failed.
type Sample = (Duration, Duration, bool);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(admin) = std::env::var("OPSKIT_TEST_POSTGRES_URL") else {
        println!("SKIPPED: set OPSKIT_TEST_POSTGRES_URL to a PostgreSQL server");
        return;
    };
    let hold = Duration::from_secs(
        std::env::var("BENCH_HOLD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    println!(
        "| lock timeout | ops/s | failed | baseline p99 | p99 while held | max while held | migration landed after the blocker ended |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, timeout) in [
        ("2 s (default)", Duration::from_secs(2)),
        ("off (10 min)", Duration::from_secs(600)),
    ] {
        let (url, database) = fresh_database(&admin).await;
        run(&url, name, timeout, hold).await;
        let mut conn = PgConnection::connect(&admin).await.unwrap();
        let drop = format!("DROP DATABASE {database} WITH (FORCE)");
        conn.execute(sqlx::AssertSqlSafe(drop)).await.unwrap();
    }
}

/// A new database with a `notes` table of 1,000 rows; its URL and name.
async fn fresh_database(admin: &str) -> (String, String) {
    let name = format!("migrate_locks_bench_{}", std::process::id() ^ rand_u32());
    let mut conn = PgConnection::connect(admin).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap();
    let url = format!("{base}/{name}");
    let mut conn = PgConnection::connect(&url).await.unwrap();
    conn.execute(
        "CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL);
         INSERT INTO notes (body) SELECT 'note ' || g FROM generate_series(1, 1000) g;",
    )
    .await
    .unwrap();
    (url, name)
}

fn rand_u32() -> u32 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(Instant::now()) as u32
}

/// One run: load, then a blocker holding ACCESS SHARE for `hold` while the guard
/// applies an `ALTER TABLE notes ADD COLUMN`; prints a table row.
async fn run(url: &str, name: &str, timeout: Duration, hold: Duration) {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let (url, stop) = (url.to_owned(), stop.clone());
        clients.push(tokio::spawn(client(url, i % 2 == 0, start, stop)));
    }
    tokio::time::sleep(BASELINE).await;
    let mut blocker = PgConnection::connect(url).await.unwrap();
    blocker.execute("BEGIN").await.unwrap();
    blocker.execute("SELECT count(*) FROM notes").await.unwrap();
    let held_from = start.elapsed();
    let guard = Guard::from_migrations([alter()])
        .table_lock_timeout(timeout)
        .table_lock_tries(100);
    let guard_url = url.to_owned();
    let migration = tokio::spawn(async move {
        let result = guard.run(guard_url.as_str(), Policy::Apply).await;
        (result, Instant::now())
    });
    tokio::time::sleep(hold).await;
    blocker.execute("COMMIT").await.unwrap();
    let released = Instant::now();
    let held_until = start.elapsed();
    let (result, landed) = migration.await.unwrap();
    result.expect("the migration lands after the blocker ends");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut samples: Vec<Sample> = Vec::new();
    for client in clients {
        samples.extend(client.await.unwrap());
    }
    report(
        name,
        &samples,
        start.elapsed(),
        (held_from, held_until),
        landed.saturating_duration_since(released),
    );
}

/// The migration: a column added to `notes`.
fn alter() -> Migration {
    Migration::new(
        1,
        "add extra".into(),
        MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(
            "ALTER TABLE notes ADD COLUMN extra TEXT;".to_owned(),
        )),
        false,
    )
}

/// A client reading (or writing) one row each `PACE`, until `stop`.
async fn client(url: String, reads: bool, start: Instant, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let mut samples = Vec::new();
    let mut id: i64 = 1;
    while !stop.load(Ordering::Relaxed) {
        let began = Instant::now();
        id = id % 1000 + 1;
        let result = if reads {
            sqlx::query("SELECT body FROM notes WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut conn)
                .await
                .map(drop)
        } else {
            sqlx::query("INSERT INTO notes (body) VALUES ($1)")
                .bind("written under load")
                .execute(&mut conn)
                .await
                .map(drop)
        };
        let took = began.elapsed();
        samples.push((began - start, took, result.is_err()));
        tokio::time::sleep(PACE.saturating_sub(took)).await;
    }
    let _ = conn.close().await;
    samples
}

fn p99(mut latencies: Vec<Duration>) -> Duration {
    latencies.sort();
    latencies
        .get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn report(
    name: &str,
    samples: &[Sample],
    total: Duration,
    held: (Duration, Duration),
    landed: Duration,
) {
    let baseline: Vec<Duration> = samples
        .iter()
        .filter(|(at, ..)| *at < held.0)
        .map(|(_, took, _)| *took)
        .collect();
    let during: Vec<Duration> = samples
        .iter()
        .filter(|(at, ..)| *at >= held.0 && *at < held.1)
        .map(|(_, took, _)| *took)
        .collect();
    let max = during.iter().max().copied().unwrap_or_default();
    let failed = samples.iter().filter(|(.., failed)| *failed).count();
    println!(
        "| {name} | {:.0} | {failed} of {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.2} s |",
        samples.len() as f64 / total.as_secs_f64(),
        samples.len(),
        p99(baseline).as_secs_f64() * 1e3,
        p99(during).as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        landed.as_secs_f64()
    );
}
