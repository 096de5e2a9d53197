//! The drill's binaries do what the drills and the benchmark rely on: release N-1
//! applies only the migrations of its time and serves notes without tags; the bare
//! router prints its address and answers `GET /hello`.

use std::path::PathBuf;
use std::process::Command;

use opskit_testkit::process::{Service, get, request, spawn_reading_first_line};

fn previous() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_notes-previous"))
}

#[test]
fn release_n_minus_1_applies_its_own_migration_and_stores_notes_without_tags() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let service = Service::start(
        &previous(),
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
            ("NOTES_API_TOKEN", "drill-token-0b7"),
            ("NOTES_DRAIN_DELAY", "0s"),
        ],
    );
    let address = service.address();
    let (status, body) = get(address, "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(
        address,
        "POST",
        "/notes",
        &[
            ("authorization", "Bearer drill-token-0b7"),
            ("content-type", "application/json"),
        ],
        r#"{"title":"then","body":"no tags yet","tags":["ignored"]}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let note: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(note.get("tags").is_none(), "{body}");
    let (status, body) = get(address, &format!("/notes/{}", note["id"])).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["body"],
        "no tags yet"
    );
    let (lines, _) = service.stop();
    // Its schema is release N-1's: migration 1 applied, no `tags` column.
    let status = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["event"] == "schema.status")
        .unwrap_or_else(|| panic!("no schema.status event: {lines:?}"));
    assert_eq!(status["database_latest"], 1, "{status}");
    assert_eq!(status["binary_latest"], 1, "{status}");
}

#[test]
fn the_bare_router_prints_its_address_and_answers_hello() {
    let (mut child, line) = spawn_reading_first_line(
        &mut Command::new(env!("CARGO_BIN_EXE_bare-hello")),
        &[("BARE_LISTEN", "127.0.0.1:0")],
    );
    let answer = line.parse().map(|address| get(address, "/hello"));
    child.kill().unwrap();
    child.wait().unwrap();
    let (status, body) = answer
        .unwrap_or_else(|err| panic!("{line:?}: {err}"))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"service\":\"notes\""), "{body}");
}
