//! [`RequestTracing`]: the span, the request id and the trace of each request.

use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use tower_service::Service;
use tracing::Span;

use super::future::{OtelContext, RequestTracingFuture, make_current};
use super::log::RequestLog;
use super::span::{SpanFields, request_span};
use crate::route::{METHODS, method_index, route_label};
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
        let (span, fields) = request_span(method, &route, request.uri().path(), &id);
        #[cfg(feature = "otel")]
        let (context, current) = begin_trace(&span, &id, fields, pending, request.headers());
        #[cfg(not(feature = "otel"))]
        let (context, current) = begin_trace(&span, &id, fields);
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

/// Starts the request's trace, continuing the caller's (the sampler's decision,
/// taken while the span was made, comes back through `pending`), and puts the ids
/// (and the span's fields not written yet) where log lines find them. Returns the OpenTelemetry context and whether this
/// code, not tracing-opentelemetry, makes it current while the request runs.
#[cfg(feature = "otel")]
fn begin_trace(
    span: &Span,
    id: &RequestId,
    fields: Option<SpanFields>,
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
                fields,
            },
        );
    }
    (context, current)
}

/// Puts the request id (and the span's fields not written yet) where log lines
/// find them (no trace without the `otel` feature).
#[cfg(not(feature = "otel"))]
fn begin_trace(
    span: &Span,
    id: &RequestId,
    fields: Option<SpanFields>,
) -> (Option<OtelContext>, bool) {
    if !span.is_disabled() {
        attach(
            span,
            Correlation {
                request_id: id.clone(),
                fields,
            },
        );
    }
    (None, false)
}

/// Puts the ids in the span's extensions, where the JSON formatter finds them for
/// every line written inside the span (and writes the span's fields at the first).
fn attach(span: &Span, ids: Correlation) {
    span.with_subscriber(|(span_id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<tracing_subscriber::Registry>()
            && let Some(data) = tracing_subscriber::registry::LookupSpan::span(registry, span_id)
        {
            data.extensions_mut().insert(ids);
        }
    });
}
