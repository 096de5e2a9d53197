//! The course module's operational failure cases, each provoked on the real notes
//! service and detected by it: exit code and message, log event, health status,
//! metric, or warning. (The rollback case and the broken setting are in
//! `notes_drill.rs`.)

mod support;

use std::net::TcpListener;

use opskit_testkit::assert_contains;
use opskit_testkit::sweep::Sweep;
use serde_json::Value;
use support::process::{Service, event, events, get, request, text};
use support::start_local;

fn notes() -> std::path::PathBuf {
    support::notes()
}

/// Runs the service in a directory of its own with `env` until it exits: its exit
/// code, log lines and stderr.
fn run_to_exit(env: &[(&str, &str)]) -> (i32, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    support::run_in(dir.path(), env)
}

/// [`run_to_exit`] as a production deployment with its API token, and `env`.
fn run_in_production(env: &[(&str, &str)]) -> (i32, Vec<String>, String) {
    let production = [
        ("NOTES_DEPLOYMENT", "production"),
        ("NOTES_API_TOKEN", "t0ken-for-test"),
    ];
    run_to_exit(&[&production[..], env].concat())
}

#[test]
fn missing_environment_variable_in_production_exits_78_naming_it() {
    let (code, lines, stderr) = run_in_production(&[]);
    assert_eq!(code, 78);
    assert!(stderr.contains("NOTES_DATABASE_URL is not set"), "{stderr}");
    let invalid = event(&lines, "config.invalid");
    assert_eq!(invalid["variables"], "NOTES_DATABASE_URL");
    // The problems are nested JSON, read without a second parse.
    assert_eq!(invalid["problems"][0]["variable"], "NOTES_DATABASE_URL");
    assert_eq!(invalid["problems"][0]["kind"], "not_allowed");
}

#[test]
fn secret_not_mounted_exits_78_naming_the_variable_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("run/secrets/notes-api-token");
    let env = [("NOTES_API_TOKEN_FILE", missing.to_str().unwrap())];
    let (code, _, stderr) = support::run_in(dir.path(), &env);
    assert_eq!(code, 78);
    assert_contains(
        &stderr,
        format!(
            "NOTES_API_TOKEN_FILE secret file {}: not found; mount the secret at this path or correct the path",
            missing.display()
        ),
    );
}

#[test]
fn migration_not_applied_makes_the_service_not_ready_under_verify() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let service = Service::start_listening(
        &notes(),
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
            ("NOTES_MIGRATE", "verify"),
        ],
    );
    // Not ready, said once in the log, without a service.ready.
    service.wait_for("health.not_ready_yet");
    let (status, body) = get(service.address(), "/readyz/schema").unwrap();
    assert_eq!(status, 503, "{body}");
    // Details are off: the response withholds the reason, the log has it.
    assert!(body.contains("details withheld"), "{body}");
    assert!(!body.contains("not applied yet"), "{body}");
    assert_eq!(
        get(service.address(), "/livez").unwrap().0,
        200,
        "alive, just not ready"
    );
    service.terminate();
    let (code, lines, _) = service.finish();
    assert_eq!(code, 0);
    let changed = events(&lines)
        .into_iter()
        .find(|e| e["event"] == "health.changed" && e["check"] == "schema")
        .expect("a health.changed event for the schema check");
    assert!(
        text(&changed["output"]).contains("not applied yet"),
        "{changed}"
    );
    let schema = event(&lines, "schema.status");
    assert_eq!(schema["state"], "pending");
    assert_eq!(schema["level"], "WARN");
    assert!(
        text(&schema["message"]).contains("3 migration(s) not applied yet"),
        "{schema}"
    );
}

#[test]
fn a_probe_on_the_wrong_path_is_reported_with_the_right_paths() {
    let (_dir, service) = start_local(&[]);
    let (status, _) = request(
        service.address(),
        "GET",
        "/healthz",
        &[("user-agent", "kube-probe/1.31")],
        "",
    )
    .unwrap();
    assert_eq!(status, 404);
    let warning = service.wait_for("health.probe_misconfigured");
    assert_eq!(warning["path"], "/healthz");
    assert!(
        text(&warning["probe_paths"]).contains("/readyz (readiness)"),
        "{warning}"
    );
    service.terminate();
    assert_eq!(service.finish().0, 0);
}

