//! Databases for the tests: SQLite files, and fresh PostgreSQL databases on the
//! server named by `OPSKIT_TEST_POSTGRES_URL` (which `.ci/run` starts and sets).

#![allow(dead_code, unreachable_pub, unused_macros, unused_imports)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};

pub fn migrations(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/migrations")
        .join(set)
}

/// Two tests of one check that holds on both databases: `$sqlite` runs it on a
/// SQLite file, `$postgres` on a fresh PostgreSQL database (and passes without a
/// server on a developer's machine, as [`postgres`] says).
macro_rules! on_sqlite_and_postgres {
    ($check:path: $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $check(&$crate::common::sqlite().url).await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(db) = $crate::common::postgres().await else {
                return;
            };
            $check(&db.url).await;
        }
    };
}
pub(crate) use on_sqlite_and_postgres;

/// The `opskit-migrate` binary with `args`, and no `DATABASE_URL` from the
/// environment. (The binary exists in the test targets that need the `cli`
/// feature.)
// `env!` would not compile in the test targets built without the binary.
#[allow(clippy::option_env_unwrap)]
pub fn command(args: &[&str]) -> Command {
    let binary = option_env!("CARGO_BIN_EXE_opskit-migrate")
        .expect("the opskit-migrate binary is built for tests with the cli feature");
    let mut command = Command::new(binary);
    command.args(args).env_remove("DATABASE_URL");
    command
}

/// `opskit-migrate args` run to its end: exit code (-1 when a signal ended it),
/// stdout, stderr.
pub fn cli(args: &[&str]) -> (i32, String, String) {
    exited(command(args).output().unwrap())
}

/// `opskit-migrate command --migrations migrations --database-url url`, then
/// `more`, run to its end.
pub fn cli_on(command: &str, migrations: &Path, url: &str, more: &[&str]) -> (i32, String, String) {
    let migrations = migrations.to_str().unwrap();
    let mut args = vec![command, "--migrations", migrations, "--database-url", url];
    args.extend_from_slice(more);
    cli(&args)
}

/// `opskit-migrate args` run in `dir`, as a migration job runs it beside
/// `sqlx.toml`.
pub fn cli_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    exited(command(args).current_dir(dir).output().unwrap())
}

fn exited(output: Output) -> (i32, String, String) {
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// One integer from a query, on either database, on a connection of its own.
pub async fn scalar(url: &str, sql: impl sqlx::SqlSafeStr) -> i64 {
    if url.starts_with("sqlite") {
        let mut conn = SqliteConnection::connect(url).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        n
    } else {
        let mut conn = PgConnection::connect(url).await.unwrap();
        let n = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        n
    }
}

/// Runs `sql` on either database, on a connection of its own.
pub async fn execute(url: &str, sql: &'static str) {
    if url.starts_with("sqlite") {
        let mut conn = SqliteConnection::connect(url).await.unwrap();
        conn.execute(sql).await.unwrap();
    } else {
        let mut conn = PgConnection::connect(url).await.unwrap();
        conn.execute(sql).await.unwrap();
    }
}

/// sqlx's own `migrator` applies its migrations on `url`, as `sqlx migrate run`
/// does.
pub async fn sqlx_run(url: &str, migrator: &Migrator) -> Result<(), MigrateError> {
    if url.starts_with("sqlite") {
        migrator
            .run(&mut SqliteConnection::connect(url).await.unwrap())
            .await
    } else {
        migrator
            .run(&mut PgConnection::connect(url).await.unwrap())
            .await
    }
}

/// A SQLite database file in a temporary directory.
pub struct Sqlite {
    pub url: String,
    _dir: tempfile::TempDir,
}

pub fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    Sqlite { url, _dir: dir }
}

/// A fresh PostgreSQL database, dropped at the end; `None` (with a message) when no
/// server is configured on a developer's machine. In CI a missing server fails.
///
/// The database belongs to a role of its own whose password is a canary (`password`):
/// the server's admin password may be a common word (CI's is `opskit`, the crate's
/// name), so only a password made here can be searched for in every output.
pub struct Postgres {
    pub url: String,
    pub password: String,
    admin: String,
    name: String,
}

fn random_hex() -> String {
    format!(
        "{:016x}",
        std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::time::SystemTime::now()
        )
    )
}

pub async fn postgres() -> Option<Postgres> {
    let admin = opskit_testkit::postgres_admin_url()?;
    let name = format!("opskit_test_{}", random_hex());
    let password = format!("Pg-canary-{}", random_hex());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("the PostgreSQL test server accepts connections");
    // A superuser, as the admin role is: some tests look at other sessions' locks.
    conn.execute(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{password}'"
    )))
    .await
    .unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {name} OWNER {name}"
    )))
    .await
    .unwrap();
    // postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?QUERY]: the same server and
    // parameters, with this role and database.
    let (scheme, rest) = admin.split_once("://").unwrap();
    let server = rest.rsplit_once('@').map_or(rest, |(_, server)| server);
    let (host, path) = server.split_once('/').unwrap_or((server, ""));
    let query = path
        .split_once('?')
        .map_or(String::new(), |(_, q)| format!("?{q}"));
    Some(Postgres {
        url: format!("{scheme}://{name}:{password}@{host}/{name}{query}"),
        password,
        admin,
        name,
    })
}

impl Postgres {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The admin URL of the server (`OPSKIT_TEST_POSTGRES_URL`).
    pub fn admin(&self) -> &str {
        &self.admin
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Best effort, on a runtime of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {name}")))
                        .await;
                }
            });
        })
        .join();
    }
}
