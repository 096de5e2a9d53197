//! What readiness means for this service: the database answers, and the schema is
//! one this release can run against.

use std::time::Duration;

use opskit::health::checks::sqlx_pool;
use opskit::health::{BuildError, CheckOptions, Health, Probe};
use opskit::migrate::{Guard, schema_check};
use opskit::telemetry::BuildInfo;
use sqlx::AnyPool;

use crate::settings::Settings;

/// The health registry: `database` (readiness) and `schema` (readiness and
/// startup), both on the pool kept for checks. Every 2 s, so the service is ready
/// again within seconds of the database's return; `database` fails readiness after
/// three misses in a row, so one slow answer under load does not flap it.
pub fn registry(
    settings: &Settings,
    info: &BuildInfo,
    release: &'static str,
    pool: &AnyPool,
    guard: Guard,
) -> Result<Health, BuildError> {
    let datastore = || {
        CheckOptions::new()
            .component_type("datastore")
            .interval(Duration::from_secs(2))
    };
    Health::builder()
        .service_id(info.name)
        .version(info.version)
        .release_id(info.release_id())
        .description(release)
        .settings(&settings.health)
        .check(
            "database",
            sqlx_pool(pool.clone()),
            datastore().failure_threshold(3),
        )
        .check(
            "schema",
            schema_check(guard, pool.clone()),
            datastore().probes([Probe::Readiness, Probe::Startup]),
        )
        .build()
}
