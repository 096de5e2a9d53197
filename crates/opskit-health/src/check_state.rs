//! The state of one check as the probes see it: its latest reported status, and
//! the runs in a row that decide when the reported status changes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::options::CheckOptions;
use crate::outcome::{Outcome, Status};

/// The state of one check as the probes see it.
#[derive(Debug, Clone)]
pub(crate) struct CheckState {
    pub(crate) name: Arc<str>,
    pub(crate) options: CheckOptions,
    /// The reported status; `None` until the first run has finished.
    pub(crate) status: Option<Status>,
    /// The output of the latest run.
    pub(crate) output: Option<String>,
    pub(crate) duration: Duration,
    pub(crate) time: Option<SystemTime>,
    consecutive_failures: u32,
    consecutive_successes: u32,
}

impl CheckState {
    pub(crate) fn new(name: Arc<str>, options: CheckOptions) -> Self {
        Self {
            name,
            options,
            status: None,
            output: None,
            duration: Duration::ZERO,
            time: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
        }
    }

    /// Records a run. Returns `(from, to)` when the reported status changed.
    ///
    /// The first run sets the status directly. After that a passing check needs
    /// `failure_threshold` failed runs in a row to report failing, and a failing one
    /// `success_threshold` good runs in a row to report passing (or warning) again.
    /// Pass and warn switch at once: both are healthy.
    pub(crate) fn record(
        &mut self,
        outcome: Outcome,
        duration: Duration,
        time: SystemTime,
    ) -> Option<(Option<Status>, Status)> {
        let before = self.status;
        let healthy = outcome.status.is_healthy();
        if healthy {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
        }
        let after = match before {
            None => outcome.status,
            Some(current) if current.is_healthy() && !healthy => {
                if self.consecutive_failures >= self.options.failure_threshold.unwrap_or(1).max(1) {
                    Status::Fail
                } else {
                    current
                }
            }
            Some(Status::Fail) if healthy => {
                if self.consecutive_successes >= self.options.success_threshold.max(1) {
                    outcome.status
                } else {
                    Status::Fail
                }
            }
            Some(_) => outcome.status,
        };
        self.status = Some(after);
        self.output = outcome.output;
        self.duration = duration;
        self.time = Some(time);
        (before != Some(after)).then_some((before, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::CheckOptions;

    fn state(failures: u32, successes: u32) -> CheckState {
        CheckState::new(
            "db".into(),
            CheckOptions::new()
                .failure_threshold(failures)
                .success_threshold(successes),
        )
    }

    fn run(state: &mut CheckState, outcome: Outcome) -> Option<(Option<Status>, Status)> {
        state.record(outcome, Duration::ZERO, SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn the_first_run_sets_the_status_directly() {
        let mut s = state(3, 3);
        assert_eq!(run(&mut s, Outcome::fail("x")), Some((None, Status::Fail)));
        let mut s = state(3, 3);
        assert_eq!(run(&mut s, Outcome::pass()), Some((None, Status::Pass)));
    }

    #[test]
    fn a_passing_check_flips_after_the_failure_threshold() {
        let mut s = state(3, 1);
        run(&mut s, Outcome::pass());
        assert_eq!(run(&mut s, Outcome::fail("1")), None);
        assert_eq!(run(&mut s, Outcome::fail("2")), None);
        assert_eq!(s.status, Some(Status::Pass));
        assert_eq!(
            run(&mut s, Outcome::fail("3")),
            Some((Some(Status::Pass), Status::Fail))
        );
    }

    #[test]
    fn a_success_in_between_resets_the_failure_count() {
        let mut s = state(2, 1);
        run(&mut s, Outcome::pass());
        run(&mut s, Outcome::fail("1"));
        run(&mut s, Outcome::pass());
        assert_eq!(run(&mut s, Outcome::fail("1")), None);
        assert_eq!(s.status, Some(Status::Pass));
    }

    #[test]
    fn a_failing_check_needs_the_success_threshold_to_recover() {
        let mut s = state(1, 2);
        run(&mut s, Outcome::fail("down"));
        assert_eq!(run(&mut s, Outcome::pass()), None);
        assert_eq!(s.status, Some(Status::Fail));
        assert_eq!(
            run(&mut s, Outcome::warn("slow")),
            Some((Some(Status::Fail), Status::Warn))
        );
    }

    #[test]
    fn pass_and_warn_switch_at_once() {
        let mut s = state(3, 3);
        run(&mut s, Outcome::pass());
        assert_eq!(
            run(&mut s, Outcome::warn("slow")),
            Some((Some(Status::Pass), Status::Warn))
        );
        assert_eq!(
            run(&mut s, Outcome::pass()),
            Some((Some(Status::Warn), Status::Pass))
        );
    }
}
