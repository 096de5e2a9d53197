//! Traces, as a collector receives them: the notes service exports over OTLP/HTTP
//! to a receiver on loopback that decodes each export with the official protobuf
//! types. The trace continues the caller's `traceparent`, its ids are on the log
//! lines, the request id is kept and echoed, and a collector that is down or slow
//! neither fails requests nor holds the shutdown past the export timeout.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use opskit_testkit::assert_contains;
use opskit_testkit::otlp::Receiver;
use support::process::{Service, event, events, post_json};

const TOKEN: &str = "notes-trace-token";
/// The caller's trace: a trace id and the id of its span that made the call.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
/// The collector's API key: a secret, sent with exports and shown nowhere.
const API_KEY: &str = "canary-otlp-key-4e1b";

/// A raw request: status, head and body.
fn exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(&support::process::request_bytes(
            method, path, headers, body,
        ))
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (
        head[9..12].parse().unwrap(),
        head.to_ascii_lowercase(),
        body.to_owned(),
    )
}

fn create_note(address: SocketAddr) -> u64 {
    let (status, body) = post_json(
        address,
        "/notes",
        TOKEN,
        r#"{"title":"traced","body":"a note"}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_request_is_one_trace_from_the_callers_traceparent_to_the_log_lines() {
    let receiver = Receiver::start().unwrap();
    let endpoint = receiver.endpoint();
    let (_dir, service) = support::start_local(&[
        ("NOTES_API_TOKEN", TOKEN),
        ("NOTES_REQUEST_LOG", "all"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test,team=notes%20team",
        ),
        // Nothing is exported before the shutdown's flush: the test sees that the
        // flush sends what is queued.
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
        // A collector's API key, and a header the traces' own setting overrides.
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            &format!("X-Api-Key={API_KEY},x-tenant=everything"),
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "x-tenant=notes%20traces",
        ),
    ]);
    let address = service.address();
    let id = create_note(address);

    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01");
    let path = format!("/notes/{id}");
    let (status, head, _) = exchange(
        address,
        "GET",
        &path,
        &[
            ("traceparent", &traceparent),
            ("x-request-id", "gateway-7f3a"),
        ],
        "",
    );
    assert_eq!(status, 200);
    assert!(head.contains("\r\nx-request-id: gateway-7f3a"), "{head}");
    // Without a trusted-looking id of its own, the caller gets one made here.
    let (_, head, _) = exchange(
        address,
        "GET",
        "/notes",
        &[("x-request-id", "two words")],
        "",
    );
    let made = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .expect("every response has an x-request-id");
    assert_eq!(made.len(), 32, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");

    assert!(receiver.spans().is_empty(), "exported before the flush");
    let (lines, stderr) = service.stop();

    // The flush at shutdown exported the queue, with the configured headers; the
    // key is on no line.
    let headers = receiver.headers();
    assert_eq!(headers.get("x-api-key").map(String::as_str), Some(API_KEY));
    assert_eq!(
        headers.get("x-tenant").map(String::as_str),
        Some("notes traces")
    );
    let everything = format!("{}\n{stderr}", lines.join("\n"));
    assert!(!everything.contains(API_KEY), "{everything}");
    let spans = receiver.spans();
    let server = spans
        .iter()
        .find(|s| s.trace_id == TRACE_ID && s.kind == 2)
        .unwrap_or_else(|| panic!("no server span in the caller's trace: {spans:#?}"));
    assert_eq!(server.name, "GET /notes/{id}");
    assert_eq!(
        server.parent_span_id, CALLER_SPAN_ID,
        "the caller's span is the parent"
    );
    for (attribute, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/notes/{id}"),
        ("url.path", path.as_str()),
        ("http.response.status_code", "200"),
        ("request_id", "gateway-7f3a"),
    ] {
        assert_eq!(
            server.attributes.get(attribute).map(String::as_str),
            Some(value),
            "{attribute} of {server:#?}"
        );
    }
    assert_eq!(server.resource["service.name"], "notes");
    assert_eq!(server.resource["deployment.environment.name"], "test");
    assert_eq!(server.resource["team"], "notes team");
    assert!(server.resource.contains_key("service.version"));

    // The database query is the server span's child, a client span.
    let query = spans
        .iter()
        .find(|s| s.trace_id == TRACE_ID && s.parent_span_id == server.span_id)
        .unwrap_or_else(|| panic!("no child of the server span: {spans:#?}"));
    assert_eq!(query.name, "SELECT notes");
    assert_eq!(query.kind, 3);
    assert_eq!(query.attributes["db.system.name"], "sqlite");
    assert_eq!(query.attributes["db.operation.name"], "SELECT");

    // The log line of that request carries the same trace and the server span.
    let line = events(&lines)
        .into_iter()
        .find(|e| e["event"] == "http.request" && e["request_id"] == "gateway-7f3a")
        .expect("the request's http.request line");
    assert_eq!(line["trace_id"], TRACE_ID, "{line}");
    assert_eq!(line["span_id"], server.span_id.as_str(), "{line}");
    assert_eq!(line["http_route"], "/notes/{id}");
    assert_eq!(line["http_response_status_code"], "200");
    assert!(
        line["http_server_request_duration_seconds"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // A request without a traceparent starts a trace of its own, logged as such.
    let own = events(&lines)
        .into_iter()
        .find(|e| e["event"] == "http.request" && e["request_id"] == made)
        .expect("the second request's line");
    let own_trace = own["trace_id"].as_str().unwrap();
    assert_ne!(own_trace, TRACE_ID);
    assert!(spans.iter().any(|s| s.trace_id == own_trace && s.kind == 2));
    // Lines outside requests have none of these fields.
    let starting = event(&lines, "service.starting");
    assert!(starting.get("trace_id").is_none() && starting.get("request_id").is_none());
}

/// Requests and shutdown with a collector that never answers in time, then with none
/// listening at all.
#[test]
fn a_collector_down_or_slow_costs_requests_nothing_and_shutdown_at_most_its_timeout() {
    let slow = Receiver::slow(Duration::from_secs(30)).unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    // The slow collector gets a batch every 50 ms, so an export is in flight at
    // shutdown. Nothing listens at the closed one, so a batch sent there fails at
    // once: spans wait the whole run (60 s delay), and the shutdown flush is what
    // finds the collector down. The third finds it down within the run (a queue of
    // 4, a batch every 100 ms), and from then on starts no more traces than the
    // queue can hold.
    for (endpoint, delay, queue) in [
        (slow.endpoint(), "50", "2048"),
        (closed.clone(), "60000", "2048"),
        (closed, "100", "4"),
    ] {
        let (_dir, service) = support::start_local(&[
            ("NOTES_API_TOKEN", TOKEN),
            ("NOTES_DRAIN_DELAY", "0s"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
            ("OTEL_BSP_SCHEDULE_DELAY", delay),
            ("OTEL_BSP_MAX_QUEUE_SIZE", queue),
        ]);
        let address = service.address();
        let mut took: Vec<Duration> = (0..200)
            .map(|_| {
                let started = Instant::now();
                create_note(address);
                started.elapsed()
            })
            .collect();
        took.sort();
        let (median, slowest) = (took[took.len() / 2], took[took.len() - 1]);
        // An export in flight holds the exporter's thread, never a request: a
        // request that waited for the collector would take its 5 s timeout.
        assert!(
            slowest < Duration::from_millis(2500),
            "a request took {slowest:?} with the collector at {endpoint}"
        );
        let asked = Instant::now();
        service.terminate();
        let (code, lines, stderr) = service.finish();
        let shutdown = asked.elapsed();
        assert_eq!(code, 0, "{stderr}");
        assert!(
            shutdown < Duration::from_secs(5 + 5),
            "shutdown took {shutdown:?} with the collector at {endpoint}; the export timeout is 5 s"
        );
        let all = events(&lines);
        assert_eq!(
            all.last().unwrap()["event"],
            "service.stopped",
            "the last line: {:?}",
            lines.last()
        );
        assert_eq!(all.last().unwrap()["exit_code"], 0);
        let flush = all
            .iter()
            .find(|e| e["event"] == "otel.flush_failed")
            .expect("the spans lost at shutdown are reported");
        if queue == "4" {
            let message = flush["message"].as_str().unwrap();
            assert_contains(message, "sampled request trace(s) were not started");
        }
        println!(
            "collector at {endpoint}: median request {median:?}, slowest {slowest:?}, shutdown {shutdown:?}"
        );
    }
}

#[test]
fn otel_settings_join_the_one_report() {
    let dir = tempfile::tempdir().unwrap();
    let (code, lines, stderr) = support::run_in(
        dir.path(),
        &[
            // A collector URL with credentials: reported, its password never shown.
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://otel:canary-endpoint-5c2@collector.example:4318",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=canary-otlp-9d1e, broken",
            ),
            ("NOTES_DATA_DIR", dir.path().to_str().unwrap()),
        ],
    );
    assert_eq!(code, 78, "{stderr}");
    for variable in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ] {
        assert!(stderr.contains(variable), "{variable} not in: {stderr}");
    }
    let mut sweep = opskit_testkit::sweep::Sweep::default();
    sweep.process("notes", &lines, &stderr);
    sweep.assert_clean(&["canary-otlp-9d1e", "canary-endpoint-5c2"]);

    // A value that does not parse is reported with the service's own problems.
    let service = Service::spawn(
        &support::notes(),
        dir.path(),
        &[
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("NOTES_LISTEN", "not-an-address"),
        ],
    );
    let (code, _, stderr) = service.finish();
    assert_eq!(code, 78, "{stderr}");
    assert!(
        stderr.contains("OTEL_TRACES_SAMPLER") && stderr.contains("NOTES_LISTEN"),
        "{stderr}"
    );
}
