//! A canary sweep on the notes service: canary secrets (API tokens and a database
//! password) through the environment and through files, on the normal paths and on
//! the failure paths, with health details on so that check output is served; the
//! canaries must appear in no stdout, stderr, HTTP response or metric.

mod support;

use std::fs;

use opskit::secret::canary::Canary;
use opskit_testkit::sweep::Sweep;
use support::process::{Service, exchange, get};

#[test]
fn canary_secrets_appear_nowhere() {
    let notes = support::notes();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env_token = Canary::new("env-token");
    let file_token = Canary::new("file-token");
    let db_password = Canary::new("db-password");
    let ssl_password = Canary::new("ssl-password");
    let token_file = dir.path().join("token");
    fs::write(&token_file, file_token.value()).unwrap();
    let mut seen = Sweep::default();

    // The token through the environment, on the normal paths, details on.
    let service = Service::start(
        &notes,
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
            ("NOTES_API_TOKEN", env_token.value()),
            ("NOTES_HEALTH_DETAILS", "true"),
        ],
    );
    let address = service.address();
    let good = format!("Bearer {}", env_token.value());
    let wrong = format!("Bearer {}x", env_token.value());
    for (auth, expected) in [(wrong.as_str(), 401), (good.as_str(), 201)] {
        let response = seen.exchange(
            format!("POST /notes answered {expected}"),
            exchange(
                address,
                "POST",
                "/notes",
                &[
                    ("content-type", "application/json"),
                    ("authorization", auth),
                ],
                r#"{"title":"t","body":"b"}"#,
            )
            .unwrap(),
        );
        assert_eq!(response.status, expected, "{}", response.body);
    }
    for (path, expected) in [
        ("/notes", 200),
        ("/notes/1", 200),
        ("/notes/999", 404),
        ("/no/such/page", 404),
        ("/readyz", 200),
        ("/readyz/schema", 200),
        ("/livez", 200),
        ("/startupz", 200),
        ("/metrics", 200),
        ("/hello", 200),
    ] {
        // Headers too: a secret must not ride in one.
        let response = seen.exchange(
            format!("GET {path}"),
            exchange(address, "GET", path, &[], "").unwrap(),
        );
        assert_eq!(response.status, expected, "{path}: {}", response.body);
    }
    let (lines, stderr) = service.stop();
    seen.process("notes", &lines, &stderr);

    // A failing check with details on: its output is served, and swept.
    let service = Service::start_listening(
        &notes,
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", dir.path().join("fresh").to_str().unwrap()),
            ("NOTES_API_TOKEN_FILE", token_file.to_str().unwrap()),
            ("NOTES_HEALTH_DETAILS", "true"),
            ("NOTES_MIGRATE", "verify"),
        ],
    );
    service.wait_for("health.not_ready_yet");
    let (status, body) = seen.response(
        "GET /readyz/schema (failing)",
        get(service.address(), "/readyz/schema").unwrap(),
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not applied yet"), "details are on: {body}");
    let (lines, stderr) = service.stop();
    seen.process("notes (verify)", &lines, &stderr);

    // Failure paths: both VAR and VAR_FILE; an invalid setting next to a secret; a
    // refused production start; a database that cannot be reached (retried, then
    // given up), with the password in the URL and in a file.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db_url = format!(
        "postgres://notes:{}@127.0.0.1:{closed}/notes",
        db_password.value()
    );
    // sqlx would log `ignoring unrecognized connect parameter` with the value: the
    // service refuses such a URL before sqlx sees it.
    let db_url_with_ssl_password = format!("{db_url}?sslpassword={}", ssl_password.value());
    let db_url_file = dir.path().join("database_url");
    fs::write(&db_url_file, &db_url).unwrap();
    for (env, expected) in [
        (
            vec![
                ("NOTES_API_TOKEN", env_token.value()),
                ("NOTES_API_TOKEN_FILE", token_file.to_str().unwrap()),
            ],
            78,
        ),
        (
            vec![
                ("NOTES_API_TOKEN", env_token.value()),
                ("NOTES_LISTEN", "nowhere"),
                ("NOTES_DATABASE_URL", db_url.as_str()),
            ],
            78,
        ),
        (
            vec![
                ("NOTES_API_TOKEN_FILE", token_file.to_str().unwrap()),
                ("NOTES_DEPLOYMENT", "production"),
                ("LOG_FORMAT", "pretty"),
            ],
            78,
        ),
        (
            vec![
                ("NOTES_API_TOKEN", env_token.value()),
                ("NOTES_DATABASE_URL", db_url.as_str()),
                ("NOTES_HEALTH_DETAILS", "true"),
            ],
            69,
        ),
        (
            vec![
                ("NOTES_API_TOKEN_FILE", token_file.to_str().unwrap()),
                ("NOTES_DATABASE_URL_FILE", db_url_file.to_str().unwrap()),
            ],
            69,
        ),
        // A parameter the driver would ignore (and log, value included) is refused
        // at load, naming the parameter only.
        (
            vec![
                ("NOTES_API_TOKEN", env_token.value()),
                ("NOTES_DATABASE_URL", db_url_with_ssl_password.as_str()),
                ("RUST_LOG", "trace"),
            ],
            78,
        ),
        // Every line every dependency writes, at trace, while the database is away.
        (
            vec![
                ("NOTES_API_TOKEN", env_token.value()),
                ("NOTES_DATABASE_URL", db_url.as_str()),
                ("RUST_LOG", "trace"),
            ],
            69,
        ),
    ] {
        let mut env = env;
        // An unreachable database: retried until the deadline, then exit 69. Alive
        // meanwhile, so its probes (details on in one run) are read and swept too.
        env.push(("NOTES_DATABASE_START_DEADLINE", "3s"));
        let service = if expected == 69 {
            env.push(("NOTES_LISTEN", "127.0.0.1:0"));
            let service = Service::start_listening(&notes, dir.path(), &env);
            for path in ["/readyz", "/readyz/database", "/readyz/schema", "/livez"] {
                let answer = exchange(service.address(), "GET", path, &[], "").unwrap();
                seen.exchange(format!("GET {path} while waiting"), answer);
            }
            service
        } else {
            Service::spawn(&notes, dir.path(), &env)
        };
        let (code, lines, stderr) = service.finish();
        assert_eq!(code, expected, "{env:?}: {stderr}");
        seen.process(&format!("notes exiting {expected}"), &lines, &stderr);
    }

    seen.assert_clean(&[
        env_token.value(),
        file_token.value(),
        db_password.value(),
        ssl_password.value(),
    ]);
}
