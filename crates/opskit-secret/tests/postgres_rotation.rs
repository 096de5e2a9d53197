//! A pool wired to a watched password file, against a real PostgreSQL: the role's
//! password is changed with `ALTER ROLE`, the mounted file swapped the way the
//! kubelet does it, and new connections must use the new password while open ones
//! keep working. Needs `OPSKIT_TEST_POSTGRES_URL` (a role that may create roles);
//! skipped without it unless `CI` is set.

mod support;

use std::str::FromStr;
use std::time::Duration;

use opskit_secret::canary::{Canary, assert_no_leak};
use opskit_secret::rotation::{WatchOptions, WatchedSecret};
use opskit_secret::{ConnectionString, ExposeSecret, SecretFile, SecretString};
use opskit_testkit::assert_contains;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};
use support::{Capture, KubeletVolume, wait_until};

/// The role the password test creates, unique to it.
const ROLE: &str = "secret_rotation_canary_app";
/// The role the URL test creates.
const URL_ROLE: &str = "secret_rotation_canary_url";

fn admin_options() -> Option<PgConnectOptions> {
    let Ok(url) = std::env::var("OPSKIT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "OPSKIT_TEST_POSTGRES_URL is not set, and CI is: this test must run"
        );
        eprintln!(
            "skipped: OPSKIT_TEST_POSTGRES_URL is not set (a PostgreSQL server to test against)"
        );
        return None;
    };
    // The test's own statements hold the canaries: keep them out of the logs swept.
    Some(
        PgConnectOptions::from_str(&url)
            .unwrap()
            .disable_statement_logging(),
    )
}

/// A connection of the server's admin (and its options, for URLs of the same
/// server), with `role` created anew to log in with `password`; `None` (the test
/// is skipped) without a server.
async fn admin_with_role(role: &str, password: &str) -> Option<(PgConnectOptions, PgConnection)> {
    let options = admin_options()?;
    let mut admin = PgConnection::connect_with(&options).await.unwrap();
    // Canary values are letters, digits and `-`: safe inside a literal.
    let sql = format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN PASSWORD '{password}'");
    execute(&mut admin, sql).await;
    Some((options, admin))
}

/// Ends a test: neither canary is in `seen` (the logs, errors and Debug output),
/// the pool is closed and the role dropped.
async fn end(
    seen: &str,
    canaries: [&Canary; 2],
    pool: PgPool,
    mut admin: PgConnection,
    role: &str,
) {
    for canary in canaries {
        assert_no_leak(seen, canary.value(), "the logs, errors and Debug output");
    }
    pool.close().await;
    execute(&mut admin, format!("DROP ROLE {role}")).await;
}

async fn set_password(admin: &mut PgConnection, role: &str, password: &str) {
    execute(admin, format!("ALTER ROLE {role} PASSWORD '{password}'")).await;
}

async fn execute(admin: &mut PgConnection, sql: String) {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(admin)
        .await
        .unwrap();
}

/// A connection the pool opens now (none is idle: each is closed after use), and
/// the server process that serves it.
async fn new_connection(pool: &PgPool) -> Result<i32, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let pid = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await?;
    conn.close().await?;
    Ok(pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_wired_to_a_watched_password_opens_new_connections_with_the_new_password() {
    let (old, new) = (Canary::new("pg-old"), Canary::new("pg-new"));
    let Some((admin_options, mut admin)) = admin_with_role(ROLE, old.value()).await else {
        return;
    };
    let (logs, _guard) = Capture::start();

    let dir = tempfile::tempdir().unwrap();
    let mut volume = KubeletVolume::new(dir.path(), &[("password", old.value())]);
    let password: WatchedSecret<SecretString> = SecretFile::new(volume.path("password"))
        .watch_with(
            "APP_DATABASE_PASSWORD",
            WatchOptions::default().interval(Duration::from_millis(20)),
        )
        .unwrap();
    let app_options = admin_options
        .clone()
        .username(ROLE)
        .password(password.current().expose_secret())
        .database("postgres");
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(app_options.clone())
        .await
        .unwrap();
    let _watch =
        opskit_secret::sqlx::rotate_pool_password(&pool, &password, PgConnectOptions::password);

    // A connection opened before the rotation, held through it.
    let mut held = pool.acquire().await.unwrap();
    let held_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *held)
        .await
        .unwrap();
    new_connection(&pool).await.unwrap();

    // The database's password changes first: the pool's new connections fail,
    // which is what the file's rotation must repair.
    set_password(&mut admin, ROLE, new.value()).await;
    let refused = new_connection(&pool).await.unwrap_err();
    let refused = format!("{refused} {refused:?}");
    assert_contains(&refused, "password authentication failed");

    volume.update(&[("password", new.value())]);
    wait_until("the rotation", || password.rotations() == 1);
    let pid = new_connection(&pool).await.unwrap();
    assert_ne!(pid, held_pid);
    // Only the new password is valid now, so the pool must have used it.
    let old_password = app_options.clone().password(old.value());
    let old_refused = PgConnection::connect_with(&old_password).await.unwrap_err();
    let old_refused = format!("{old_refused} {old_refused:?}");
    assert_contains(&old_refused, "password authentication failed");

    // The connection opened with the old password keeps working.
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut *held)
        .await
        .unwrap();
    assert_eq!(one, 1);
    drop(held);

    let rotated = logs.events("secret.rotated");
    assert_eq!(rotated.len(), 1, "{}", logs.text());
    assert_eq!(rotated[0]["fields"]["secret"], "APP_DATABASE_PASSWORD");
    let seen = format!(
        "{}\n{refused}\n{old_refused}\n{pool:?}\n{password:?}\n{:?}",
        logs.text(),
        password.current()
    );
    end(&seen, [&old, &new], pool, admin, ROLE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_wired_to_a_watched_url_follows_a_whole_new_url() {
    let (old, new) = (Canary::new("pg-url-old"), Canary::new("pg-url-new"));
    let Some((admin_options, mut admin)) = admin_with_role(URL_ROLE, old.value()).await else {
        return;
    };
    let (logs, _guard) = Capture::start();
    let url_with = |password: &str| {
        format!(
            "postgres://{URL_ROLE}:{password}@{}:{}/postgres",
            admin_options.get_host(),
            admin_options.get_port()
        )
    };

    let dir = tempfile::tempdir().unwrap();
    let mut volume = KubeletVolume::new(dir.path(), &[("database_url", &url_with(old.value()))]);
    let url: WatchedSecret<ConnectionString> = SecretFile::new(volume.path("database_url"))
        .watch_with(
            "APP_DATABASE_URL",
            WatchOptions::default().interval(Duration::from_millis(20)),
        )
        .unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url.current().expose_secret())
        .await
        .unwrap();
    let _watch = opskit_secret::sqlx::rotate_pool_url(&pool, &url);
    new_connection(&pool).await.unwrap();

    set_password(&mut admin, URL_ROLE, new.value()).await;
    let refused = new_connection(&pool).await.unwrap_err().to_string();
    assert_contains(&refused, "password authentication failed");
    volume.update(&[("database_url", &url_with(new.value()))]);
    wait_until("the rotation", || url.rotations() == 1);
    new_connection(&pool).await.unwrap();

    let seen = format!(
        "{}\n{refused}\n{pool:?}\n{url:?}\n{:?}\n{}",
        logs.text(),
        url.current(),
        url.current()
    );
    end(&seen, [&old, &new], pool, admin, URL_ROLE).await;
}
