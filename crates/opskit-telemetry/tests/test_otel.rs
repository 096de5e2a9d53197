//! The trace a request continues, as a receiver on loopback decodes it, and the
//! context a handler passes on to the next service.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::Request;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_http::HeaderInjector;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opskit_telemetry::{
    LogFormat, LogSettings, OtelSettings, RequestTracingLayer, SamplerName, subscriber,
};
use opskit_testkit::CapturedLogs;
use opskit_testkit::otlp::Receiver;
use tower::ServiceExt;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// opskit's JSON logging into `captured` with the OpenTelemetry layer of `settings`,
/// exporting to `receiver` every 50 ms, as this thread's subscriber until the
/// guard is dropped.
fn traced(
    receiver: &Receiver,
    settings: OtelSettings,
    captured: &CapturedLogs,
) -> tracing::subscriber::DefaultGuard {
    let settings = OtelSettings {
        endpoint: Some(receiver.endpoint().parse().unwrap()),
        schedule_delay_ms: 50,
        ..settings
    };
    let layer = opskit_telemetry::tracing_layer(&settings, &opskit_telemetry::build_info!())
        .unwrap()
        .expect("an endpoint is set");
    let json = LogSettings {
        format: LogFormat::Json,
        ..LogSettings::default()
    };
    tracing::subscriber::set_default(
        subscriber(&json, captured.clone(), false)
            .unwrap()
            .with(layer),
    )
}

/// [`traced`] with `parentbased_traceidratio` at 0.5, logs unread.
fn half_sampled(receiver: &Receiver) -> tracing::subscriber::DefaultGuard {
    let settings = OtelSettings {
        sampler: SamplerName::ParentbasedTraceidratio,
        sampler_arg: Some(0.5),
        ..OtelSettings::default()
    };
    traced(receiver, settings, &CapturedLogs::default())
}

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN_ID: &str = "b7ad6b7169203331";

#[tokio::test]
async fn a_handler_passes_the_requests_trace_on_to_the_service_it_calls() {
    let receiver = Receiver::start().unwrap();
    let captured = CapturedLogs::default();
    let _default = traced(&receiver, OtelSettings::default(), &captured);

    // The handler calls another service: what would it send?
    let app = Router::new()
        .route(
            "/call",
            get(|| async {
                let mut outgoing = http::HeaderMap::new();
                opskit_telemetry::inject_trace_context(&mut outgoing);
                tracing::info!(event = "calling.next");
                format!(
                    "{} {}",
                    outgoing["traceparent"].to_str().unwrap(),
                    outgoing["tracestate"].to_str().unwrap()
                )
            }),
        )
        .layer(RequestTracingLayer::new());
    let body = get_call(
        &app,
        &[
            ("traceparent", &format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01")),
            ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ],
    )
    .await;
    let (sent, state) = body.split_once(' ').unwrap();
    assert_eq!(
        state, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
        "the caller's tracestate goes on"
    );
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

    let line = captured.event("calling.next");
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["span_id"], server.span_id.as_str(), "{line}");
}

/// A handler that does what handlers do inside a request: a child span, a span with
/// the request's span as its explicit parent, a task of its own in the request's
/// span, a log line, and a call to another service, whose `traceparent` it answers
/// with.
fn calling_app() -> Router {
    Router::new()
        .route(
            "/call",
            get(|| async {
                let request = tracing::Span::current();
                tokio::spawn(
                    async { tracing::info_span!("spawned.work").in_scope(|| ()) }
                        .instrument(request.clone()),
                )
                .await
                .unwrap();
                let query = tracing::info_span!("db.query");
                let _query = query.enter();
                let _explicit = tracing::info_span!(parent: &request, "cache.get").entered();
                tracing::info!(event = "calling.next");
                let mut outgoing = http::HeaderMap::new();
                opskit_telemetry::inject_trace_context(&mut outgoing);
                // What a library that propagates OpenTelemetry's current context
                // would send.
                let mut theirs = http::HeaderMap::new();
                TraceContextPropagator::new().inject_context(
                    &opentelemetry::Context::current(),
                    &mut HeaderInjector(&mut theirs),
                );
                let sent = |headers: &http::HeaderMap| {
                    let header = |name| {
                        headers
                            .get(name)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default()
                    };
                    format!("{};{}", header("traceparent"), header("tracestate"))
                };
                format!("{} {}", sent(&outgoing), sent(&theirs))
            }),
        )
        .layer(RequestTracingLayer::new())
}

/// What the handler of [`calling_app`] sends on: its `traceparent`, from
/// `inject_trace_context` (the same from OpenTelemetry's current context is
/// checked to be equal).
async fn call(app: &Router, traceparent: Option<&str>) -> String {
    let headers: Vec<(&str, &str)> = traceparent
        .map(|t| ("traceparent", t))
        .into_iter()
        .collect();
    call_with(app, &headers).await.0
}

