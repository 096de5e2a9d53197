//! `/metrics` on a port of its own, which a network policy can open to the scraper
//! alone.

use std::net::SocketAddr;

use opskit::telemetry::exit;
use opskit::telemetry::metrics::PrometheusMetrics;
use opskit::telemetry::serving::Lifecycle;
use tokio::net::TcpListener;

/// With `address` (`NOTES_METRICS_LISTEN`): binds it (exit 71 when it cannot), says
/// so (`service.listening`, listener `metrics`), serves `GET /metrics` there until
/// the process ends, and returns `false`: the application's port must not serve it.
/// Without: `true`, /metrics is on the application's port.
pub async fn serve_metrics(
    metrics: &PrometheusMetrics,
    address: Option<SocketAddr>,
    lifecycle: &Lifecycle,
) -> bool {
    let Some(address) = address else {
        return true;
    };
    let listener = match TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(err) => lifecycle.exit(
            &format!("cannot listen on {address} for /metrics (NOTES_METRICS_LISTEN): {err}"),
            exit::OS_ERROR,
        ),
    };
    if let Ok(bound) = listener.local_addr() {
        lifecycle.listening("metrics", bound);
    }
    let metrics = metrics.clone();
    tokio::spawn(async move {
        if let Err(err) = metrics.serve(listener).await {
            tracing::error!(
                event = "notes.metrics_listener_failed",
                error = %err,
                "the /metrics listener stopped: {err}; the service goes on without it"
            );
        }
    });
    false
}
