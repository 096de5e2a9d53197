//! What answers besides the application: the probes and `/metrics`, before the
//! application's layers, `/metrics` on a port of its own when asked (which a
//! network policy can open to the scraper alone).

use std::net::SocketAddr;
use std::process::ExitCode;

use opskit::health::Health;
use opskit::telemetry::exit;
use opskit::telemetry::metrics::PrometheusMetrics;
use opskit::telemetry::serving::Lifecycle;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

use crate::settings::Settings;

/// Serves `app` with the probes and `/metrics` answering first, outside its layers
/// (`/metrics` on `NOTES_METRICS_LISTEN` when set): binds `NOTES_LISTEN`, is ready
/// after the first checks, drains on SIGTERM, and logs `service.stopped` last.
pub async fn serve(
    app: axum::Router,
    metrics: &PrometheusMetrics,
    health: &Health,
    settings: &Settings,
    lifecycle: &Lifecycle,
) -> ExitCode {
    let metrics_here = serve_metrics(metrics, settings.metrics_listen, lifecycle).await;
    let service = ServiceBuilder::new()
        .layer(metrics.layer_if(metrics_here))
        .layer(health.layer())
        .service(app);
    opskit::telemetry::serve(lifecycle, health, &settings.http, settings.listen, service).await
}

/// With `address` (`NOTES_METRICS_LISTEN`): binds it (exit 71 when it cannot), says
/// so (`service.listening`, listener `metrics`), serves `GET /metrics` there until
/// the process ends, and returns `false`: the application's port must not serve it.
/// Without: `true`, /metrics is on the application's port.
async fn serve_metrics(
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
