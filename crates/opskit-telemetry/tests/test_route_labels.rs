//! Route labels come from axum's matched route template, never the raw path.

use axum::Router;
use axum::routing::get;
use http::Request;
use metrics_util::debugging::DebuggingRecorder;
use opskit_telemetry::HttpMetricsLayer;
use tower::ServiceExt;

#[tokio::test]
async fn route_labels_are_templates_and_unmatched_paths_share_one_label() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();

    let app = Router::new()
        .route("/notes/{id}", get(|| async { "note" }))
        .layer(HttpMetricsLayer::new());
    for path in [
        "/notes/1",
        "/notes/2",
        "/notes/3",
        "/nothing/here",
        "/or/here",
    ] {
        let _ = app
            .clone()
            .oneshot(Request::get(path).body(axum::body::Body::empty()).unwrap())
            .await
            .unwrap();
    }

    let mut routes: Vec<(String, String, usize)> = snapshotter
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
                label("http_route"),
                label("http_response_status_code"),
                count,
            )
        })
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        [
            ("/notes/{id}".to_owned(), "200".to_owned(), 3),
            ("unmatched".to_owned(), "404".to_owned(), 2)
        ]
    );
}
