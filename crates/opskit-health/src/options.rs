//! How a check is scheduled and which probes it counts for.

use std::time::Duration;

use crate::probe::Probe;

/// How a check is scheduled and which probes it counts for.
///
/// By default a check counts for **readiness only**, runs every 10 seconds with a
/// 2 second timeout, reports failing after the check's own
/// [default](crate::Check::default_failure_threshold) of failed runs in a row (3 for the
/// checks opskit ships, 1 for a closure) and passing again on the first success.
///
/// Liveness is opt-in for a reason: a liveness probe that checks a database
/// restarts every replica when the database blinks, which turns a database
/// incident into a full outage (cascading restarts) and does not bring the database
/// back. Give liveness only checks of the process itself (an event loop that still
/// turns, a worker that still makes progress).
///
/// ```
/// use std::time::Duration;
/// use opskit_health::{CheckOptions, Probe};
///
/// let options = CheckOptions::new()
///     .interval(Duration::from_secs(5))
///     .timeout(Duration::from_millis(500))
///     .failure_threshold(3)
///     .probes([Probe::Readiness, Probe::Startup])
///     .component_type("datastore");
/// assert!(options.counts_for(Probe::Startup));
/// assert!(!options.counts_for(Probe::Liveness));
/// ```
#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    /// `None`: the check's own default.
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) success_threshold: u32,
    pub(crate) probes: [bool; 3],
    pub(crate) component_type: Option<String>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl CheckOptions {
    /// Readiness only, every 10 s, 2 s timeout, the check's own failure threshold,
    /// success threshold 1.
    pub fn new() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            failure_threshold: None,
            success_threshold: 1,
            probes: [false, true, false],
            component_type: None,
        }
    }

    /// Time between the end of one run and the start of the next.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Longest a run may take; a slower run is cancelled and counts as a failure.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Consecutive failed runs before a passing check reports failing (replacing
    /// the check's [own default](crate::Check::default_failure_threshold)).
    #[must_use]
    pub fn failure_threshold(mut self, runs: u32) -> Self {
        self.failure_threshold = Some(runs);
        self
    }

    /// Consecutive successful runs before a failing check reports passing again.
    #[must_use]
    pub fn success_threshold(mut self, runs: u32) -> Self {
        self.success_threshold = runs;
        self
    }

    /// The probes this check counts for (replacing the default, readiness).
    #[must_use]
    pub fn probes(mut self, probes: impl IntoIterator<Item = Probe>) -> Self {
        self.probes = [false; 3];
        for probe in probes {
            self.probes[probe.index()] = true;
        }
        self
    }

    /// The `componentType` reported in responses: `datastore`, `component`,
    /// `system`, or your own.
    #[must_use]
    pub fn component_type(mut self, component_type: impl Into<String>) -> Self {
        self.component_type = Some(component_type.into());
        self
    }

    /// Whether the check counts for `probe`.
    pub fn counts_for(&self, probe: Probe) -> bool {
        self.probes[probe.index()]
    }
}
