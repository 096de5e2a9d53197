//! The notes service on a real PostgreSQL server: a production start with the
//! database URL mounted as a file, the rollback drill across releases N and N-1, the
//! migration job that `verify` replicas wait for, an unreachable database and a wrong
//! password — and the database password, a canary, appears nowhere.
//!
//! Each test makes its own database and login role (see `support/postgres.rs`);
//! without `OPSKIT_TEST_POSTGRES_URL` they print SKIPPED, and in CI they fail.

mod support;

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use opskit::migrate::Policy;
use opskit::secret::canary::Canary;
use opskit_testkit::sweep::Sweep;
use serde_json::Value;
use support::postgres::{self, block_on};
use support::process::{Service, event, events, get, post_json, request, text};

fn notes() -> std::path::PathBuf {
    support::notes()
}

fn previous() -> std::path::PathBuf {
    support::notes_previous()
}

fn post_note(address: std::net::SocketAddr, token: &str, title: &str) -> (u16, String) {
    post_json(
        address,
        "/notes",
        token,
        &format!(r#"{{"title":"{title}","body":"on postgres","tags":"pg"}}"#),
    )
    .unwrap()
}

/// Polls `path` every 250 ms for up to 30 s until it answers `status`; the last
/// answer. Every answer on the way goes into the sweep.
fn poll(seen: &mut Sweep, address: std::net::SocketAddr, path: &str, status: u16) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = seen.response(format!("GET {path} (polled)"), get(address, path).unwrap());
        if answer.0 == status || Instant::now() > deadline {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn notes_on_postgresql_through_the_rollback_drill_without_showing_the_password() {
    let Some(pg) = postgres::database() else {
        return;
    };
    let (notes, previous) = (notes(), previous());
    let dir = tempfile::tempdir().unwrap();
    let token = Canary::new("api-token");
    let url_file = dir.path().join("database_url");
    fs::write(&url_file, format!("{}\n", pg.url)).unwrap();
    fs::set_permissions(&url_file, fs::Permissions::from_mode(0o400)).unwrap();
    let env = [
        ("NOTES_LISTEN", "127.0.0.1:0"),
        ("NOTES_DEPLOYMENT", "production"),
        ("NOTES_DATABASE_URL_FILE", url_file.to_str().unwrap()),
        ("NOTES_API_TOKEN", token.value()),
        // Check output in health responses, so the sweep covers it too.
        ("NOTES_HEALTH_DETAILS", "true"),
        ("NOTES_DRAIN_DELAY", "500ms"),
        // Contract migrations wait, so that release N-1 can still be rolled back to.
        ("NOTES_MIGRATE", "expand"),
    ];
    // Everything a person or a collector could see of the run, swept at the end.
    let mut seen = Sweep::default();

    // 1. Release N in production mode: it migrates PostgreSQL and serves.
    let service = Service::start(&notes, dir.path(), &env);
    let address = service.address();
    for probe in ["/livez", "/readyz", "/startupz", "/readyz/database"] {
        let (status, body) = get(address, probe).unwrap();
        assert_eq!(status, 200, "{probe}: {body}");
        seen.record("a response body", &body);
    }
    // Sixteen concurrent writes: each gets its own id, none fails.
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let token = token.value().to_owned();
            std::thread::spawn(move || post_note(address, &token, &format!("note {i}")))
        })
        .collect();
    let mut ids = Vec::new();
    for writer in writers {
        let (status, body) = writer.join().unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(
            serde_json::from_str::<Value>(&body).unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
        seen.record("a response body", &body);
    }
    ids.sort();
    assert_eq!(ids, (1..=16).collect::<Vec<_>>());
    let (status, body) = request(
        address,
        "DELETE",
        "/notes/16",
        &[("authorization", &format!("Bearer {}", token.value()))],
        "",
    )
    .unwrap();
    assert_eq!(status, 204, "{body}");
    seen.record("DELETE /notes/16", &body);
    let (status, body) = get(address, "/notes/16").unwrap();
    assert_eq!(status, 404, "{body}");
    seen.record("GET /notes/16 (deleted)", &body);
    let (status, body) = get(address, "/notes").unwrap();
    assert_eq!(status, 200);
    let listed: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.len(), 15);
    assert_eq!(listed[0]["tags"], "pg");
    seen.record("a response body", &body);
    let (status, metrics) = get(address, "/metrics").unwrap();
    assert_eq!(status, 200);
    seen.record("GET /metrics", &metrics);

    // The checks fail with the driver's own words while the role's password is
    // wrong (details are on, so their output is served): both checks run on the
    // service's pool, whose connections were just terminated.
    let other = Canary::new("rotated-db-password");
    pg.as_admin(&format!(
        "ALTER ROLE {} PASSWORD '{}'",
        pg.role,
        other.value()
    ));
    pg.as_admin(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{}'",
        pg.role
    ));
    for check in ["database", "schema"] {
        let path = format!("/readyz/{check}");
        let (status, body) = poll(&mut seen, address, &path, 503);
        assert_eq!(status, 503, "{path}: {body}");
        assert!(
            body.contains("password authentication failed"),
            "{path}: {body}"
        );
        seen.record(format!("GET {path} (failing)"), &body);
    }
    let (_, body) = get(address, "/readyz").unwrap();
    seen.record("GET /readyz (failing)", &body);
    pg.as_admin(&format!(
        "ALTER ROLE {} PASSWORD '{}'",
        pg.role,
        pg.password.value()
    ));
    let (status, body) = poll(&mut seen, address, "/readyz", 200);
    assert_eq!(
        status, 200,
        "ready again once the password is right: {body}"
    );
    let (lines, stderr) = service.stop();
    // The operator sees which database, never its password.
    let starting = event(&lines, "service.starting");
    let config = starting["config"].to_string();
    assert!(
        config.contains(&format!(
            "postgres://{}:***@{}/{}",
            pg.role, pg.host, pg.database
        )),
        "{config}"
    );
    seen.record("stdout", lines.join("\n"));
    seen.record("stderr", &stderr);

    // 2. Roll back to release N-1 (the URL through the environment this time): it
    //    starts, reads the notes, and its readiness warns that the schema is ahead.
    let mut rollback = env.to_vec();
    rollback[2] = ("NOTES_DATABASE_URL", pg.url.as_str());
    let service = Service::start(&previous, dir.path(), &rollback);
    let (status, body) = get(service.address(), "/notes").unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        body.matches(r#""body":"on postgres""#).count(),
        15,
        "{body}"
    );
    assert!(!body.contains("tags"), "{body}");
    seen.record("a response body", &body);
    let (status, body) = get(service.address(), "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"warn""#), "{body}");
    seen.record("a response body", &body);
    let (lines, stderr) = service.stop();
    assert_eq!(event(&lines, "schema.status")["state"], "ahead_compatible");
    seen.record("stdout", lines.join("\n"));
    seen.record("stderr", &stderr);

    // 3. A contract migration lands; release N-1 refuses with exit 65.
    block_on(async {
        support::next_release("postgres")
            .await
            .run(&pg.url, Policy::Apply)
            .await
            .unwrap();
    });
    let (code, lines, stderr) = Service::spawn(&previous, dir.path(), &rollback).finish();
    assert_eq!(code, 65, "{stderr}");
    let refusal = event(&lines, "schema.status");
    assert_eq!(refusal["level"], "ERROR");
    assert!(
        text(&refusal["message"]).contains("4 (rename body) is contract"),
        "{refusal}"
    );
    seen.record("stdout", lines.join("\n"));
    seen.record("stderr", &stderr);
    let kept: i64 = block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&pg.url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM notes WHERE content = 'on postgres'")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    });
    assert_eq!(kept, 15, "no note was lost");

    // 4. A wrong password and a server that is not there: alive and not ready while
    //    it retries, then, at NOTES_DATABASE_START_DEADLINE, exit 69, the database
    //    named (masked), the cause given.
    let wrong = Canary::new("wrong-db-password");
    let wrong_url = pg.url.replace(pg.password.value(), wrong.value());
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let gone_url = format!(
        "postgres://{}:{}@127.0.0.1:{closed}/{}",
        pg.role,
        pg.password.value(),
        pg.database
    );
    for (url, cause) in [
        (wrong_url.as_str(), "password authentication failed"),
        (gone_url.as_str(), "Connection refused"),
    ] {
        let mut broken = env.to_vec();
        broken[2] = ("NOTES_DATABASE_URL", url);
        broken.push(("NOTES_DATABASE_START_DEADLINE", "2s"));
        let service = Service::start_listening(&notes, dir.path(), &broken);
        let waiting = service.wait_for("notes.database_waiting");
        seen.record("notes.database_waiting", waiting.to_string());
        let (status, body) = get(service.address(), "/livez").unwrap();
        assert_eq!(status, 200, "alive while it waits: {body}");
        let (status, body) = get(service.address(), "/readyz").unwrap();
        assert_eq!(status, 503, "not ready while it waits: {body}");
        seen.record("GET /readyz (waiting)", &body);
        let (code, lines, stderr) = service.finish();
        assert_eq!(code, 69, "{stderr}");
        let stopped = event(&lines, "service.stopped");
        let reason = stopped["reason"].as_str().unwrap();
        assert!(
            reason.contains(":***@"),
            "the URL is named, masked: {reason}"
        );
        assert!(reason.contains(cause), "{reason}");
        seen.record("stdout", lines.join("\n"));
        seen.record("stderr", &stderr);
    }

    seen.assert_clean(&[
        pg.password.value(),
        wrong.value(),
        other.value(),
        token.value(),
    ]);
}

