//! The database: which one, its schema (guarded), and the pool.
//!
//! PostgreSQL when `NOTES_DATABASE_URL` is set, else an SQLite file in
//! `NOTES_DATA_DIR`. Each has its own migration set (`migrations/postgres`,
//! `migrations/sqlite`), with the same versions and meaning: identity columns have
//! no syntax both share, and a real service keeps one set per database it supports.

use std::time::{Duration, Instant};

use opskit::migrate::{Guard, Policy};
use opskit::secret::{ConnectionString, ExposeSecret};
use opskit::telemetry::exit;
use opskit::telemetry::serving::Lifecycle;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::settings::Settings;

static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

/// The database this release runs against: its URL, the guard of its migrations,
/// and the pools, the schema brought to what this release needs (see [`start`]).
/// With `--migrate-only` the process is the migration job and ends there
/// ([`migrate_only`]).
pub async fn open(settings: &Settings, lifecycle: &Lifecycle) -> (ConnectionString, Guard, Pools) {
    let url = url(settings, lifecycle);
    let guard = guard(&url);
    if std::env::args().nth(1).as_deref() == Some("--migrate-only") {
        migrate_only(&url, &guard, settings.migrate, lifecycle).await;
    }
    let pools = start(settings, &url, &guard, lifecycle).await;
    (url, guard, pools)
}

/// The database URL: the setting, or the embedded SQLite file (its directory
/// created on first run).
fn url(settings: &Settings, lifecycle: &Lifecycle) -> ConnectionString {
    if let Some(url) = &settings.database_url {
        return url.clone();
    }
    let dir = &settings.data_dir;
    // A path the service cannot make a directory of (a file, a place under /proc,
    // a name too long) is a setting to fix: 78, naming the variable.
    if let Err(err) = std::fs::create_dir_all(dir) {
        let reason = format!(
            "NOTES_DATA_DIR: cannot create the data directory {}: {err}; point it at a \
             writable directory",
            dir.display()
        );
        lifecycle.exit(&reason, exit::CONFIG);
    }
    let url = format!("sqlite://{}?mode=rwc", dir.join("notes.db").display());
    match ConnectionString::parse(&url) {
        Ok(url) => url,
        Err(err) => lifecycle.exit(
            &format!("NOTES_DATA_DIR does not make a database URL: {err}"),
            exit::CONFIG,
        ),
    }
}

/// The guard of this release's migrations for the database `url` names.
fn guard(url: &ConnectionString) -> Guard {
    if url.expose_secret().starts_with("sqlite:") {
        Guard::new(&SQLITE)
    } else {
        Guard::new(&POSTGRES)
    }
}

/// The service's pools: `app` for requests, `checks` (one connection) for the
/// health checks, so readiness never queues behind application traffic.
pub struct Pools {
    pub app: AnyPool,
    pub checks: AnyPool,
}

/// Opens the pools without connecting (they connect on first use) and brings the
/// schema to what this release needs: at once when the database answers, else in
/// the background while the service is alive and not ready (see [`migrate`]).
async fn start(
    settings: &Settings,
    url: &ConnectionString,
    guard: &Guard,
    lifecycle: &Lifecycle,
) -> Pools {
    sqlx::any::install_default_drivers();
    let pool = |max_connections| {
        AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(settings.database_acquire_timeout)
            .connect_lazy(url.expose_secret())
            .unwrap_or_else(|err| {
                let reason = format!(
                    "NOTES_DATABASE_URL is not a usable database URL: {}",
                    url.scrub(&err.to_string())
                );
                lifecycle.exit(&reason, exit::CONFIG)
            })
    };
    let pools = Pools {
        app: pool(settings.database_max_connections.get()),
        checks: pool(1),
    };
    match guard.run(url, settings.migrate).await {
        Ok(_) => {}
        Err(err) if err.exit_code() == exit::UNAVAILABLE => {
            tokio::spawn(migrate(
                settings.migrate,
                settings.database_start_deadline,
                url.clone(),
                guard.clone(),
                lifecycle.clone(),
            ));
        }
        Err(err) => lifecycle.exit(&err.to_string(), err.exit_code()),
    }
    pools
}

/// Applies (or, with `NOTES_MIGRATE=verify`, checks) the migrations while the
/// database is unreachable: retries with backoff, the service alive and not ready,
/// until `deadline` (then exit 69); a schema this release cannot run against ends
/// the process at once (65).
async fn migrate(
    policy: Policy,
    deadline: Duration,
    url: ConnectionString,
    guard: Guard,
    lifecycle: Lifecycle,
) {
    let give_up = Instant::now() + deadline;
    let mut pause = Duration::from_millis(250);
    loop {
        tracing::warn!(
            event = "notes.database_waiting",
            retry_in_ms = pause.as_millis() as u64,
            "the database is unreachable; not ready, retrying in {pause:?} (NOTES_DATABASE_START_DEADLINE gives up after {deadline:?})"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
        match guard.run(&url, policy).await {
            Ok(_) => return,
            Err(err)
                if err.exit_code() == exit::UNAVAILABLE && Instant::now() + pause < give_up => {}
            Err(err) => lifecycle.exit(&err.to_string(), err.exit_code()),
        }
    }
}

/// `--migrate-only`: the migration job of a fleet whose replicas only verify, with
/// `NOTES_MIGRATE`'s policy: `expand` before a rolling deploy (the contract
/// migrations wait), `apply` after it, `verify` to check without writing.
/// Ends the process: 0 once done, else the guard's exit code.
async fn migrate_only(
    url: &ConnectionString,
    guard: &Guard,
    policy: Policy,
    lifecycle: &Lifecycle,
) {
    match guard.run(url, policy).await {
        Ok(status) => lifecycle.exit(
            &format!(
                "migration job done (NOTES_MIGRATE={}): {status}",
                policy.as_str()
            ),
            exit::OK,
        ),
        Err(err) => lifecycle.exit(&err.to_string(), err.exit_code()),
    }
}
