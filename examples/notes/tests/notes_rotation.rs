//! Secrets rotated under load, without a restart (RUNBOOK.md, "Rotating a secret"):
//! the database URL and the API token come from files laid out the way the kubelet
//! mounts a Secret (`..data` pointing at a timestamped directory, each file a
//! symlink through it), and each rotation swaps `..data` atomically as the kubelet
//! does.
//!
//! On PostgreSQL with writes flowing: the role's password is changed and the URL's
//! file swapped; connections opened after that (a burst of writers makes the pool
//! open some) log in with the new password, which is the only one the server still
//! accepts. The token rotates with a grace period: clients that switch
//! within it are never refused, the old token is refused after it. A broken
//! rotation (an empty file) keeps the token in use. Through all of it no write
//! fails, readiness never fails, and no password or token appears in any output.

mod support;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opskit::secret::canary::Canary;
use opskit_testkit::process::{Service, get, post_json};
use opskit_testkit::sweep::Sweep;

/// A Secret volume as the kubelet lays it out: `<dir>/<name>` is a symlink to
/// `..data/<name>`, `..data` a symlink to the current timestamped directory.
struct SecretVolume {
    dir: PathBuf,
    name: &'static str,
    generation: u32,
}

impl SecretVolume {
    fn new(dir: &Path, name: &'static str, value: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let mut volume = Self {
            dir: dir.to_owned(),
            name,
            generation: 0,
        };
        volume.swap(value);
        symlink(Path::new("..data").join(name), dir.join(name)).unwrap();
        volume
    }

    /// The path a service is given.
    fn path(&self) -> PathBuf {
        self.dir.join(self.name)
    }

    /// Writes `value` into a new timestamped directory and re-points `..data` at it
    /// with one rename, then removes the old directory: the kubelet's update.
    fn swap(&mut self, value: &str) {
        self.generation += 1;
        let fresh = format!(
            "..2026_12_02_00_00_{:02}.{}",
            self.generation,
            std::process::id()
        );
        std::fs::create_dir(self.dir.join(&fresh)).unwrap();
        std::fs::write(self.dir.join(&fresh).join(self.name), value).unwrap();
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        symlink(&fresh, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

/// What the load saw.
#[derive(Default)]
struct Seen {
    writes: usize,
    failed: Vec<String>,
    not_ready: Vec<String>,
    /// While the server has the new password and the service the old one: a write
    /// that needed a new connection then, answered 503 to retry (the runbook's
    /// window), not failed.
    in_window: bool,
    retry_later: usize,
}

/// One write with the token in `token`, its outcome counted in `seen`.
fn write(address: std::net::SocketAddr, token: &Mutex<String>, seen: &Mutex<Seen>) {
    let token = token.lock().unwrap().clone();
    let answer = post_json(
        address,
        "/notes",
        &token,
        r#"{"title":"t","body":"b","tags":"rotation"}"#,
    );
    let mut seen = seen.lock().unwrap();
    seen.writes += 1;
    match answer {
        Ok((201, _)) => {}
        Ok((503, body)) if seen.in_window && body.contains("retry shortly") => {
            seen.retry_later += 1;
        }
        Ok((status, body)) => seen.failed.push(format!("{status}: {body}")),
        Err(err) => seen.failed.push(err.to_string()),
    }
}

/// Writes with the token in `token` and polls readiness until `stop`.
fn load(
    address: std::net::SocketAddr,
    token: Arc<Mutex<String>>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
) -> Vec<std::thread::JoinHandle<()>> {
    let writer = {
        let (stop, seen) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                write(address, &token, &seen);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let prober = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match get(address, "/readyz") {
                Ok((200, _)) => {}
                Ok((status, body)) => seen
                    .lock()
                    .unwrap()
                    .not_ready
                    .push(format!("{status}: {body}")),
                Err(err) => seen.lock().unwrap().not_ready.push(err.to_string()),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    vec![writer, prober]
}

/// Waits until the service logged `secret.rotated` `count` times for `secret`.
fn wait_for_rotations(service: &Service, secret: &str, count: usize) {
    for _ in 0..600 {
        let rotated = (service.lines.lock().unwrap().iter())
            .filter(|line| line.contains("\"secret.rotated\"") && line.contains(secret))
            .count();
        if rotated >= count {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let secrets: Vec<String> = (service.lines.lock().unwrap().iter())
        .filter(|line| line.contains("\"secret."))
        .cloned()
        .collect();
    panic!(
        "{secret} was not rotated {count} times within 30 s; secret events:\n{}",
        secrets.join("\n")
    );
}

/// The number of the role's server connections opened after `since` (a
/// PostgreSQL timestamp), as the admin sees them.
fn connections_since(pg: &support::postgres::Postgres, since: &str) -> i64 {
    let admin = opskit_testkit::postgres_admin_url().unwrap();
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{}' AND backend_start > '{since}'",
        pg.role
    );
    support::postgres::block_on(async move {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

/// The server's clock, so timestamps compare with `backend_start`.
fn server_now() -> String {
    let admin = opskit_testkit::postgres_admin_url().unwrap();
    support::postgres::block_on(async move {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query_scalar::<_, String>("SELECT now()::text")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

#[test]
fn database_password_and_api_token_rotate_under_load_without_a_restart() {
    let Some(pg) = support::postgres::database() else {
        eprintln!("skipped: no PostgreSQL (set OPSKIT_TEST_POSTGRES_URL)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let new_password = Canary::new("rotated-db-password");
    let (old_token, new_token) = (Canary::new("api-token-old"), Canary::new("api-token-new"));
    let mut url_file = SecretVolume::new(&dir.path().join("db"), "url", &pg.url);
    let mut token_file = SecretVolume::new(&dir.path().join("api"), "token", old_token.value());
    let (url_path, token_path) = (url_file.path(), token_file.path());
    let service = Service::start(
        &support::notes(),
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATABASE_URL_FILE", url_path.to_str().unwrap()),
            ("NOTES_API_TOKEN_FILE", token_path.to_str().unwrap()),
            ("NOTES_API_TOKEN_GRACE", "3s"),
            ("NOTES_DRAIN_DELAY", "0s"),
        ],
    );
    let address = service.address();
    let token = Arc::new(Mutex::new(old_token.value().to_owned()));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let started = std::time::Instant::now();
    let threads = load(address, token.clone(), stop.clone(), seen.clone());
    std::thread::sleep(Duration::from_secs(1));

    // 1. The database password: changed on the server, then the file swapped. Until
    // the service reads the file, a write that needs a new connection is answered
    // 503 (retry); none after.
    seen.lock().unwrap().in_window = true;
    pg.as_admin(&format!(
        "ALTER ROLE {} PASSWORD '{}'",
        pg.role,
        new_password.value()
    ));
    url_file.swap(&pg.url.replace(pg.password.value(), new_password.value()));
    wait_for_rotations(&service, "NOTES_DATABASE_URL", 1);
    let swapped = server_now();
    seen.lock().unwrap().in_window = false;
    // A burst of writers at once, so the pool opens connections it did not have:
    // the server accepts only the new password now.
    let burst: Vec<_> = (0..8)
        .map(|_| {
            let (token, seen) = (token.clone(), seen.clone());
            std::thread::spawn(move || {
                for _ in 0..5 {
                    write(address, &token, &seen);
                }
            })
        })
        .collect();
    for writer in burst {
        writer.join().unwrap();
    }
    assert!(
        connections_since(&pg, &swapped) >= 1,
        "no connection was opened with the new password"
    );

    // 2. The API token: the new one works at once; clients switch within the grace.
    token_file.swap(new_token.value());
    wait_for_rotations(&service, "NOTES_API_TOKEN", 1);
    let post = |token: &Canary| {
        post_json(
            address,
            "/notes",
            token.value(),
            r#"{"title":"t","body":"b","tags":"rotation"}"#,
        )
        .unwrap()
        .0
    };
    assert_eq!(post(&new_token), 201, "the new token is accepted at once");
    std::thread::sleep(Duration::from_secs(1));
    *token.lock().unwrap() = new_token.value().to_owned();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        post(&old_token),
        401,
        "the old token is refused after the grace"
    );

    // 3. A broken rotation keeps the token in use; the next good one is taken.
    token_file.swap("");
    for _ in 0..600 {
        if (service.lines.lock().unwrap().iter()).any(|line| {
            line.contains("\"secret.rotation_failed\"") && line.contains("NOTES_API_TOKEN")
        }) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        post(&new_token),
        201,
        "an empty file keeps the token in use"
    );
    token_file.swap(old_token.value());
    wait_for_rotations(&service, "NOTES_API_TOKEN", 2);
    *token.lock().unwrap() = old_token.value().to_owned();
    std::thread::sleep(Duration::from_millis(500));

    stop.store(true, Ordering::SeqCst);
    for thread in threads {
        thread.join().unwrap();
    }
    let mut sweep = Sweep::default();
    sweep.response("GET /metrics", get(address, "/metrics").unwrap());
    sweep.response("GET /readyz", get(address, "/readyz").unwrap());
    let (lines, stderr) = service.stop();
    let seen = seen.lock().unwrap();
    // The rate is reported, not asserted: it depends on the machine.
    eprintln!(
        "{} writes in {:.1} s ({:.0}/s), {} failed, {} answered 503 to retry between the \
         password's change and the file's; readiness failed {} times",
        seen.writes,
        started.elapsed().as_secs_f64(),
        seen.writes as f64 / started.elapsed().as_secs_f64(),
        seen.failed.len(),
        seen.retry_later,
        seen.not_ready.len()
    );
    assert!(seen.writes >= 100, "only {} writes were made", seen.writes);
    assert!(seen.failed.is_empty(), "failed writes: {:?}", seen.failed);
    assert!(
        seen.not_ready.is_empty(),
        "readiness failed: {:?}",
        seen.not_ready
    );
    sweep.process("notes", &lines, &stderr);
    sweep.assert_clean(&[
        pg.password.value(),
        new_password.value(),
        old_token.value(),
        new_token.value(),
    ]);
}
