//! Route labels come from axum's matched route template, never the raw path.

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use http::Request;
use http::StatusCode;
use metrics_util::debugging::DebuggingRecorder;
use opskit_telemetry::HttpMetricsLayer;
use tower::ServiceExt;

#[tokio::test]
async fn route_labels_are_templates_and_each_method_and_status_is_its_own_series() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();

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

    let mut routes: Vec<(String, String, String, usize)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "http_server_request_duration_seconds")
        .map(|(key, _, _, value)| {
            let label = |name: &str| {
                key.key()
                    .labels()
                    .find(|l| l.key() == name)
                    .unwrap()
                    .value()
                    .to_owned()
            };
            let count = match value {
                metrics_util::debugging::DebugValue::Histogram(samples) => samples.len(),
                other => panic!("not a histogram: {other:?}"),
            };
            (
                label("http_request_method"),
                label("http_route"),
                label("http_response_status_code"),
                count,
            )
        })
        .collect();
    routes.sort();
    let expected = [
        ("GET", "/notes/{id}", "200", 3),
        ("GET", "/notes/{id}", "500", 1),
        ("GET", "unmatched", "404", 2),
        ("POST", "/notes/{id}", "201", 2),
    ]
    .map(|(m, r, s, n)| (m.to_owned(), r.to_owned(), s.to_owned(), n));
    assert_eq!(routes, expected);
}
