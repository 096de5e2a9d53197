//! What readiness means for this service: the database answers, and the schema is
//! one this release can run against.

use std::time::Duration;

use opskit::health::Outcome;
use opskit::health::checks::sqlx_pool;
use opskit::health::{CheckOptions, Health, Probe};
use opskit::migrate::{Guard, schema_check};
use opskit::secret::ConnectionString;
use opskit::telemetry::exit;
use opskit::telemetry::serving::Lifecycle;
use sqlx::AnyPool;

use crate::settings::Settings;

/// The health registry: `database` (readiness) and `schema` (readiness and
/// startup), both on the pool kept for checks, and for the embedded SQLite file
/// `disk` (readiness fails while its filesystem has no room for writes). Every 2 s, so the service is ready
/// again within seconds of the database's return; `database` and `schema` fail
/// readiness after three misses in a row (their default), so one slow answer under
/// load does not flap it. A registry that does not build is a bug here: exit 70.
pub fn registry(
    settings: &Settings,
    url: &ConnectionString,
    pool: &AnyPool,
    guard: Guard,
    lifecycle: &Lifecycle,
) -> Health {
    let datastore = || {
        CheckOptions::new()
            .component_type("datastore")
            .interval(Duration::from_secs(2))
    };
    let mut builder = Health::builder();
    if url.scheme() == "sqlite" {
        let dir = settings.data_dir.clone();
        builder = builder.check(
            "disk",
            move || {
                let dir = dir.clone();
                async move { disk_room(&dir) }
            },
            datastore(),
        );
    }
    // The service's name, version and commit come from `serve`, from the build info.
    builder
        .settings(&settings.health)
        .check("database", sqlx_pool(pool.clone()), datastore())
        .check(
            "schema",
            schema_check(guard, pool.clone()),
            datastore().probes([Probe::Readiness, Probe::Startup]),
        )
        .build()
        .unwrap_or_else(|err| lifecycle.exit(&err.to_string(), exit::SOFTWARE))
}

/// Free space below which SQLite's writes (a page, its journal) may fail.
const MIN_FREE_BYTES: u64 = 256 * 1024;

/// Whether the filesystem of `dir` has room for writes.
fn disk_room(dir: &std::path::Path) -> Outcome {
    match rustix::fs::statvfs(dir) {
        Ok(stats) => {
            let free = stats.f_bavail.saturating_mul(stats.f_frsize);
            if free < MIN_FREE_BYTES {
                Outcome::fail(format!(
                    "{} has {} KiB free: writes fail until space is freed",
                    dir.display(),
                    free / 1024
                ))
            } else {
                Outcome::pass()
            }
        }
        Err(err) => Outcome::fail(format!(
            "cannot read the free space of {}: {err}",
            dir.display()
        )),
    }
}
