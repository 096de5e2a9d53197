//! A service's startup on sqlx 0.9 over TLS: its own `sqlx::migrate!()` handed to the
//! guard, its own pool checked by opskit-health. Run by `.ci/run` with
//! `DATABASE_URL` (`sslmode=verify-full`, `sslrootcert=`); exits 0 when the guard
//! applied the migration over TLS and the readiness check passed on the pool.

use std::time::Duration;

use opskit::health::checks::sqlx_pool;
use opskit::health::{CheckOptions, Health, Probe, Status};
use opskit::migrate::{Guard, Policy, State};
use opskit::secret::{ConnectionString, ExposeSecret};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

#[tokio::main]
async fn main() {
    let url: ConnectionString = std::env::var("DATABASE_URL")
        .expect("DATABASE_URL is set")
        .parse()
        .expect("DATABASE_URL is a URL");

    // The user's own Migrator (sqlx 0.9) goes to the guard as it is.
    let status = match Guard::new(&MIGRATOR).run(url.expose_secret(), Policy::Apply).await {
        Ok(status) => status,
        Err(err) => {
            eprintln!("{url}: {err}");
            std::process::exit(err.exit_code());
        }
    };
    assert_eq!(status.state, State::UpToDate, "{status}");

    // The user's own pool, over TLS, checked by opskit-health.
    let pool = sqlx::PgPool::connect(url.expose_secret())
        .await
        .expect("the pool connects over TLS");
    let tls: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await
        .expect("pg_stat_ssl is readable");
    assert!(tls, "the connection is not encrypted");
    let health = Health::builder()
        .check("database", sqlx_pool(pool), CheckOptions::new())
        .build()
        .expect("the health registry builds");
    health.wait_until_checked(Duration::from_secs(5)).await;
    health.mark_started();
    match health.status(Probe::Readiness) {
        Status::Pass => println!("{url}: migrated and ready over TLS"),
        other => {
            eprintln!("{url}: readiness is {}", other.as_str());
            std::process::exit(opskit::exit::UNAVAILABLE);
        }
    }
}
