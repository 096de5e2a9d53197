//! Instructions per served request, counted by callgrind in the real processes: the
//! notes service (production profile, default settings: a span per request, request
//! metrics, health, `/metrics`, the header-read timeout) and the bare axum router of
//! `src/bin/bare-hello.rs`, each answering `GET /hello` on loopback over four
//! keep-alive connections.
//!
//! Every thread of the server is counted (the runtime's workers, its timer and I/O
//! driver, background tasks), from after 100 warm-up requests to after the counted
//! ones; the kernel's share (the socket calls, the same for both) is not. The counts
//! do not move with the machine's load, so the ratio is the stable side of
//! `notes_load`'s throughput ratio, and the breakdown by crate says where the
//! difference goes.
//!
//! Run with `cargo bench -p notes-drill --bench notes_instructions` (valgrind from
//! Debian; `SERVED_REQUESTS` sets the count, 2,000 by default). Results in
//! `docs/benchmarks.md` at the repository root. Without valgrind it says so and exits.

#![allow(missing_docs, clippy::print_stdout)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opskit_testkit::process::free_port;

/// Requests before counting: connections open, every series registered.
const WARM_UP: usize = 100;

/// A server running under callgrind, killed when dropped.
struct Counted {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Drop for Counted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Counted {
    fn start(binary: &Path, env: &[(&str, String)], out: PathBuf, port: u16) -> Self {
        let child = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("valgrind runs");
        Self { child, port, out }
    }

    /// Waits (valgrind starts slowly) until `path` answers 200.
    fn wait_for(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut client = Client::new(stream);
                if client.get(path) == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{path} did not answer 200 within 120 s under valgrind");
    }

    fn callgrind_control(&self, flag: &str) {
        let status = Command::new("callgrind_control")
            .arg(flag)
            .arg(self.child.id().to_string())
            .stdout(Stdio::null())
            .status()
            .expect("callgrind_control runs");
        assert!(status.success(), "callgrind_control {flag}: {status}");
    }

    /// Sends `count` requests for `/hello` over `connections` keep-alive
    /// connections, counting only those, and returns the dump callgrind wrote.
    fn count(&self, count: usize, connections: usize) -> PathBuf {
        let mut clients: Vec<Client> = (0..connections)
            .map(|_| Client::new(TcpStream::connect(("127.0.0.1", self.port)).unwrap()))
            .collect();
        for i in 0..WARM_UP {
            assert_eq!(clients[i % connections].get("/hello"), 200);
        }
        self.callgrind_control("-z");
        for i in 0..count {
            assert_eq!(clients[i % connections].get("/hello"), 200);
        }
        self.callgrind_control("-d");
        // The first dump on request is `<out>.1`.
        let dump = PathBuf::from(format!("{}.1", self.out.display()));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !dump.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        dump
    }
}

/// A keep-alive HTTP/1.1 client that reads each response whole.
struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    fn new(stream: TcpStream) -> Self {
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    fn get(&mut self, path: &str) -> u16 {
        write!(
            self.reader.get_mut(),
            "GET {path} HTTP/1.1\r\nhost: notes.example\r\nuser-agent: notes_instructions\r\n\r\n"
        )
        .unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).unwrap();
        status
    }
}

/// The frames every thread starts from.
const THREAD_ENTRY: [&str; 5] = [
    "x86_64/clone.S:clone",
    "pthread_create.c:start_thread",
    ">::new::thread_start",
    "::__rust_begin_short_backtrace",
    "FnOnce::call_once{{vtable.shim}}",
];

/// The instructions of a dump, in total and by crate (the first path segment of
/// each function's name; C functions by their own name).
fn by_crate(dump: &Path) -> (u64, BTreeMap<String, u64>) {
    let output = Command::new("callgrind_annotate")
        .args(["--threshold=100", "--auto=no"])
        .arg(dump)
        .output()
        .expect("callgrind_annotate runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut crates = BTreeMap::new();
    let mut total = 0;
    let table = text
        .lines()
        .skip_while(|l| !l.contains("file:function"))
        .skip(2)
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("--"));
    for line in table {
        let Some((count, rest)) = line.trim_start().split_once(' ') else {
            continue;
        };
        let Ok(count) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        // `N (P%)  file:function [object]`; a file name has no colon.
        let location = rest.split_once(")  ").map_or(rest, |(_, f)| f).trim();
        let location = location.split(" [").next().unwrap_or_default();
        let function = location.split_once(':').map_or(location, |(_, f)| f);
        // A dump taken while threads run charges each thread's whole cost to the
        // frames every thread starts from as well: they are left out (the sum is
        // checked against callgrind's own total below).
        if THREAD_ENTRY.iter().any(|entry| location.ends_with(entry)) {
            continue;
        }
        let name = function.trim_start_matches(['<', '_']);
        let krate = match name.split_once("::") {
            Some((krate, _)) => krate.split(' ').next().unwrap_or(krate),
            None if name.contains("memcpy") || name.contains("memmove") => "memcpy",
            None if name.contains("alloc") || name.contains("free") => "malloc",
            None => "other C and unnamed",
        };
        *crates.entry(krate.to_owned()).or_default() += count;
        total += count;
    }
    let dumped = std::fs::read_to_string(dump)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("summary:").or(l.strip_prefix("totals:")))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .expect("callgrind writes its total");
    assert!(
        total.abs_diff(dumped) * 100 <= dumped,
        "the functions of {} sum to {total}, callgrind's total is {dumped}",
        dump.display()
    );
    (dumped, crates)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("notes_instructions: valgrind is not installed; nothing measured");
        return;
    }
    let count: usize = support::env_or("SERVED_REQUESTS", 2_000);
    let notes = support::build("example-notes", "notes", "production", "");
    let bare = support::build("notes-drill", "bare-hello", "production", "");
    let dir = tempfile::tempdir().unwrap();

    let port = free_port();
    let bare_server = Counted::start(
        &bare,
        &[("BARE_LISTEN", format!("127.0.0.1:{port}"))],
        dir.path().join("bare.callgrind"),
        port,
    );
    bare_server.wait_for("/hello");
    let (bare_total, bare_crates) = by_crate(&bare_server.count(count, 4));
    drop(bare_server);

    let port = free_port();
    let notes_server = Counted::start(
        &notes,
        &[
            ("LOG_FORMAT", "json".to_owned()),
            ("NOTES_LISTEN", format!("127.0.0.1:{port}")),
            (
                "NOTES_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
        ],
        dir.path().join("notes.callgrind"),
        port,
    );
    notes_server.wait_for("/readyz");
    let (notes_total, notes_crates) = by_crate(&notes_server.count(count, 4));
    drop(notes_server);

    let per = |n: u64| n as f64 / count as f64;
    println!("| server | instructions per served request | / bare |");
    println!("|---|---|---|");
    println!("| bare | {:.0} | 1.00x |", per(bare_total));
    println!(
        "| notes | {:.0} | {:.2}x |",
        per(notes_total),
        notes_total as f64 / bare_total as f64
    );
    println!(
        "notes adds {:.0} per request; by crate, where it adds at least 50:",
        per(notes_total) - per(bare_total)
    );
    let mut added: Vec<(f64, &String)> = notes_crates
        .iter()
        .map(|(krate, n)| {
            let before = bare_crates.get(krate).copied().unwrap_or(0);
            (per(*n) - per(before), krate)
        })
        .filter(|(delta, _)| delta.abs() >= 50.0)
        .collect();
    added.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("| crate | added per request |");
    println!("|---|---|");
    for (delta, krate) in added {
        println!("| {krate} | {delta:.0} |");
    }
}