/// Kubernetes stops a pod that is still starting: the SIGTERM that arrives before the
/// service serves is not the default action (death by the signal, no last line) but
/// a graceful stop once it serves.
///
/// The signal must land while the service starts, on any machine: the service's
/// database here is a listener of the test's that accepts the schema check's
/// connection and never answers, so the service is held inside its start (before it
/// binds) until the test, having sent SIGTERM, closes that connection.
#[test]
fn a_sigterm_while_starting_is_a_graceful_stop() {
    let dir = tempfile::tempdir().unwrap();
    let database = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://notes:never-used@{}/notes",
        database.local_addr().unwrap()
    );
    let service = Service::spawn(
        &notes(),
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATABASE_URL", &url),
            ("NOTES_DRAIN_DELAY", "0s"),
        ],
    );
    // The schema check's connection: from here until it is closed, the service is
    // waiting for the database's first answer, before its listener exists.
    database.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let connection = loop {
        match database.accept() {
            Ok((connection, _)) => break connection,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the service never connected to its database: {:?}",
                    service.lines.lock().unwrap()
                );
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(err) => panic!("accepting the service's connection: {err}"),
        }
    };
    drop(database);
    service.terminate();
    let before: Vec<String> = service.lines.lock().unwrap().clone();
    assert!(
        !before
            .iter()
            .any(|line| line.contains("\"service.listening\"")),
        "the service listened while its schema check waited: {before:?}"
    );
    // The database goes away: the service starts serving, not ready, and drains.
    drop(connection);
    let (code, lines, stderr) = service.finish();
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<String> = events(&lines)
        .iter()
        .filter_map(|e| e["event"].as_str().map(str::to_owned))
        .collect();
    let at = |name: &str| names.iter().position(|n| n == name);
    let (Some(listening), Some(draining)) = (at("service.listening"), at("service.draining"))
    else {
        panic!("no service.listening or service.draining: {names:?}");
    };
    assert!(listening < draining, "{names:?}");
    assert_eq!(
        names.last().map(String::as_str),
        Some("service.stopped"),
        "{names:?}"
    );
}

#[test]
fn the_wrong_port_is_visible_and_a_taken_port_exits_71() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let service = Service::spawn(
        &notes(),
        dir.path(),
        &[
            ("NOTES_LISTEN", &address),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
        ],
    );
    let (code, lines, _) = service.finish();
    assert_eq!(code, 71);
    let all = events(&lines);
    let failed = all
        .iter()
        .find(|e| e["event"] == "service.bind_failed")
        .unwrap();
    assert_eq!(failed["address"], address.as_str());
    assert_eq!(all.last().unwrap()["event"], "service.stopped");
    assert_eq!(all.last().unwrap()["exit_code"], 71);
}

/// The commit this checkout was built from, found independently of opskit-build: a
/// CI variable the build reads, else `git rev-parse HEAD`; `unknown` only where
/// neither exists.
fn built_commit() -> String {
    for name in [
        "OPSKIT_GIT_COMMIT",
        "GIT_COMMIT",
        "SOURCE_COMMIT",
        "GITHUB_SHA",
        "CI_COMMIT_SHA",
    ] {
        if let Ok(value) = std::env::var(name)
            && !value.trim().is_empty()
        {
            return value.trim().to_owned();
        }
    }
    match std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        Ok(output) if output.status.success() => {
            String::from_utf8(output.stdout).unwrap().trim().to_owned()
        }
        // With git at hand the build knows its commit: `unknown` would hide a build
        // script that lost it.
        Ok(output) => panic!(
            "git is installed but `git rev-parse HEAD` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(_) => "unknown".to_owned(),
    }
}

