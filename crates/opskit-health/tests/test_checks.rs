//! The ready-made checks against real endpoints: a TCP listener and SQLite.

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
