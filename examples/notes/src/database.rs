//! The database: which one, its schema (guarded), and the pool.
//!
//! PostgreSQL when `NOTES_DATABASE_URL` is set, else an SQLite file in
//! `NOTES_DATA_DIR`. Each has its own migration set (`migrations/postgres`,
//! `migrations/sqlite`), with the same versions and meaning: identity columns have
//! no syntax both share, and a real service keeps one set per database it supports.

use opskit::migrate::{Guard, Policy};
use opskit::secret::{ConnectionString, ExposeSecret};
use opskit::telemetry::{Lifecycle, exit};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use crate::settings::Settings;

static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

/// The database URL: the setting, or the embedded SQLite file (its directory
/// created on first run).
pub fn url(settings: &Settings, lifecycle: &Lifecycle) -> ConnectionString {
    if let Some(url) = &settings.database_url {
        return url.clone();
    }
    let dir = &settings.data_dir;
    if let Err(err) = std::fs::create_dir_all(dir) {
        let reason = format!(
            "cannot create the data directory {} (NOTES_DATA_DIR): {err}",
            dir.display()
        );
        lifecycle.exit(&reason, exit::OS_ERROR);
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

/// The guard of this release's migrations for the database `url` names; with
/// `up_to`, only the migrations up to that version (an older release).
pub fn guard(url: &ConnectionString, up_to: Option<i64>) -> Guard {
    let migrator = if url.expose_secret().starts_with("sqlite:") {
        &SQLITE
    } else {
        &POSTGRES
    };
    let migrations = migrator
        .iter()
        .filter(|m| up_to.is_none_or(|last| m.version <= last))
        .cloned();
    Guard::from_migrations(migrations)
}

/// Brings the schema to what this release needs (or checks it, with
/// `NOTES_MIGRATE=verify`), then opens the pool. Each failure ends the process:
/// 65 for a schema this release cannot run against, 69 for a database it cannot
/// reach.
pub async fn open(
    settings: &Settings,
    url: &ConnectionString,
    guard: &Guard,
    lifecycle: &Lifecycle,
) -> AnyPool {
    if let Err(err) = guard.run(url, settings.migrate).await {
        lifecycle.exit(&err.to_string(), err.exit_code());
    }
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(settings.database_max_connections)
        .acquire_timeout(settings.database_acquire_timeout)
        .connect(url.expose_secret())
        .await;
    match pool {
        Ok(pool) => pool,
        Err(err) => lifecycle.exit(
            &format!("cannot open the database {url}: {err}"),
            exit::UNAVAILABLE,
        ),
    }
}

/// `--migrate-only`: the migration job of a fleet whose replicas only verify.
/// Ends the process: 0 once applied, else the guard's exit code.
pub async fn migrate_only(url: &ConnectionString, guard: &Guard, lifecycle: &Lifecycle) {
    match guard.run(url, Policy::Apply).await {
        Ok(status) => lifecycle.exit(&format!("migrations applied: {status}"), exit::OK),
        Err(err) => lifecycle.exit(&err.to_string(), err.exit_code()),
    }
}
