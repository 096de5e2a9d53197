//! `/metrics` on an admin listener of its own.

use opskit_telemetry::{PROMETHEUS_TEXT, PrometheusMetrics};
use opskit_testkit::assert_contains;
use opskit_testkit::process::raw_get;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_metrics_and_nothing_else() {
    let metrics = PrometheusMetrics::install(&opskit_telemetry::build_info!()).unwrap();
    assert!(matches!(
        PrometheusMetrics::install(&opskit_telemetry::build_info!()),
        Err(opskit_telemetry::MetricsError::AlreadyInstalled)
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = metrics.clone();
    tokio::spawn(async move { server.serve(listener).await });

    let response = tokio::task::spawn_blocking(move || {
        (
            raw_get(address, "/metrics").unwrap(),
            raw_get(address, "/").unwrap(),
        )
    })
    .await
    .unwrap();
    let (metrics_page, other) = response;
    assert!(
        metrics_page.starts_with("HTTP/1.1 200 OK"),
        "{metrics_page}"
    );
    assert_contains(&metrics_page, format!("content-type: {PROMETHEUS_TEXT}"));
    assert_contains(&metrics_page, "# TYPE process_start_time_seconds gauge");
    assert_contains(&metrics_page, "opskit_telemetry_build_info{");
    assert!(other.starts_with("HTTP/1.1 404 Not Found"), "{other}");
    // No address-space limit reads -1, as Prometheus' own clients say it, never 0
    // ("no room at all").
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let unlimited = limits
        .lines()
        .any(|line| line.starts_with("Max address space") && line.contains("unlimited"));
    if unlimited {
        assert_contains(&metrics_page, "\nprocess_virtual_memory_max_bytes -1\n");
    }
}
