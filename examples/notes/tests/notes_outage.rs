//! PostgreSQL going away and coming back, through a forwarder the test cuts: down
//! at start, the service is alive and not ready, and ready without a restart when
//! the database returns; down under load, requests fail fast with 503 and
//! `Retry-After`, the process stays up, and it is ready again within seconds.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opskit_testkit::outage::Outage;
use support::postgres;
use support::process::{Service, exchange, get};

const TOKEN: &str = "t0ken-for-the-outage";

/// Polls `/readyz` until it answers `status`; how long that took.
fn until_ready_is(address: SocketAddr, status: u16, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let (now, body) = get(address, "/readyz").unwrap();
        if now == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "/readyz still {now} after {within:?}, expected {status}: {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_database_away_at_start_and_under_load_costs_readiness_never_the_process() {
    let Some(pg) = postgres::database() else {
        return;
    };
    let target: SocketAddr = pg.host.parse().unwrap();
    let mut outage = Outage::new(target).unwrap();
    let url = pg.url.replace(&pg.host, &outage.address().to_string());
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start_listening(
        &support::notes(),
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATABASE_URL", url.as_str()),
            ("NOTES_API_TOKEN", TOKEN),
            ("NOTES_DATABASE_ACQUIRE_TIMEOUT", "1s"),
            ("NOTES_DRAIN_DELAY", "0s"),
        ],
    );
    let address = service.address();

    // 1. Down at start: alive, not ready, retrying.
    service.wait_for("notes.database_waiting");
    assert_eq!(get(address, "/livez").unwrap().0, 200);
    assert_eq!(get(address, "/readyz").unwrap().0, 503);
    std::thread::sleep(Duration::from_secs(3));
    outage.up().unwrap();
    let back = until_ready_is(address, 200, Duration::from_secs(10));
    assert!(
        back < Duration::from_secs(5),
        "ready {back:?} after the database came up"
    );
    service.wait_for("service.ready");

    // 2. Down under load: four writers for the whole outage.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let start = Instant::now();
                    let response = exchange(
                        address,
                        "POST",
                        "/notes",
                        &[
                            ("authorization", &format!("Bearer {TOKEN}")),
                            ("content-type", "application/json"),
                        ],
                        &format!(r#"{{"title":"w{i}","body":"through the outage"}}"#),
                    )
                    .unwrap();
                    let retry_after = response.header("retry-after").map(str::to_owned);
                    answers.push((response.status, response.body, start.elapsed(), retry_after));
                }
                answers
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    outage.down();
    let cut = Instant::now();
    let unready = until_ready_is(address, 503, Duration::from_secs(15));
    // OUTAGE_SECONDS sets how long the database stays away (docs/benchmarks.md
    // records a 30 s run).
    let away = std::env::var("OUTAGE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(6), Duration::from_secs);
    std::thread::sleep(away.saturating_sub(cut.elapsed()));
    outage.up().unwrap();
    let back = until_ready_is(address, 200, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::SeqCst);
    let answers: Vec<_> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();

    assert!(
        back < Duration::from_secs(5),
        "ready {back:?} after the database returned"
    );
    assert!(
        unready < Duration::from_secs(10),
        "readiness failed {unready:?} into the outage"
    );
    let slowest = answers.iter().map(|(_, _, took, _)| *took).max().unwrap();
    // Bounded by the acquire timeout (1 s), never by the outage: a request that
    // waited for the database to return would take the whole outage.
    assert!(
        slowest < away,
        "a request waited {slowest:?}, as long as the {away:?} outage; the acquire timeout is 1 s"
    );
    let created = answers.iter().filter(|(status, ..)| *status == 201).count();
    let unavailable: Vec<_> = answers
        .iter()
        .filter(|(status, ..)| *status == 503)
        .collect();
    let other: Vec<_> = answers
        .iter()
        .filter(|(status, ..)| ![201, 503].contains(status))
        .collect();
    assert!(
        created > 0 && !unavailable.is_empty(),
        "{created} created, {} unavailable",
        unavailable.len()
    );
    assert!(
        unavailable[0].1.contains("retry shortly"),
        "{}",
        unavailable[0].1
    );
    // Every 503 tells the client when to come back.
    for (_, body, _, retry_after) in &unavailable {
        assert_eq!(
            retry_after.as_deref(),
            Some("1"),
            "a 503 without Retry-After: 1: {body}"
        );
    }
    println!(
        "outage of {away:?}: {} requests, {created} created, {} answered 503, slowest {slowest:?}, \
         unready after {unready:?}, ready {back:?} after the return",
        answers.len(),
        unavailable.len()
    );

    let mut service = service;
    assert!(service.is_running(), "the process never restarted");
    service.terminate();
    let (code, _, stderr) = service.finish();
    let database_errors: Vec<_> = stderr
        .lines()
        .filter(|line| line.contains("notes.database_error"))
        .collect();
    assert!(
        other.is_empty(),
        "only 201 or 503: {other:?}\nwhat the service logged:\n{}",
        database_errors.join("\n")
    );
    assert_eq!(code, 0, "{stderr}");
}
