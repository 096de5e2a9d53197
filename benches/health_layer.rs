//! The health layer's cost on requests that are not probes: a request through the
//! layer against the bare inner service, polled directly (no runtime, no network).
//!
//! Run with `cargo bench --bench health_layer --features health`; results in
//! `docs/benchmarks.md`. That the layer adds no allocation is a test:
//! `crates/opskit-health/tests/test_allocations.rs`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
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

    let mut group = c.benchmark_group("health_pass_through");
    group.bench_function("bare", |b| {
        b.iter_batched(
            request,
            |r| black_box(call(&mut bare, r)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("layered", |b| {
        b.iter_batched(
            request,
            |r| black_box(call(&mut layered, r)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("layered_without_kubelet_watch", |b| {
        b.iter_batched(
            request,
            |r| black_box(call(&mut layered_quiet, r)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = pass_through
}
criterion_main!(benches);