#[test]
fn verify_replicas_on_postgresql_wait_for_the_migration_job() {
    let Some(pg) = postgres::database() else {
        return;
    };
    let notes = notes();
    let dir = tempfile::tempdir().unwrap();
    let token = Canary::new("api-token");
    let env = [
        ("NOTES_LISTEN", "127.0.0.1:0"),
        ("NOTES_DEPLOYMENT", "production"),
        ("NOTES_DATABASE_URL", pg.url.as_str()),
        ("NOTES_API_TOKEN", token.value()),
        ("NOTES_MIGRATE", "verify"),
    ];
    let mut seen = Sweep::default();

    // A replica starts before the job ran: alive, not ready, the schema check says why.
    let service = Service::start_listening(&notes, dir.path(), &env);
    service.wait_for("health.not_ready_yet");
    let address = service.address();
    let (status, body) = get(address, "/livez").unwrap();
    assert_eq!(status, 200);
    seen.record("GET /livez", &body);
    let (status, body) = get(address, "/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""schema:responseTime""#), "{body}");
    seen.record("GET /readyz (before the job)", &body);

    // The migration job (the Kubernetes Job runs this) applies the expand migrations
    // and holds back the contract one.
    let (code, lines, stderr) = Service::spawn_with_args(
        &notes,
        dir.path(),
        &["--migrate-only"],
        &[
            ("NOTES_DEPLOYMENT", "production"),
            ("NOTES_DATABASE_URL", pg.url.as_str()),
            ("NOTES_API_TOKEN", token.value()),
            ("NOTES_MIGRATE", "expand"),
        ],
    )
    .finish();
    assert_eq!(code, 0, "{stderr}");
    let migrated = events(&lines)
        .iter()
        .filter(|e| e["event"] == "schema.migrated")
        .count();
    assert_eq!(migrated, 2, "{}", lines.join("\n"));
    seen.process("the migration job", &lines, &stderr);

    // The replica turns ready at its schema check's next run, without a restart.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = get(address, "/readyz").unwrap();
        seen.record("GET /readyz (polled)", &body);
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still not ready 30 s after the migration job: {body}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (status, body) = post_note(address, token.value(), "after the job");
    assert_eq!(status, 201, "{body}");
    seen.record("POST /notes", &body);
    let (lines, stderr) = service.stop();
    seen.process("the replica", &lines, &stderr);
    seen.assert_clean(&[pg.password.value(), token.value()]);
}
