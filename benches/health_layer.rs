//! The health layer's cost on requests that are not probes: a request through the
//! layer against the bare inner service, polled directly (no runtime, no network).
//!
//! Run with `cargo bench --bench health_layer --features health`; results in
//! `docs/benchmarks.md`. That the layer adds no allocation is a test:
//! `crates/opskit-health/tests/test_allocations.rs`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod harness;

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::Criterion;
use http::{Request, Response};
use http_body_util::Full;
use opskit::health::Health;
use tower::{Layer, Service, service_fn};

fn call<S, B>(service: &mut S, request: Request<()>) -> Response<B>
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    let _ = service.poll_ready(&mut cx);
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!("the inner service answers at once"),
    }
}

fn request() -> Request<()> {
    Request::get("/notes/42?page=2")
        .header("host", "notes.example")
        .header("user-agent", "curl/8.5")
        .header("accept", "application/json")
        .body(())
        .unwrap()
}

fn pass_through(c: &mut Criterion) {
    let runtime = harness::runtime();
    let health = runtime.block_on(async {
        Health::builder()
            .alias(opskit::health::Probe::Readiness, "/healthz")
            .build()
            .unwrap()
    });
    health.mark_started();
    let quiet = runtime.block_on(async {
        Health::builder()
            .warn_on_misdirected_probes(false)
            .build()
            .unwrap()
    });
    let inner = service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    });
    let mut bare = inner;
    let mut layered = health.layer().layer(inner);
    let mut layered_quiet = quiet.layer().layer(inner);

    harness::compare!(c, "health_pass_through", request, call, {
        "bare" => bare,
        "layered" => layered,
        "layered_without_kubelet_watch" => layered_quiet,
    });
}

harness::main!(pass_through);
