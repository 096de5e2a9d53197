//! The `schema.lock_wait` event: a try ran out of its lock timeout and was rolled
//! back; who held the lock, and what the guard does next.
//!
//! Events emitted here: `schema.lock_wait` (WARN), with the fields listed in the
//! [module docs](super).

use std::time::Duration;

use super::Bound;
use super::blocker::{Blocker, describe};

/// One try of one migration, for the event.
pub(crate) struct Try<'a> {
    pub(crate) version: i64,
    pub(crate) description: &'a str,
    pub(crate) attempt: u32,
}

/// Logs a try that ran out of its lock timeout; `next` is the pause before the next
/// try (zero after the last).
pub(crate) fn log_lock_wait(at: &Try<'_>, bound: Bound, blockers: &[Blocker], next: Duration) {
    let described = describe(blockers);
    let then = if next.is_zero() {
        "no tries left".to_owned()
    } else {
        format!("trying again in {:.1} s", next.as_secs_f64())
    };
    tracing::warn!(
        target: crate::guard::TARGET,
        event = "schema.lock_wait",
        version = at.version,
        description = %at.description,
        attempt = at.attempt,
        tries = bound.tries,
        lock_timeout_ms = u64::try_from(bound.timeout.as_millis()).unwrap_or(u64::MAX),
        next_wait_ms = u64::try_from(next.as_millis()).unwrap_or(u64::MAX),
        blocker_count = blockers.len(),
        blockers = %described,
        "migration {} ({}) waited {:?} for a lock held by {}; rolled back try {} of {}, {}",
        at.version,
        at.description,
        bound.timeout,
        described,
        at.attempt,
        bound.tries,
        then
    );
}
