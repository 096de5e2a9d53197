//! The notes service against a bare axum router serving the same database-free
//! handler (this package's `src/bin/bare-hello.rs`), both built with the production profile (as
//! the container image is) and run on loopback:
//!
//! - throughput and p99 of `GET /hello` under `wrk -t1 -c32` (the notes binary with
//!   its default settings runs every opskit layer: a span per request, request
//!   metrics, health, /metrics), alternating, five rounds (`LOAD_ROUNDS`);
//! - time from process start to the first 200 (`/readyz` for notes, on SQLite,
//!   `/hello` for the bare router), median of 7 starts;
//! - peak resident memory (VmHWM) at idle and after the load;
//! - the notes service with a span per request (`LOG_LEVEL=info`): tracing off,
//!   every request exported to an OTLP receiver on loopback, and the collector down
//!   (after the exported server's rounds the bench waits for the receiver, which
//!   decodes in this process, to finish).
//!
//! Run with `cargo bench -p notes-drill --bench notes_load` (`wrk` from Debian);
//! `LOAD_SECONDS` sets the length of each load (10 by default). Results in
//! `docs/benchmarks.md` at the repository root.

#![allow(missing_docs, clippy::print_stdout)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use opskit_testkit::process::spawn_reading_first_line;

struct Server {
    child: Child,
    address: SocketAddr,
    started: Instant,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CPUs this process may run on (`Cpus_allowed_list`, such as `0-1` or `2,5`).
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let Some(list) = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
    else {
        return Vec::new();
    };
    list.trim()
        .split(',')
        .flat_map(|range| {
            let (first, last) = range.split_once('-').unwrap_or((range, range));
            match (first.parse::<usize>(), last.parse::<usize>()) {
                (Ok(first), Ok(last)) => (first..=last).collect(),
                _ => Vec::new(),
            }
        })
        .collect()
}

/// Which role a pinned process plays.
#[derive(Clone, Copy)]
enum Role {
    Server,
    Wrk,
}

/// The command for a process pinned to a CPU of its own when two or more are
/// allowed (servers on one, wrk on another: the two then compete for nothing, and
/// the rounds vary far less), else unpinned.
fn pinned(role: Role, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let cpus = allowed_cpus();
    let taskset = Command::new("taskset").arg("-V").output().is_ok();
    if cpus.len() >= 2 && taskset {
        let cpu = match role {
            Role::Wrk => cpus[0],
            Role::Server => cpus[1],
        };
        let mut command = Command::new("taskset");
        command.arg("-c").arg(cpu.to_string()).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// The notes service with its default settings: `LOG_LEVEL=info`, so each request
/// has its span, and `request_log = errors`, so a 200 writes no line.
fn start_notes(binary: &Path, dir: &Path) -> Server {
    start_notes_with(binary, dir, &[])
}

/// The notes service with `env` added (at `LOG_LEVEL=info`, each request's span is
/// on; at `warn`, off).
fn start_notes_with(binary: &Path, dir: &Path, env: &[(&str, &str)]) -> Server {
    let started = Instant::now();
    let mut child = pinned(Role::Server, binary)
        .current_dir(dir)
        .env_clear()
        .env("LOG_FORMAT", "json")
        .env("NOTES_LISTEN", "127.0.0.1:0")
        .env("NOTES_DATA_DIR", dir.join("data"))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The address comes from /proc: no line need be parsed for it.
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stdout).lines() {});
    let address = wait_for_listen_port(pid);
    Server {
        child,
        address,
        started,
    }
}

fn start_bare(binary: &Path) -> Server {
    let started = Instant::now();
    let (child, line) = spawn_reading_first_line(
        &mut pinned(Role::Server, binary),
        &[("BARE_LISTEN", "127.0.0.1:0")],
    );
    Server {
        child,
        address: line.parse().unwrap(),
        started,
    }
}

