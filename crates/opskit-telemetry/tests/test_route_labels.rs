//! Route labels come from axum's matched route template, never the raw path.

mod common;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use http::Request;
use http::StatusCode;
use opskit_telemetry::HttpMetricsLayer;
use tower::ServiceExt;

#[tokio::test]
async fn route_labels_are_templates_and_each_method_and_status_is_its_own_series() {
    let snapshotter = common::install_recorder();

    let app = Router::new()
        .route(
            "/notes/{id}",
            get(|Path(id): Path<String>| async move {
                if id == "bad" {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            })
            .post(|| async { StatusCode::CREATED }),
        )
        .layer(HttpMetricsLayer::new());
    // One route, three (method, status) series, each counted on its own.
    for (method, path) in [
        ("GET", "/notes/1"),
        ("GET", "/notes/2"),
        ("POST", "/notes/7"),
        ("GET", "/notes/bad"),
        ("GET", "/notes/3"),
        ("POST", "/notes/8"),
        ("GET", "/nothing/here"),
        ("GET", "/or/here"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let _ = app.clone().oneshot(request).await.unwrap();
    }

    let series = common::duration_series(
        &snapshotter,
        &[
            "http_request_method",
            "http_route",
            "http_response_status_code",
        ],
    );
    let expected = common::owned(&[
        (["GET", "/notes/{id}", "200"], 3),
        (["GET", "/notes/{id}", "500"], 1),
        (["GET", "unmatched", "404"], 2),
        (["POST", "/notes/{id}", "201"], 2),
    ]);
    assert_eq!(series, expected);
}
