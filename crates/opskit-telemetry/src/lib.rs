//! Logging, build info, lifecycle events, Prometheus metrics and graceful shutdown:
//! what every service needs around its business logic, with names and fields that
//! stay stable so dashboards and log queries can rely on them.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use opskit_telemetry::{GracefulShutdown, HttpMetricsLayer, Lifecycle, PrometheusMetrics};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // 1. Logging first, so that everything after it, a config failure included, is logged.
//!     opskit_telemetry::init_or_exit();
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
//! metrics) and, with the `health` feature, `serve` (bind, ready after the first
//! checks, drain on SIGTERM, `service.stopped`, the exit code), as the notes example
//! and the workspace README's axum guide do. Every step above stays usable alone.
//!
//! Each `Router::layer` puts one more boxed service on every request. The request
//! metrics need the matched route and belong there; the health and `/metrics`
//! endpoints do not, and a busy service can wrap the whole router with them instead
//! (as the notes example does; see `opskit_health`'s crate docs).
//!
//! # Log events
//!
//! [`init`] writes JSON lines to stdout when stdout is not a terminal (or when
//! `LOG_FORMAT=json`): `timestamp` (RFC 3339, UTC), `level`, `target`, `message`,
//! the event's fields at the top level (among them `event`, the stable name), and the
//! span context (`span`, `spans`). `LOG_LEVEL` sets the level; `RUST_LOG` (filter
//! directives) wins over it. Inside a request traced by [`RequestTracingLayer`], a
//! line starts with `request_id` (and, with the `otel` feature, `trace_id` and
//! `span_id`). [`filter`] and [`format_layer`] are the layers [`init`] stacks;
//! [`init_with_layer`] adds one of your own under the same filter.
//!
//! | event | level | fields |
//! |---|---|---|
//! | `service.starting` | INFO | `service`, `version`, `commit`, `dirty`, `profile`, `target`, `rustc_version`, `pid`, `config` (the redacted configuration summary, JSON) |
//! | `service.listening` | INFO | `listener`, `address` (as bound) |
//! | `service.ready` | INFO | `startup_ms` (since the process started) |
//! | `service.draining` | INFO | `signal`, `drain_delay_ms` |
//! | `service.stopped` | INFO, ERROR when `exit_code` ≠ 0 | `uptime_s`, `reason`, `exit_code` |
//! | `service.panic` | ERROR | `panic_message`, `location` (`file:line:column`), `thread` |
//! | `http.request` | INFO, WARN for 5xx ([`RequestLog`]: 5xx only by default) | `http_request_method`, `http_route`, `http_response_status_code`, `http_server_request_duration_seconds` |
//! | `otel.flush_failed` | WARN | (feature `otel`) at shutdown: queued spans not exported within the timeout, or spans the collector did not take (refused, unreachable) since the start, and request traces not started while exports failed |
//!
//! # Metrics
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_server_request_duration_seconds` | histogram ([`HTTP_DURATION_BUCKETS`]) | `http_request_method`, `http_route` (template), `http_response_status_code` |
//! | `http_server_active_requests` | gauge | `http_request_method` |
//! | `<package>_build_info` | gauge, always 1 | `version`, `revision`, `profile`, `rustc_version` |
//! | `process_start_time_seconds` | gauge | |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_threads` | counter, gauges (read at each scrape by `metrics-process`) | |
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `health` | [`GracefulShutdown::health`] drains an opskit-health registry | no |
//! | `axum` | route labels from axum's `MatchedPath` | no |
//! | `otel` | OpenTelemetry traces over OTLP/HTTP from the `OTEL_*` variables ([`OtelSettings`], [`tracing_layer`]) | no |

// Feature badges on docs.rs, whose nightly rustdoc has `doc_cfg`; a stable build
// with `--cfg docsrs` still works, and each gated item says its feature in words.
#![cfg_attr(opskit_doc_cfg, feature(doc_cfg))]

mod build_info;
/// Exit codes, from `sysexits.h`: the one opskit table ([`opskit_exit`]).
pub use opskit_exit as exit;
#[cfg(feature = "health")]
mod connections;
mod correlate;
mod fields;
mod http_metrics;
mod lifecycle;
mod logging;
mod nest;
#[cfg(feature = "otel")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "otel")))]
mod otel;
#[cfg(feature = "otel")]
mod otel_loss;
#[cfg(feature = "otel")]
mod otel_sampling;
#[cfg(feature = "otel")]
mod otel_settings;
mod panic;
pub mod process;
mod prometheus;
mod redact;
mod request;
#[cfg(feature = "health")]
mod serve;
mod shutdown;
mod start;

pub use build_info::BuildInfo;
pub use http_metrics::{HttpMetrics, HttpMetricsFuture, HttpMetricsLayer, UNMATCHED_ROUTE};
pub use lifecycle::Lifecycle;
pub use logging::{
    Filtered, InitError, LogFormat, LogLevel, LogSettings, Logging, filter, format_layer, init,
    init_or_exit, init_with, init_with_layer, subscriber,
};
#[cfg(feature = "otel")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "otel")))]
pub use otel::{OtelError, inject_trace_context, tracing_layer};
#[cfg(feature = "otel")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "otel")))]
pub use otel_settings::{OtelSettings, SamplerName, TracesExporter};
pub use panic::install_panic_hook;
pub use prometheus::{
    HTTP_DURATION_BUCKETS, MetricsBody, MetricsEndpoint, MetricsEndpointLayer, MetricsError,
    MetricsFuture, PROMETHEUS_TEXT, PrometheusMetrics,
};
pub use redact::{Redacting, RedactingWriter};
pub use request::{
    REQUEST_ID_HEADER, RequestId, RequestLog, RequestTracing, RequestTracingFuture,
    RequestTracingLayer,
};
#[cfg(feature = "health")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "health")))]
pub use serve::{HttpSettings, serve};
pub use shutdown::{GracefulShutdown, ShutdownOutcome, Signal, shutdown_signal};
pub use start::{Started, start};

/// The crate README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
