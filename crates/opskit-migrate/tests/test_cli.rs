//! The `opskit-migrate` binary: lint and status, exit codes, JSON, no password.

mod common;

use common::{cli, cli_on};
use opskit_testkit::assert_contains;
use opskit_testkit::sweep::Sweep;

#[test]
fn lint_fails_on_an_unacknowledged_contract_migration() {
    let dir = common::migrations("unacknowledged");
    let (code, stdout, _) = cli(&["lint", dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert_contains(&stdout, "2_rename.sql: contract (by linter)");
    assert!(
        stdout.contains(
            "line 1: OPS-C003 rename-column [contract] renames column title of notes to heading"
        ),
        "{stdout}"
    );
    assert_contains(
        &stdout,
        "line 2: OPS-L001 create-index-without-concurrently [lock risk]",
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
    assert_contains(&stdout, "3_drop_body.sql: contract (by header)");
}

#[test]
fn status_reports_pending_up_to_date_and_incompatible_with_exit_codes() {
    let db = common::sqlite();
    let v2 = common::migrations("v2");
    let (code, stdout, _) = cli_on("status", &v2, &db.url, &[]);
    assert_eq!(code, 75, "{stdout}");
    assert_contains(&stdout, "2 migration(s) not applied yet");

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
    let (code, stdout, _) = cli_on(
        "status",
        &common::migrations("v3"),
        &db.url,
        &["--format", "json"],
    );
    assert_eq!(code, 0, "{stdout}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["state"], "up_to_date");
    assert_eq!(status["compatible"], true);

    let (code, stdout, stderr) = cli_on("status", &v2, &db.url, &["--format", "json"]);
    assert_eq!(code, 65, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["state"], "ahead_incompatible");
    assert_eq!(status["ahead"][0]["version"], 3);
    assert_eq!(status["ahead"][0]["compat"], "contract");
    assert!(stderr.contains("3 (drop body) is contract"), "{stderr}");
}

#[test]
fn an_unreachable_database_exits_69_and_the_password_is_nowhere() {
    let (code, stdout, stderr) = cli_on(
        "status",
        &common::migrations("v1"),
        "postgres://app:canary-pw-5521@127.0.0.1:1/notes",
        &[],
    );
    assert_eq!(code, 69, "{stderr}");
    assert!(
        stderr.starts_with(
            "database postgres://app:***@127.0.0.1:1/notes unreachable while connecting"
        ),
        "{stderr}"
    );
    Sweep::default()
        .process("opskit-migrate status", &[stdout], &stderr)
        .assert_clean(&["canary-pw-5521"]);
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(cli(&[]).0, 64);
    assert_eq!(cli(&["frobnicate"]).0, 64);
    assert_eq!(cli(&["status"]).0, 64);
    assert_eq!(cli(&["lint", "/nonexistent/dir"]).0, 64);
    assert_eq!(cli(&["lint", ".", "--dialect", "oracle"]).0, 64);
}

/// What a Kubernetes migration Job runs: `apply` migrates and exits 0, with the
/// status as JSON for the job's log.
#[test]
fn apply_migrates_and_a_second_apply_finds_nothing_to_do() {
    let db = common::sqlite();
    let v2 = common::migrations("v2");
    let apply = || cli_on("apply", &v2, &db.url, &["--format", "json"]);
    let (code, stdout, stderr) = apply();
    assert_eq!(code, 0, "{stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["state"], "up_to_date");
    assert_eq!(status["database_latest"], 2);
    let (code, stdout, _) = apply();
    assert_eq!(code, 0);
    assert!(stdout.contains("\"up_to_date\""), "{stdout}");
}

/// The two jobs of a rolling deploy: `expand` before it applies up to the contract
/// migration (exit 0, `contract_pending`), `apply` after it applies the rest.
#[test]
fn expand_holds_back_the_contract_migration_until_apply() {
    let db = common::sqlite();
    let v3 = common::migrations("v3");
    let run = |command: &str| {
        let (code, stdout, stderr) = cli_on(command, &v3, &db.url, &["--format", "json"]);
        assert_eq!(code, 0, "{command}: {stdout}{stderr}");
        serde_json::from_str::<serde_json::Value>(&stdout).unwrap()
    };
    let status = run("expand");
    assert_eq!(status["state"], "contract_pending");
    assert_eq!(status["database_latest"], 2);
    assert_eq!(status["pending"][0]["version"], 3);
    let status = run("apply");
    assert_eq!(status["state"], "up_to_date");
    assert_eq!(status["database_latest"], 3);
}

/// `repair` never guesses what the database holds, and refuses a migration that
/// is not partly applied.
#[test]
fn repair_needs_an_explicit_choice_and_a_partly_applied_migration() {
    let db = common::sqlite();
    let v2 = common::migrations("v2");
    let (code, _, stderr) = cli_on("repair", &v2, &db.url, &["--version", "2"]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("it never guesses"), "{stderr}");
    let (code, _, stderr) = cli_on(
        "repair",
        &v2,
        &db.url,
        &["--version", "2", "--as", "not-applied"],
    );
    assert_eq!(code, 64, "{stderr}");
    assert_contains(
        &stderr,
        "cannot repair migration 2: it is not partly applied",
    );
}

/// The whole partial-failure path through the command, on PostgreSQL: the job
/// fails outside a transaction, every status refuses, the operator finishes the
/// migration by hand and records it, and the status is clean. The password of
/// the URL (a canary of the test's own role) appears in no output of any step.
#[tokio::test]
async fn a_partial_failure_is_repaired_through_the_command() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let dir = common::migrations("failing_no_tx");
    let dir = dir.to_str().unwrap().to_owned();
    let url = db.url.clone();
    let mut sweep = Sweep::default();
    let mut run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--migrations", &dir, "--database-url", &url]);
        let (code, stdout, stderr) = cli(&all);
        let name = args.join(" ");
        sweep
            .record(format!("{name}: stdout"), &stdout)
            .record(format!("{name}: stderr"), &stderr);
        (code, stdout, stderr)
    };
    let (code, stdout, stderr) = run(&["apply"]);
    assert_eq!(code, 65, "{stdout}{stderr}");
    let (code, stdout, stderr) = run(&["status"]);
    assert_eq!(code, 65, "{stdout}");
    assert_contains(&stderr, "opskit-migrate repair --version 2 --as applied");
    let (code, stdout, stderr) = run(&[
        "repair",
        "--version",
        "2",
        "--as",
        "applied",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["state"], "up_to_date", "{stdout}");
    let (code, stdout, stderr) = run(&["status"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    sweep.assert_clean(&[&db.password]);
}
