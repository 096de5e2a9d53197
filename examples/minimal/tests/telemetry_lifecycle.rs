//! The minimal example service as a real process: JSON logs, the lifecycle events in
//! order, `/metrics` in the Prometheus text format, and a graceful SIGTERM under load.

use std::net::TcpStream;
use std::time::Duration;

use opskit::secret::canary::Canary;
use opskit_testkit::process::{Service, get};
use opskit_testkit::prometheus;
use opskit_testkit::sweep::Sweep;
use serde_json::Value;

fn start(env: &[(&str, &str)]) -> Service {
    let dir = std::env::temp_dir();
    let mut all = vec![("APP_LISTEN", "127.0.0.1:0")];
    all.extend_from_slice(env);
    Service::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_minimal")),
        &dir,
        &all,
    )
}

#[test]
fn json_logs_lifecycle_order_metrics_and_no_secret() {
    let token = Canary::new("api-token");
    let service = start(&[("APP_API_TOKEN", token.value())]);
    // Everything the test reads goes through one sweep, checked at the end.
    let mut seen = Sweep::default();
    let address = service.address();
    assert_eq!(
        seen.response("GET /", get(address, "/").unwrap()),
        (200, "hello\n".into())
    );
    assert_eq!(
        seen.response("GET /no/such/page", get(address, "/no/such/page").unwrap())
            .0,
        404
    );
    assert_eq!(
        seen.response("GET /readyz", get(address, "/readyz").unwrap())
            .0,
        200
    );

    let (status, body) = seen.response("GET /metrics", get(address, "/metrics").unwrap());
    assert_eq!(status, 200);
    let families = prometheus::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let family = |name: &str| {
        families
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in:\n{body}"))
    };
    // Every family has its HELP text, as Prometheus' `promtool check metrics` wants.
    let without_help: Vec<&String> = families
        .iter()
        .filter(|(_, f)| f.help.as_deref().is_none_or(str::is_empty))
        .map(|(name, _)| name)
        .collect();
    assert!(
        without_help.is_empty(),
        "no HELP for {without_help:?}:\n{body}"
    );

    let duration = family("http_server_request_duration_seconds");
    assert_eq!(duration.kind, "histogram");
    assert_eq!(
        duration.label_sets().into_iter().collect::<Vec<_>>(),
        [vec![
            "http_request_method".to_owned(),
            "http_response_status_code".into(),
            "http_route".into()
        ]]
    );
    let series = |route: &str, code: &str| {
        duration.samples.iter().any(|s| {
            s.name.ends_with("_count")
                && s.labels["http_route"] == route
                && s.labels["http_response_status_code"] == code
                && s.labels["http_request_method"] == "GET"
                && s.value >= 1.0
        })
    };
    assert!(series("/", "200"), "{body}");
    assert!(
        series("unmatched", "404"),
        "the raw path must not be a label:\n{body}"
    );
    assert!(
        !body.contains("/no/such/page"),
        "raw path leaked into labels"
    );
    let bounds: Vec<String> = duration
        .samples
        .iter()
        .filter(|s| s.name.ends_with("_bucket") && s.labels["http_route"] == "/")
        .map(|s| s.labels["le"].clone())
        .collect();
    assert_eq!(
        bounds,
        [
            "0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5",
            "5", "7.5", "10", "+Inf"
        ]
    );

    let active = family("http_server_active_requests");
    assert_eq!(active.kind, "gauge");
    assert_eq!(
        active.label_sets().into_iter().collect::<Vec<_>>(),
        [vec!["http_request_method".to_owned()]]
    );

    // Named after the package (`example-minimal`), as `build_info!()` reads it.
    let build = family(&format!(
        "{}_build_info",
        env!("CARGO_PKG_NAME").replace('-', "_")
    ));
    assert_eq!(build.kind, "gauge");
    assert_eq!(build.samples.len(), 1);
    assert_eq!(build.samples[0].value, 1.0);
    let starting = service
        .lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["event"] == "service.starting")
        .unwrap();
    assert_eq!(
        build.samples[0].labels["revision"],
        starting["commit"].as_str().unwrap()
    );
    assert_eq!(
        build.samples[0].labels["version"],
        env!("CARGO_PKG_VERSION")
    );

    let start = family("process_start_time_seconds");
    assert_eq!(start.kind, "gauge");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - start.samples[0].value).abs() < 600.0,
        "start time {} vs now {now}",
        start.samples[0].value
    );
    assert_eq!(family("health_check_status").kind, "gauge");

    let (lines, stderr) = service.stop();

    let events: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    for event in &events {
        let timestamp = event["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() >= 20 && timestamp.as_bytes()[10] == b'T' && timestamp.ends_with('Z'),
            "{timestamp}"
        );
        for field in ["level", "target", "message"] {
            assert!(event[field].is_string(), "no {field} in {event}");
        }
    }
    let order: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event"].as_str())
        .filter(|name| name.starts_with("service."))
        .collect();
    assert_eq!(
        order,
        [
            "service.starting",
            "service.listening",
            "service.ready",
            "service.draining",
            "service.stopped"
        ]
    );
    assert_eq!(events.last().unwrap()["event"], "service.stopped");
    assert_eq!(events.last().unwrap()["exit_code"], 0);
    assert!(starting["pid"].as_u64().is_some());
    // The configuration is nested JSON a pipeline reads directly, not JSON text.
    let token_setting = starting["config"]
        .as_array()
        .unwrap_or_else(|| panic!("config is an array: {starting}"))
        .iter()
        .find(|s| s["variable"] == "APP_API_TOKEN")
        .unwrap();
    assert_eq!(token_setting["value"], "[REDACTED]");
    assert_eq!(token_setting["secret"], true);
    seen.process("minimal", &lines, &stderr);
    seen.assert_clean(&[token.value()]);
}

