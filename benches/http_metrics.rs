//! The request-metrics layer's cost per request on an axum route, against the bare
//! router and against axum-prometheus's layer (what users would pick instead), both
//! recording into the same Prometheus recorder.
//!
//! Run with `cargo bench --bench http_metrics --features axum`; results in
//! `docs/benchmarks.md`.

// `criterion_group!` defines an undocumented public function.
#![allow(missing_docs)]

mod common;
mod harness;

use common::call;
use opskit_testkit::assert_contains;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::Criterion;
use http::Request;
use opskit::telemetry::{HttpMetricsLayer, PrometheusMetrics};

fn request() -> Request<Body> {
    Request::get("/notes/42")
        .header("host", "notes.example")
        .body(Body::empty())
        .unwrap()
}

fn request_metrics(c: &mut Criterion) {
    let metrics = PrometheusMetrics::install(&opskit::telemetry::build_info!()).unwrap();
    let routes = || Router::new().route("/notes/{id}", get(|| async { "note" }));
    let mut bare = routes();
    let mut opskit = routes().layer(HttpMetricsLayer::new());
    let mut peer = routes().layer(axum_prometheus::BaseMetricLayer::new());
    // Each answers, and the two layers do record.
    for router in [&mut bare, &mut opskit, &mut peer] {
        assert_eq!(call(router, request()).status(), 200);
    }
    let rendered = metrics.render();
    assert_contains(&rendered, "http_server_request_duration_seconds_count{");
    assert_contains(&rendered, "axum_http_requests_duration_seconds");

    harness::compare!(c, "http_metrics", request, call, {
        "bare" => bare,
        "opskit" => opskit,
        "axum_prometheus" => peer,
    });
}

harness::main!(request_metrics);
