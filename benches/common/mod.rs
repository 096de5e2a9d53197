//! What the router benchmarks share.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use http::Request;
use tower::Service;

/// Calls the router and polls its future once: these handlers answer at once.
pub(crate) fn call(router: &mut Router, request: Request<Body>) -> http::Response<Body> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(router.call(request)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!("the handler answers at once"),
    }
}
