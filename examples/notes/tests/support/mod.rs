//! Helpers of the notes service's tests: its binaries (built by cargo for the
//! tests), fresh PostgreSQL databases, and the shared process helpers.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod postgres;

use std::path::PathBuf;

pub use opskit_testkit::{load, process, prometheus};

/// Release N of the notes service.
pub fn notes() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_notes"))
}

/// `notes --describe`: the markdown table of every setting the binary reads.
pub fn describe() -> String {
    let output = std::process::Command::new(notes())
        .env_clear()
        .arg("--describe")
        .output()
        .unwrap();
    assert!(output.status.success(), "notes --describe failed");
    String::from_utf8(output.stdout).unwrap()
}

/// The rows of [`describe`]'s table, each split into its trimmed cells (the
/// variable is `cells[1]`, with its backquotes).
pub fn describe_rows() -> Vec<Vec<String>> {
    describe()
        .lines()
        .skip(2)
        .map(|row| row.split('|').map(|cell| cell.trim().to_owned()).collect())
        .collect()
}

/// Release N-1 of the notes service, for the rollback drill: the `notes-previous`
/// binary of the `notes-drill` package, beside `notes` in the same target
/// directory. `cargo test --workspace` builds it; with `-p example-notes` alone,
/// build it first (`cargo build -p notes-drill`).
///
/// # Panics
///
/// When it is missing, or older than a source it is built from (the notes modules
/// it shares, or its own): a drill against a stale release N-1 proves nothing.
pub fn notes_previous() -> PathBuf {
    let binary = notes().with_file_name(format!("notes-previous{}", std::env::consts::EXE_SUFFIX));
    let build = "build it with `cargo build -p notes-drill` (cargo test --workspace does)";
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|err| panic!("{}: {err}; {build}", binary.display()));
    let notes = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [notes.join("src"), notes.join("../notes-drill/src/bin")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let changed = std::fs::metadata(&path).and_then(|m| m.modified()).unwrap();
            assert!(
                changed <= built,
                "{} is older than {}; {build}",
                binary.display(),
                path.display()
            );
        }
    }
    binary
}

/// The guard of the next release on `database` (`sqlite` or `postgres`): release
/// N's migrations and a contract one (`3_rename_body`) that release N-1 cannot run
/// against.
pub async fn next_release(database: &str) -> opskit::migrate::Guard {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut migrations = Vec::new();
    for set in [
        dir.join("migrations").join(database),
        dir.join("tests/migrations/next").join(database),
    ] {
        let guard = opskit::migrate::Guard::from_dir(set).await.unwrap();
        migrations.extend(guard.migrations().iter().cloned());
    }
    opskit::migrate::Guard::from_migrations(migrations)
}

/// Release N run in `dir` with `env` until it exits (a start it refuses, a job):
/// its exit code, stdout lines and stderr.
pub fn run_in(dir: &std::path::Path, env: &[(&str, &str)]) -> (i32, Vec<String>, String) {
    process::Service::spawn(&notes(), dir, env).finish()
}

/// Release N on a free port and a fresh SQLite file, with `extra` settings; ready.
pub fn start_local(extra: &[(&str, &str)]) -> (tempfile::TempDir, process::Service) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut env = vec![
        ("NOTES_LISTEN", "127.0.0.1:0"),
        ("NOTES_DATA_DIR", data.to_str().unwrap()),
    ];
    env.extend_from_slice(extra);
    let service = process::Service::start(&notes(), dir.path(), &env);
    (dir, service)
}
