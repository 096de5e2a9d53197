//! The guard: status, apply, verify.
//!
//! The `Guard` is here; its methods are in one file a job, in the order its
//! documentation lists them: building it (`build`), reading the status (`inspect`),
//! applying migrations (`migrate`), repairing a failed one (`repair`), and running
//! on a URL (`run`). The `Policy`, the `Repair`, the `DatabaseUrl` and the
//! `schema.status` event have their own files (`policy`, `repair`, `url`,
//! `status_event`).

use std::time::Duration;

use sqlx::migrate::Migration;

mod build;
mod inspect;
mod migrate;
pub(crate) mod policy;
pub(crate) mod repair;
mod run;
mod status_event;
pub(crate) mod url;

/// The target of the guard's events: this module's path, as the events had before
/// the guard was split into files, so that log filters naming it keep working.
pub(crate) const TARGET: &str = module_path!();

/// The migration guard for one binary's migrations.
///
/// ```no_run
/// use opskit_migrate::{Guard, Policy};
///
/// # async fn run() -> Result<(), opskit_migrate::GuardError> {
/// static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("tests/migrations/base");
/// let guard = Guard::new(&MIGRATOR);
/// let status = guard.run("sqlite://data/notes.db?mode=rwc", Policy::Apply).await?;
/// assert!(status.is_compatible());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Guard {
    migrations: Vec<Migration>,
    /// sqlx's migrations table, as the `Migrator` names it.
    table_name: String,
    /// Schemas to create before the tables, as the `Migrator` lists them.
    create_schemas: Vec<String>,
    lock_timeout: Duration,
    lock_lease: Duration,
    table_lock: crate::lock_wait::Bound,
}
