//! One span per request, request ids in and out, the request log line, and layers
//! of a user's own stacked on opskit's log format.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use axum::{Extension, Router};
use http::{Request, StatusCode};
use opskit_telemetry::{
    LogFormat, LogSettings, RequestId, RequestLog, RequestTracingLayer, subscriber,
};
use opskit_testkit::CapturedLogs;
use serde_json::Value;
use tower::ServiceExt;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

fn json() -> LogSettings {
    LogSettings {
        format: LogFormat::Json,
        ..LogSettings::default()
    }
}

fn app(layer: RequestTracingLayer) -> Router {
    Router::new()
        .route(
            "/notes/{id}",
            get(|Extension(id): Extension<RequestId>| async move {
                tracing::info!(event = "note.read", "handler sees {id}");
                id.to_string()
            }),
        )
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .layer(layer)
}

/// Sends one request; the response's status, `x-request-id` and body.
async fn call(app: &Router, path: &str, request_id: Option<&str>) -> (u16, String, String) {
    let mut request = Request::get(path);
    if let Some(id) = request_id {
        request = request.header("x-request-id", id);
    }
    let response = app
        .clone()
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let header = response
        .headers()
        .get("x-request-id")
        .expect("every response carries x-request-id")
        .to_str()
        .unwrap()
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, header, String::from_utf8(body.to_vec()).unwrap())
}

