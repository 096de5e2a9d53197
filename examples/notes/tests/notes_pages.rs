//! Expensive requests in bulk: 50 clients at once each asking for a full page of
//! 60 KB notes. Each page is capped in bytes, only a few are built at once and the
//! rest are answered 503 with `Retry-After`, so the service's memory stays bounded
//! and its probes keep answering.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const TOKEN: &str = "pages-token-41c";
const NOTES: usize = 250;
const NOTE_BYTES: usize = 60 * 1024;
const CLIENTS: usize = 50;

/// One request on a new connection: the status, the head's lines and the body.
fn exchange(address: SocketAddr, request: &str) -> (u16, Vec<String>, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let lines: Vec<String> = head.lines().map(str::to_owned).collect();
    let status = lines[0][9..12].parse().unwrap();
    (status, lines, raw[split + 4..].to_vec())
}

/// The value of `name` among a response's head lines.
fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Stores `NOTES` notes of about `NOTE_BYTES` each.
fn store_large_notes(address: SocketAddr) {
    let body = "n".repeat(NOTE_BYTES - 200);
    for i in 0..NOTES {
        let json = format!(r#"{{"title":"large {i}","body":"{body}"}}"#);
        let (status, _, _) = exchange(
            address,
            &format!(
                "POST /notes HTTP/1.1\r\nhost: notes\r\nconnection: close\r\n\
                 authorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{json}",
                json.len()
            ),
        );
        assert_eq!(status, 201);
    }
}

/// A `/proc/PID/status` figure in KiB (`VmRSS`, `VmHWM`).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[test]
fn concurrent_full_pages_keep_memory_bounded_and_probes_answering() {
    let (_dir, service) = support::start_local(&[("NOTES_API_TOKEN", TOKEN)]);
    let address = service.address();
    let pid = service.pid();
    store_large_notes(address);
    let page = "GET /notes?limit=200 HTTP/1.1\r\nhost: notes\r\nconnection: close\r\n\r\n";
    // One page first: what a page holds, and the service warmed up.
    let (status, lines, body) = exchange(address, page);
    assert_eq!(status, 200);
    let notes: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
    assert!(
        !notes.is_empty() && notes.len() < 200,
        "a page of 60 KB notes is cut by size: {} notes",
        notes.len()
    );
    assert!(
        body.len() < 2 * 1024 * 1024,
        "a page holds about 512 KiB of notes, not {} bytes",
        body.len()
    );
    let last = notes.last().unwrap()["id"].as_i64().unwrap();
    assert_eq!(
        header(&lines, "link"),
        Some(format!("</notes?after={last}&limit=200>; rel=\"next\"").as_str()),
        "a page cut by size links to the rest"
    );

    let idle = memory_kib(pid, "VmRSS");
    // Resets VmHWM to the current RSS, so the peak below is the burst's.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();

    // Probes every 20 ms throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut probes = 0;
            while !stop.load(Ordering::SeqCst) {
                for path in ["/livez", "/readyz"] {
                    let start = Instant::now();
                    let (status, _, _) = exchange(
                        address,
                        &format!("GET {path} HTTP/1.1\r\nhost: notes\r\nconnection: close\r\n\r\n"),
                    );
                    assert_eq!(status, 200, "{path} failed during the burst");
                    slowest = slowest.max(start.elapsed());
                    probes += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (probes, slowest)
        })
    };
    let mut served = 0;
    let mut shed = 0;
    for round in 1..=3 {
        let start = Arc::new(Barrier::new(CLIENTS));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let start = start.clone();
                std::thread::spawn(move || {
                    start.wait();
                    exchange(address, page)
                })
            })
            .collect();
        for client in clients {
            let (status, lines, body) = client.join().unwrap();
            match status {
                200 => {
                    served += 1;
                    assert!(
                        body.len() < 2 * 1024 * 1024,
                        "round {round}: a page of {} bytes",
                        body.len()
                    );
                }
                503 => {
                    shed += 1;
                    assert_eq!(
                        header(&lines, "retry-after"),
                        Some("1"),
                        "round {round}: a 503 says when to retry"
                    );
                }
                other => panic!("round {round}: {other}: {}", String::from_utf8_lossy(&body)),
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (probes, slowest) = prober.join().unwrap();
    let peak = memory_kib(pid, "VmHWM");
    let growth_mib = peak.saturating_sub(idle) as f64 / 1024.0;
    println!(
        "pages: {served} served, {shed} answered 503 of {} requests; idle RSS {:.1} MiB, \
         peak {:.1} MiB ({growth_mib:.1} MiB above idle); {probes} probes answered, \
         slowest {slowest:?}",
        3 * CLIENTS,
        idle as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
    assert!(served > 0, "no page was served");
    assert!(
        growth_mib <= 64.0,
        "150 requests for full pages took the peak RSS {growth_mib:.1} MiB above idle; \
         the bound is 64 MiB"
    );
    service.stop();
}

/// 200 clients asking for full pages without pause (`PAGES_SECONDS`, 10 s by
/// default; 60 s for the figure in `docs/benchmarks.md`): readiness and startup
/// never fail. A check that is slow because the service is busy is not a failed
/// dependency, and a startup probe that has passed stays passed.
#[test]
fn readiness_and_startup_hold_under_200_concurrent_pages() {
    let seconds: u64 = std::env::var("PAGES_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let (_dir, service) = support::start_local(&[("NOTES_API_TOKEN", TOKEN)]);
    let address = service.address();
    store_large_notes(address);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut statuses = [0usize; 2];
                while !stop.load(Ordering::SeqCst) {
                    let (status, _, _) = exchange(
                        address,
                        "GET /notes?limit=200 HTTP/1.1\r\nhost: notes\r\nconnection: close\r\n\r\n",
                    );
                    match status {
                        200 => statuses[0] += 1,
                        503 => statuses[1] += 1,
                        other => panic!("a page answered {other}"),
                    }
                }
                statuses
            })
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut probes = 0;
    let mut failed = Vec::new();
    while Instant::now() < until {
        for path in ["/readyz", "/startupz"] {
            let (status, _, body) = exchange(
                address,
                &format!("GET {path} HTTP/1.1\r\nhost: notes\r\nconnection: close\r\n\r\n"),
            );
            probes += 1;
            if status != 200 {
                failed.push(format!(
                    "{path}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::SeqCst);
    let mut totals = [0usize; 2];
    for client in clients {
        let statuses = client.join().unwrap();
        totals[0] += statuses[0];
        totals[1] += statuses[1];
    }
    println!(
        "{seconds} s of 200 page clients: {} pages served, {} answered 503; {probes} probes, {} failed",
        totals[0],
        totals[1],
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "probes failed under load:\n{}",
        failed.join("\n")
    );
    assert!(totals[0] > 0, "no page was served");
    let (lines, _) = service.stop();
    // Check events carry a `check` field; probe events (readiness failing at
    // SIGTERM, as it should) a `probe` field.
    let check_failures: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.contains("\"event\":\"health.changed\"")
                && l.contains("\"check\":")
                && l.contains("\"to\":\"fail\"")
        })
        .collect();
    assert!(
        check_failures.is_empty(),
        "a check failed under load: {check_failures:?}"
    );
}
