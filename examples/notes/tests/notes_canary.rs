//! A canary sweep on the notes service: canary secrets through the environment and
//! through files, on the normal paths and on the failure paths; the canaries must
//! appear in no stdout, stderr, HTTP response or metric.

mod support;

use std::fs;

use opskit::secret::canary::{Canary, assert_no_leak};
use support::process::{Service, get, request};

#[test]
fn canary_secrets_appear_nowhere() {
    let notes = support::notes();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env_token = Canary::new("env-token");
    let file_token = Canary::new("file-token");
    let token_file = dir.path().join("token");
    fs::write(&token_file, file_token.value()).unwrap();
    let mut seen = String::new();

    // The token through the environment, on the normal paths.
    let service = Service::start(
        &notes,
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
            ("NOTES_API_TOKEN", env_token.value()),
        ],
    );
    let address = service.address();
    let good = format!("Bearer {}", env_token.value());
    let wrong = format!("Bearer {}x", env_token.value());
    for (auth, expected) in [(wrong.as_str(), 401), (good.as_str(), 201)] {
        let (status, body) = request(
            address,
            "POST",
            "/notes",
            &[
                ("content-type", "application/json"),
                ("authorization", auth),
            ],
            r#"{"title":"t","body":"b"}"#,
        )
        .unwrap();
        assert_eq!(status, expected, "{body}");
        seen.push_str(&body);
    }
    for path in [
        "/notes",
        "/notes/1",
        "/notes/999",
        "/readyz",
        "/readyz/schema",
        "/livez",
        "/startupz",
        "/metrics",
        "/hello",
    ] {
        seen.push_str(&get(address, path).unwrap().1);
    }
    service.terminate();
    let (code, lines, stderr) = service.finish();
    assert_eq!(code, 0);
    seen.push_str(&lines.join("\n"));
    seen.push_str(&stderr);

    // Failure paths: both VAR and VAR_FILE; an invalid setting next to a secret; a
    // refused production start.
    for env in [
        vec![
            ("NOTES_API_TOKEN", env_token.value()),
            ("NOTES_API_TOKEN_FILE", token_file.to_str().unwrap()),
        ],
        vec![
            ("NOTES_API_TOKEN", env_token.value()),
            ("NOTES_LISTEN", "nowhere"),
        ],
        vec![
            ("NOTES_API_TOKEN_FILE", token_file.to_str().unwrap()),
            ("NOTES_DEPLOYMENT", "production"),
            ("LOG_FORMAT", "pretty"),
        ],
    ] {
        let (code, lines, stderr) = Service::spawn(&notes, dir.path(), &env).finish();
        assert_eq!(code, 78, "{stderr}");
        seen.push_str(&lines.join("\n"));
        seen.push_str(&stderr);
    }

    for canary in [&env_token, &file_token] {
        assert_no_leak(
            &seen,
            canary.value(),
            "the notes service's output and responses",
        );
    }
}
