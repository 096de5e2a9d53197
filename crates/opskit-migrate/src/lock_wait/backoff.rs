//! The pause between tries: growing, jittered, capped.

use std::hash::BuildHasher;
use std::time::Duration;

/// The first pause.
const FIRST: Duration = Duration::from_millis(500);

/// The longest pause.
const CAP: Duration = Duration::from_secs(10);

/// The pause after try `attempt` (1-based): 0.5 s doubling up to 10 s, each
/// between 75 % and 125 % of that, so replicas that collided do not collide again.
pub(crate) fn pause(attempt: u32) -> Duration {
    let base = FIRST
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(CAP);
    // A fraction in [0, 1) from the process's random hasher keys: jitter, not
    // cryptography.
    let random = std::collections::hash_map::RandomState::new()
        .hash_one((attempt, std::time::Instant::now()));
    let fraction = (random % 1000) as f64 / 1000.0;
    base.mul_f64(0.75 + 0.5 * fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_stay_within_the_jitter_of_the_cap() {
        for attempt in 1..40 {
            let base = FIRST.saturating_mul(1 << (attempt - 1).min(16)).min(CAP);
            let pause = pause(attempt);
            assert!(pause >= base.mul_f64(0.75) && pause <= base.mul_f64(1.25));
        }
        assert!(pause(1) < Duration::from_millis(700));
        assert!(pause(30) >= Duration::from_millis(7500));
    }
}
