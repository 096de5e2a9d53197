//! sqlx 0.9's renamed migrations table (`sqlx.toml`'s `[migrate]` `table-name` and
//! `create-schemas`): sqlx and the guard, whichever applies first, read and write
//! the same table, on PostgreSQL and SQLite; a guard given another name refuses
//! rather than apply the migrations twice; the CLI reads `sqlx.toml` as sqlx-cli
//! does.
//!
//! sqlx's side is the `sqlx` binary of sqlx-cli 0.9 (built with `sqlx-toml`) run
//! beside the `sqlx.toml`, and sqlx's own `Migrator` configured from the same file
//! by sqlx's own parser, as `sqlx::migrate!()` configures it. The binary is
//! `OPSKIT_TEST_SQLX_CLI`, else `sqlx` on `PATH`; `.ci/run` installs it. Without it
//! on a developer's machine the binary's rounds are skipped with a message; in CI
//! its absence fails the tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cli_in, sqlx_run};
use opskit_health::{Check, Status};
use opskit_migrate::{Guard, GuardError, Policy, State, schema_check};
use opskit_testkit::assert_contains;
use sqlx::migrate::{Migrator, ResolveWith};

/// A project directory: `sqlx.toml` and `migrations/` (the `v2` set: migration 2
/// inserts a row, so running it twice fails).
fn project(sqlx_toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sqlx.toml"), sqlx_toml).unwrap();
    std::fs::create_dir(dir.path().join("migrations")).unwrap();
    for entry in std::fs::read_dir(common::migrations("v2")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(
            entry.path(),
            dir.path().join("migrations").join(entry.file_name()),
        )
        .unwrap();
    }
    dir
}

/// sqlx's `Migrator` for the project, configured from its `sqlx.toml` by sqlx's
/// parser, as sqlx-cli configures it.
async fn sqlx_migrator(dir: &Path) -> Migrator {
    let config = sqlx::_unstable::config::Config::try_from_path(dir.join("sqlx.toml")).unwrap();
    let migrate = &config.migrate;
    let mut migrator = Migrator::new(ResolveWith(
        dir.join(migrate.migrations_dir()),
        migrate.to_resolve_config(),
    ))
    .await
    .unwrap();
    migrator.dangerous_set_table_name(migrate.table_name().to_owned());
    for schema in &migrate.create_schemas {
        migrator.create_schema(schema.to_string());
    }
    migrator
}

/// Who applies migrations for sqlx: its library, or the sqlx-cli binary.
#[derive(Debug)]
enum Sqlx {
    Library,
    Cli(PathBuf),
}

/// sqlx's library, and the sqlx-cli binary when there is one.
fn sqlx_sides() -> Vec<Sqlx> {
    let binary = std::env::var_os("OPSKIT_TEST_SQLX_CLI")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|dir| dir.join("sqlx"))
                .find(|path| path.is_file())
        });
    match binary {
        Some(binary) => vec![Sqlx::Library, Sqlx::Cli(binary)],
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "no sqlx-cli binary: set OPSKIT_TEST_SQLX_CLI (.ci/run installs it)"
            );
            eprintln!(
                "skipped the sqlx-cli rounds: no `sqlx` on PATH and OPSKIT_TEST_SQLX_CLI \
                 unset (cargo install sqlx-cli --no-default-features --features \
                 postgres,sqlite,sqlx-toml)"
            );
            vec![Sqlx::Library]
        }
    }
}

