//! The notes service on PostgreSQL under read and write load while its migration
//! job waits for a table another session holds: the service's own requests over
//! HTTP, and its readiness, as a load balancer and the kubelet see them.
//!
//! Twice, each on a fresh database: the notes service (debug build) serves 8
//! clients, 4 reading a note by id and 4 writing one, each paced at one request per
//! 20 ms (400 requests/s aimed at), and a readiness probe every 100 ms. After 5 s of
//! load alone (the baseline), a session opens a transaction, reads `notes` (ACCESS
//! SHARE) and holds it for 30 s; half a second in, `opskit-migrate apply` runs the
//! service's migrations plus `ALTER TABLE notes ADD COLUMN extra TEXT`. The blocker
//! commits, the migration lands, 2 s more load. First with the migration's default
//! table lock timeout (2 s), then with a 10-minute one: the unbounded wait a
//! migration without `lock_timeout` has.
//!
//! Run with (a PostgreSQL server whose admin URL the tests use):
//!
//! ```sh
//! OPSKIT_TEST_POSTGRES_URL=postgres://opskit:opskit@127.0.0.1:5432/postgres \
//!   cargo bench -p notes-drill --bench notes_lock_wait
//! ```
//!
//! Results in `docs/benchmarks.md` at the repository root.

#![allow(missing_docs, clippy::print_stdout)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opskit_testkit::process::{Service, get, post_json};
use sqlx::{Connection, Executor, PgConnection};

const TOKEN: &str = "lock-wait-bench-token";
const HELD: Duration = Duration::from_secs(30);
const BASELINE: Duration = Duration::from_secs(5);

/// One request: when it started, how long it took, whether it failed.
struct Timed {
    at: Instant,
    took: Duration,
    ok: bool,
}

/// Paced clients: `readers` reading note `id`, `writers` writing notes.
fn load(
    address: std::net::SocketAddr,
    readers: usize,
    writers: usize,
    id: i64,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<Vec<Timed>>> {
    (0..readers + writers)
        .map(|i| {
            let stop = stop.clone();
            let write = i >= readers;
            std::thread::spawn(move || {
                let mut done = Vec::new();
                let path = format!("/notes/{id}");
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    let answer = if write {
                        post_json(
                            address,
                            "/notes",
                            TOKEN,
                            r#"{"title":"load","body":"a note","tags":"bench"}"#,
                        )
                    } else {
                        get(address, &path)
                    };
                    let took = at.elapsed();
                    let ok = matches!(answer, Ok((200 | 201, _)));
                    done.push(Timed { at, took, ok });
                    std::thread::sleep(Duration::from_millis(20).saturating_sub(took));
                }
                done
            })
        })
        .collect()
}

fn p99(mut took: Vec<Duration>) -> Duration {
    took.sort();
    took.get((took.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// A fresh database on the server `admin` names; its URL.
async fn database(admin: &str, name: &str) -> String {
    let mut conn = PgConnection::connect(admin).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .await
    .unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap();
    format!("{base}/{name}")
}

/// The service's migrations and one more that needs `notes`' ACCESS EXCLUSIVE lock.
fn migrations(dir: &Path) -> PathBuf {
    let set = dir.join("migrations");
    std::fs::create_dir_all(&set).unwrap();
    let notes = Path::new(env!("CARGO_MANIFEST_DIR")).join("../notes/migrations/postgres");
    for file in std::fs::read_dir(notes).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, set.join(file.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        set.join("4_add_extra.sql"),
        "-- opskit: expand\n-- reason: a nullable column; nothing older reads it\n\
         ALTER TABLE notes ADD COLUMN extra TEXT;\n",
    )
    .unwrap();
    set
}

fn run(label: &str, table_lock_timeout: &str, notes: &Path, migrate: &Path, admin: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(database(admin, "notes_lock_wait_bench"));
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(
        notes,
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATABASE_URL", &url),
            ("NOTES_API_TOKEN", TOKEN),
            ("NOTES_DRAIN_DELAY", "0s"),
        ],
    );
    let address = service.address();
    let (status, body) = post_json(
        address,
        "/notes",
        TOKEN,
        r#"{"title":"read me","body":"the note the readers read","tags":""}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_i64()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients = load(address, 4, 4, id, &stop);
    let probes = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut failed = 0;
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                sent += 1;
                if !matches!(get(address, "/readyz"), Ok((200, _))) {
                    failed += 1;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (sent, failed)
        })
    };
    std::thread::sleep(BASELINE);

    // The blocker: a transaction that read `notes` and holds it.
    let held_from = Instant::now();
    let blocker = {
        let url = url.clone();
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                let mut conn = PgConnection::connect(&url).await.unwrap();
                conn.execute("BEGIN").await.unwrap();
                conn.execute("SELECT count(*) FROM notes").await.unwrap();
                tokio::time::sleep(HELD).await;
                conn.execute("COMMIT").await.unwrap();
                Instant::now()
            })
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let set = migrations(dir.path());
    let job = Command::new(migrate)
        .args(["apply", "--migrations"])
        .arg(&set)
        .args([
            "--database-url",
            &url,
            "--table-lock-timeout",
            table_lock_timeout,
        ])
        .args(["--table-lock-tries", "100"])
        .output()
        .unwrap();
    let landed = Instant::now();
    let released = blocker.join().unwrap();
    assert!(
        job.status.success(),
        "the migration job failed: {}",
        String::from_utf8_lossy(&job.stderr)
    );
    let held_until = released.max(landed);
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let done: Vec<Timed> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let (probes_sent, probes_failed) = probes.join().unwrap();
    let elapsed = started.elapsed();
    service.terminate();
    let _ = service.finish();

    let failed = done.iter().filter(|t| !t.ok).count();
    let baseline = p99((done.iter().filter(|t| t.at < held_from))
        .map(|t| t.took)
        .collect());
    let during: Vec<Duration> = (done.iter())
        .filter(|t| t.at >= held_from && t.at < held_until)
        .map(|t| t.took)
        .collect();
    let max = during.iter().max().copied().unwrap_or_default();
    println!(
        "| {label} | {:.0} | {failed} of {} | {} | {} | {} | {probes_failed} of {probes_sent} | {:.2} s |",
        done.len() as f64 / elapsed.as_secs_f64(),
        done.len(),
        ms(baseline),
        ms(p99(during)),
        ms(max),
        landed.saturating_duration_since(released).as_secs_f64(),
    );
}

fn main() {
    let Ok(admin) = std::env::var("OPSKIT_TEST_POSTGRES_URL") else {
        println!("skipped: set OPSKIT_TEST_POSTGRES_URL to a PostgreSQL server's admin URL");
        return;
    };
    let notes = support::build("example-notes", "notes", "dev", "");
    let migrate = support::build(
        "opskit-migrate",
        "opskit-migrate",
        "dev",
        "cli,postgres,tls",
    );
    println!(
        "| table lock timeout | requests/s | failed | baseline p99 | p99 while held | max while held | readiness probes failed | migration landed after the blocker ended |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    run("2 s (default)", "2s", &notes, &migrate, &admin);
    run("off (10 min)", "10m", &notes, &migrate, &admin);
}
