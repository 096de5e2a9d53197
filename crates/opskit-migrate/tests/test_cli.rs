//! The `opskit-migrate` binary: lint and status, exit codes, JSON, no password.

mod common;

use std::process::Command;

fn cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_opskit-migrate"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn lint_fails_on_an_unacknowledged_contract_migration() {
    let dir = common::migrations("unacknowledged");
    let (code, stdout, _) = cli(&["lint", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("2_rename.sql: contract (by linter)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "line 1: OPS-C003 rename-column [contract] renames column title of notes to heading"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 2: OPS-L001 create-index-without-concurrently [lock risk]"),
        "{stdout}"
    );

    let (code, stdout, _) = cli(&[
        "lint",
        dir.to_str().unwrap(),
        "--format",
        "json",
        "--dialect",
        "sqlite",
    ]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report[1]["compat"], "contract");
    assert_eq!(report[1]["findings"][0]["rule"]["id"], "OPS-C003");
    assert_eq!(
        report[1]["findings"].as_array().unwrap().len(),
        1,
        "no lock rules for SQLite"
    );

    let (code, stdout, _) = cli(&["lint", common::migrations("v3").to_str().unwrap()]);
    assert_eq!(
        code, 0,
        "a contract migration with its header is acknowledged:\n{stdout}"
    );
    assert!(
        stdout.contains("3_drop_body.sql: contract (by header)"),
        "{stdout}"
    );
}

#[test]
fn status_reports_pending_up_to_date_and_incompatible_with_exit_codes() {
    let db = common::sqlite();
    let v2 = common::migrations("v2");
    let (code, stdout, _) = cli(&[
        "status",
        "--migrations",
        v2.to_str().unwrap(),
        "--database-url",
        &db.url,
    ]);
    assert_eq!(code, 75, "{stdout}");
    assert!(
        stdout.contains("2 migration(s) not applied yet"),
        "{stdout}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let guard = opskit_migrate::Guard::from_dir(common::migrations("v3"))
            .await
            .unwrap();
        guard
            .run(&db.url, opskit_migrate::Policy::Apply)
            .await
            .unwrap();
    });
    let (code, stdout, _) = cli(&[
        "status",
        "--migrations",
        common::migrations("v3").to_str().unwrap(),
        "--database-url",
        &db.url,
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["state"], "up_to_date");
    assert_eq!(status["compatible"], true);

    let (code, stdout, stderr) = cli(&[
        "status",
        "--migrations",
        v2.to_str().unwrap(),
        "--database-url",
        &db.url,
        "--format",
        "json",
    ]);
    assert_eq!(code, 65, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["state"], "ahead_incompatible");
    assert_eq!(status["ahead"][0]["version"], 3);
    assert_eq!(status["ahead"][0]["compat"], "contract");
    assert!(stderr.contains("3 (drop body) is contract"), "{stderr}");
}

#[test]
fn an_unreachable_database_exits_69_and_the_password_is_nowhere() {
    let (code, stdout, stderr) = cli(&[
        "status",
        "--migrations",
        common::migrations("v1").to_str().unwrap(),
        "--database-url",
        "postgres://app:canary-pw-5521@127.0.0.1:1/notes",
    ]);
    assert_eq!(code, 69, "{stderr}");
    assert!(
        stderr.starts_with(
            "database postgres://app:***@127.0.0.1:1/notes unreachable while connecting"
        ),
        "{stderr}"
    );
    for output in [&stdout, &stderr] {
        assert!(!output.contains("canary-pw-5521"), "{output}");
    }
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(cli(&[]).0, 64);
    assert_eq!(cli(&["frobnicate"]).0, 64);
    assert_eq!(cli(&["status"]).0, 64);
    assert_eq!(cli(&["lint", "/nonexistent/dir"]).0, 64);
    assert_eq!(cli(&["lint", ".", "--dialect", "oracle"]).0, 64);
}