#[test]
fn sigterm_under_load_fails_readiness_drains_and_finishes_every_request() {
    let mut service = start(&[
        ("APP_DRAIN_DELAY", "1500ms"),
        ("APP_SHUTDOWN_TIMEOUT", "10s"),
    ]);
    let address = service.address();
    // The requests outlast the drain delay by 2 s: the listener closes while they
    // are still in flight, and the process cannot exit before they finish.
    let in_flight: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || get(address, "/slow?ms=4000")))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    service.terminate();
    service.wait_for("service.draining");
    let draining = std::time::Instant::now();

    // During the drain delay the service still accepts, and says it is not ready.
    let (status, body) = get(address, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert_eq!(get(address, "/livez").unwrap().0, 200);

    // After the drain delay (1.5 s) and before the in-flight requests finish (about
    // 3.7 s after the drain began): nothing listens any more, and the process still
    // runs, so it is the listener that closed, not the process that exited.
    std::thread::sleep(Duration::from_millis(2200).saturating_sub(draining.elapsed()));
    assert!(
        TcpStream::connect(address).is_err(),
        "the listener still accepts 2.2 s after a 1.5 s drain delay began"
    );
    assert!(
        service.is_running(),
        "the process exited with requests in flight"
    );

    for request in in_flight {
        let (status, body) = request
            .join()
            .unwrap()
            .expect("the in-flight request completes");
        assert_eq!((status, body.as_str()), (200, "slow done\n"));
    }
    let (code, lines, stderr) = service.finish();
    assert_eq!(code, 0, "{stderr}");
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["event"], "service.stopped");
    assert_eq!(last["reason"], "SIGTERM: drained and stopped");
}

/// `process_start_time_seconds` and `service.ready`'s `startup_ms` agree, within
/// 50 ms, with the times this test measured around the process it started.
#[test]
fn the_start_time_and_startup_ms_are_true() {
    use std::time::{SystemTime, UNIX_EPOCH};
    let before = SystemTime::now();
    let service = Service::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_minimal")),
        &std::env::temp_dir(),
        &[("APP_LISTEN", "127.0.0.1:0")],
    );
    let listening = service.wait_for("service.listening");
    let ready = service.wait_for("service.ready");
    let ready_seen = before.elapsed().unwrap();
    let address: std::net::SocketAddr = listening["address"].as_str().unwrap().parse().unwrap();

    let started = before.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let (_, body) = get(address, "/metrics").unwrap();
    let families = prometheus::parse(&body).unwrap();
    let reported = families["process_start_time_seconds"].samples[0].value;
    // Between the spawn and the ready line, to the clock tick (10 ms) it is read in:
    // bounds the behaviour guarantees, however slow the machine.
    let ready_at = started + ready_seen.as_secs_f64();
    assert!(
        reported >= started - 0.01 && reported <= ready_at + 0.01,
        "process_start_time_seconds {reported:.3} is not between the spawn at {started:.3} \
         and the ready line at {ready_at:.3}"
    );

    let startup_ms = ready["startup_ms"].as_f64().unwrap();
    let seen_ms = ready_seen.as_secs_f64() * 1000.0;
    // The line is read a little after it is written, never before.
    assert!(
        startup_ms > 0.0 && startup_ms <= seen_ms + 10.0,
        "startup_ms {startup_ms} vs ready seen {seen_ms:.1} ms after the spawn"
    );
    service.terminate();
    assert_eq!(service.finish().0, 0);
}
