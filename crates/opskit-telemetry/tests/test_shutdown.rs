//! The shutdown sequence on Tokio's paused clock.

use std::time::Duration;

use opskit_health::{Health, Probe, Status};
use opskit_telemetry::{GracefulShutdown, Signal};
use tokio::time::Instant;

/// A stand-in server: serves until told to stop accepting, then needs `finish` to
/// complete its in-flight work.
async fn server(
    stop_accepting: impl std::future::Future<Output = ()>,
    finish: Duration,
) -> &'static str {
    stop_accepting.await;
    tokio::time::sleep(finish).await;
    "server done"
}

#[tokio::test(start_paused = true)]
async fn drains_then_stops_accepting_then_lets_work_finish() {
    let health = Health::builder().build().unwrap();
    health.mark_started();
    let shutdown = GracefulShutdown::new(Duration::from_secs(5), Duration::from_secs(30))
        .health(health.clone());
    let start = Instant::now();
    let run = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            shutdown
                .run(server(shutdown.stop_accepting(), Duration::from_secs(3)))
                .await
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(health.status(Probe::Readiness), Status::Pass);
    shutdown.trigger();
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        health.status(Probe::Readiness),
        Status::Fail,
        "readiness fails at once"
    );
    assert_eq!(
        health.status(Probe::Liveness),
        Status::Pass,
        "liveness stays"
    );
    let outcome = run.await.unwrap();
    assert_eq!(outcome.signal, Some(Signal::Requested));
    assert_eq!(outcome.result, Some("server done"));
    assert!(!outcome.timed_out());
    assert_eq!(outcome.reason(), "requested: drained and stopped");
    // 1 s before the trigger, 5 s drain delay, 3 s of in-flight work.
    assert_eq!(start.elapsed().as_secs(), 9);
}

#[tokio::test(start_paused = true)]
async fn in_flight_work_past_the_timeout_is_cut_off() {
    let shutdown = GracefulShutdown::new(Duration::from_secs(1), Duration::from_secs(10));
    let start = Instant::now();
    shutdown.trigger();
    let outcome = shutdown
        .run(server(shutdown.stop_accepting(), Duration::from_secs(3600)))
        .await;
    assert!(outcome.timed_out());
    assert_eq!(outcome.result, None);
    assert_eq!(start.elapsed().as_secs(), 11);
    assert!(
        outcome
            .reason()
            .contains("did not finish within the shutdown timeout"),
        "{}",
        outcome.reason()
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_stops_by_itself_reports_no_signal() {
    let shutdown = GracefulShutdown::new(Duration::from_secs(1), Duration::from_secs(1));
    let outcome = shutdown.run(async { 7 }).await;
    assert_eq!((outcome.signal, outcome.result), (None, Some(7)));
    assert_eq!(outcome.reason(), "the server stopped on its own");
}
