//! opskit's layers with tower-http's Trace, Compression, Timeout and Cors, in both
//! orders, through `Router::layer` and `ServiceBuilder`, served by `axum::serve`
//! and by plain hyper: each stack compiles as written and does what the docs say
//! its order does.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use opskit::health::Health;
use opskit::telemetry::{BuildInfo, HttpMetricsLayer, HttpService, PrometheusMetrics};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// One recorder per process: every test shares it.
fn metrics() -> &'static PrometheusMetrics {
    static METRICS: OnceLock<PrometheusMetrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        PrometheusMetrics::install(&BuildInfo {
            name: "tower_http_test",
            ..opskit::telemetry::build_info!()
        })
        .unwrap()
    })
}

/// A registry with a check, so `/readyz` answers with more than the 32 bytes below
/// which tower-http's compression leaves a body alone.
fn health() -> Health {
    let health = Health::builder()
        .version("1.0.0")
        .check(
            "queue",
            || async { opskit::health::Outcome::pass() },
            opskit::health::CheckOptions::new().component_type("component"),
        )
        .build()
        .unwrap();
    health.mark_started();
    health
}

/// The application: a page long enough to be worth compressing, request metrics
/// inside the router (they need the matched route).
fn router() -> Router {
    Router::new()
        .route("/page", get(|| async { "a line of the page\n".repeat(50) }))
        .layer(HttpMetricsLayer::new())
}

fn timeout() -> TimeoutLayer {
    TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(5))
}

async fn serve_axum(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// Serves any tower service with plain hyper, as `opskit::telemetry::serve` does.
async fn serve_hyper<S: HttpService>(service: S) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

/// What a browser-like client sees: status, content encoding, the CORS header.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: u16,
    gzip: bool,
    cors: bool,
}

async fn get_seen(address: SocketAddr, path: &str) -> Seen {
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", "localhost")
        .header("accept-encoding", "gzip")
        .header("origin", "https://app.example")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let seen = Seen {
        status: response.status().as_u16(),
        gzip: response
            .headers()
            .get("content-encoding")
            .is_some_and(|v| v == "gzip"),
        cors: response
            .headers()
            .contains_key("access-control-allow-origin"),
    };
    // The whole body arrives, compressed or not.
    response.into_body().collect().await.unwrap();
    seen
}

const WRAPPED: Seen = Seen {
    status: 200,
    gzip: true,
    cors: true,
};
const BARE: Seen = Seen {
    status: 200,
    gzip: false,
    cors: false,
};

/// tower-http outside opskit's layers: probes and `/metrics` get compression and
/// CORS headers like every page.
async fn assert_outside(address: SocketAddr) {
    assert_eq!(get_seen(address, "/page").await, WRAPPED);
    assert_eq!(get_seen(address, "/readyz").await, WRAPPED);
    assert_eq!(get_seen(address, "/metrics").await, WRAPPED);
}

/// opskit's layers outside tower-http: probes and `/metrics` answer before it, plain.
async fn assert_inside(address: SocketAddr) {
    assert_eq!(get_seen(address, "/page").await, WRAPPED);
    assert_eq!(get_seen(address, "/readyz").await, BARE);
    assert_eq!(get_seen(address, "/metrics").await, BARE);
}

#[tokio::test]
async fn router_layer_with_tower_http_outside_served_by_axum() {
    let health = health();
    let app = router()
        .layer(health.layer())
        .layer(metrics().layer())
        .layer(CompressionLayer::new())
        .layer(CorsLayer::permissive())
        .layer(timeout())
        .layer(TraceLayer::new_for_http());
    assert_outside(serve_axum(app).await).await;
}

#[tokio::test]
async fn router_layer_with_tower_http_inside_served_by_axum() {
    let health = health();
    let app = router()
        .layer(CompressionLayer::new())
        .layer(CorsLayer::permissive())
        .layer(timeout())
        .layer(TraceLayer::new_for_http())
        .layer(health.layer())
        .layer(metrics().layer());
    assert_inside(serve_axum(app).await).await;
}

#[tokio::test]
async fn service_builder_with_tower_http_outside_served_by_hyper() {
    let health = health();
    let service = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        .layer(timeout())
        .layer(CorsLayer::permissive())
        .layer(CompressionLayer::new())
        .layer(metrics().layer())
        .layer(health.layer())
        .service(router());
    assert_outside(serve_hyper(service).await).await;
}

#[tokio::test]
async fn service_builder_with_tower_http_inside_served_by_hyper() {
    let health = health();
    let service = ServiceBuilder::new()
        .layer(metrics().layer())
        .layer(health.layer())
        .layer(TraceLayer::new_for_http())
        .layer(timeout())
        .layer(CorsLayer::permissive())
        .layer(CompressionLayer::new())
        .service(router());
    assert_inside(serve_hyper(service).await).await;
}

/// `axum::serve` wants axum's own body: a `ServiceBuilder` stack is served by
/// turning it into a router service with `Router::new().fallback_service`.
#[tokio::test]
async fn service_builder_stack_served_by_axum_through_fallback_service() {
    let health = health();
    let service = ServiceBuilder::new()
        .layer(metrics().layer())
        .layer(health.layer())
        .layer(CompressionLayer::new())
        .layer(CorsLayer::permissive())
        .service(router());
    let app = Router::new().fallback_service(service);
    assert_inside(serve_axum(app).await).await;
}
