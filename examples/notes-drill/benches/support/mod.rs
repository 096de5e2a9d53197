//! What the benches share: the binaries they run, built by cargo, and the numbers
//! they read from the environment.

use std::path::PathBuf;

/// Builds binary `name` of `package` with `profile` (and `features`, comma-separated,
/// or none) and returns its path.
///
/// # Panics
///
/// When the build fails, with cargo's output.
pub fn build(package: &str, name: &str, profile: &str, features: &str) -> PathBuf {
    let mut args = vec!["--profile", profile, "-p", package, "--bin", name];
    if !features.is_empty() {
        args.extend(["--features", features]);
    }
    opskit_testkit::process::cargo_build(env!("CARGO_MANIFEST_DIR"), &args, name)
}

/// The number in environment variable `name`, or `default` when it is unset or not a
/// number.
// Each bench compiles this module apart; not every one reads a number.
#[allow(dead_code)]
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
