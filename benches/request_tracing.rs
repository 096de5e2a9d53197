//! What tracing a request costs: an axum route with the request metrics (tracing
//! off), then with `RequestTracingLayer` (a span and a request id), then with the
//! OpenTelemetry layer sampling every request (exported to a receiver on loopback)
//! or none, all logging JSON through opskit's format into a sink. Allocations per
//! request are counted for each, outside the timed loops.
//!
//! The baseline of opskit's own share of a sampled request, with no opskit code in
//! the span's path: the same route with a span made by hand (an axum middleware,
//! the same six fields at INFO, the caller's `traceparent` as its parent, the status
//! code set at the end) on a bare `tracing_subscriber::Registry`, without and with
//! `tracing-opentelemetry` over an SDK tracer provider set up as opskit's is
//! (`always_on`, a batch processor with the same queue, OTLP/HTTP to the same
//! receiver). What the second adds over the first is what tracing-opentelemetry
//! and the SDK cost by themselves.
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
use axum::extract::MatchedPath;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use criterion::{BatchSize, Criterion, criterion_group};
use http::Request;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use opskit::telemetry::{
    HttpMetricsLayer, LogFormat, LogSettings, Logging, OtelSettings, PrometheusMetrics,
    RequestTracingLayer, SamplerName,
};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tracing::{Dispatch, Instrument as _};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
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

/// A bare registry under `tracing-opentelemetry`, over an SDK tracer provider set
/// up as `opskit::telemetry::tracing_layer` sets up its own: every span sampled,
/// batched with the same queue, exported over OTLP/HTTP to `endpoint`. No opskit
/// code.
fn bare_otel(endpoint: &str) -> Dispatch {
    let settings = OtelSettings::default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .build()
        .unwrap();
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(settings.max_queue_size)
        .with_max_export_batch_size(settings.max_export_batch_size)
        .with_scheduled_delay(std::time::Duration::from_millis(settings.schedule_delay_ms))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch)
                .build(),
        )
        .with_sampler(Sampler::AlwaysOn)
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("bench"))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false);
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

/// The request span a user writes by hand: the six fields opskit's span carries,
/// at INFO, the caller's `traceparent` as its parent, entered while the route
/// runs, the status code on the OpenTelemetry span at the end.
async fn hand_made_span(request: Request<Body>, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("", MatchedPath::as_str);
    let method = request.method().clone();
    let name = format!("{method} {route}");
    let span = tracing::info_span!(
        "request",
        otel.name = name.as_str(),
        otel.kind = "server",
        http.request.method = method.as_str(),
        http.route = route,
        url.path = request.uri().path(),
        request_id = "4bf92f3577b34da6a3ce929d0e0e4736",
    );
    let parent = TraceContextPropagator::new()
        .extract(&opentelemetry_http::HeaderExtractor(request.headers()));
    let _ = span.set_parent(parent);
    let response = next.run(request).instrument(span.clone()).await;
    span.set_attribute(
        "http.response.status_code",
        i64::from(response.status().as_u16()),
    );
    response
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

/// The variants, in the order they run. Sampled out before sampled: the allocation
/// count counts every thread, and a sampled variant's exporter works on for
/// seconds after it. The baseline (no opskit code in the span's path; the request
/// metrics, in every variant alike, aside) last, exporting last.
const VARIANTS: [&str; 6] = [
    "tracing_off",
    "request_span",
    "otel_sampled_out",
    "otel_sampled",
    "bare_hand_span",
    "bare_otel_sampled",
];

/// Variant `name` and the dispatch it runs under; the receiver must outlive it.
/// Making an OpenTelemetry layer switches on, for the whole process, the reading
/// of `traceparent` that only an exporter needs: the instruction counts make one
/// variant alone per process.
fn variant(name: &str, receiver: &opskit_testkit::otlp::Receiver) -> (Dispatch, Router) {
    let routes = Router::new()
        .route("/notes/{id}", get(|| async { "note" }))
        .layer(HttpMetricsLayer::new());
    let traced_routes = || routes.clone().layer(RequestTracingLayer::new());
    let hand_made = || routes.clone().layer(middleware::from_fn(hand_made_span));
    match name {
        "tracing_off" => (Dispatch::new(logging()), routes.clone()),
        "request_span" => (Dispatch::new(logging()), traced_routes()),
        "otel_sampled_out" => (
            traced(&receiver.endpoint(), SamplerName::AlwaysOff),
            traced_routes(),
        ),
        "otel_sampled" => (
            traced(&receiver.endpoint(), SamplerName::AlwaysOn),
            traced_routes(),
        ),
        "bare_hand_span" => (Dispatch::new(tracing_subscriber::registry()), hand_made()),
        "bare_otel_sampled" => (bare_otel(&receiver.endpoint()), hand_made()),
        other => panic!("no variant {other}: one of {VARIANTS:?}"),
    }
}

fn request_tracing(c: &mut Criterion) {
    let _metrics = PrometheusMetrics::install(&opskit::telemetry::build_info!()).unwrap();
    let receiver = opskit_testkit::otlp::Receiver::start().unwrap();
    let mut variants: Vec<_> = VARIANTS
        .iter()
        .map(|name| {
            let (dispatch, router) = variant(name, &receiver);
            (*name, dispatch, router)
        })
        .collect();
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
                    let span = opskit_testkit::request_span_by_hand(
                        "/notes/42",
                        "4bf92f3577b34da6a3ce929d0e0e4736",
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

/// Requests sent through a variant before `measured_requests`, in the
/// `REQUEST_TRACING_ONLY` mode: every lazy static made, every cache warm.
const WARM_UP: usize = 100;

/// The requests callgrind counts with `--toggle-collect=*measured_requests*`.
#[inline(never)]
fn measured_requests(router: &mut Router, requests: Vec<Request<Body>>) {
    for r in requests {
        drop(black_box(call(router, r)));
    }
}

/// `REQUEST_TRACING_ONLY=variant:count` sends `count` requests through one variant
/// (after `WARM_UP` more) and nothing else, for counting instructions under
/// callgrind: collect only inside `measured_requests`, or run it with 0 and with N
/// (the difference over N is the cost of one request); `docs/benchmarks.md` has
/// the commands.
fn only(spec: &str) {
    let (name, count) = spec
        .split_once(':')
        .expect("REQUEST_TRACING_ONLY=variant:count");
    let count: usize = count.parse().expect("a count of requests");
    // No recorder is installed: valgrind cannot run the process metrics' reader of
    // the auxiliary vector. The request metrics' layer is in every variant alike.
    let receiver = opskit_testkit::otlp::Receiver::start().unwrap();
    let (dispatch, mut router) = variant(name, &receiver);
    tracing::dispatcher::with_default(&dispatch, || {
        for _ in 0..WARM_UP {
            assert_eq!(call(&mut router, request()).status(), 200);
        }
        let requests: Vec<_> = (0..count).map(|_| request()).collect();
        measured_requests(&mut router, requests);
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
