//! [`RequestTracing`]: the span, the request id and the trace of each request.

use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use tower_service::Service;
use tracing::Span;

use super::future::{OtelContext, RequestTracingFuture, make_current};
use super::log::RequestLog;
use crate::route::{METHODS, Route, method_index, route_label};
use crate::traces::correlate::Correlation;
use crate::traces::request_id::{REQUEST_ID_HEADER, RequestId};

/// Traces requests; see [`RequestTracingLayer`](super::RequestTracingLayer).
#[derive(Debug, Clone)]
pub struct RequestTracing<S> {
    inner: S,
    trust_request_id: bool,
    log: RequestLog,
}

impl<S> RequestTracing<S> {
    pub(crate) fn new(inner: S, trust_request_id: bool, log: RequestLog) -> Self {
        Self {
            inner,
            trust_request_id,
            log,
        }
    }

    /// The caller's id when it is trusted and well formed, else a new one.
    fn request_id(&self, headers: &HeaderMap) -> RequestId {
        self.trust_request_id
            .then(|| headers.get(REQUEST_ID_HEADER))
            .flatten()
            .and_then(RequestId::from_header)
            .unwrap_or_else(RequestId::generate)
    }
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
        let id = self.request_id(request.headers());
        let method = METHODS[method_index(request.method())];
        let route = route_label(&request, None);
        // Whether OpenTelemetry exports this request, decided before its span is
        // made: a request the sampler drops never reaches tracing-opentelemetry.
        #[cfg(feature = "otel")]
        let pending = crate::traces::otel::sampling::Pending::new(request.headers());
        let span = request_span(method, &route, request.uri().path(), &id);
        #[cfg(feature = "otel")]
        let (context, current) = begin_trace(&span, &id, pending, request.headers());
        #[cfg(not(feature = "otel"))]
        let (context, current) = begin_trace(&span, &id);
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

/// The request's span, with every field set at once: recording one later makes the
/// JSON formatter parse and rewrite the span's fields, a dozen allocations each time.
fn request_span(method: &'static str, route: &Route, path: &str, id: &RequestId) -> Span {
    let route = route.as_str();
    // `otel.name` (`GET /notes/{id}`) put together on the stack: a `str` is written
    // as it is, where `format_args!` goes through the formatting machinery.
    let mut buffer = [0u8; SPAN_NAME_ON_STACK];
    let long;
    let name = match buffer.get_mut(..method.len() + 1 + route.len()) {
        Some(name) => {
            let (head, tail) = name.split_at_mut(method.len());
            head.copy_from_slice(method.as_bytes());
            tail[0] = b' ';
            tail[1..].copy_from_slice(route.as_bytes());
            std::str::from_utf8(name).unwrap_or(route)
        }
        None => {
            long = format!("{method} {route}");
            long.as_str()
        }
    };
    tracing::info_span!(
        target: "opskit::http",
        "request",
        otel.name = name,
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = path,
        request_id = id.as_str(),
    )
}

/// Longest span name (method, space, route template) put together without
/// allocating.
const SPAN_NAME_ON_STACK: usize = 128;

/// Starts the request's trace, continuing the caller's (the sampler's decision,
/// taken while the span was made, comes back through `pending`), and puts the ids
/// where log lines find them. Returns the OpenTelemetry context and whether this
/// code, not tracing-opentelemetry, makes it current while the request runs.
#[cfg(feature = "otel")]
fn begin_trace(
    span: &Span,
    id: &RequestId,
    pending: crate::traces::otel::sampling::Pending,
    headers: &HeaderMap,
) -> (Option<OtelContext>, bool) {
    let (trace, context) = crate::traces::otel::begin(span, pending.decision(), headers);
    // tracing-opentelemetry makes an exported span's context current while it is
    // entered; a sampled-out request's is made current here.
    let current = matches!(trace, crate::traces::correlate::Trace::SampledOut(_));
    if !span.is_disabled() {
        attach(
            span,
            Correlation {
                request_id: id.clone(),
                trace,
            },
        );
    }
    (context, current)
}

/// Puts the request id where log lines find it (no trace without the `otel`
/// feature).
#[cfg(not(feature = "otel"))]
fn begin_trace(span: &Span, id: &RequestId) -> (Option<OtelContext>, bool) {
    if !span.is_disabled() {
        attach(
            span,
            Correlation {
                request_id: id.clone(),
            },
        );
    }
    (None, false)
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
