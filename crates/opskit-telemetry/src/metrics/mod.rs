//! Metrics: Prometheus exposition served by the application, request metrics with
//! OpenTelemetry's names and bounded labels, the build-info gauge and the process
//! metrics.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_server_request_duration_seconds` | histogram ([`HTTP_DURATION_BUCKETS`]) | `http_request_method`, `http_route` (template), `http_response_status_code` |
//! | `http_server_active_requests` | gauge | `http_request_method` |
//! | `<package>_build_info` | gauge, always 1 | `version`, `revision`, `profile`, `rustc_version` |
//! | `process_start_time_seconds` | gauge | |
//! | `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_threads` | counter, gauges (read at each scrape by `metrics-process`) | |
//!

mod http;
pub mod process;
mod prometheus;

pub use crate::route::UNMATCHED_ROUTE;
pub use http::{HttpMetrics, HttpMetricsFuture, HttpMetricsLayer};
pub use prometheus::{
    HTTP_DURATION_BUCKETS, MetricsBody, MetricsEndpoint, MetricsEndpointLayer, MetricsError,
    MetricsFuture, PROMETHEUS_TEXT, PrometheusMetrics,
};