/// The TCP port a process listens on, from /proc/net/tcp and its socket inodes.
fn wait_for_listen_port(pid: u32) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|fds| {
                fds.filter_map(Result::ok)
                    .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                    .filter_map(|target| {
                        target
                            .to_str()?
                            .strip_prefix("socket:[")?
                            .strip_suffix(']')
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        for row in table.lines().skip(1) {
            let cells: Vec<&str> = row.split_whitespace().collect();
            // state 0A = LISTEN
            if cells.len() > 9 && cells[3] == "0A" && inodes.iter().any(|i| i == cells[9]) {
                let port = u16::from_str_radix(cells[1].rsplit(':').next().unwrap(), 16).unwrap();
                return SocketAddr::from(([127, 0, 0, 1], port));
            }
        }
        assert!(Instant::now() < deadline, "the service did not listen");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn status(address: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(address).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.get(9..12)?.parse().ok()
}

/// Time from process start to the first 200 on `path`.
fn time_to_200(server: &Server, path: &str) -> Duration {
    loop {
        if status(server.address, path) == Some(200) {
            return server.started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// Peak resident memory: heap and stacks, and the pages of the binary and its
/// libraries that were touched (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

/// Resident anonymous memory now (heap and stacks, without the binary's pages).
fn anon_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "RssAnon")
}

fn wrk(address: SocketAddr, seconds: u64) -> (f64, f64) {
    let output = pinned(Role::Wrk, "wrk")
        .args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency"])
        .arg(format!("http://{address}/hello"))
        .output()
        .unwrap_or_else(|e| {
            panic!("wrk could not run ({e}); install it with `apt-get install wrk`")
        });
    let text = String::from_utf8_lossy(&output.stdout);
    let rps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .unwrap()
        .trim()
        .to_owned();
    let split = p99.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = p99.split_at(split);
    let n: f64 = n.parse().unwrap();
    let ms = match unit {
        "us" => n / 1000.0,
        "ms" => n,
        _ => n * 1000.0,
    };
    (rps, ms)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let notes = support::build("example-notes", "notes", "production", "");
    let bare = support::build("notes-drill", "bare-hello", "production", "");

    // Start time, median of 7, a fresh database directory each time for notes.
    let mut notes_starts = Vec::new();
    let mut bare_starts = Vec::new();
    for _ in 0..7 {
        let dir = tempfile::tempdir().unwrap();
        let server = start_notes(&notes, dir.path());
        notes_starts.push(time_to_200(&server, "/readyz"));
        drop(server);
        let server = start_bare(&bare);
        bare_starts.push(time_to_200(&server, "/hello"));
    }
    let (notes_start, bare_start) = (median(notes_starts), median(bare_starts));
    println!(
        "start to first 200: notes {:.1} ms (/readyz, SQLite, migrations applied), bare {:.1} ms, ratio {:.1}",
        notes_start.as_secs_f64() * 1000.0,
        bare_start.as_secs_f64() * 1000.0,
        notes_start.as_secs_f64() / bare_start.as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let notes_server = start_notes(&notes, dir.path());
    time_to_200(&notes_server, "/readyz");
    let bare_server = start_bare(&bare);
    time_to_200(&bare_server, "/hello");
    std::thread::sleep(Duration::from_millis(500));
    let (notes_idle, bare_idle) = (
        peak_rss_kib(notes_server.child.id()),
        peak_rss_kib(bare_server.child.id()),
    );
    let (notes_anon_idle, bare_anon_idle) = (
        anon_rss_kib(notes_server.child.id()),
        anon_rss_kib(bare_server.child.id()),
    );

    let rounds: usize = std::env::var("LOAD_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("| round | bare req/s | bare p99 | notes req/s | notes p99 | throughput ratio |");
    println!("|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    for round in 1..=rounds {
        // Alternate which goes first, so neither always runs on a warmer machine.
        let ((bare_rps, bare_p99), (notes_rps, notes_p99)) = if round % 2 == 1 {
            let bare = wrk(bare_server.address, seconds);
            (bare, wrk(notes_server.address, seconds))
        } else {
            let notes = wrk(notes_server.address, seconds);
            (wrk(bare_server.address, seconds), notes)
        };
        ratios.push(notes_rps / bare_rps);
        println!(
            "| {round} | {bare_rps:.0} | {bare_p99:.2} ms | {notes_rps:.0} | {notes_p99:.2} ms | {:.2} |",
            notes_rps / bare_rps
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "throughput ratio: median {:.2} of {rounds} rounds (lowest {:.2}, highest {:.2})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    let (notes_peak, bare_peak) = (
        peak_rss_kib(notes_server.child.id()),
        peak_rss_kib(bare_server.child.id()),
    );
    let (notes_anon, bare_anon) = (
        anon_rss_kib(notes_server.child.id()),
        anon_rss_kib(bare_server.child.id()),
    );
    memory_line("peak RSS", (notes_idle, bare_idle), (notes_peak, bare_peak));
    memory_line(
        "anonymous RSS",
        (notes_anon_idle, bare_anon_idle),
        (notes_anon, bare_anon),
    );
    drop((notes_server, bare_server));
    tracing_load(&notes, seconds, rounds);
}

/// The notes service at `LOG_LEVEL=info` (a span per request) with tracing off,
/// exporting every request (sampled at 100%) to a receiver on loopback, and with the
/// collector down (nothing listens at the endpoint): throughput and p99 of each,
/// alternating, and the ratios to tracing off.
fn tracing_load(notes: &Path, seconds: u64, rounds: usize) {
    let receiver = opskit_testkit::otlp::Receiver::start().unwrap();
    let up = receiver.endpoint();
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let info = ("LOG_LEVEL", "info");
    let sampled = ("OTEL_TRACES_SAMPLER", "always_on");
    let servers = [
        start_notes_with(notes, dirs[0].path(), &[info]),
        start_notes_with(
            notes,
            dirs[1].path(),
            &[info, sampled, ("OTEL_EXPORTER_OTLP_ENDPOINT", up.as_str())],
        ),
        start_notes_with(
            notes,
            dirs[2].path(),
            &[
                info,
                sampled,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", down.as_str()),
            ],
        ),
    ];
    for server in &servers {
        time_to_200(server, "/readyz");
    }
    println!();
    println!(
        "| round | tracing off req/s | p99 | exported req/s | p99 | collector down req/s | p99 | exported / off | down / off |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let (mut exported_ratios, mut down_ratios) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let mut order = [0, 1, 2];
        order.rotate_left(round % 3);
        let mut results = [(0.0, 0.0); 3];
        for i in order {
            results[i] = wrk(servers[i].address, seconds);
            if i == 1 {
                // The receiver decodes the exported spans in this process, on the
                // same CPUs: let it finish before the next server is measured.
                settle(&receiver);
            }
        }
        let [(off, off_p99), (exported, exported_p99), (down, down_p99)] = results;
        exported_ratios.push(exported / off);
        down_ratios.push(down / off);
        println!(
            "| {round} | {off:.0} | {off_p99:.2} ms | {exported:.0} | {exported_p99:.2} ms | {down:.0} | {down_p99:.2} ms | {:.3} | {:.3} |",
            exported / off,
            down / off
        );
    }
    exported_ratios.sort_by(f64::total_cmp);
    down_ratios.sort_by(f64::total_cmp);
    println!(
        "median of {rounds} rounds: exported / off {:.3}, collector down / off {:.3}; the receiver decoded {} spans",
        exported_ratios[rounds / 2],
        down_ratios[rounds / 2],
        receiver.spans().len()
    );
}

/// Waits until the receiver has taken no export for half a second (at most 30 s):
/// the exported server's full batches are in.
fn settle(receiver: &opskit_testkit::otlp::Receiver) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = receiver.exports();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = receiver.exports();
        if now == seen {
            return;
        }
        seen = now;
    }
}

/// One line of the memory report: (notes, bare) in KiB at idle and after the load.
fn memory_line(what: &str, idle: (u64, u64), loaded: (u64, u64)) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let part = |(notes, bare): (u64, u64)| {
        format!(
            "notes {:.1} MiB, bare {:.1} MiB (+{:.1})",
            mib(notes),
            mib(bare),
            mib(notes) - mib(bare)
        )
    };
    println!("{what} idle: {}; after load: {}", part(idle), part(loaded));
}
