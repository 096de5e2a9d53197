//! What tracing a request costs: an axum route with the request metrics (tracing
//! off), then with `RequestTracingLayer` (a span and a request id), then with the
//! OpenTelemetry layer sampling every request (exported to a receiver on loopback)
//! or none, all logging JSON through opskit's format into a sink. Allocations per
//! request are counted for each, outside the timed loops.
//!
//! Run with `cargo bench --bench request_tracing --features axum,otel`; results in
//! `docs/benchmarks.md`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs, clippy::print_stdout)]

mod common;

use common::call;

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BatchSize, Criterion, criterion_group};
use http::Request;
use opskit::telemetry::{
    HttpMetricsLayer, LogFormat, LogSettings, Logging, OtelSettings, PrometheusMetrics,
    RequestTracingLayer, SamplerName,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn request() -> Request<Body> {
    Request::get("/notes/42")
        .header("host", "notes.example")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(Body::empty())
        .unwrap()
}

/// opskit's JSON logging into a sink.
fn logging() -> Logging {
    let settings = LogSettings {
        format: LogFormat::Json,
        ..LogSettings::default()
    };
    opskit::telemetry::subscriber(&settings, std::io::sink, false).unwrap()
}

/// Logging plus the OpenTelemetry layer, sampling by `sampler`, exporting to
/// `endpoint`.
fn traced(endpoint: &str, sampler: SamplerName) -> Dispatch {
    let settings = OtelSettings {
        endpoint: Some(endpoint.parse().unwrap()),
        sampler,
        ..OtelSettings::default()
    };
    let layer = opskit::telemetry::tracing_layer(&settings, &opskit::telemetry::build_info!())
        .unwrap()
        .expect("an endpoint is set");
    Dispatch::new(logging().with(layer))
}

/// Heap allocations per request, over 1,000 requests.
fn allocations(dispatch: &Dispatch, router: &mut Router) -> f64 {
    tracing::dispatcher::with_default(dispatch, || {
        let requests: Vec<_> = (0..1000).map(|_| request()).collect();
        let region = Region::new(ALLOCATOR);
        for r in requests {
            drop(black_box(call(router, r)));
        }
        region.change().allocations as f64 / 1000.0
    })
}

/// The four variants, each with the dispatch it runs under; the receiver must
/// outlive them.
fn variants(receiver: &opskit_testkit::otlp::Receiver) -> Vec<(&'static str, Dispatch, Router)> {
    let routes = || {
        Router::new()
            .route("/notes/{id}", get(|| async { "note" }))
            .layer(HttpMetricsLayer::new())
    };
    let off = Dispatch::new(logging());
    let sampled = traced(&receiver.endpoint(), SamplerName::AlwaysOn);
    let dropped = traced(&receiver.endpoint(), SamplerName::AlwaysOff);
    vec![
        ("tracing_off", off.clone(), routes()),
        (
            "request_span",
            off,
            routes().layer(RequestTracingLayer::new()),
        ),
        // Sampled out before sampled: the allocation count counts every thread, and
        // the sampled variant's exporter works on for seconds after it.
        (
            "otel_sampled_out",
            dropped,
            routes().layer(RequestTracingLayer::new()),
        ),
        (
            "otel_sampled",
            sampled,
            routes().layer(RequestTracingLayer::new()),
        ),
    ]
}

fn request_tracing(c: &mut Criterion) {
    let _metrics = PrometheusMetrics::install(&opskit::telemetry::build_info!()).unwrap();
    let receiver = opskit_testkit::otlp::Receiver::start().unwrap();
    let mut variants = variants(&receiver);
    for (name, dispatch, router) in &mut variants {
        assert_eq!(
            tracing::dispatcher::with_default(dispatch, || call(router, request())).status(),
            200
        );
        println!(
            "{name}: {:.1} allocations per request",
            allocations(dispatch, router)
        );
    }

    let mut group = c.benchmark_group("request_tracing");
    for (name, dispatch, router) in &mut variants {
        tracing::dispatcher::with_default(dispatch, || {
            group.bench_function(*name, |b| {
                b.iter_batched(
                    request,
                    |r| black_box(call(router, r)),
                    BatchSize::SmallInput,
                )
            });
        });
    }
    group.finish();

    // The same span alone (its six fields, entered once, closed), to tell
    // tracing-opentelemetry's share from opskit's: on a bare registry, under
    // opskit's JSON format, and under the OpenTelemetry layer alone.
    let otel_alone = {
        let settings = OtelSettings {
            endpoint: Some(receiver.endpoint().parse().unwrap()),
            sampler: SamplerName::AlwaysOn,
            ..OtelSettings::default()
        };
        let layer = opskit::telemetry::tracing_layer(&settings, &opskit::telemetry::build_info!())
            .unwrap()
            .expect("an endpoint is set");
        Dispatch::new(tracing_subscriber::registry().with(layer))
    };
    let mut spans = c.benchmark_group("span_alone");
    for (name, dispatch) in [
        ("registry", Dispatch::new(tracing_subscriber::registry())),
        ("opskit_json", Dispatch::new(logging())),
        ("otel_layer", otel_alone),
    ] {
        tracing::dispatcher::with_default(&dispatch, || {
            spans.bench_function(name, |b| {
                b.iter(|| {
                    let span = tracing::info_span!(
                        target: "opskit::http",
                        "request",
                        otel.name = "GET /notes/{id}",
                        otel.kind = "server",
                        http.request.method = "GET",
                        http.route = "/notes/{id}",
                        url.path = "/notes/42",
                        request_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                    );
                    let _entered = black_box(&span).enter();
                })
            });
        });
    }
    spans.finish();
    println!(
        "the receiver decoded {} spans in {} exports",
        receiver.spans().len(),
        receiver.exports()
    );
}

criterion_group!(benches, request_tracing);

/// `REQUEST_TRACING_ONLY=variant:count` sends `count` requests through one variant
/// and nothing else, for counting instructions under callgrind (run it with 0 and
/// with N; the difference over N is the cost of one request; `docs/benchmarks.md`
/// has the commands).
fn only(spec: &str) {
    let (name, count) = spec
        .split_once(':')
        .expect("REQUEST_TRACING_ONLY=variant:count");
    let count: usize = count.parse().expect("a count of requests");
    // No recorder is installed: valgrind cannot run the process metrics' reader of
    // the auxiliary vector. The request metrics' layer is in every variant alike.
    let receiver = opskit_testkit::otlp::Receiver::start().unwrap();
    let (_, dispatch, mut router) = variants(&receiver)
        .into_iter()
        .find(|(variant, ..)| *variant == name)
        .expect("tracing_off, request_span, otel_sampled_out or otel_sampled");
    let requests: Vec<_> = (0..count).map(|_| request()).collect();
    tracing::dispatcher::with_default(&dispatch, || {
        for r in requests {
            drop(black_box(call(&mut router, r)));
        }
    });
}

fn main() {
    if let Ok(spec) = std::env::var("REQUEST_TRACING_ONLY") {
        only(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
