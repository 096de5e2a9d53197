//! The runbook drill on real processes of the notes service: start from a clean
//! environment, read the startup log, probe, break a setting, migrate forward, roll
//! back, refuse after a contract migration, drain under SIGTERM — with a canary
//! secret that must appear nowhere.

mod support;

use std::fs;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use opskit::migrate::Policy;
use opskit::secret::canary::Canary;
use opskit_testkit::assert_contains;
use opskit_testkit::sweep::Sweep;
use serde_json::Value;
use support::load::{Load, SlowRequest};
use support::process::{Service, events, get, request};
use support::prometheus;

fn names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["event"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_runbook_drill() {
    let notes = support::notes();
    let previous = support::notes_previous();
    let dir = tempfile::tempdir().unwrap();
    let token = Canary::new("api-token");
    let token_file = dir.path().join("api_token");
    fs::write(&token_file, format!("{}\n", token.value())).unwrap();
    fs::set_permissions(&token_file, fs::Permissions::from_mode(0o400)).unwrap();
    let data = dir.path().join("data");
    let env = [
        ("NOTES_LISTEN", "127.0.0.1:0"),
        ("NOTES_DATA_DIR", data.to_str().unwrap()),
        ("NOTES_API_TOKEN_FILE", token_file.to_str().unwrap()),
        ("NOTES_DRAIN_DELAY", "2s"),
        // Contract migrations wait, so that release N-1 can still be rolled back to.
        ("NOTES_MIGRATE", "expand"),
    ];
    // Everything a person or a collector could see of the run, swept at the end.
    let mut seen = Sweep::default();

    // 1. Start release N from a clean environment: it migrates and serves.
    let service = Service::start(&notes, dir.path(), &env);
    let address = service.address();
    for probe in ["/livez", "/readyz", "/startupz"] {
        let (status, body) = get(address, probe).unwrap();
        assert_eq!(status, 200, "{probe}: {body}");
        seen.record("a response body", &body);
    }
    let auth = format!("Bearer {}", token.value());
    let (status, body) = request(
        address,
        "POST",
        "/notes",
        &[("content-type", "application/json")],
        r#"{"title":"t","body":"b"}"#,
    )
    .unwrap();
    assert_eq!(status, 401, "{body}");
    seen.record("a response body", &body);
    let (status, body) = request(
        address,
        "POST",
        "/notes",
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        r#"{"title":"first","body":"kept through the drill","tags":"drill"}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    seen.record("a response body", &body);
    let (status, body) = get(address, "/notes").unwrap();
    assert_eq!(status, 200);
    seen.record("GET /notes", &body);
    let listed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed[0]["title"], "first");
    assert_eq!(listed[0]["tags"], "drill");
    let (status, metrics) = get(address, "/metrics").unwrap();
    assert_eq!(status, 200);
    seen.record("GET /metrics", &metrics);
    let families = prometheus::parse(&metrics).unwrap_or_else(|e| panic!("{e}\n{metrics}"));
    assert_eq!(families["notes_build_info"].samples[0].value, 1.0);
    let routes: Vec<&str> = families["http_server_request_duration_seconds"]
        .samples
        .iter()
        .map(|s| s.labels["http_route"].as_str())
        .collect();
    assert!(routes.contains(&"/notes"), "{routes:?}");

    // 2. SIGTERM under load: uploads still arriving when the signal comes, and
    //    clients that keep reading until readiness fails (as a load balancer keeps
    //    routing until it drops the replica). Readiness fails at once, the listener
    //    closes after the drain delay with the uploads still in flight, every request
    //    is answered, the service exits 0.
    let uploads: Vec<SlowRequest> = (0..8)
        .map(|i| {
            SlowRequest::begin(
                address,
                "POST",
                "/notes",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &auth),
                ],
                &format!(r#"{{"title":"in flight {i}","body":"sent across the SIGTERM"}}"#),
            )
            .unwrap()
        })
        .collect();
    let load = Load::start(address, "/notes", 4);
    std::thread::sleep(Duration::from_millis(300));
    service.terminate();
    service.wait_for("service.draining");
    let draining = Instant::now();
    let (status, body) = get(address, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    seen.record("a response body", &body);
    // The load balancer sees the failing readiness and stops routing here.
    std::thread::sleep(Duration::from_millis(200));
    let sent = load.stop();
    for request in &sent {
        seen.record("a load response", &request.body);
    }
    let failed: Vec<_> = sent.iter().filter(|s| s.result != Ok(200)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests were not answered 200; the first: {:?}",
        failed.len(),
        sent.len(),
        &failed[..failed.len().min(5)]
    );
    let after_signal = sent.iter().filter(|s| s.at > draining).count();
    assert!(
        after_signal > 0,
        "the load kept running into the drain ({} requests in all)",
        sent.len()
    );
    let closes = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(address).is_ok() {
        assert!(
            Instant::now() < closes,
            "the listener still accepts 5 s after the drain began"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for upload in uploads {
        let (status, body) = upload.finish().expect("the in-flight upload is answered");
        assert_eq!(status, 201, "{body}");
        seen.record("a response body", &body);
    }
    let (code, lines, stderr) = service.finish();
    assert_eq!(code, 0, "{stderr}");
    let startup = events(&lines);
    let order: Vec<String> = names(&startup)
        .into_iter()
        .filter(|n| n.starts_with("service.") || n.starts_with("schema."))
        .collect();
    // The listener comes up while the schema is brought up to date (so a database
    // that is slow to come up leaves the service alive, not ready); ready only
    // after both.
    let mut middle = order[1..6].to_vec();
    middle.sort();
    assert_eq!(order[0], "service.starting", "{order:?}");
    assert_eq!(
        middle,
        [
            "schema.contract_held_back",
            "schema.migrated",
            "schema.migrated",
            "schema.status",
            "service.listening"
        ],
        "{order:?}"
    );
    assert_eq!(
        order[6..],
        ["service.ready", "service.draining", "service.stopped"],
        "{order:?}"
    );
    assert_eq!(startup.last().unwrap()["event"], "service.stopped");
    seen.record("stdout", lines.join("\n"));
    seen.record("stderr", &stderr);

    // 3. Break one setting: exit 78, the variable named, on stderr and in the log.
    let mut broken = env.to_vec();
    broken[0] = ("NOTES_LISTEN", "localhost");
    let service = Service::spawn(&notes, dir.path(), &broken);
    let (code, lines, stderr) = service.finish();
    assert_eq!(code, 78, "{stderr}");
    assert_contains(&stderr, "NOTES_LISTEN invalid value \"localhost\"");
    let invalid = events(&lines)
        .into_iter()
        .find(|e| e["event"] == "config.invalid")
        .expect("config.invalid");
    assert_eq!(invalid["variables"], "NOTES_LISTEN");
    seen.record("stdout", lines.join("\n"));
    seen.record("stderr", &stderr);

    // 4. Roll back to release N-1: it starts, and warns that the schema is ahead.
    let service = Service::start(&previous, dir.path(), &env);
    let (status, body) = get(service.address(), "/notes").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("kept through the drill") && !body.contains("tags"),
        "{body}"
    );
    seen.record("a response body", &body);
    let (status, body) = get(service.address(), "/readyz").unwrap();
    assert_eq!(status, 200, "ahead but compatible is ready (warn): {body}");
    assert!(body.contains(r#""status":"warn""#), "{body}");
    seen.record("GET /readyz of release N-1", &body);
    let (lines, stderr) = service.stop();
    let schema = events(&lines)
        .into_iter()
        .find(|e| e["event"] == "schema.status")
        .unwrap();
    assert_eq!(schema["level"], "WARN");
    assert_eq!(schema["state"], "ahead_compatible");
    seen.record("stdout", lines.join("\n"));
    seen.record("stderr", &stderr);

    // 5. A newer release applies a contract migration; release N-1 now refuses.
    let url = format!("sqlite://{}?mode=rwc", data.join("notes.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let next = support::next_release("sqlite").await;
        next.run(&url, Policy::Apply).await.unwrap();
    });
    let service = Service::spawn(&previous, dir.path(), &env);
    let (code, lines, stderr) = service.finish();
    assert_eq!(code, 65, "{stderr}");
    let all = events(&lines);
    let refusal = all.iter().find(|e| e["event"] == "schema.status").unwrap();
    assert_eq!(refusal["level"], "ERROR");
    let message = refusal["message"].as_str().unwrap();
    assert!(message.contains("4 (rename body) is contract"), "{message}");
    assert_contains(message, "releases before it read \"body\"");
    assert!(
        message
            .contains("Roll forward to a release that knows migration 4, or restore the database"),
        "{message}"
    );
    assert_eq!(all.last().unwrap()["event"], "service.stopped");
    assert_eq!(all.last().unwrap()["exit_code"], 65);
    seen.record("stdout", lines.join("\n"));
    seen.record("stderr", &stderr);

    // 6. No data lost.
    let count = |content: &str| -> i64 {
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query_scalar("SELECT COUNT(*) FROM notes WHERE content = $1")
                .bind(content)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        })
    };
    assert_eq!(count("kept through the drill"), 1);
    assert_eq!(
        count("sent across the SIGTERM"),
        8,
        "every upload answered 201 during the shutdown is stored"
    );

    // The canary token appears nowhere anyone could read.
    seen.assert_clean(&[token.value()]);
}

#[test]
fn without_a_token_writes_are_refused_and_the_log_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let service = Service::start(
        &support::notes(),
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
        ],
    );
    let (status, body) = request(
        service.address(),
        "POST",
        "/notes",
        &[("content-type", "application/json")],
        r#"{"title":"t","body":"b"}"#,
    )
    .unwrap();
    assert_eq!(status, 403);
    assert_contains(&body, "writes are disabled: the service has no API token");
    service.terminate();
    let (code, lines, _) = service.finish();
    assert_eq!(code, 0);
    assert!(
        events(&lines)
            .iter()
            .any(|e| e["event"] == "notes.writes_disabled" && e["level"] == "WARN")
    );
}

#[test]
fn production_refuses_laptop_defaults_with_every_reason_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let production = [("NOTES_DEPLOYMENT", "production"), ("LOG_FORMAT", "pretty")];
    let (code, _, stderr) = support::run_in(dir.path(), &production);
    assert_eq!(code, 78, "{stderr}");
    for expected in [
        "invalid configuration: 3 problems",
        "NOTES_API_TOKEN is not set, which refuses every write; production needs it",
        "NOTES_DATABASE_URL is not set, so notes would live in an SQLite file inside one container",
        "LOG_FORMAT gives human-readable lines",
    ] {
        assert!(
            stderr.contains(expected),
            "stderr lacks {expected:?}:\n{stderr}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "nothing was created before the refusal"
    );
}
