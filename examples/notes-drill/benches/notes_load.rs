//! The notes service against a bare axum router serving the same database-free
//! handler (this package's `src/bin/bare-hello.rs`), both built with the production profile (as
//! the container image is) and run on loopback:
//!
//! - throughput and p99 of `GET /hello` under `wrk -t1 -c32` (the notes binary with
//!   its default settings runs every opskit layer: a span per request, request
//!   metrics, health, /metrics), alternating, five rounds (`LOAD_ROUNDS`);
//! - time from process start to the first 200 (`/readyz` for notes, on SQLite,
//!   `/hello` for the bare router), median of 7 starts, each server started both
//!   unpinned (as a deploy starts it) and pinned to the CPU it is loaded on; and
//!   where an unpinned notes start spends its time, from the timestamps of its own
//!   log lines (`service.starting`, the migrations, `service.listening`, the first
//!   health checks, readiness);
//! - peak resident memory (VmHWM) at idle and after the load, and at idle for a
//!   second notes process started on the file the first migrated;
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opskit_testkit::process::spawn_reading_first_line;

struct Server {
    child: Child,
    address: SocketAddr,
    started: Instant,
    /// When the process was spawned, on the clock its log lines' timestamps use.
    spawned_at: SystemTime,
    /// Its log lines up to `service.ready` (notes only).
    lines: Arc<Mutex<Vec<String>>>,
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
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Server,
    Wrk,
    /// A server left to the scheduler, on every CPU allowed: how a deploy starts
    /// it (a container's CPU limit is a quota, not a CPU of its own).
    Unpinned,
}

