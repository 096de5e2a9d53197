//! One span per request, a request id on it and on the response, and a log line per
//! request when asked for.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use serde::Deserialize;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use crate::correlate::Correlation;
use crate::http_metrics::{METHODS, Route, method_index, route_label};

/// The header that carries a request's id, in and out.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id kept from a caller.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A request's id: the caller's `x-request-id` when it is trusted and well formed
/// (1 to 128 of `A-Z a-z 0-9 - _ . : / + = @`), else 32 hex digits made here. Handlers
/// find it in the request's extensions; it is on the request's span and log lines
/// and in the response's `x-request-id`. Cloning it copies no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ever made from visible ASCII (checked, or hex digits).
        self.0.to_str().unwrap_or_default()
    }

    /// The id as the header value it is sent as.
    pub fn as_header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// A new id: 32 hex digits, unique in this process and, with 64 random bits per
    /// process, across the fleet.
    pub fn generate() -> Self {
        static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = *SEED.get_or_init(|| RandomState::new().hash_one(std::process::id()));
        // splitmix64 of the counter: distinct for every n, and not a visible count.
        let mut n = seed.wrapping_add(
            COUNTER
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        n = (n ^ (n >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        n = (n ^ (n >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        n ^= n >> 31;
        let mut text = [0u8; 32];
        for (i, byte) in seed
            .to_be_bytes()
            .iter()
            .chain(&n.to_be_bytes())
            .enumerate()
        {
            text[2 * i] = HEX[usize::from(byte >> 4)];
            text[2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
        Self(HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0")))
    }

    /// The caller's id, if it is one opskit keeps: short, of safe characters only (it
    /// goes into log lines and headers as it is).
    pub fn from_header(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let safe = |b: &u8| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b);
        (!bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(safe))
            .then(|| Self(value.clone()))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which requests get a log line of their own (`http.request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestLog {
    /// None: the request metrics count every request already.
    Off,
    /// Those answered 5xx (or failed without an answer), at WARN: the requests an
    /// operator reads logs for, at a volume that stays small when traffic is high.
    #[default]
    Errors,
    /// Every request, at INFO (5xx at WARN): one line per request, for services with
    /// little traffic or an investigation.
    All,
}

/// Layer that gives every request a span (`request`, target `opskit::http`), a
/// [`RequestId`] and, as [`RequestLog`] says, a log line:
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
        RequestTracing {
            inner,
            trust_request_id: self.trust_request_id,
            log: self.log,
        }
    }
}

/// Traces requests; see [`RequestTracingLayer`].
#[derive(Debug, Clone)]
pub struct RequestTracing<S> {
    inner: S,
    trust_request_id: bool,
    log: RequestLog,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequestTracing<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RequestTracingFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let id = self
            .trust_request_id
            .then(|| request.headers().get(REQUEST_ID_HEADER))
            .flatten()
            .and_then(RequestId::from_header)
            .unwrap_or_else(RequestId::generate);
        let method = METHODS[method_index(request.method())];
        let route = route_label(&request, None);
        // Whether OpenTelemetry exports this request, decided before its span is
        // made: a request the sampler drops never reaches tracing-opentelemetry.
        #[cfg(feature = "otel")]
        let pending = crate::otel_sampling::Pending::new(request.headers());
        // Every field is set here: recording one later makes the JSON formatter
        // parse and rewrite the span's fields, a dozen allocations each time.
        let span = tracing::info_span!(
            target: "opskit::http",
            "request",
            otel.name = %format_args!("{method} {}", route.as_str()),
            otel.kind = "server",
            http.request.method = method,
            http.route = route.as_str(),
            url.path = request.uri().path(),
            request_id = id.as_str(),
        );
        // With an exporter, the span continues the caller's trace and starts here,
        // before any line is logged inside it.
        #[cfg(feature = "otel")]
        let (trace, context) = crate::otel::begin(&span, pending.decision(), request.headers());
        // tracing-opentelemetry makes an exported span's context current while it is
        // entered; a sampled-out request's is made current here.
        #[cfg(feature = "otel")]
        let current = matches!(trace, crate::correlate::Trace::SampledOut(_));
        #[cfg(not(feature = "otel"))]
        let (context, current): (Option<OtelContext>, bool) = (None, false);
        if !span.is_disabled() {
            attach(
                &span,
                Correlation {
                    request_id: id.clone(),
                    #[cfg(feature = "otel")]
                    trace,
                },
            );
        }
        let header = Some(id.as_header_value().clone());
        request.extensions_mut().insert(id);
        let future = {
            let _current = make_current(current, context.as_ref());
            span.in_scope(|| self.inner.call(request))
        };
        RequestTracingFuture {
            future,
            span,
            context,
            current,
            header,
            log: self.log,
            method,
            route: Some(route),
            start: Instant::now(),
        }
    }
}

/// Puts the ids in the span's extensions, where the JSON formatter finds them for
/// every line written inside the span.
fn attach(span: &Span, ids: Correlation) {
    span.with_subscriber(|(span_id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>()
            && let Some(data) = tracing_subscriber::registry::LookupSpan::span(registry, span_id)
        {
            data.extensions_mut().insert(ids);
        }
    });
}

/// Makes `context` the current OpenTelemetry context until the guard is dropped,
/// when `current` says so.
#[cfg(feature = "otel")]
fn make_current(
    current: bool,
    context: Option<&OtelContext>,
) -> Option<opentelemetry::ContextGuard> {
    context
        .filter(|_| current)
        .map(|context| context.clone().attach())
}

#[cfg(not(feature = "otel"))]
fn make_current(_current: bool, _context: Option<&OtelContext>) -> Option<()> {
    None
}

/// The OpenTelemetry context of a request span (nothing without the `otel`
/// feature).
#[cfg(feature = "otel")]
type OtelContext = opentelemetry::Context;
#[cfg(not(feature = "otel"))]
type OtelContext = ();

pin_project! {
    /// Response future of [`RequestTracing`].
    pub struct RequestTracingFuture<F> {
        #[pin]
        future: F,
        span: Span,
        context: Option<OtelContext>,
        current: bool,
        header: Option<HeaderValue>,
        log: RequestLog,
        method: &'static str,
        route: Option<Route>,
        start: Instant,
    }
}

impl<F> fmt::Debug for RequestTracingFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestTracingFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for RequestTracingFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let _current = make_current(*this.current, this.context.as_ref());
        let mut result = ready!(this.future.poll(cx));
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        let failed = status.is_none_or(|code| code >= 500);
        #[cfg(feature = "otel")]
        if let Some(context) = this.context.take() {
            crate::otel::finish_server_span(&context, status, failed);
        }
        if let (Ok(response), Some(header)) = (&mut result, this.header.take()) {
            response.headers_mut().insert(REQUEST_ID_HEADER, header);
        }
        let route = this.route.take();
        let logged = match this.log {
            RequestLog::Off => false,
            RequestLog::Errors => failed,
            RequestLog::All => true,
        };
        if logged {
            let route = route.as_ref().map_or("", Route::as_str);
            let status: Cow<'_, str> = status.map_or("error".into(), |c| c.to_string().into());
            let seconds = this.start.elapsed().as_secs_f64();
            // One line, at WARN for a failure: `event!` needs its level as a constant.
            macro_rules! request_line {
                ($level:ident) => {
                    tracing::event!(
                        target: "opskit::http",
                        tracing::Level::$level,
                        event = "http.request",
                        http_request_method = *this.method,
                        http_route = route,
                        http_response_status_code = %status,
                        http_server_request_duration_seconds = seconds,
                        "{} {route} answered {status}",
                        this.method,
                    )
                };
            }
            if failed {
                request_line!(WARN);
            } else {
                request_line!(INFO);
            }
        }
        Poll::Ready(result)
    }
}
