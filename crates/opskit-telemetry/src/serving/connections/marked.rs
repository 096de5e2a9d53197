//! The service of one connection, as hyper calls it: a whole request arrived (the
//! connection is served, and busy until its response's body is sent), and from
//! SIGTERM on HTTP/1 clients are told the connection closes after the answer.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, Version, header};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{BUSY, State};

/// The service of one connection: marks it served when a whole request arrives,
/// and from SIGTERM on tells HTTP/1 clients the connection closes after the answer.
#[derive(Debug, Clone)]
pub(crate) struct Marked<S> {
    inner: S,
    // One `Arc`: hyper clones the service for every request.
    state: Arc<State>,
}

impl<S> Marked<S> {
    pub(super) fn new(inner: S, state: Arc<State>) -> Self {
        Self { inner, state }
    }
}

impl<S, B, R> Service<Request<B>> for Marked<S>
where
    S: Service<Request<B>, Response = Response<R>, Error = Infallible>,
{
    type Response = Response<MarkedBody<R>>;
    type Error = Infallible;
    type Future = MarkedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.state.served.store(true, Ordering::SeqCst);
        let http1 = request.version() < Version::HTTP_2;
        if !http1 {
            self.state.http2.store(true, Ordering::SeqCst);
        }
        MarkedFuture {
            inner: self.inner.call(request),
            busy: http1.then(|| InFlight::start(&self.state)),
        }
    }
}

/// An HTTP/1 request in flight, from its head to the end of its response's body:
/// the connection waits for the next head from when this drops.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<State>);

impl InFlight {
    pub(super) fn start(state: &Arc<State>) -> Self {
        state.waiting_since.store(BUSY, Ordering::SeqCst);
        Self(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.0.clock.now();
        self.0.waiting_since.store(now, Ordering::SeqCst);
    }
}

pin_project! {
    /// The response future of [`Marked`].
    pub(crate) struct MarkedFuture<F> {
        #[pin]
        inner: F,
        // HTTP/1 only (HTTP/2 has no Connection header; it gets a GOAWAY): the
        // request in flight, handed to the response's body.
        busy: Option<InFlight>,
    }
}

impl<F, R> std::future::Future for MarkedFuture<F>
where
    F: std::future::Future<Output = Result<Response<R>, Infallible>>,
{
    type Output = Result<Response<MarkedBody<R>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.poll(cx));
        if this
            .busy
            .as_ref()
            .is_some_and(|busy| busy.0.draining.load(Ordering::Relaxed))
        {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let busy = this.busy.take();
        Poll::Ready(Ok(response.map(|inner| MarkedBody { inner, busy })))
    }
}

pin_project! {
    /// A response's body, the request in flight until hyper drops it (sent, or the
    /// connection gone).
    pub(crate) struct MarkedBody<B> {
        #[pin]
        inner: B,
        busy: Option<InFlight>,
    }
}

impl<B: Body> Body for MarkedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
