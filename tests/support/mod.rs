//! Helpers of the facade's integration tests: building an example of this package.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
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
    let features = features.join(",");
    let mut args = vec!["--example", name];
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    let path = opskit_testkit::process::cargo_build(env!("CARGO_MANIFEST_DIR"), &args, name);
    built.push((name.to_owned(), path.clone()));
    path
}