/// `GET /call` on `app` with these request headers: the response's body.
async fn get_call(app: &Router, headers: &[(&str, &str)]) -> String {
    let mut request = Request::get("/call");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

/// [`call`] with these request headers: the `traceparent` and `tracestate` the
/// handler sends on.
async fn call_with(app: &Router, headers: &[(&str, &str)]) -> (String, String) {
    let body = get_call(app, headers).await;
    let (ours, theirs) = body.split_once(' ').unwrap();
    assert_eq!(ours, theirs, "both ways of propagating agree");
    let (traceparent, tracestate) = ours.split_once(';').unwrap();
    (traceparent.to_owned(), tracestate.to_owned())
}

#[tokio::test]
async fn a_request_the_caller_did_not_sample_exports_nothing_and_passes_the_decision_on() {
    let receiver = Receiver::start().unwrap();
    let captured = CapturedLogs::default();
    let _default = traced(&receiver, OtelSettings::default(), &captured);
    let app = calling_app();

    // parentbased_always_on, the default: the caller said "not sampled". Its
    // vendors' state goes on with the trace all the same, as W3C Trace Context
    // asks of every participant.
    let dropped = "1f2e3d4c5b6a79880f1e2d3c4b5a6978";
    let (sent, state) = call_with(
        &app,
        &[
            ("traceparent", &format!("00-{dropped}-{CALLER_SPAN_ID}-00")),
            ("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
        ],
    )
    .await;
    assert_eq!(state, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
    let parts: Vec<&str> = sent.split('-').collect();
    assert_eq!(
        parts.len(),
        4,
        "the next service gets a traceparent: {sent:?}"
    );
    assert_eq!(parts[1], dropped, "the same trace goes on: {sent}");
    assert_eq!(parts[3], "00", "not sampled, as the caller decided: {sent}");
    let line = captured.event("calling.next");
    assert_eq!(line["trace_id"], dropped, "{line}");
    assert_eq!(line["span_id"], parts[2], "{line}");

    // A sampled request after it: once its spans are in, the dropped one's would be.
    let sent = call(&app, Some(&format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01"))).await;
    assert!(sent.ends_with("-01"), "{sent}");
    let spans = receiver
        .wait_for(Duration::from_secs(10), |s| {
            s.trace_id == TRACE_ID && s.name == "GET /call"
        })
        .expect("the sampled request is exported");
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["GET /call", "cache.get", "db.query", "spawned.work"],
        "{spans:#?}"
    );
    assert!(
        spans.iter().all(|s| s.trace_id == TRACE_ID),
        "nothing of the dropped request is exported, not even as a trace of its own: {spans:#?}"
    );
}

#[tokio::test]
async fn a_ratio_sampler_exports_the_share_it_is_set_to_with_every_child() {
    let receiver = Receiver::start().unwrap();
    let _default = half_sampled(&receiver);
    let app = calling_app();
    let mut sampled = std::collections::BTreeSet::new();
    let mut not_sampled = std::collections::BTreeSet::new();
    let mut last = String::new();
    for _ in 0..400 {
        let sent = call(&app, None).await;
        let parts: Vec<&str> = sent.split('-').collect();
        assert_eq!(parts.len(), 4, "{sent:?}");
        if parts[3] == "01" {
            last = parts[1].to_owned();
            sampled.insert(last.clone());
        } else {
            not_sampled.insert(parts[1].to_owned());
        }
    }
    // The decision is taken once, on the trace id the trace then has: a second one
    // by the SDK on another id would export a quarter.
    assert!(
        (140..260).contains(&sampled.len()),
        "{} of 400 sampled at 0.5",
        sampled.len()
    );
    receiver
        .wait_for(Duration::from_secs(10), |s| {
            s.trace_id == last && s.name == "GET /call"
        })
        .expect("the sampled requests are exported");
    // Batches are exported in order: every earlier one is in.
    let spans = receiver.spans();
    let exported: std::collections::BTreeSet<String> =
        spans.iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(exported, sampled, "exactly the traces sent on as sampled");
    assert_eq!(
        spans.len(),
        4 * sampled.len(),
        "each with its three children"
    );
    assert!(exported.is_disjoint(&not_sampled));
}

#[tokio::test]
async fn a_request_served_inside_a_traced_span_continues_its_trace() {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let receiver = Receiver::start().unwrap();
    let _default = half_sampled(&receiver);
    let app = calling_app();
    for _ in 0..40 {
        // A job of this service's own serves a request in-process.
        let job = tracing::info_span!("job");
        let outer = job.context().span().span_context().clone();
        let sent = call(&app, None).instrument(job).await;
        let parts: Vec<&str> = sent.split('-').collect();
        assert_eq!(parts.len(), 4, "{sent:?}");
        assert_eq!(
            parts[1],
            outer.trace_id().to_string(),
            "the job's trace goes on"
        );
        assert_eq!(
            parts[3] == "01",
            outer.is_sampled(),
            "the request follows the job's decision"
        );
    }
}
