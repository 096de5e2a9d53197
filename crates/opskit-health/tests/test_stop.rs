//! A stopped registry runs no check and logs nothing: the service's last line stays
//! its last.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use opskit_health::{CheckOptions, Outcome};
use opskit_testkit::CapturedLogs;

#[tokio::test(start_paused = true)]
async fn after_stop_no_check_runs_and_no_event_is_logged() {
    let captured = CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(captured.json_subscriber());

    // The first run passes at once; every later one takes 300 ms and fails.
    let (check, runs) = common::counted(|n| async move {
        if n == 0 {
            return Outcome::pass();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Outcome::fail("database refused the connection")
    });
    let options = CheckOptions::new()
        .interval(Duration::from_millis(100))
        .failure_threshold(1);
    let health = common::started("database", check, options);
    // The second run is under way (until 400 ms) when the service stops.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    health.stop();
    tracing::info!(event = "service.stopped");
    health.drain();
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(runs.load(Ordering::SeqCst), 2, "no check ran after stop");
    let events: Vec<String> = captured
        .text()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|e| e["fields"]["event"].as_str().map(str::to_owned))
        .collect();
    assert!(
        events.iter().any(|e| e == "health.changed"),
        "the first run's change is logged: {events:?}"
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("service.stopped"),
        "nothing of the registry after it: {events:?}"
    );
}
