//! Loopback load on `/readyz`: a bare hyper handler that returns a static 200
//! against the same handler behind the health layer with a registered check that
//! takes 500 ms. Each server runs on a one-thread runtime; `wrk` (from Debian:
//! `apt-get install wrk`) loads one at a time, alternating, in the same run.
//!
//! Run with `cargo bench --bench health_load --features health,telemetry`
//! (`LOAD_SECONDS=10` by default per round, two rounds). Results in
//! `docs/benchmarks.md`.

#![allow(missing_docs, clippy::print_stdout)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use opskit::health::{CheckOptions, Health, Outcome};
use opskit::telemetry::HttpService;
use tower::{Layer, service_fn};

/// Serves `service` on a loopback port from a one-thread runtime of its own.
fn serve<S: HttpService>(make: impl FnOnce() -> S + Send + 'static) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let service = make();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
    });
    rx.recv().unwrap()
}

fn handler() -> impl tower::Service<
    Request<hyper::body::Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone
+ Send {
    service_fn(|_: Request<hyper::body::Incoming>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
            b"{\"status\":\"pass\"}",
        ))))
    })
}

/// Requests per second and p99 latency in milliseconds, from `wrk --latency`.
fn wrk(addr: SocketAddr, seconds: u64) -> (f64, f64) {
    opskit_testkit::load::wrk(
        Command::new("wrk"),
        &format!("http://{addr}/readyz"),
        seconds,
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and IDEs probe bench binaries this way.
    }
    let seconds: u64 = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let bare = serve(handler);
    let layered = serve(|| {
        let health = Health::builder()
            .check(
                "slow",
                || async {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    Outcome::pass()
                },
                CheckOptions::new()
                    .interval(Duration::from_secs(1))
                    .timeout(Duration::from_secs(2)),
            )
            .build()
            .unwrap();
        health.mark_started();
        let layer = health.layer();
        layer.layer(handler())
    });
    // Let the 500 ms check finish its first run so /readyz passes.
    std::thread::sleep(Duration::from_millis(700));

    println!(
        "| round | bare req/s | bare p99 | layered req/s | layered p99 | throughput ratio | p99 ratio |"
    );
    println!("|---|---|---|---|---|---|---|");
    for round in 1..=2 {
        let (bare_rps, bare_p99) = wrk(bare, seconds);
        let (layered_rps, layered_p99) = wrk(layered, seconds);
        println!(
            "| {round} | {bare_rps:.0} | {bare_p99:.2} ms | {layered_rps:.0} | {layered_p99:.2} ms | {:.2} | {:.2} |",
            layered_rps / bare_rps,
            layered_p99 / bare_p99
        );
    }
}
