//! The trace a request continues, as a receiver on loopback decodes it, and the
//! context a handler passes on to the next service.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::Request;
use opskit_telemetry::{LogFormat, LogSettings, OtelSettings, RequestTracingLayer, subscriber};
use opskit_testkit::CapturedLogs;
use opskit_testkit::otlp::Receiver;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN_ID: &str = "b7ad6b7169203331";

#[tokio::test]
async fn a_handler_passes_the_requests_trace_on_to_the_service_it_calls() {
    let receiver = Receiver::start().unwrap();
    let settings = OtelSettings {
        endpoint: Some(receiver.endpoint().parse().unwrap()),
        schedule_delay_ms: 50,
        ..OtelSettings::default()
    };
    let layer = opskit_telemetry::tracing_layer(&settings, &opskit_telemetry::build_info!())
        .unwrap()
        .expect("an endpoint is set");
    let captured = CapturedLogs::default();
    let json = LogSettings {
        format: LogFormat::Json,
        ..LogSettings::default()
    };
    let _default = tracing::subscriber::set_default(
        subscriber(&json, captured.clone(), false)
            .unwrap()
            .with(layer),
    );

    // The handler calls another service: what would it send?
    let app = Router::new()
        .route(
            "/call",
            get(|| async {
                let mut outgoing = http::HeaderMap::new();
                opskit_telemetry::inject_trace_context(&mut outgoing);
                tracing::info!(event = "calling.next");
                outgoing["traceparent"].to_str().unwrap().to_owned()
            }),
        )
        .layer(RequestTracingLayer::new());
    let response = app
        .oneshot(
            Request::get("/call")
                .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    let sent = String::from_utf8(body.to_vec()).unwrap();
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(parts.len(), 4, "{sent}");
    assert_eq!(parts[1], TRACE_ID, "the same trace goes on: {sent}");
    assert_ne!(
        parts[2], CALLER_SPAN_ID,
        "the parent is now this service's span"
    );
    assert_eq!(parts[3], "01", "sampled, as the caller decided");

    let spans = receiver
        .wait_for(Duration::from_secs(10), |s| s.trace_id == TRACE_ID)
        .expect("the server span is exported");
    let server = spans.iter().find(|s| s.trace_id == TRACE_ID).unwrap();
    assert_eq!(
        server.span_id, parts[2],
        "the next service's parent is the server span"
    );
    assert_eq!(server.parent_span_id, CALLER_SPAN_ID);
    assert_eq!(server.name, "GET /call");

    let line = captured
        .events()
        .into_iter()
        .find(|l| l["event"] == "calling.next")
        .unwrap();
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["span_id"], server.span_id.as_str(), "{line}");
}
