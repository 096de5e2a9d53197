//! A request whose service fails (no response at all) is still counted: its status
//! label is `error`, and `route_fn` names requests that carry no route template.

mod common;

use std::borrow::Cow;

use http::{Request, Response};
use metrics_util::debugging::DebugValue;
use opskit_telemetry::HttpMetricsLayer;
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[tokio::test]
async fn a_failed_request_is_recorded_with_the_error_status_and_the_named_route() {
    let snapshotter = common::install_recorder();

    let service = ServiceBuilder::new()
        .layer(HttpMetricsLayer::new().route_fn(|_, uri| {
            Cow::Borrowed(if uri.path().starts_with("/jobs/") {
                "/jobs/{id}"
            } else {
                "other"
            })
        }))
        .service(service_fn(|request: Request<()>| async move {
            if request.uri().path().ends_with("/fail") {
                Err("the backend went away")
            } else {
                Ok(Response::new(()))
            }
        }));
    for path in ["/jobs/1", "/jobs/2/fail", "/jobs/3/fail", "/elsewhere"] {
        let _ = service
            .clone()
            .oneshot(Request::get(path).body(()).unwrap())
            .await;
    }

    let series =
        common::duration_series(&snapshotter, &["http_route", "http_response_status_code"]);
    let expected = common::owned(&[
        (["/jobs/{id}", "200"], 1),
        (["/jobs/{id}", "error"], 2),
        (["other", "200"], 1),
    ]);
    assert_eq!(series, expected);

    // Every request ended, failed ones included: none is still counted as active.
    // The gauge must be there: a sum over no series would be 0 too.
    let active: Vec<f64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "http_server_active_requests")
        .map(|(_, _, _, value)| match value {
            DebugValue::Gauge(value) => value.into_inner(),
            other => panic!("not a gauge: {other:?}"),
        })
        .collect();
    assert!(
        !active.is_empty(),
        "http_server_active_requests was never set"
    );
    assert_eq!(active.iter().sum::<f64>(), 0.0, "{active:?}");
}
