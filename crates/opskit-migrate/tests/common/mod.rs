//! Databases for the tests: SQLite files, and fresh PostgreSQL databases on the
//! server named by `OPSKIT_TEST_POSTGRES_URL` (which `.ci/run` starts and sets).

#![allow(dead_code, unreachable_pub)]

pub mod pgbouncer;

use std::path::PathBuf;

use sqlx::{Connection, Executor, PgConnection};

pub fn migrations(set: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/migrations")
        .join(set)
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