#[test]
fn the_running_build_names_its_commit_in_logs_metrics_and_health() {
    let (_dir, service) = start_local(&[]);
    let (_, metrics) = get(service.address(), "/metrics").unwrap();
    let (_, health) = get(service.address(), "/readyz").unwrap();
    service.terminate();
    let (_, lines, _) = service.finish();
    let starting = event(&lines, "service.starting");
    let commit = starting["commit"].as_str().unwrap().to_owned();
    assert_eq!(commit, built_commit(), "{starting}");
    let families = support::prometheus::parse(&metrics).unwrap();
    assert_eq!(
        families["notes_build_info"].samples[0].labels["revision"],
        commit
    );
    let health: Value = serde_json::from_str(&health).unwrap();
    let short: String = commit.chars().take(12).collect();
    assert_eq!(
        health["releaseId"],
        format!("{}+{short}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn human_logs_are_refused_in_production_so_the_collector_is_never_fed_text() {
    let (code, _, stderr) = run_in_production(&[
        ("NOTES_DATABASE_URL", "postgres://notes@db.invalid/notes"),
        ("LOG_FORMAT", "pretty"),
    ]);
    assert_eq!(code, 78);
    assert_contains(&stderr, "invalid configuration: 1 problem");
    assert_contains(&stderr, "LOG_FORMAT gives human-readable lines");
}

/// Starts the service with `variable=value` alone: it must exit 78 with a report
/// naming the variable and saying `says`. Returns everything it wrote, for a sweep.
fn exits_78_naming(variable: &str, value: &str, says: &str) -> Sweep {
    let (code, lines, stderr) = run_to_exit(&[(variable, value)]);
    assert_eq!(code, 78, "{variable}={value}: {stderr}");
    assert!(stderr.contains(variable), "{variable}={value}: {stderr}");
    assert!(stderr.contains(says), "{variable}={value}: {stderr}");
    let mut sweep = Sweep::default();
    sweep.process(&format!("notes with {variable}"), &lines, &stderr);
    sweep
}

/// Settings that only look like values: a database this service does not speak, a
/// URL parameter the driver refuses, a data directory that would not make a URL,
/// transaction pooling for the embedded SQLite file.
/// Each is a configuration problem (78) naming its variable, found before anything
/// is opened.
#[test]
fn urls_and_paths_the_service_cannot_use_exit_78_naming_the_variable() {
    for (variable, value, says) in [
        (
            "NOTES_DATABASE_URL",
            "mysql://app:Canary-pw-77ad@db/notes",
            "not a postgres:// URL",
        ),
        (
            "NOTES_DATABASE_URL",
            "postgres://app:Canary-pw-77ad@db:99999/notes",
            "NOTES_DATABASE_URL",
        ),
        (
            "NOTES_DATABASE_URL",
            "postgres://app:Canary-pw-77ad@db/notes?connect_timeout=abc",
            "\"connect_timeout\", which the PostgreSQL driver does not read",
        ),
        (
            "NOTES_DATABASE_URL",
            "postgres://app:Canary-pw-77ad@db/notes?Canary-Bare-Key-51f3",
            "has a parameter (its name is not shown",
        ),
        ("NOTES_DATA_DIR", "d%41", "plain directory path"),
        (
            "NOTES_DATABASE_POOLING",
            "transaction",
            "the embedded SQLite database has no pooler",
        ),
    ] {
        exits_78_naming(variable, value, says)
            .assert_clean(&["Canary-pw-77ad", "Canary-Bare-Key-51f3"]);
    }
}

/// A probe path that would answer for one of the service's routes (or for
/// `/metrics`, which answers before the probes) is refused at start, naming its
/// variable: `GET /notes` must never become a health response.
#[test]
fn a_probe_path_that_takes_over_a_route_exits_78_naming_the_variable() {
    for (variable, value, says) in [
        (
            "NOTES_HEALTH_STARTUP_PATH",
            "/notes",
            "takes over the route /notes",
        ),
        (
            "NOTES_HEALTH_READINESS_ALIASES",
            "/healthz,/hello",
            "takes over the route /hello",
        ),
        (
            "NOTES_HEALTH_READINESS_PATH",
            "/notes/ready",
            "takes over the route /notes/{id}",
        ),
        (
            "NOTES_HEALTH_LIVENESS_PATH",
            "/metrics",
            "Prometheus endpoint",
        ),
    ] {
        let _ = exits_78_naming(variable, value, says);
    }
}

/// Logging's own settings are settings like the others: a bad `LOG_LEVEL` or
/// `RUST_LOG` is reported with every other problem, in one report; a filter that
/// hides the lifecycle events is called out on stderr (the log cannot show it);
/// `service.starting` says which filter is in effect.
#[test]
fn log_settings_join_the_one_report_and_a_silencing_filter_is_called_out() {
    for (log_variable, value) in [("LOG_LEVEL", "loud"), ("RUST_LOG", "info,sqlx=[bad")] {
        let (code, lines, stderr) =
            run_to_exit(&[(log_variable, value), ("NOTES_LISTEN", "nowhere")]);
        assert_eq!(code, 78, "{stderr}");
        assert_contains(&stderr, "invalid configuration: 2 problems");
        let invalid = event(&lines, "config.invalid");
        assert_eq!(
            invalid["variables"],
            format!("{log_variable},NOTES_LISTEN"),
            "{stderr}"
        );
    }

    let (_dir, service) = start_local(&[("RUST_LOG", "info,sqlx=warn")]);
    let (lines, stderr) = service.stop();
    assert_eq!(
        event(&lines, "service.starting")["log_filter"],
        "info,sqlx=warn"
    );
    assert!(
        !stderr.contains("hides opskit's lifecycle events"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut service = Service::spawn(
        &notes(),
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
            ("RUST_LOG", "garbage"),
        ],
    );
    // Nothing is logged, so wait for the database file instead.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !data.join("notes.db").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the service did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(service.is_running());
    let (lines, stderr) = service.stop();
    assert!(lines.is_empty(), "the filter hides everything: {lines:?}");
    assert!(
        stderr.contains("the log filter \"garbage\"")
            && stderr.contains("hides opskit's lifecycle events"),
        "{stderr}"
    );
}
