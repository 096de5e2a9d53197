//! Applying one migration in bounded tries: each try waits for locks at most its
//! lock timeout and is rolled back when that runs out; the guard logs who held the
//! lock (`schema.lock_wait`), pauses and tries again, up to the bound.
//!
//! Events emitted here: `schema.lock_wait` (WARN, see [`crate::lock_wait`]).

use std::time::Instant;

use super::{Failure, GuardConnection, Lease, ToApply, TryWait, Watch, migration_failed};
use crate::error::GuardError;
use crate::lint::Dialect;
use crate::lock_wait::event::{Try, log_lock_wait};
use crate::lock_wait::{Bound, pause};

/// Applies one migration with its record in one transaction (the SQLite one
/// exclusive), unless another process applied it meanwhile, in at most
/// `bound.tries` tries of `bound.timeout` each. Returns whether it applied it. A
/// failure of its SQL rolls back and then writes a failure record; a lock that
/// stays held writes nothing.
pub(crate) async fn apply<C: GuardConnection + ?Sized>(
    conn: &mut C,
    migration: &ToApply<'_>,
    bound: Bound,
    watch_url: Option<&str>,
    lease: &Lease,
) -> Result<bool, GuardError> {
    // SQLite does not say who holds its lock.
    let watch = Watch::new(watch_url.filter(|_| conn.dialect() == Dialect::Postgres));
    let result = tries(conn, migration, bound, &watch, lease).await;
    watch.close().await;
    result
}

/// The tries of [`apply`].
async fn tries<C: GuardConnection + ?Sized>(
    conn: &mut C,
    migration: &ToApply<'_>,
    bound: Bound,
    watch: &Watch<'_>,
    lease: &Lease,
) -> Result<bool, GuardError> {
    let first = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The lease holds through the tries, however many the bound allows.
        conn.renew(lease).await?;
        let wait = TryWait {
            timeout: bound.timeout,
            watch,
            retry: attempt > 1,
        };
        let blockers = match conn.apply_one(migration, Instant::now(), wait).await {
            Ok(applied) => return Ok(applied),
            Err(Failure::Database(err)) => return Err(err),
            Err(Failure::Migration(message)) => {
                return migration_failed(conn, migration, message).await;
            }
            Err(Failure::Locked(blockers)) => blockers,
        };
        let last = attempt >= bound.tries;
        let next = if last {
            std::time::Duration::ZERO
        } else {
            pause(attempt)
        };
        let at = Try {
            version: migration.version,
            description: migration.description,
            attempt,
        };
        log_lock_wait(&at, bound, &blockers, next);
        if last {
            return Err(GuardError::TableLocked {
                version: migration.version,
                description: migration.description.to_owned(),
                tries: bound.tries,
                lock_timeout: bound.timeout,
                waited: first.elapsed(),
                blockers,
            });
        }
        tokio::join!(tokio::time::sleep(next), watch.prepare());
    }
}
