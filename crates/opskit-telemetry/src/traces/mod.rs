//! Traces: a span and a request id for every request ([`RequestTracingLayer`]),
//! the ids on every log line written inside it, and, with the `otel` feature,
//! OpenTelemetry traces over OTLP/HTTP from the standard `OTEL_*` variables.
//!
//! | event | level | fields |
//! |---|---|---|
//! | `http.request` | INFO, WARN for 5xx ([`RequestLog`]: 5xx only by default) | `http_request_method`, `http_route`, `http_response_status_code`, `http_server_request_duration_seconds` |
//! | `otel.flush_failed` | WARN | (feature `otel`) at shutdown: queued spans not exported within the timeout, or spans the collector did not take (refused, unreachable) since the start, and request traces not started while exports failed |

pub(crate) mod correlate;
#[cfg(feature = "otel")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "otel")))]
pub(crate) mod otel;
mod request;
mod request_id;

#[cfg(feature = "otel")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "otel")))]
pub use otel::{
    OtelError, OtelSettings, SamplerName, TracesExporter, inject_trace_context, tracing_layer,
};
pub use request::{RequestLog, RequestTracing, RequestTracingFuture, RequestTracingLayer};
pub use request_id::{REQUEST_ID_HEADER, RequestId};
