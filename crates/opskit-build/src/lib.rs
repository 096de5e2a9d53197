//! For a service's `build.rs`: records what the binary is built from, so that "the
//! image tag points to old code" can be seen in the running service's first log
//! line, its metrics and its health responses.
//!
//! # Example
//!
//! ```no_run
//! // build.rs
//! # #[allow(clippy::needless_doctest_main)]
//! fn main() {
//!     opskit_build::emit_build_info();
//! }
//! ```
//!
//! Then, in the service, `opskit_telemetry::build_info!()` reads what was recorded.
//!
//! # What is recorded
//!
//! | variable set for the crate | from |
//! |---|---|
//! | `OPSKIT_GIT_COMMIT` | the first set of `OPSKIT_GIT_COMMIT`, `GIT_COMMIT`, `SOURCE_COMMIT`, `GITHUB_SHA`, `CI_COMMIT_SHA` (CI, or a container build argument); else `git rev-parse HEAD` at build time; else `unknown` |
//! | `OPSKIT_GIT_DIRTY` | `true` when git reports uncommitted changes, `false` when clean, `unknown` without git |
//! | `OPSKIT_BUILD_PROFILE` | cargo's `PROFILE` (`debug` or `release`) |
//! | `OPSKIT_RUSTC_VERSION` | `rustc --version` of the compiler cargo uses |
//! | `OPSKIT_TARGET` | the target triple |
//!
//! Nothing here fails the build: what cannot be found is `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment variables that may carry the commit, in order of preference.
pub const COMMIT_VARIABLES: [&str; 5] = [
    "OPSKIT_GIT_COMMIT",
    "GIT_COMMIT",
    "SOURCE_COMMIT",
    "GITHUB_SHA",
    "CI_COMMIT_SHA",
];

/// What a build records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The commit, or `unknown`.
    pub commit: String,
    /// `true`, `false` or `unknown`.
    pub dirty: String,
    /// `debug`, `release`, ... or `unknown`.
    pub profile: String,
    /// `rustc 1.95.0 (...)` or `unknown`.
    pub rustc_version: String,
    /// The target triple or `unknown`.
    pub target: String,
}

/// Prints the `cargo:` lines that set the `OPSKIT_*` variables for the crate being
/// built, and asks cargo to run the build script again when the commit changes.
pub fn emit_build_info() {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let recorded = record(&|name| std::env::var(name).ok(), manifest_dir.as_deref());
    // A build script talks to cargo through stdout.
    #[allow(clippy::print_stdout)]
    for line in cargo_lines(&recorded, manifest_dir.as_deref()) {
        println!("{line}");
    }
}

/// What would be recorded, given a way to read variables and the crate's directory.
pub fn record(var: &dyn Fn(&str) -> Option<String>, dir: Option<&Path>) -> Recorded {
    let from_env = COMMIT_VARIABLES.iter().find_map(|name| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    });
    let (commit, dirty) = match from_env {
        Some(commit) => (commit, "unknown".to_owned()),
        None => match dir.and_then(|dir| git(dir, &["rev-parse", "HEAD"])) {
            Some(commit) => {
                let dirty = match dir.and_then(|dir| git(dir, &["status", "--porcelain"])) {
                    Some(status) if status.is_empty() => "false",
                    Some(_) => "true",
                    None => "unknown",
                };
                (commit, dirty.to_owned())
            }
            None => ("unknown".to_owned(), "unknown".to_owned()),
        },
    };
    let rustc_version = var("RUSTC")
        .and_then(|rustc| run(Path::new("."), &rustc, &["--version"]))
        .unwrap_or_else(|| "unknown".to_owned());
    Recorded {
        commit,
        dirty,
        profile: var("PROFILE").unwrap_or_else(|| "unknown".to_owned()),
        rustc_version,
        target: var("TARGET").unwrap_or_else(|| "unknown".to_owned()),
    }
}

