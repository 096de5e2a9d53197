//! The response future of a traced request: its span entered while the service
//! runs, the request id put on the response, the `http.request` line written.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{HeaderValue, Response};
use pin_project_lite::pin_project;
use tracing::Span;

use super::log::{RequestLog, log_request};
use crate::route::Route;
use crate::traces::request_id::REQUEST_ID_HEADER;

pin_project! {
    /// Response future of [`RequestTracing`](super::RequestTracing).
    pub struct RequestTracingFuture<F> {
        #[pin]
        pub(crate) future: F,
        pub(crate) span: Span,
        pub(crate) context: Option<OtelContext>,
        pub(crate) current: bool,
        pub(crate) header: Option<HeaderValue>,
        pub(crate) log: RequestLog,
        pub(crate) method: &'static str,
        pub(crate) route: Option<Route>,
        pub(crate) start: Instant,
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
            crate::traces::otel::finish_server_span(&context, status, failed);
        }
        if let (Ok(response), Some(header)) = (&mut result, this.header.take()) {
            response.headers_mut().insert(REQUEST_ID_HEADER, header);
        }
        if this.log.wants(failed) {
            let route = this.route.take();
            log_request(
                this.method,
                route.as_ref().map_or("", Route::as_str),
                status,
                this.start.elapsed().as_secs_f64(),
                failed,
            );
        }
        Poll::Ready(result)
    }
}

/// Makes `context` the current OpenTelemetry context until the guard is dropped,
/// when `current` says so.
#[cfg(feature = "otel")]
pub(crate) fn make_current(
    current: bool,
    context: Option<&OtelContext>,
) -> Option<opentelemetry::ContextGuard> {
    context
        .filter(|_| current)
        .map(|context| context.clone().attach())
}

#[cfg(not(feature = "otel"))]
pub(crate) fn make_current(_current: bool, _context: Option<&OtelContext>) -> Option<()> {
    None
}

/// The OpenTelemetry context of a request span (nothing without the `otel`
/// feature).
#[cfg(feature = "otel")]
pub(crate) type OtelContext = opentelemetry::Context;
#[cfg(not(feature = "otel"))]
pub(crate) type OtelContext = ();
