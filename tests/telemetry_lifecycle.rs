//! The minimal example service as a real process: JSON logs, the lifecycle events in
//! order, `/metrics` in the Prometheus text format, and a graceful SIGTERM under load.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opskit::secret::canary::{Canary, assert_no_leak};
use serde_json::Value;
use support::prometheus;

struct Service {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    events: Receiver<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
    address: SocketAddr,
}

impl Service {
    fn start(env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(support::example_with_features("minimal", &["telemetry"]))
            .env_clear()
            .env("LOG_FORMAT", "json")
            .env("APP_LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (sender, events) = channel();
        let stdout = child.stdout.take().unwrap();
        let all = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                all.lock().unwrap().push(line.clone());
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    let _ = sender.send(event);
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buffer = Vec::new();
            let _ = pipe.read_to_end(&mut buffer);
            sink.lock().unwrap().extend(buffer);
        });
        let mut service = Self {
            child,
            lines,
            events,
            stderr,
            address: "0.0.0.0:0".parse().unwrap(),
        };
        let listening = service.wait_for("service.listening");
        service.address = listening["address"].as_str().unwrap().parse().unwrap();
        service.wait_for("service.ready");
        service
    }

    fn wait_for(&self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(value) if value["event"] == event => return value,
                Ok(_) => {}
                Err(_) => panic!(
                    "no {event} event; output so far:\n{}",
                    self.lines.lock().unwrap().join("\n")
                ),
            }
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit code and returns stdout's lines and stderr.
    fn finish(mut self) -> (i32, Vec<String>, Vec<u8>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the service did not stop within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100)); // let the readers drain the pipes
        let lines = self.lines.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        (status.code().unwrap_or(-1), lines, stderr)
    }
}

/// A plain HTTP/1.1 request over a new connection; status and body.
fn get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[test]
fn json_logs_lifecycle_order_metrics_and_no_secret() {
    let token = Canary::new("api-token");
    let service = Service::start(&[("APP_API_TOKEN", token.value())]);
    assert_eq!(get(service.address, "/").unwrap(), (200, "hello\n".into()));
    assert_eq!(get(service.address, "/no/such/page").unwrap().0, 404);
    assert_eq!(get(service.address, "/readyz").unwrap().0, 200);

    let (status, body) = get(service.address, "/metrics").unwrap();
    assert_eq!(status, 200);
    let families = prometheus::parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    let family = |name: &str| {
        families
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in:\n{body}"))
    };

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

    let build = family("opskit_build_info");
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

    service.terminate();
    let (code, lines, stderr) = service.finish();
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));

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
    assert!(
        starting["config"]
            .as_str()
            .unwrap()
            .contains("\"APP_API_TOKEN\"")
    );
    assert_no_leak(lines.join("\n"), token.value(), "stdout");
    assert_no_leak(&stderr, token.value(), "stderr");
}

#[test]
fn sigterm_under_load_fails_readiness_drains_and_finishes_every_request() {
    let service = Service::start(&[
        ("APP_DRAIN_DELAY", "1500ms"),
        ("APP_SHUTDOWN_TIMEOUT", "10s"),
    ]);
    let address = service.address;
    let in_flight: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || get(address, "/slow?ms=2000")))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    service.terminate();
    service.wait_for("service.draining");

    // During the drain delay the service still accepts, and says it is not ready.
    let (status, body) = get(address, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert_eq!(get(address, "/livez").unwrap().0, 200);

    for request in in_flight {
        let (status, body) = request
            .join()
            .unwrap()
            .expect("the in-flight request completes");
        assert_eq!((status, body.as_str()), (200, "slow done\n"));
    }
    let (code, lines, stderr) = service.finish();
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["event"], "service.stopped");
    assert_eq!(last["reason"], "SIGTERM: drained and stopped");
    // After the drain, nothing listens any more.
    assert!(TcpStream::connect(address).is_err());
}