/// The command for a process pinned to a CPU of its own when two or more are
/// allowed (servers on one, wrk on another: the two then compete for nothing, and
/// the rounds vary far less), else unpinned.
fn pinned(role: Role, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let cpus = allowed_cpus();
    let taskset = Command::new("taskset").arg("-V").output().is_ok();
    if cpus.len() >= 2 && taskset && role != Role::Unpinned {
        let cpu = match role {
            Role::Wrk => cpus[0],
            Role::Server | Role::Unpinned => cpus[1],
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
fn start_notes(binary: &Path, dir: &Path, role: Role) -> Server {
    start_notes_with(binary, dir, &[], role)
}

/// The notes service with `env` added (at `LOG_LEVEL=info`, each request's span is
/// on; at `warn`, off).
fn start_notes_with(binary: &Path, dir: &Path, env: &[(&str, &str)], role: Role) -> Server {
    let spawned_at = SystemTime::now();
    let started = Instant::now();
    let mut child = pinned(role, binary)
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
    // The address comes from the `service.listening` line, read as it is written:
    // looking for the socket in /proc every few milliseconds added up to that
    // interval, and the scans' CPU, to every start measured.
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = lines.clone();
    let (listening, address) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut keep = true;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(r#""event":"service.listening""#)
                && let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(Ok(address)) = value["address"].as_str().map(str::parse)
            {
                let _ = listening.send(address);
            }
            if keep {
                keep = !line.contains(r#""event":"service.ready""#);
                kept.lock().unwrap().push(line);
            }
        }
    });
    let address: SocketAddr = address
        .recv_timeout(Duration::from_secs(30))
        .expect("the service did not listen");
    Server {
        child,
        address,
        started,
        spawned_at,
        lines,
    }
}

fn start_bare(binary: &Path, role: Role) -> Server {
    let spawned_at = SystemTime::now();
    let started = Instant::now();
    let (child, line) =
        spawn_reading_first_line(&mut pinned(role, binary), &[("BARE_LISTEN", "127.0.0.1:0")]);
    Server {
        child,
        address: line.parse().unwrap(),
        started,
        spawned_at,
        lines: Arc::default(),
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

/// Time from process start to the first 200 on `path`, asking every 100 µs (a
/// refused connection or a 503 costs the server microseconds; a coarser poll adds
/// up to its interval to every start).
fn time_to_200(server: &Server, path: &str) -> Duration {
    loop {
        if status(server.address, path) == Some(200) {
            return server.started.elapsed();
        }
        std::thread::sleep(Duration::from_micros(100));
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
    opskit_testkit::load::wrk(
        pinned(Role::Wrk, "wrk"),
        &format!("http://{address}/hello"),
        seconds,
    )
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let seconds: u64 = support::env_or("LOAD_SECONDS", 10);
    let notes = support::build("example-notes", "notes", "production", "");
    let bare = support::build("notes-drill", "bare-hello", "production", "");

    start_times(&notes, &bare);

    let dir = tempfile::tempdir().unwrap();
    let notes_server = start_notes(&notes, dir.path(), Role::Server);
    time_to_200(&notes_server, "/readyz");
    let bare_server = start_bare(&bare, Role::Server);
    time_to_200(&bare_server, "/hello");
    std::thread::sleep(Duration::from_millis(500));
    let (peak_idle, anon_idle) = memory(&notes_server, &bare_server);

    let rounds: usize = support::env_or("LOAD_ROUNDS", 5);
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
    let (peak_loaded, anon_loaded) = memory(&notes_server, &bare_server);
    memory_line("peak RSS", peak_idle, peak_loaded);
    memory_line("anonymous RSS", anon_idle, anon_loaded);
    restart_memory(&notes, dir.path(), peak_idle.1);
    drop((notes_server, bare_server));
    tracing_load(&notes, seconds, rounds);
}

/// Peak RSS at idle of a notes process started on the database file another has
/// migrated: what every replica but the first of a rolling deploy starts as (the
/// guard lints only migrations the database has not applied).
fn restart_memory(notes: &Path, dir: &Path, bare_idle: u64) {
    let restarted = start_notes(notes, dir, Role::Server);
    time_to_200(&restarted, "/readyz");
    std::thread::sleep(Duration::from_millis(500));
    let idle = peak_rss_kib(restarted.child.id());
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "peak RSS idle, started on a migrated file: notes {:.1} MiB, bare {:.1} MiB (+{:.1})",
        mib(idle),
        mib(bare_idle),
        mib(idle) - mib(bare_idle)
    );
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
        start_notes_with(notes, dirs[0].path(), &[info], Role::Server),
        start_notes_with(
            notes,
            dirs[1].path(),
            &[info, sampled, ("OTEL_EXPORTER_OTLP_ENDPOINT", up.as_str())],
            Role::Server,
        ),
        start_notes_with(
            notes,
            dirs[2].path(),
            &[
                info,
                sampled,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", down.as_str()),
            ],
            Role::Server,
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

/// Start to the first 200, median of 7 starts of each server unpinned and pinned
/// (the order turned each time, a fresh database directory for every notes start),
/// and the phases of the notes starts from their log lines.
fn start_times(notes: &Path, bare: &Path) {
    const STARTS: usize = 7;
    let kinds = [
        ("notes", Role::Unpinned),
        ("notes", Role::Server),
        ("bare", Role::Unpinned),
        ("bare", Role::Server),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); kinds.len()];
    // The phases of the unpinned starts, then of the pinned.
    let mut phases: [Vec<Vec<(&'static str, f64)>>; 2] = [Vec::new(), Vec::new()];
    for start in 0..STARTS {
        let mut order: Vec<usize> = (0..kinds.len()).collect();
        order.rotate_left(start % kinds.len());
        for i in order {
            let (which, role) = kinds[i];
            if which == "notes" {
                let dir = tempfile::tempdir().unwrap();
                let server = start_notes(notes, dir.path(), role);
                let first_200 = time_to_200(&server, "/readyz");
                times[i].push(first_200);
                phases[usize::from(role != Role::Unpinned)].push(start_phases(&server, first_200));
            } else {
                let server = start_bare(bare, role);
                times[i].push(time_to_200(&server, "/hello"));
            }
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let medians: Vec<f64> = times.into_iter().map(|t| ms(median(t))).collect();
    println!(
        "start to first 200, median of {STARTS}: notes {:.1} ms unpinned, {:.1} ms pinned (/readyz, SQLite, migrations applied); bare {:.1} ms unpinned, {:.1} ms pinned; notes / bare unpinned {:.1}",
        medians[0],
        medians[1],
        medians[2],
        medians[3],
        medians[0] / medians[2]
    );
    println!();
    println!(
        "| notes start, ms after spawn (median of {STARTS}) | unpinned: at | phase | pinned: at | phase |"
    );
    println!("|---|---|---|---|---|");
    let mut previous = [0.0, 0.0];
    for (k, (mark, _)) in phases[0][0].iter().enumerate() {
        let mut row = format!("| {mark} |");
        for (pinning, starts) in phases.iter().enumerate() {
            let mut at: Vec<f64> = starts.iter().map(|p| p[k].1).collect();
            at.sort_by(f64::total_cmp);
            let at = at[at.len() / 2];
            row.push_str(&format!(" {at:.1} | {:.1} |", at - previous[pinning]));
            previous[pinning] = at;
        }
        println!("{row}");
    }
    println!();
}

/// The moments of a notes start, in ms after its spawn: from its log lines'
/// timestamps, and the first 200 its client saw.
fn start_phases(server: &Server, first_200: Duration) -> Vec<(&'static str, f64)> {
    // Wait for `service.ready`, the last line kept.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && !server
            .lines
            .lock()
            .unwrap()
            .last()
            .is_some_and(|l| l.contains(r#""event":"service.ready""#))
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    let spawned = server
        .spawned_at
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        % 86_400.0;
    let lines = server.lines.lock().unwrap();
    let events: Vec<(String, String, f64)> = lines
        .iter()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let at = seconds_of_day(value["timestamp"].as_str()?)?;
            let event = value["event"].as_str()?.to_owned();
            let detail = [&value["version"], &value["check"], &value["probe"]]
                .iter()
                .find_map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or(v.as_u64().map(|n| n.to_string()))
                })
                .unwrap_or_default();
            Some((event, detail, (at - spawned) * 1000.0))
        })
        .collect();
    let at = |event: &str, detail: Option<&str>| {
        events
            .iter()
            .find(|(e, d, _)| e == event && detail.is_none_or(|x| x == d))
            .map_or(f64::NAN, |(.., at)| *at)
    };
    let last_migrated = events
        .iter()
        .rev()
        .find(|(e, ..)| e == "schema.migrated")
        .map_or(f64::NAN, |(.., at)| *at);
    vec![
        (
            "`service.starting`: exec, loading, runtime, logging, settings",
            at("service.starting", None),
        ),
        (
            "first `schema.migrated`: recorder, SQLite file, pools, guard, migration 1",
            at("schema.migrated", None),
        ),
        (
            "last `schema.migrated`: the other migrations",
            last_migrated,
        ),
        (
            "`service.listening`: routes, bind",
            at("service.listening", None),
        ),
        (
            "readiness passes: the first round of health checks",
            at("health.changed", Some("readiness")),
        ),
        (
            "the client's first 200 on `/readyz`",
            first_200.as_secs_f64() * 1000.0,
        ),
    ]
}

/// Seconds since midnight (UTC) of an RFC 3339 timestamp such as
/// `2026-12-03T13:53:02.045628Z`.
fn seconds_of_day(timestamp: &str) -> Option<f64> {
    let time = timestamp.split_once('T')?.1.strip_suffix('Z')?;
    let mut parts = time.splitn(3, ':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    Some(hours * 3600.0 + minutes * 60.0 + seconds)
}

/// One line of the memory report: (notes, bare) in KiB at idle and after the load.
/// Peak and anonymous RSS in KiB, each as (notes, bare).
fn memory(notes: &Server, bare: &Server) -> ((u64, u64), (u64, u64)) {
    let (notes, bare) = (notes.child.id(), bare.child.id());
    (
        (peak_rss_kib(notes), peak_rss_kib(bare)),
        (anon_rss_kib(notes), anon_rss_kib(bare)),
    )
}

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
