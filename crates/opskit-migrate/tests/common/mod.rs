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
pub struct Postgres {
    pub url: String,
    admin: String,
    name: String,
}

pub async fn postgres() -> Option<Postgres> {
    let admin = opskit_testkit::postgres_admin_url()?;
    let name = format!(
        "opskit_test_{:016x}",
        std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::time::SystemTime::now()
        )
    );
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("the PostgreSQL test server accepts connections");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(base, _)| base).unwrap();
    Some(Postgres {
        url: format!("{base}/{name}"),
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
                }
            });
        })
        .join();
    }
}
