//! The guard over TLS to a real PostgreSQL server, as every managed PostgreSQL
//! requires: `.ci/run` turns `ssl = on` with a certificate signed by a CA it makes,
//! and names that CA in `OPSKIT_TEST_POSTGRES_CA`.

mod common;

use opskit_migrate::{Guard, GuardError, Policy, State};
use sqlx::{Connection, PgConnection};

/// The URL of a fresh database on the test server with `params` added.
fn with_params(url: &str, host: &str, params: &str) -> String {
    let url = url.replacen("@127.0.0.1:", &format!("@{host}:"), 1);
    format!("{url}?{params}")
}

/// Whether the connection for `url` is encrypted, as the server sees it.
async fn server_says_tls(url: &str) -> bool {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_guard_migrates_over_tls_with_sslmode_require() {
    let Some((_, _ca)) = opskit_testkit::postgres_tls() else {
        return;
    };
    let db = common::postgres().await.unwrap();
    let url = with_params(&db.url, "127.0.0.1", "sslmode=require");
    let guard = Guard::from_dir(common::migrations("v2")).await.unwrap();
    let status = guard.run(&url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
    assert_eq!(status.database_latest, Some(2));
    assert!(
        server_says_tls(&url).await,
        "sslmode=require connected without TLS"
    );
}

#[tokio::test]
async fn the_guard_verifies_the_server_certificate_with_verify_full() {
    let Some((_, ca)) = opskit_testkit::postgres_tls() else {
        return;
    };
    let db = common::postgres().await.unwrap();
    let ca = ca.display();
    let url = with_params(
        &db.url,
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let guard = Guard::from_dir(common::migrations("v2")).await.unwrap();
    let status = guard.run(&url, Policy::Apply).await.unwrap();
    assert_eq!(status.state, State::UpToDate);
    assert!(
        server_says_tls(&url).await,
        "verify-full connected without TLS"
    );

    // Without the CA the server's certificate is not trusted: the guard says the
    // database is unreachable, names it, and never its password.
    let untrusted = with_params(&db.url, "localhost", "sslmode=verify-full");
    let err = guard.status_at(&untrusted).await.unwrap_err();
    assert!(matches!(err, GuardError::Unreachable { .. }), "{err:?}");
    assert_eq!(err.exit_code(), 69);
    let message = err.to_string();
    assert!(message.contains("localhost"), "{message}");
    assert!(!message.contains(&db.password), "{message}");
}
