//! [`RequestTracingLayer`]: what it does and how it is set.

use tower_layer::Layer;

use super::log::RequestLog;
use super::service::RequestTracing;

/// Layer that gives every request a span (`request`, target `opskit::http`), a
/// [`RequestId`](crate::traces::RequestId) and, as [`RequestLog`] says, a log line:
///
/// - the span carries OpenTelemetry's semantic-convention fields:
///   `http.request.method`, `http.route` (the template, from axum's `MatchedPath`:
///   apply the layer with `Router::layer`), `url.path`, `request_id`, and
///   `otel.name` (`GET /notes/{id}`) and `otel.kind` (`server`) for
///   `tracing-opentelemetry`; with the `otel` feature and an exporter, its parent is
///   the caller's W3C `traceparent`, and the exported span also has
///   `http.response.status_code` and an error status on 5xx;
/// - every log line written inside the request has `request_id` (and, with the
///   `otel` feature and an exporter, `trace_id` and `span_id`) at the top level;
/// - the response carries `x-request-id`;
/// - the `http.request` line has the request metrics' names: `http_request_method`,
///   `http_route`, `http_response_status_code`, and
///   `http_server_request_duration_seconds`.
///
/// The span is at INFO: a filter that hides INFO for `opskit::http` turns all of
/// this off (the response still gets its id).
///
/// With [`HttpMetricsLayer`](crate::metrics::HttpMetricsLayer), apply both in one
/// `Router::layer` (`ServiceBuilder::new().layer(tracing).layer(metrics)`): every
/// `Router::layer` wraps each route once more, a boxed service and a boxed future
/// on every request.
#[derive(Debug, Clone)]
pub struct RequestTracingLayer {
    trust_request_id: bool,
    log: RequestLog,
}

impl Default for RequestTracingLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestTracingLayer {
    /// Keeps callers' request ids, logs 5xx requests.
    pub fn new() -> Self {
        Self {
            trust_request_id: true,
            log: RequestLog::Errors,
        }
    }

    /// Whether a caller's `x-request-id` is kept (`true`, the default: the service
    /// sits behind a proxy or gateway that sets or checks it) or replaced by one made
    /// here (`false`: callers reach the service directly and could reuse ids to
    /// confuse an investigation).
    #[must_use]
    pub fn trust_request_id(mut self, trust: bool) -> Self {
        self.trust_request_id = trust;
        self
    }

    /// Which requests get an `http.request` log line.
    #[must_use]
    pub fn request_log(mut self, log: RequestLog) -> Self {
        self.log = log;
        self
    }
}

impl<S> Layer<S> for RequestTracingLayer {
    type Service = RequestTracing<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTracing::new(inner, self.trust_request_id, self.log)
    }
}
