//! Run with `cargo run -p example-minimal`.
//!
//! A small service on plain hyper and tower, without axum: every opskit layer works
//! with any tower stack. It wires the pieces in the order a service should:
//! logging, configuration (fail-fast), `service.starting`, metrics, health, the
//! listener, readiness, and graceful shutdown on SIGTERM.
//!
//! Routes: `GET /` answers `hello`; `GET /slow?ms=N` answers after N milliseconds
//! (to watch a drain); `/livez`, `/readyz`, `/startupz`, `/metrics`.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use opskit::config::Config;
use opskit::health::{CheckOptions, Health, HealthSettings, Outcome, Probe};
use opskit::secret::SecretString;
use opskit::telemetry::exit;
use opskit::telemetry::metrics::{HttpMetricsLayer, PrometheusMetrics};
use opskit::telemetry::serving::{GracefulShutdown, Lifecycle};
use tower::{ServiceBuilder, service_fn};

/// Settings of the minimal service.
#[derive(Config)]
#[config(prefix = "APP_")]
struct Settings {
    /// Address to listen on (port 0 picks a free port; the log says which).
    #[config(default = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Time between failing readiness and refusing new connections on shutdown.
    #[config(default = "5s")]
    drain_delay: Duration,
    /// Longest in-flight requests may run after new connections are refused.
    #[config(default = "30s")]
    shutdown_timeout: Duration,
    /// Token for privileged requests (unused here; shows that secrets stay out of logs).
    #[allow(dead_code)]
    api_token: Option<SecretString>,
    /// Health endpoints.
    #[config(nested)]
    health: HealthSettings,
}

async fn app(request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = match request.uri().path() {
        "/" => Response::new(Full::new(Bytes::from_static(b"hello\n"))),
        "/slow" => {
            let ms = request
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("ms="))
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(1000u64)
                .min(60_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Response::new(Full::new(Bytes::from_static(b"slow done\n")))
        }
        _ => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    Ok(response)
}

/// Route labels for the metrics: the known paths, everything else `unmatched`.
fn route(_method: &http::Method, uri: &http::Uri) -> Cow<'static, str> {
    Cow::Borrowed(match uri.path() {
        "/" => "/",
        "/slow" => "/slow",
        _ => opskit::telemetry::metrics::UNMATCHED_ROUTE,
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Logging first: a configuration failure below is logged, not only printed.
    opskit::telemetry::logs::init_or_exit();
    let settings = Settings::from_env_or_exit();
    let info = opskit::telemetry::build_info!();
    let lifecycle = Lifecycle::starting(info, Some(settings.summary()));

    let metrics = match PrometheusMetrics::install(&info) {
        Ok(metrics) => metrics,
        Err(err) => {
            tracing::error!(event = "service.metrics_unavailable", error = %err, "{err}");
            lifecycle.exit(&err.to_string(), exit::SOFTWARE);
        }
    };
    let health = Health::builder()
        .service_id(info.name)
        .version(info.version)
        .release_id(info.release_id())
        .settings(&settings.health)
        .check(
            "event-loop",
            || async { Outcome::pass() },
            CheckOptions::new()
                .probes([Probe::Liveness, Probe::Readiness])
                .interval(Duration::from_secs(5)),
        )
        .build()
        .unwrap_or_else(|err| lifecycle.exit(&err.to_string(), exit::SOFTWARE));

    let service = ServiceBuilder::new()
        .layer(metrics.layer())
        .layer(health.layer())
        .layer(HttpMetricsLayer::new().route_fn(route))
        .service(service_fn(app));

    let listener = match tokio::net::TcpListener::bind(settings.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            let reason = format!("cannot listen on {}: {err}", settings.listen);
            tracing::error!(event = "service.bind_failed", address = %settings.listen, error = %err, "{reason}");
            lifecycle.exit(&reason, exit::OS_ERROR);
        }
    };
    lifecycle.listening("http", listener.local_addr()?);

    let shutdown = GracefulShutdown::new(settings.drain_delay, settings.shutdown_timeout)
        .health(health.clone())
        .lifecycle(lifecycle.clone());
    let stop_accepting = shutdown.stop_accepting();
    let server = async move {
        let connections = hyper_util::server::graceful::GracefulShutdown::new();
        let mut stop_accepting = std::pin::pin!(stop_accepting);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service.clone()));
                    tokio::spawn(connections.watch(connection));
                }
                () = &mut stop_accepting => break,
            }
        }
        drop(listener);
        // Each connection finishes the request it is serving, then closes.
        connections.shutdown().await;
    };

    health.mark_started();
    // "ready" in the log means /readyz can pass: every check has run once.
    health.wait_until_checked(Duration::from_secs(10)).await;
    lifecycle.ready();
    let outcome = shutdown.run(server).await;
    lifecycle.stopped(&outcome.reason(), 0);
    Ok(())
}
