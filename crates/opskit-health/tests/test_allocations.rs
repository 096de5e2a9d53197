//! A request that is not a probe costs no heap allocation in the layer: counted with
//! an instrumented global allocator, against the bare service.

use std::alloc::System;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use opskit_health::Health;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tower::{Layer, Service, service_fn};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Calls the service and polls the (immediately ready) response future once.
fn call<S, B>(service: &mut S, request: Request<()>) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => panic!("the test service answers at once"),
    }
}

fn requests(n: usize) -> Vec<Request<()>> {
    (0..n)
        .map(|_| {
            Request::get("/notes/42")
                .header("user-agent", "curl/8.5")
                .header("accept", "application/json")
                .body(())
                .unwrap()
        })
        .collect()
}

/// Allocations made while passing `n` requests through `service` (building the
/// requests and dropping the responses is not counted).
fn allocations<S, B>(mut service: S, n: usize) -> usize
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let requests = requests(n);
    let mut responses = Vec::with_capacity(n);
    let region = Region::new(GLOBAL);
    for request in requests {
        responses.push(call(&mut service, request));
    }
    let allocations = region.change().allocations;
    drop(responses);
    allocations
}

#[test]
fn passing_a_request_through_the_layer_allocates_nothing_more_than_the_bare_service() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let health = runtime.block_on(async {
        Health::builder()
            .alias(opskit_health::Probe::Readiness, "/healthz")
            .build()
            .unwrap()
    });
    health.mark_started();
    let inner = service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });

    let bare = allocations(inner, 1_000);
    let layered = allocations(health.layer().layer(inner), 1_000);
    assert_eq!(layered, bare, "the layer allocated on pass-through");

    // The counter does count: answering a probe allocates (its response).
    let mut service = health.layer().layer(inner);
    let region = Region::new(GLOBAL);
    let response = call(&mut service, Request::get("/readyz").body(()).unwrap());
    assert!(region.change().allocations > 0);
    assert_eq!(response.status(), 200);
}
