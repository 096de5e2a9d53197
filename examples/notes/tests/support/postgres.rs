//! A fresh PostgreSQL database with its own login role, on the server named by
//! `OPSKIT_TEST_POSTGRES_URL` (which `.ci/run` starts and sets). The role's password
//! is a canary, so a test can prove it never reaches any output.

use std::future::Future;

use opskit::secret::canary::Canary;
use sqlx::{Connection, Executor, PgConnection};

pub struct Postgres {
    /// The service's URL: the new role, its canary password, the new database.
    pub url: String,
    /// The role's password.
    pub password: Canary,
    /// `host:port` of the server.
    pub host: String,
    pub database: String,
    pub role: String,
    admin: String,
}

/// Runs `future` to completion on a runtime of its own.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// `None` (with a message) when no server is configured on a developer's machine; in
/// CI a missing server fails the test.
pub fn database() -> Option<Postgres> {
    let admin = opskit_testkit::postgres_admin_url()?;
    let parsed = url::Url::parse(&admin).expect("OPSKIT_TEST_POSTGRES_URL is a URL");
    let host = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(5432)
    );
    let suffix = format!(
        "{:016x}",
        std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            (std::time::SystemTime::now(), std::process::id())
        )
    );
    let database = format!("notes_test_{suffix}");
    let role = format!("notes_role_{suffix}");
    let password = Canary::new("db-password");
    block_on(async {
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("the PostgreSQL test server accepts connections");
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {role} LOGIN PASSWORD '{}'",
            password.value()
        )))
        .await
        .unwrap();
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {database} OWNER {role}"
        )))
        .await
        .unwrap();
    });
    Some(Postgres {
        url: format!("postgres://{role}:{}@{host}/{database}", password.value()),
        password,
        host,
        database,
        role,
        admin,
    })
}

impl Postgres {
    /// Runs `sql` as the server's admin (to break or repair the role on purpose).
    pub fn as_admin(&self, sql: &str) {
        let sql = sql.to_owned();
        let admin = self.admin.clone();
        block_on(async move {
            let mut conn = PgConnection::connect(&admin).await.unwrap();
            conn.execute(sqlx::AssertSqlSafe(sql)).await.unwrap();
        });
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let database = self.database.clone();
        let role = self.role.clone();
        // Best effort, on a thread of its own: this may run inside a runtime.
        let _ = std::thread::spawn(move || {
            block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin).await {
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
                        )))
                        .await;
                    let _ = conn
                        .execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
                        .await;
                }
            })
        })
        .join();
    }
}
