//! The ready-made checks against real endpoints: a TCP listener, SQLite and PostgreSQL.

use std::time::Duration;

use opskit_health::checks::{sqlx_pool, tcp_connect};
use opskit_health::{Check, Status};

#[tokio::test]
async fn tcp_connect_passes_on_a_listener_and_fails_on_a_closed_port() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open = listener.local_addr().unwrap();
    assert_eq!(
        tcp_connect(open.to_string()).run().await.status,
        Status::Pass
    );

    drop(listener);
    let outcome = tcp_connect(open.to_string()).run().await;
    assert_eq!(outcome.status, Status::Fail);
    let output = outcome.output.unwrap();
    assert!(
        output.starts_with(&format!("cannot connect to {open}: ")),
        "{output}"
    );
}

#[tokio::test]
async fn sqlx_pool_runs_select_1_and_fails_when_the_pool_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("health.db").display()
    );
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .acquire_timeout(Duration::from_millis(500))
        .connect(&url)
        .await
        .unwrap();
    let check = sqlx_pool(pool.clone());
    assert_eq!(check.run().await.status, Status::Pass);

    pool.close().await;
    let outcome = check.run().await;
    assert_eq!(outcome.status, Status::Fail);
    assert!(
        outcome
            .output
            .as_deref()
            .unwrap()
            .starts_with("cannot get a database connection: "),
        "{outcome:?}"
    );
}

/// On PostgreSQL: a killed server connection does not fail readiness (the pool tests
/// and replaces it), and a server that refuses the password fails the check with a
/// message that carries no password.
#[tokio::test]
async fn sqlx_pool_on_postgresql_survives_a_killed_connection_and_a_wrong_password_fails() {
    let Some(admin) = opskit_testkit::postgres_admin_url() else {
        return;
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&admin)
        .await
        .expect("the PostgreSQL test server accepts connections");
    let check = sqlx_pool(pool.clone());
    assert_eq!(check.run().await.status, Status::Pass);

    // Kill the pool's only connection from another session, as a failover would,
    // and wait until the server says that backend is gone.
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut other = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
        .await
        .unwrap();
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert!(killed, "backend {pid} did not exit within 5 s");
    let still_there: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)")
            .bind(pid)
            .fetch_one(&mut other)
            .await
            .unwrap();
    assert!(!still_there, "backend {pid} still runs");
    let outcome = check.run().await;
    assert_eq!(outcome.status, Status::Pass, "{outcome:?}");
    let replacement: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(
        replacement, pid,
        "the pool still holds the killed connection"
    );

    // The real server refuses a wrong password: the check fails and says why.
    // (PostgreSQL never quotes the password it was offered, so the last assertion
    // only guards against the check itself adding the URL to its output.)
    let password = "canary-health-pw-7c1d";
    let (scheme, rest) = admin.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let user = userinfo.split(':').next().unwrap();
    let wrong = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy(&format!("{scheme}://{user}:{password}@{host}"))
        .unwrap();
    let outcome = sqlx_pool(wrong).run().await;
    assert_eq!(outcome.status, Status::Fail);
    let output = outcome.output.unwrap();
    assert!(
        output.starts_with("cannot get a database connection: ")
            && output.contains("password authentication failed"),
        "{output}"
    );
    assert!(!output.contains(password), "{output}");
}
