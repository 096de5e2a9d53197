//! Instructions per request, counted by callgrind, of one `GET /notes/42` through
//! a three-route axum router in three stacks, each logging JSON into a sink:
//!
//! - `bare`: the router alone;
//! - `opskit`: what the notes service puts on a request: `HttpMetricsLayer` and
//!   `RequestTracingLayer` on the router (a span with its fields, a request id,
//!   request metrics into the Prometheus recorder), the health layer around it
//!   (a request that is not a probe passes through), opskit's JSON format, with the
//!   `otel` feature compiled in and no exporter configured;
//! - `hand_made`: what users assemble instead: tower-http's `TraceLayer` with an
//!   INFO span, `SetRequestIdLayer` with UUIDs and `PropagateRequestIdLayer`,
//!   axum-prometheus's `PrometheusMetricLayer`, and tracing-subscriber's JSON.
//!
//! Run with `cargo bench --bench request_instructions --features axum,health,otel`;
//! results in `docs/benchmarks.md`. The bench runs itself once per stack under
//! `valgrind --tool=callgrind`, collecting only inside `measured_requests` (after
//! warm-up requests that register every metric series), so what it prints is the
//! steady-state count of one request: the same on a busy machine as on an idle one.
//! Without valgrind it says so and exits.

#![allow(clippy::print_stdout)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::pin::pin;
use std::process::Command;
use std::task::{Context, Poll, Waker};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, Response};
use metrics_exporter_prometheus::PrometheusBuilder;
use opskit::telemetry::{HttpMetricsLayer, LogFormat, LogSettings, RequestTracingLayer};
use tower::{Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tracing::Dispatch;

/// The stacks, in the order they are measured.
const STACKS: [&str; 3] = ["bare", "opskit", "hand_made"];

/// Requests sent before counting (every series registered, every cache warm).
const WARM_UP: usize = 200;

/// Requests counted (`REQUEST_INSTRUCTIONS_REQUESTS` overrides).
const MEASURED: usize = 5_000;

/// Set in the child process valgrind runs: the stack to measure.
const STACK_VAR: &str = "REQUEST_INSTRUCTIONS_STACK";

fn request() -> Request<Body> {
    Request::get("/notes/42")
        .header("host", "notes.example")
        .header("user-agent", "curl/8.5")
        .header("accept", "application/json")
        .body(Body::empty())
        .unwrap()
}

/// The router every stack serves: three routes, as in the notes service, with its
/// state given (as `axum::serve` and the notes service do), so that each handler is
/// made a route once rather than on every request.
fn routes() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/notes",
            get(|| async { "notes" }).post(|| async { "created" }),
        )
        .route(
            "/notes/{id}",
            get(|| async { "note" }).delete(|| async { "" }),
        )
        .with_state(())
}

/// Calls `service` and polls its future once: these handlers answer at once.
fn call<S, B>(service: &mut S, request: Request<Body>) -> Response<B>
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    match pin!(service.call(request)).poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => unreachable!("the handler answers at once"),
    }
}

/// The requests callgrind counts; the only function it collects inside.
#[inline(never)]
fn measured_requests<S, B>(service: &mut S, requests: Vec<Request<Body>>)
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>,
{
    for request in requests {
        drop(black_box(call(service, request)));
    }
}

/// Warms `service` up, checks what it answers, then sends the counted requests.
fn drive<S, B>(dispatch: &Dispatch, mut service: S, request_id: bool, count: usize)
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible>,
{
    tracing::dispatcher::with_default(dispatch, || {
        for _ in 0..WARM_UP {
            let response = call(&mut service, request());
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers().contains_key("x-request-id"), request_id);
        }
        let requests: Vec<_> = (0..count).map(|_| request()).collect();
        measured_requests(&mut service, requests);
    });
}

/// opskit's JSON logging into a sink.
fn opskit_logging() -> Dispatch {
    let settings = LogSettings {
        format: LogFormat::Json,
        ..LogSettings::default()
    };
    Dispatch::new(opskit::telemetry::subscriber(&settings, std::io::sink, false).unwrap())
}

/// Sends `count` requests through `stack`, in this process.
fn run(stack: &str, count: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _runtime = runtime.enter();
    match stack {
        "bare" => drive(&opskit_logging(), routes(), false, count),
        "opskit" => {
            // The recorder `PrometheusMetrics::install` sets, without the process
            // metrics: their reader of the auxiliary vector crashes under valgrind.
            let _metrics = PrometheusBuilder::new().install_recorder().unwrap();
            let health = opskit::health::Health::builder().build().unwrap();
            health.mark_started();
            // As the notes service layers its router: both in one `Router::layer`.
            let app = routes().layer(
                ServiceBuilder::new()
                    .layer(RequestTracingLayer::new())
                    .layer(HttpMetricsLayer::new()),
            );
            let service = ServiceBuilder::new().layer(health.layer()).service(app);
            drive(&opskit_logging(), service, true, count);
        }
        "hand_made" => {
            let (metrics, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
            let app = routes().layer(metrics).layer(
                ServiceBuilder::new()
                    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                    .layer(
                        TraceLayer::new_for_http()
                            .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)),
                    )
                    .layer(PropagateRequestIdLayer::x_request_id()),
            );
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_env_filter("info")
                .with_writer(std::io::sink)
                .finish();
            drive(&Dispatch::new(subscriber), app, true, count);
        }
        other => panic!("{STACK_VAR}={other}: one of {STACKS:?}"),
    }
}

/// Runs this bench under callgrind for `stack` and returns the instructions
/// counted inside `measured_requests`.
fn count_instructions(stack: &str, count: usize, dir: &Path) -> u64 {
    let out = dir.join(format!("{stack}.callgrind"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--toggle-collect=*measured_requests*")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().unwrap())
        .env(STACK_VAR, stack)
        .env("REQUEST_INSTRUCTIONS_REQUESTS", count.to_string())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("valgrind runs");
    assert!(status.success(), "callgrind on {stack}: {status}");
    let text = std::fs::read_to_string(&out).unwrap();
    text.lines()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or(line.strip_prefix("summary:"))
        })
        .and_then(|n| n.trim().parse().ok())
        .expect("callgrind writes its totals")
}

fn main() {
    let count = std::env::var("REQUEST_INSTRUCTIONS_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(MEASURED);
    if let Ok(stack) = std::env::var(STACK_VAR) {
        return run(&stack, count);
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("request_instructions: valgrind is not installed; nothing measured");
        return;
    }
    let dir = std::env::temp_dir().join(format!("request_instructions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let counts: Vec<(&str, f64)> = STACKS
        .iter()
        .map(|stack| {
            (
                *stack,
                count_instructions(stack, count, &dir) as f64 / count as f64,
            )
        })
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    let bare = counts[0].1;
    println!("| stack | instructions per request | added over bare | / bare |");
    println!("|---|---|---|---|");
    for (stack, n) in &counts {
        println!("| {stack} | {n:.0} | {:.0} | {:.2}x |", n - bare, n / bare);
    }
    let (opskit, hand_made) = (counts[1].1, counts[2].1);
    println!(
        "opskit / hand_made: {:.2}x of the instructions, {:.2}x of what each adds",
        opskit / hand_made,
        (opskit - bare) / (hand_made - bare)
    );
}
