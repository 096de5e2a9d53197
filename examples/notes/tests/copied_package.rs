//! Users copy this folder to start their own service: the copy, outside the
//! workspace, with its `path` dependencies pointed where a user's would point,
//! builds and serves.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::process::{Service, get, request};

/// Copies `from` to `to`, leaving out build output and the local database.
fn copy_package(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == "data" {
            continue;
        }
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            copy_package(&path, &to.join(&name));
        } else {
            fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

#[test]
fn the_package_copied_out_of_the_workspace_builds_and_serves() {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = package.join("../..").canonicalize().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("bookmarks");
    copy_package(package, &copy);

    // The one edit the manifest asks for: where opskit comes from. A user points
    // it at the registry; here it points at this checkout.
    let manifest = fs::read_to_string(copy.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("path = \"../..\""), "{manifest}");
    let manifest = manifest
        .replace(
            "path = \"../..\"",
            &format!("path = {:?}", root.display().to_string()),
        )
        .replace("\"../../", &format!("\"{}/", root.display()));
    assert!(
        !manifest.contains("../"),
        "every relative path is rewritten:\n{manifest}"
    );
    fs::write(copy.join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file pins what the workspace tested.
    fs::copy(root.join("Cargo.lock"), copy.join("Cargo.lock")).unwrap();

    // A target directory of its own, kept between runs (the copy's path changes,
    // its dependencies do not).
    let target: PathBuf = root.join("target/outside");
    let build = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", "notes", "--manifest-path"])
        .arg(copy.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the copied package does not build:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );

    let binary = target.join("debug/notes");
    let data = dir.path().join("data");
    let service = Service::start(
        &binary,
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATA_DIR", data.to_str().unwrap()),
            ("NOTES_API_TOKEN", "t0ken-for-the-copy"),
        ],
    );
    assert_eq!(get(service.address(), "/readyz").unwrap().0, 200);
    let (status, body) = request(
        service.address(),
        "POST",
        "/notes",
        &[
            ("authorization", "Bearer t0ken-for-the-copy"),
            ("content-type", "application/json"),
        ],
        r#"{"title":"copied","body":"it works"}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    let (status, body) = get(service.address(), "/notes").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("it works"), "{body}");
    service.stop();
}