fn cargo_lines(recorded: &Recorded, dir: Option<&Path>) -> Vec<String> {
    let mut lines = vec![
        format!("cargo:rustc-env=OPSKIT_GIT_COMMIT={}", recorded.commit),
        format!("cargo:rustc-env=OPSKIT_GIT_DIRTY={}", recorded.dirty),
        format!("cargo:rustc-env=OPSKIT_BUILD_PROFILE={}", recorded.profile),
        format!(
            "cargo:rustc-env=OPSKIT_RUSTC_VERSION={}",
            recorded.rustc_version
        ),
        format!("cargo:rustc-env=OPSKIT_TARGET={}", recorded.target),
    ];
    lines.extend(
        COMMIT_VARIABLES
            .iter()
            .map(|name| format!("cargo:rerun-if-env-changed={name}")),
    );
    // Run again when HEAD moves: HEAD itself (a checkout) and the ref it names (a commit).
    if let Some(git_dir) = dir.and_then(|dir| git(dir, &["rev-parse", "--absolute-git-dir"])) {
        let git_dir = PathBuf::from(git_dir);
        lines.push(format!(
            "cargo:rerun-if-changed={}",
            git_dir.join("HEAD").display()
        ));
        if let Some(reference) = dir.and_then(|dir| git(dir, &["symbolic-ref", "-q", "HEAD"])) {
            lines.push(format!(
                "cargo:rerun-if-changed={}",
                git_dir.join(reference).display()
            ));
        }
        lines.push(format!(
            "cargo:rerun-if-changed={}",
            git_dir.join("index").display()
        ));
    }
    lines
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    run(dir, "git", args)
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout)
        .ok()
        .map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_ci_variable_wins_over_git() {
        let recorded = record(
            &vars(&[
                ("GITHUB_SHA", "abc123"),
                ("CI_COMMIT_SHA", "def456"),
                ("PROFILE", "release"),
            ]),
            Some(Path::new(env!("CARGO_MANIFEST_DIR"))),
        );
        assert_eq!(recorded.commit, "abc123");
        assert_eq!(recorded.profile, "release");
    }

    #[test]
    fn without_git_or_variables_everything_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let recorded = record(&vars(&[]), Some(dir.path()));
        assert_eq!(
            recorded,
            Recorded {
                commit: "unknown".into(),
                dirty: "unknown".into(),
                profile: "unknown".into(),
                rustc_version: "unknown".into(),
                target: "unknown".into(),
            }
        );
        let lines = cargo_lines(&recorded, Some(dir.path()));
        assert!(lines.contains(&"cargo:rustc-env=OPSKIT_GIT_COMMIT=unknown".to_owned()));
        assert!(!lines.iter().any(|l| l.contains("rerun-if-changed")));
    }

    #[test]
    fn in_a_git_checkout_the_commit_comes_from_git() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ]);
        // The commit, read from the repository's files rather than through git, so
        // that the expectation does not share the code under test.
        let git_dir = dir.path().join(".git");
        let head_ref = std::fs::read_to_string(git_dir.join("HEAD")).unwrap();
        let branch = head_ref.trim().strip_prefix("ref: ").unwrap();
        let head = std::fs::read_to_string(git_dir.join(branch)).unwrap();
        let head = head.trim();
        assert!(
            head.len() == 40 && head.bytes().all(|b| b.is_ascii_hexdigit()),
            "{head:?}"
        );
        let recorded = record(&vars(&[]), Some(dir.path()));
        assert_eq!(recorded.commit, head);
        assert_eq!(recorded.dirty, "false");
        std::fs::write(dir.path().join("new"), "x").unwrap();
        assert_eq!(record(&vars(&[]), Some(dir.path())).dirty, "true");
        let lines = cargo_lines(&recorded, Some(dir.path()));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("cargo:rerun-if-changed=") && l.ends_with("HEAD"))
        );
    }
}

/// The crate README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
