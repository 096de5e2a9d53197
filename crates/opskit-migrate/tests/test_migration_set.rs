//! One verdict on a migrations directory from every command: two files with one
//! version and names that are not migrations' are refused by `lint`, `status` and
//! `apply` alike, before anything runs; errors point at lines of the file.

mod common;

use std::path::Path;

use opskit_migrate::{Guard, GuardError, Policy};
use opskit_testkit::assert_contains;
use sqlx::migrate::{Migration, MigrationType};

/// The exit code of `opskit-migrate args`, and its stdout and stderr in one text.
fn cli(args: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = common::cli(args);
    (code, stdout + &stderr)
}

/// The exit code of `opskit-migrate command --migrations dir --database-url url`,
/// and its stdout and stderr in one text.
fn cli_on(command: &str, dir: &Path, url: &str) -> (i32, String) {
    let (code, stdout, stderr) = common::cli_on(command, dir, url, &[]);
    (code, stdout + &stderr)
}

/// The exit code and output of `lint`, `status` and `apply` on `dir`, against a
/// fresh SQLite file each.
fn every_command(dir: &Path) -> Vec<(i32, String)> {
    let mut results = vec![cli(&["lint", dir.to_str().unwrap()])];
    for command in ["status", "apply"] {
        let db = common::sqlite();
        results.push(cli_on(command, dir, &db.url));
    }
    results
}

fn write(dir: &Path, name: &str, sql: &str) {
    std::fs::write(dir.join(name), sql).unwrap();
}

#[test]
fn two_files_with_one_version_are_refused_by_every_command_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1_a.sql", "CREATE TABLE a (x INT);");
    write(dir.path(), "01_b.sql", "CREATE TABLE b (x INT);");
    for (code, text) in every_command(dir.path()) {
        assert_eq!(code, 65, "{text}");
        assert_contains(&text, "version 1 is used by 01_b.sql and 1_a.sql");
        assert!(text.contains("Nothing was run"), "{text}");
    }
}

#[test]
fn names_that_are_not_migrations_get_one_verdict_from_every_command() {
    let cases: [(&str, &str); 5] = [
        ("2_dir.sql", "is not a file"),
        ("99999999999999999999_big.sql", "past the largest"),
        ("abc.sql", "is not named VERSION_DESCRIPTION.sql"),
        ("-1_neg.sql", "has the version \"-1\""),
        ("2_new\nline.sql", "has a control character"),
    ];
    for (name, problem) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "1_ok.sql", "CREATE TABLE a (x INT);");
        if name == "2_dir.sql" {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        } else {
            write(dir.path(), name, "CREATE TABLE b (x INT);");
        }
        for (code, text) in every_command(dir.path()) {
            assert_eq!(code, 65, "{name:?}: {text}");
            assert!(text.contains(problem), "{name:?}: {text}");
        }
    }
}

fn migration(version: i64, description: &'static str) -> Migration {
    Migration::new(
        version,
        description.into(),
        MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE t{} (x INT);",
            version.unsigned_abs()
        ))),
        false,
    )
}

#[tokio::test]
async fn a_binary_with_two_migrations_of_one_version_is_refused_before_the_database() {
    let db = common::sqlite();
    let guard = Guard::from_migrations([migration(1, "a"), migration(1, "b")]);
    for policy in [Policy::Apply, Policy::Verify, Policy::Expand] {
        let err = guard.run(&db.url, policy).await.unwrap_err();
        assert!(matches!(err, GuardError::MigrationSet { .. }), "{err}");
        assert_eq!(err.exit_code(), 65);
        assert!(
            err.to_string()
                .contains("version 1 is used by 1 (a) and 1 (b)"),
            "{err}"
        );
    }
    assert!(
        !Path::new(
            db.url
                .trim_start_matches("sqlite://")
                .trim_end_matches("?mode=rwc")
        )
        .exists(),
        "the database was not even opened"
    );
    let err = Guard::from_migrations([migration(-1, "neg")])
        .run(&db.url, Policy::Apply)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("-1 (neg) has a negative version"),
        "{err}"
    );
}

#[test]
fn a_byte_order_mark_is_refused_at_line_1_and_the_rest_is_still_linted() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "1_bom.sql",
        "\u{feff}CREATE TABLE a (x INT);\nALTER TABLE notes DROP COLUMN x;\n",
    );
    let (code, text) = cli(&["lint", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("line 1: OPS-E005 byte-order-mark"), "{text}");
    assert!(text.contains("line 2: OPS-C002"), "{text}");
    assert!(
        !text.contains("OPS-U001"),
        "the statements after the mark parse: {text}"
    );
    let db = common::sqlite();
    let (code, text) = cli_on("apply", dir.path(), &db.url);
    assert_eq!(code, 65, "{text}");
    assert_contains(&text, "line 1: the file starts with a byte-order mark");
}

#[tokio::test]
async fn a_postgres_error_names_the_line_of_the_migration_not_of_postgres_sources() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let sql = "CREATE TABLE a (x INT);\n\nALTER TABLE a ADD COLUM y INT;\n";
    let guard = Guard::from_migrations([Migration::new(
        1,
        "typo".into(),
        MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(sql.to_owned())),
        false,
    )]);
    let err = guard.run(&db.url, Policy::Apply).await.unwrap_err();
    let message = err.to_string();
    assert_contains(
        &message,
        "syntax error at or near \"INT\" (line 3, column 27 of the migration)",
    );
    assert!(!message.contains(" at line "), "{message}");
}
