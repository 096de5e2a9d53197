//! The notes service's `/metrics` as Prometheus itself sees it: `promtool check
//! metrics` accepts it, and a real Prometheus server scrapes it on loopback and
//! answers queries over it.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::process::{Service, get, request};

const TOKEN: &str = "t0ken-for-prometheus";

/// Whether the Debian package `prometheus` is installed (CI installs it).
fn prometheus_installed() -> bool {
    let found =
        Path::new("/usr/bin/promtool").exists() && Path::new("/usr/bin/prometheus").exists();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs the prometheus package (.ci/run)"
        );
        eprintln!(
            "skipped: promtool and prometheus are not installed (apt-get install prometheus)"
        );
    }
    found
}

fn start_notes() -> (tempfile::TempDir, Service) {
    support::start_local(&[("NOTES_API_TOKEN", TOKEN)])
}

/// A few requests, so every metric family has samples.
fn traffic(address: SocketAddr) {
    for i in 0..5 {
        let auth = format!("Bearer {TOKEN}");
        let (status, _) = request(
            address,
            "POST",
            "/notes",
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            &format!(r#"{{"title":"t{i}","body":"b"}}"#),
        )
        .unwrap();
        assert_eq!(status, 201);
        assert_eq!(get(address, "/notes").unwrap().0, 200);
    }
}

#[test]
fn promtool_accepts_the_metrics() {
    if !prometheus_installed() {
        return;
    }
    let (_dir, service) = start_notes();
    traffic(service.address());
    let (status, body) = get(service.address(), "/metrics").unwrap();
    assert_eq!(status, 200);
    let mut promtool = Command::new("/usr/bin/promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(promtool.stdin.as_mut().unwrap(), body.as_bytes()).unwrap();
    let output = promtool.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && said.trim().is_empty(),
        "promtool:\n{said}\n{body}"
    );
    service.terminate();
    assert_eq!(service.finish().0, 0);
}

/// A Prometheus server with its own data directory, scraping one target every
/// second; killed on drop.
struct Prometheus {
    child: Child,
    address: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn scraping(target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: notes\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let address = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let child = Command::new("/usr/bin/prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self {
            child,
            address,
            _dir: dir,
        }
    }

    /// The result vector of an instant query, polled until `accept` takes it.
    fn query_until(&self, query: &str, accept: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, body)) = get(self.address, &format!("/api/v1/query?query={encoded}")) {
                let answer: Value = serde_json::from_str(&body).unwrap();
                let result = answer["data"]["result"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if accept(&result) {
                    return result;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no acceptable answer to {query} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn number(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn a_real_prometheus_scrapes_and_queries_the_service() {
    if !prometheus_installed() {
        return;
    }
    let (_dir, service) = start_notes();
    let address = service.address();
    let prometheus = Prometheus::scraping(address);

    let up = prometheus.query_until("up", |r| r.first().is_some_and(|s| number(s) == 1.0));
    assert_eq!(up[0]["metric"]["job"], "notes");
    // Traffic over several scrapes, so a rate has two points.
    for _ in 0..4 {
        traffic(address);
        std::thread::sleep(Duration::from_millis(600));
    }
    let routes = prometheus.query_until(
        "sum by (http_route) (http_server_request_duration_seconds_count)",
        |r| r.iter().any(|s| s["metric"]["http_route"] == "/notes"),
    );
    // Labelled by route template, never by a path with an id in it.
    let labels: Vec<&str> = routes
        .iter()
        .map(|s| s["metric"]["http_route"].as_str().unwrap_or("(none)"))
        .collect();
    assert!(
        labels
            .iter()
            .all(|route| !route.contains(|c: char| c.is_ascii_digit())),
        "{labels:?}"
    );
    let checks = prometheus.query_until("health_check_status", |r| r.len() >= 2);
    assert!(
        checks.iter().all(|s| number(s) == 1.0),
        "every check passes: {checks:?}"
    );
    let p90 = prometheus.query_until(
        "histogram_quantile(0.9, sum by (le) (rate(http_server_request_duration_seconds_bucket[5s])))",
        |r| r.first().is_some_and(|s| number(s).is_finite()),
    );
    let seconds = number(&p90[0]);
    assert!(seconds > 0.0 && seconds < 10.0, "p90 {seconds} s");
    println!(
        "prometheus: up 1, {} routes, {} checks, p90 {seconds:.4} s",
        routes.len(),
        checks.len()
    );

    drop(prometheus);
    service.terminate();
    assert_eq!(service.finish().0, 0);
}