/// Counts the request spans it sees: a stand-in for a user's own layer.
#[derive(Clone, Default)]
struct CountSpans(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for CountSpans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() == "request" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test]
async fn a_layer_of_your_own_stacks_on_opskits_format() {
    let captured = CapturedLogs::default();
    let counted = CountSpans::default();
    let subscriber = subscriber(&json(), captured.clone(), false)
        .unwrap()
        .with(counted.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    let (status, id, body) =
        call(&app(RequestTracingLayer::new()), "/notes/7", Some("edge-1")).await;
    assert_eq!(
        (status, id.as_str(), body.as_str()),
        (200, "edge-1", "edge-1")
    );
    assert_eq!(
        counted.0.load(Ordering::SeqCst),
        1,
        "the user's layer saw the span"
    );
    let line = captured
        .events()
        .into_iter()
        .find(|l| l["event"] == "note.read")
        .expect("the handler's line, in opskit's format");
    assert_eq!(line["request_id"], "edge-1", "{line}");
    assert_eq!(line["span"]["name"], "request");
    assert_eq!(line["span"]["http.route"], "/notes/{id}");
    assert_eq!(line["span"]["otel.name"], "GET /notes/{id}");
    assert_eq!(line["span"]["url.path"], "/notes/7");
    // Lines outside a request have no request_id.
    tracing::info!(event = "outside");
    let outside = captured
        .events()
        .into_iter()
        .find(|l| l["event"] == "outside")
        .unwrap();
    assert!(outside.get("request_id").is_none(), "{outside}");
}

#[tokio::test]
async fn request_ids_are_kept_when_trusted_and_well_formed_and_made_otherwise() {
    let captured = CapturedLogs::default();
    let _default =
        tracing::subscriber::set_default(subscriber(&json(), captured.clone(), false).unwrap());
    let trusting = app(RequestTracingLayer::new());
    let wary = app(RequestTracingLayer::new().trust_request_id(false));

    let made = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let (_, kept, _) = call(&trusting, "/notes/1", Some("a1:b2/c3+d4=e5@f6_g7.h8-i9")).await;
    assert_eq!(kept, "a1:b2/c3+d4=e5@f6_g7.h8-i9");
    for unsafe_id in [
        "",
        "two words",
        "quote\"d",
        "{\"json\":1}",
        &"x".repeat(129),
    ] {
        let (_, id, _) = call(&trusting, "/notes/1", Some(unsafe_id)).await;
        assert!(made(&id), "{unsafe_id:?} was kept as {id:?}");
    }
    let (_, replaced, _) = call(&wary, "/notes/1", Some("edge-1")).await;
    assert!(made(&replaced), "{replaced}");
    let (_, first, _) = call(&trusting, "/notes/1", None).await;
    let (_, second, _) = call(&trusting, "/notes/1", None).await;
    assert!(made(&first) && made(&second) && first != second);
}

#[tokio::test]
async fn the_request_log_line_follows_its_setting_with_the_metrics_names() {
    for (setting, expected) in [
        (RequestLog::Off, vec![]),
        (RequestLog::Errors, vec![("/broken", "WARN", "500")]),
        (
            RequestLog::All,
            vec![("/notes/{id}", "INFO", "200"), ("/broken", "WARN", "500")],
        ),
    ] {
        let captured = CapturedLogs::default();
        let _default =
            tracing::subscriber::set_default(subscriber(&json(), captured.clone(), false).unwrap());
        let app = app(RequestTracingLayer::new().request_log(setting));
        call(&app, "/notes/3", Some("r-1")).await;
        call(&app, "/broken", Some("r-2")).await;
        let lines: Vec<Value> = captured
            .events()
            .into_iter()
            .filter(|l| l["event"] == "http.request")
            .collect();
        let seen: Vec<_> = lines
            .iter()
            .map(|l| {
                (
                    l["http_route"].as_str().unwrap().to_owned(),
                    l["level"].as_str().unwrap().to_owned(),
                    l["http_response_status_code"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<_> = expected
            .iter()
            .map(|(r, l, s)| ((*r).to_owned(), (*l).to_owned(), (*s).to_owned()))
            .collect();
        assert_eq!(seen, expected, "{setting:?}");
        for line in &lines {
            assert_eq!(line["http_request_method"], "GET");
            // A measured duration: a request takes some time, never none.
            let seconds = line["http_server_request_duration_seconds"]
                .as_f64()
                .unwrap();
            assert!(seconds > 0.0 && seconds.is_finite(), "{line}");
            assert!(line["request_id"].as_str().unwrap().starts_with("r-"));
        }
    }
}

/// The `span` and `spans` of the first line `handler_lines` writes inside a request
/// to `path`, and of the same line written inside a span made by hand with the
/// fields the request span has.
async fn request_span_beside_one_made_by_hand<F>(path: &str, handler_lines: F) -> [Value; 2]
where
    F: Fn() + Clone + Send + Sync + 'static,
{
    let captured = CapturedLogs::default();
    let _default =
        tracing::subscriber::set_default(subscriber(&json(), captured.clone(), false).unwrap());
    let lines = handler_lines.clone();
    let app = Router::new()
        .route(
            "/notes/{id}",
            get(move || async move {
                lines();
            }),
        )
        .layer(RequestTracingLayer::new());
    call(&app, path, Some("edge-9")).await;
    let by_hand = opskit_testkit::request_span_by_hand(path, "edge-9");
    by_hand.in_scope(handler_lines);
    let shown: Vec<Value> = captured
        .events()
        .into_iter()
        .filter(|l| l["event"] == "in.request")
        .map(|l| serde_json::json!({"span": l["span"], "spans": l["spans"]}))
        .collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    [shown[0].clone(), shown[1].clone()]
}

#[tokio::test]
async fn a_request_spans_fields_are_on_its_lines_as_a_span_made_with_them_shows_them() {
    // A line in the request, in a span inside it, and lines whose span is not the
    // current one's: each shows the request's span as it was made.
    let long_path = format!("/notes/{}", "9".repeat(80));
    for path in ["/notes/7", long_path.as_str()] {
        let [request, by_hand] = request_span_beside_one_made_by_hand(path, || {
            tracing::info!(event = "in.request");
        })
        .await;
        assert_eq!(request, by_hand);
        assert_eq!(request["span"]["url.path"], path, "{request}");
        assert_eq!(request["span"]["otel.name"], "GET /notes/{id}", "{request}");
        assert_eq!(request["span"]["request_id"], "edge-9", "{request}");
    }
    let [request, by_hand] = request_span_beside_one_made_by_hand("/notes/7", || {
        tracing::info_span!("inner", step = 1).in_scope(|| tracing::info!(event = "in.request"));
    })
    .await;
    assert_eq!(request, by_hand);
    assert_eq!(
        request["spans"][0]["http.route"], "/notes/{id}",
        "{request}"
    );
    let [request, by_hand] = request_span_beside_one_made_by_hand("/notes/7", || {
        tracing::info!(parent: None, event = "in.request");
    })
    .await;
    assert_eq!(request, by_hand);
    assert_eq!(request["spans"][0]["url.path"], "/notes/7", "{request}");
}

#[tokio::test]
async fn a_field_recorded_on_the_request_span_is_on_its_later_lines() {
    let [request, by_hand] = request_span_beside_one_made_by_hand("/notes/7", || {
        tracing::Span::current().record("http.route", "/notes/{other}");
        tracing::info!(event = "in.request");
    })
    .await;
    assert_eq!(request, by_hand);
    assert_eq!(request["span"]["http.route"], "/notes/{other}", "{request}");
    assert_eq!(request["span"]["url.path"], "/notes/7", "{request}");
}
