//! Helpers of the facade's integration tests: building an example of this package.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// Builds an example of this package (once per test binary) and returns its path.
///
/// `cargo test` builds examples too, but not always with the features or profile a
/// filtered run uses; asking cargo is the one way that always agrees with it.
pub fn example(name: &str) -> PathBuf {
    example_with_features(name, &[])
}

/// [`example`] for an example that needs cargo features.
pub fn example_with_features(name: &str, features: &[&str]) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap();
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return path.clone();
    }
    let mut command = Command::new(env!("CARGO"));
    command.args([
        "build",
        "--quiet",
        "--message-format=json",
        "--example",
        name,
    ]);
    if !features.is_empty() {
        command.arg("--features").arg(features.join(","));
    }
    let output = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "building example {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no executable for example {name}"));
    built.push((name.to_owned(), path.clone()));
    path
}
