//! The schema as an opskit-health check.

use std::sync::Arc;

use opskit_health::{Check, Outcome, Tolerant};

use crate::db::StatusConnection;
use crate::guard::Guard;
use crate::status::State;

/// A check that passes while the schema is compatible with this binary: register it
/// for readiness and startup. Pending migrations fail it (the service is not ready
/// until the migration job ran), as does a contract migration applied by a newer
/// release. It reports failing after 3 failed runs in a row (a run that is slow
/// while the database is busy is not an incompatible schema) unless the options set
/// another [`failure_threshold`](opskit_health::CheckOptions::failure_threshold);
/// its first run reports what it finds at once.
///
/// Needs the `health` feature.
///
/// ```no_run
/// use opskit_health::{CheckOptions, Health, Probe};
/// use opskit_migrate::{Guard, schema_check};
///
/// # async fn f(pool: sqlx::SqlitePool, guard: Guard) -> Result<(), opskit_health::BuildError> {
/// let health = Health::builder()
///     .check("schema", schema_check(guard, pool), CheckOptions::new().probes([Probe::Readiness, Probe::Startup]))
///     .build()?;
/// # Ok(()) }
/// ```
pub fn schema_check<DB>(guard: Guard, pool: sqlx::Pool<DB>) -> impl Check
where
    DB: sqlx::Database,
    DB::Connection: StatusConnection,
{
    let guard = Arc::new(guard);
    let check = move || {
        let guard = guard.clone();
        let pool = pool.clone();
        async move {
            let mut conn = match pool.acquire().await {
                Ok(conn) => conn,
                Err(err) => {
                    return Outcome::fail(format!("cannot get a database connection: {err}"));
                }
            };
            match guard.status(&mut *conn).await {
                Ok(status) => match status.state {
                    State::UpToDate => Outcome::pass(),
                    State::AheadCompatible | State::ContractPending => {
                        Outcome::warn(status.to_string())
                    }
                    _ => Outcome::fail(status.to_string()),
                },
                Err(err) => Outcome::fail(err.to_string()),
            }
        }
    };
    Tolerant::new(check, 3)
}