impl Sqlx {
    /// Applies the project's migrations: `sqlx migrate run` in `dir` (which reads
    /// its `sqlx.toml`), or the library's `Migrator` built from that file.
    async fn run(&self, dir: &Path, url: &str) {
        match self {
            Sqlx::Library => sqlx_run(url, &sqlx_migrator(dir).await).await.unwrap(),
            Sqlx::Cli(binary) => {
                let output = Command::new(binary)
                    .args(["migrate", "run", "--database-url", url])
                    .current_dir(dir)
                    .env_remove("DATABASE_URL")
                    .output()
                    .unwrap();
                assert!(
                    output.status.success(),
                    "sqlx migrate run: {}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }
}

/// One integer from a query written here, on either database.
async fn scalar(url: &str, sql: String) -> i64 {
    common::scalar(url, sqlx::AssertSqlSafe(sql)).await
}

/// Whether table `name` exists (a PostgreSQL name, or a SQLite one in `main`).
async fn exists(url: &str, name: &str) -> bool {
    let sql = if url.starts_with("sqlite") {
        format!("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{name}'")
    } else {
        format!("SELECT CAST(count(to_regclass('{name}')) AS BIGINT)")
    };
    scalar(url, sql).await == 1
}

/// The readiness check on the service's own pool, and on an `AnyPool` of the
/// same database (the two read the schema with different queries): both verdicts.
async fn ready(url: &str, guard: Guard) -> [Status; 2] {
    sqlx::any::install_default_drivers();
    let any = sqlx::AnyPool::connect(url).await.unwrap();
    let on_any = schema_check(guard.clone(), any).run().await.status;
    let outcome = if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        schema_check(guard, pool).run().await
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        schema_check(guard, pool).run().await
    };
    [outcome.status, on_any]
}

/// The databases with the `sqlx.toml` each is tested with: a table in another
/// schema on PostgreSQL; on SQLite, whose only schemas are attached files, a
/// renamed table named with its schema.
async fn databases(mut each: impl AsyncFnMut(&str, &str, &str)) {
    let sqlite = common::sqlite();
    each(
        &sqlite.url,
        "[migrate]\ntable-name = \"main.schema_history\"\ncreate-schemas = [\"main\"]\n",
        "schema_history",
    )
    .await;
    let Some(pg) = common::postgres().await else {
        return;
    };
    each(
        &pg.url,
        "[migrate]\ntable-name = \"ops.schema_history\"\ncreate-schemas = [\"ops\"]\n",
        "ops.schema_history",
    )
    .await;
}

#[tokio::test]
async fn sqlx_applies_in_a_renamed_table_and_the_guard_is_up_to_date_and_ready() {
    for sqlx in sqlx_sides() {
        sqlx_then_guard(&sqlx).await;
    }
}

async fn sqlx_then_guard(sqlx: &Sqlx) {
    databases(async |url, sqlx_toml, table| {
        let dir = project(sqlx_toml);
        sqlx.run(dir.path(), url).await;
        let migrator = sqlx_migrator(dir.path()).await;

        let guard = Guard::new(&migrator);
        assert_eq!(guard.table_name(), migrator.table_name.as_ref());
        for policy in [Policy::Verify, Policy::Apply] {
            let status = guard.run(url, policy).await.unwrap();
            assert_eq!(status.state, State::UpToDate, "{sqlx:?} {url} {policy:?}");
        }
        assert_eq!(ready(url, guard).await, [Status::Pass; 2], "{url}");
        // Nothing ran twice, and nothing went to sqlx's default table.
        assert_eq!(
            scalar(url, format!("SELECT count(*) FROM {table}")).await,
            2
        );
        assert!(!exists(url, "_sqlx_migrations").await, "{url}");

        // The command, run beside the sqlx.toml, reads it.
        let (code, stdout, stderr) = cli_in(dir.path(), &["status", "--database-url", url]);
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert_contains(&stdout, "schema up to date (migration 2)");
        assert!(
            stderr.contains(&format!(
                "read sqlx.toml: migrations in migrations, recorded in {}",
                migrator.table_name
            )),
            "{stderr}"
        );
    })
    .await;
}

#[tokio::test]
async fn the_guard_applies_in_the_renamed_table_and_sqlx_finds_nothing_to_do() {
    for sqlx in sqlx_sides() {
        guard_then_sqlx(&sqlx).await;
    }
}

async fn guard_then_sqlx(sqlx: &Sqlx) {
    databases(async |url, sqlx_toml, table| {
        let dir = project(sqlx_toml);
        let (code, stdout, stderr) = cli_in(dir.path(), &["apply", "--database-url", url]);
        assert_eq!(code, 0, "{stdout}{stderr}");

        // sqlx would fail on migration 2's row if it ran it again.
        sqlx.run(dir.path(), url).await;
        let migrator = sqlx_migrator(dir.path()).await;
        assert_eq!(
            scalar(url, format!("SELECT count(*) FROM {table}")).await,
            2
        );
        assert!(!exists(url, "_sqlx_migrations").await, "{url}");
        if !url.starts_with("sqlite") {
            // The guard's own tables are beside sqlx's, in its schema.
            for own in [
                "_opskit_migrations",
                "_opskit_migration_history",
                "_opskit_migration_lock",
            ] {
                assert!(exists(url, &format!("ops.{own}")).await, "{own}");
                assert!(!exists(url, &format!("public.{own}")).await, "{own}");
            }
        }
        let status = Guard::new(&migrator)
            .run(url, Policy::Verify)
            .await
            .unwrap();
        assert_eq!(status.state, State::UpToDate);
    })
    .await;
}

/// A quoted name keeps its case and its space on PostgreSQL, for sqlx and the
/// guard alike, in a schema neither finds until one creates it.
#[tokio::test]
async fn a_quoted_mixed_case_name_is_one_table_for_sqlx_and_the_guard() {
    let sqlx_toml =
        "[migrate]\ntable-name = '\"Ops\".\"Schema History\"'\ncreate-schemas = ['\"Ops\"']\n";
    for sqlx_first in [true, false] {
        let Some(pg) = common::postgres().await else {
            return;
        };
        let dir = project(sqlx_toml);
        let migrator = sqlx_migrator(dir.path()).await;
        let guard = Guard::new(&migrator);
        if sqlx_first {
            sqlx_run(&pg.url, &migrator).await.unwrap();
            let status = guard.run(&pg.url, Policy::Apply).await.unwrap();
            assert_eq!(status.state, State::UpToDate);
        } else {
            guard.run(&pg.url, Policy::Apply).await.unwrap();
            sqlx_run(&pg.url, &migrator).await.unwrap();
            assert!(exists(&pg.url, "\"Ops\"._opskit_migrations").await);
        }
        let rows = scalar(
            &pg.url,
            "SELECT count(*) FROM \"Ops\".\"Schema History\"".into(),
        )
        .await;
        assert_eq!(rows, 2, "sqlx first: {sqlx_first}");
    }
}

#[tokio::test]
async fn a_guard_given_the_default_name_refuses_rather_than_apply_again() {
    databases(async |url, sqlx_toml, table| {
        // Another service's set, under a table of its own (found before this
        // set's, by name): not these migrations.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("1_other.sql"), "CREATE TABLE other_things (id INTEGER);").unwrap();
        let mut other_set = Migrator::new(other.path()).await.unwrap();
        other_set.dangerous_set_table_name(table.replace("schema_history", "other_history"));
        let dir = project(sqlx_toml);
        sqlx_run(url, &sqlx_migrator(dir.path()).await).await.unwrap();
        sqlx_run(url, &other_set).await.unwrap();

        let default_named = Guard::from_dir(dir.path().join("migrations")).await.unwrap();
        assert_eq!(default_named.table_name(), "_sqlx_migrations");
        for policy in [Policy::Verify, Policy::Apply, Policy::Expand] {
            let err = default_named.run(url, policy).await.unwrap_err();
            assert!(matches!(err, GuardError::TableElsewhere { .. }), "{err}");
            assert_eq!(err.exit_code(), 78);
            let message = err.to_string();
            assert_contains(&message, format!("the migrations table _sqlx_migrations does not exist, but {table} records 2 of these migrations"));
        }
        let (code, _, stderr) = cli_in(dir.path(), &["apply", "--database-url", url, "--config", "/dev/null"]);
        assert_eq!(code, 78, "{stderr}");
        assert!(stderr.contains("they were applied with table name"), "{stderr}");
        assert!(!exists(url, "_sqlx_migrations").await, "nothing written: {url}");

        // A guard of another set (its version 1 is not this one) is not held up
        // by the tables of sets that are not its own.
        let third = tempfile::tempdir().unwrap();
        std::fs::write(third.path().join("1_third.sql"), "CREATE TABLE third_things (id INTEGER);").unwrap();
        let status = Guard::from_dir(third.path()).await.unwrap().run(url, Policy::Apply).await.unwrap();
        assert_eq!(status.state, State::UpToDate);
    })
    .await;
}

#[test]
fn the_cli_reads_sqlx_toml_here_or_from_config_and_refuses_one_it_cannot_use() {
    let db = common::sqlite();
    let file = db
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("?mode=rwc");
    let status = |dir: &Path, extra: &[&str]| {
        let mut args = vec!["status", "--database-url", &db.url];
        args.extend_from_slice(extra);
        cli_in(dir, &args)
    };
    for (sqlx_toml, says) in [
        // A typo sqlx refuses too: ignoring it would leave the default table.
        (
            "[migrate]\ntable_name = \"ops.history\"\n",
            "unknown field `table_name`",
        ),
        ("[migrate]\ntable-name = ops.history\n", "line 2"),
        ("[migrations]\n", "unknown field `migrations`"),
        ("[migrate]\ncreate-schemas = \"ops\"\n", "create-schemas"),
    ] {
        let dir = project(sqlx_toml);
        let (code, _, stderr) = status(dir.path(), &[]);
        assert_eq!(code, 78, "{sqlx_toml}: {stderr}");
        assert!(
            stderr.contains("sqlx.toml is not a valid sqlx.toml") && stderr.contains(says),
            "{sqlx_toml}: {stderr}"
        );
    }
    assert!(!Path::new(file).exists(), "no database was opened");

    // A name that is more than a name is refused before the database is reached.
    let dir = project("[migrate]\ntable-name = '\"x\"; DROP TABLE notes; --'\n");
    let (code, _, stderr) = status(dir.path(), &[]);
    assert_eq!(code, 78, "{stderr}");
    assert_contains(&stderr, "cannot use the migrations table name");
    assert!(!Path::new(file).exists(), "no database was opened");

    // --config reads another file; a missing one is named.
    let elsewhere = project("[migrate]\ntable-name = \"app_history\"\n");
    let here = tempfile::tempdir().unwrap();
    let config = elsewhere.path().join("sqlx.toml");
    let migrations = elsewhere.path().join("migrations");
    let (code, stdout, stderr) = cli_in(
        here.path(),
        &[
            "apply",
            "--database-url",
            &db.url,
            "--config",
            config.to_str().unwrap(),
            "--migrations",
            migrations.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("recorded in app_history"), "{stderr}");
    let (code, _, stderr) = status(here.path(), &["--config", "missing.toml"]);
    assert_eq!(code, 78, "{stderr}");
    assert!(stderr.contains("cannot read missing.toml"), "{stderr}");
    // Without a sqlx.toml, --migrations stays required.
    let (code, _, stderr) = status(here.path(), &[]);
    assert_eq!(code, 64, "{stderr}");
}

/// A migrations table in a schema nobody creates is a setting to fix, named, as
/// sqlx refuses it too.
#[tokio::test]
async fn a_table_in_a_schema_that_does_not_exist_is_refused_naming_it() {
    let Some(pg) = common::postgres().await else {
        return;
    };
    let dir = project("[migrate]\ntable-name = \"nowhere.schema_history\"\n");
    assert!(
        sqlx_run(&pg.url, &sqlx_migrator(dir.path()).await)
            .await
            .is_err()
    );
    let (code, _, stderr) = cli_in(dir.path(), &["apply", "--database-url", &pg.url]);
    assert_eq!(code, 78, "{stderr}");
    assert_contains(
        &stderr,
        "cannot use the migrations table name \"nowhere.schema_history\": schema nowhere does not exist; list it in create-schemas",
    );
    assert!(!exists(&pg.url, "_opskit_migration_lock").await);
}
