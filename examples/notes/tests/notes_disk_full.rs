//! SQLite on a full disk, on a small tmpfs this test mounts: no note answered 201
//! is lost, writes fail with 503 while the disk is full, readiness says so, and
//! writes work again once space returns, without a restart.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::process::{Service, get, post_json};

const TOKEN: &str = "t0ken-for-the-disk";
const WRITERS: usize = 8;
/// Runs of the whole scenario (`docs/benchmarks.md` records 20).
const RUNS: usize = 3;

/// A tmpfs of `size` mounted at a fresh directory, unmounted on drop.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Self { _dir: dir, path })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn post(address: std::net::SocketAddr, writer: usize, n: usize) -> (u16, String) {
    let body = "x".repeat(4096);
    post_json(
        address,
        "/notes",
        TOKEN,
        &format!(r#"{{"title":"w{writer} n{n}","body":"{body}"}}"#),
    )
    .unwrap_or((0, String::new()))
}

fn start(root: &Path, data: &Path) -> Service {
    Service::start(
        &support::notes(),
        root,
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
            ("NOTES_API_TOKEN", TOKEN),
            ("NOTES_DRAIN_DELAY", "0s"),
        ],
    )
}

/// One run: fill the disk under eight writers, free space, restart, count.
fn run(disk: &Tmpfs) -> (usize, usize) {
    let data = disk.path.join("data");
    // Ballast, freed later to give the database room again.
    let ballast = disk.path.join("ballast");
    std::fs::write(&ballast, vec![0u8; 512 * 1024]).unwrap();
    let root = tempfile::tempdir().unwrap();
    let service = start(root.path(), &data);
    let address = service.address();

    let full = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let full = full.clone();
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                let mut refused_in_a_row = 0;
                for n in 0..5000 {
                    let (status, body) = post(address, w, n);
                    match status {
                        201 => {
                            refused_in_a_row = 0;
                            let note: serde_json::Value = serde_json::from_str(&body).unwrap();
                            acknowledged.push(note["id"].as_i64().unwrap());
                        }
                        503 => {
                            assert!(body.contains("retry"), "{body}");
                            full.store(true, Ordering::SeqCst);
                            refused_in_a_row += 1;
                            if refused_in_a_row == 5 {
                                break;
                            }
                        }
                        other => panic!("writer {w}: {other} {body}"),
                    }
                }
                acknowledged
            })
        })
        .collect();
    let mut acknowledged: Vec<i64> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(full.load(Ordering::SeqCst), "the disk never filled");

    // Full: readiness says writes cannot succeed, at the check's next run.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = get(address, "/readyz/disk").unwrap();
        if status == 503 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disk check still passes: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("full after {} notes answered 201", acknowledged.len());

    // Space returns: writes work again, without a restart.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = post(address, 99, 0);
        if status == 201 {
            let note: serde_json::Value = serde_json::from_str(&body).unwrap();
            acknowledged.push(note["id"].as_i64().unwrap());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes still fail 10 s after space returned: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(address, "/readyz").unwrap().0 != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready 10 s after space returned"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    service.stop();

    // Every note answered 201 is there after a restart.
    let service = start(root.path(), &data);
    let missing = acknowledged
        .iter()
        .filter(|id| get(service.address(), &format!("/notes/{id}")).unwrap().0 != 200)
        .count();
    service.terminate();
    assert_eq!(service.finish().0, 0);
    std::fs::remove_dir_all(&data).unwrap();
    (acknowledged.len(), missing)
}

#[test]
fn no_acknowledged_write_is_lost_on_a_full_disk_and_writes_recover() {
    let Some(disk) = Tmpfs::mount("2m") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root, which can mount a tmpfs"
        );
        eprintln!("skipped: mounting a tmpfs needs root (CI runs this)");
        return;
    };
    let runs = std::env::var("DISK_FULL_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(RUNS);
    for i in 0..runs {
        let (acknowledged, missing) = run(&disk);
        println!(
            "disk full run {i}: {acknowledged} notes answered 201, {missing} missing after restart"
        );
        assert_eq!(
            missing, 0,
            "run {i}: {missing} of {acknowledged} acknowledged notes lost"
        );
    }
}
