//! Logging, build info, lifecycle events, Prometheus metrics and graceful shutdown:
//! what every service needs around its business logic, with names and fields that
//! stay stable so dashboards and log queries can rely on them.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use opskit_telemetry::metrics::{HttpMetricsLayer, PrometheusMetrics};
//! use opskit_telemetry::serving::{GracefulShutdown, Lifecycle};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // 1. Logging first, so that everything after it, a config failure included, is logged.
//!     opskit_telemetry::logs::init_or_exit();
//!     // 2. Configuration (opskit-config), then who we are.
//!     let info = opskit_telemetry::build_info!();
//!     let lifecycle = Lifecycle::starting(info, None);
//!     let metrics = PrometheusMetrics::install(&info)?;
//!     let health = opskit_health::Health::builder()
//!         .version(info.version)
//!         .release_id(info.release_id())
//!         .build()?;
//!
//!     let app = Router::new()
//!         .route("/notes/{id}", get(|| async { "note" }))
//!         .layer(HttpMetricsLayer::new())
//!         .layer(health.layer())
//!         .layer(metrics.layer());
//!
//!     let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//!     lifecycle.listening("http", listener.local_addr()?);
//!     let shutdown = GracefulShutdown::new(Duration::from_secs(5), Duration::from_secs(30))
//!         .health(health.clone())
//!         .lifecycle(lifecycle.clone());
//!     let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.stop_accepting());
//!     health.mark_started();
//!     lifecycle.ready();
//!     let outcome = shutdown.run(server.into_future()).await;
//!     lifecycle.stopped(&outcome.reason(), 0);
//!     Ok(())
//! }
//! ```
//!
//! The same order in a few lines: [`start`] (logging, settings, `service.starting`,
//! metrics) and, with the `health` feature, [`serving::serve`] (bind, ready after the first
//! checks, drain on SIGTERM, `service.stopped`, the exit code), as the notes example
//! and the workspace README's axum guide do. Every step above stays usable alone.
//!
//! Each `Router::layer` puts one more boxed service on every request. The request
//! metrics need the matched route and belong there; the health and `/metrics`
//! endpoints do not, and a busy service can wrap the whole router with them instead
//! (as the notes example does; see `opskit_health`'s crate docs).
//!
//! # Modules
//!
//! | module | what it holds |
//! |---|---|
//! | [`logs`] | logging init (JSON off a terminal), the log filter, the log line format, secret redaction, panic events; the list of log events |
//! | [`metrics`] | Prometheus exposition (`/metrics`), request metrics, build info and process metrics; the list of metrics |
//! | [`traces`] | a span and a request id per request, the ids on every log line; with `otel`, OpenTelemetry traces |
//! | [`serving`] | [`start`], the lifecycle events, graceful shutdown, and with `health`, `serve` |
//! | [`exit`] | the exit-code table every opskit crate and service shares |
//!
//! The build identity ([`BuildInfo`], [`build_info!`]) sits at the top: logs,
//! metrics, traces and health responses all report it. [`start`] and `serve`, the
//! two calls a service's `main` makes, are at the root too. The items of each module
//! are also reachable at the crate root, as before the modules existed (hidden
//! from these docs; see the changelog).
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `health` | [`GracefulShutdown::health`](serving::GracefulShutdown::health) drains an opskit-health registry | no |
//! | `axum` | route labels from axum's `MatchedPath` | no |
//! | `otel` | OpenTelemetry traces over OTLP/HTTP from the `OTEL_*` variables (`traces::OtelSettings`, `traces::tracing_layer`) | no |

// Feature badges on docs.rs, whose nightly rustdoc has `doc_cfg`; a stable build
// with `--cfg docsrs` still works, and each gated item says its feature in words.
#![cfg_attr(opskit_doc_cfg, feature(doc_cfg))]

mod build_info;
/// Exit codes, from `sysexits.h`: the one opskit table ([`opskit_exit`]).
pub use opskit_exit as exit;
pub mod logs;
pub mod metrics;
mod route;
pub mod serving;
pub mod traces;

pub use build_info::BuildInfo;
#[cfg(feature = "health")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "health")))]
pub use serving::{HttpService, HttpSettings, serve};
pub use serving::{Started, start};

// What `build_info!`'s expansion calls.
#[doc(hidden)]
pub use build_info::__first_set;

// The crate root's paths from before the modules: kept, out of the docs.
#[doc(hidden)]
pub use logs::*;
#[doc(hidden)]
pub use metrics::{
    HTTP_DURATION_BUCKETS, HttpMetrics, HttpMetricsFuture, HttpMetricsLayer, MetricsBody,
    MetricsEndpoint, MetricsEndpointLayer, MetricsError, MetricsFuture, PROMETHEUS_TEXT,
    PrometheusMetrics, UNMATCHED_ROUTE, process,
};
#[doc(hidden)]
pub use serving::{GracefulShutdown, Lifecycle, ShutdownOutcome, Signal, shutdown_signal};
#[cfg(feature = "otel")]
#[doc(hidden)]
pub use traces::{
    OtelError, OtelSettings, SamplerName, TracesExporter, inject_trace_context, tracing_layer,
};
#[doc(hidden)]
pub use traces::{
    REQUEST_ID_HEADER, RequestId, RequestLog, RequestTracing, RequestTracingFuture,
    RequestTracingLayer,
};

/// The crate README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
