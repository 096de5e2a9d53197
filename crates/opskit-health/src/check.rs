//! Checks: what they return and how they are scheduled.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The result of one run of a check, as reported in health responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Healthy.
    Pass,
    /// Degraded but serving: still answers 200.
    Warn,
    /// Unhealthy: answers 503.
    Fail,
}

impl Status {
    /// `pass`, `warn` or `fail`, as in the health+json draft.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }

    /// Whether a probe with this status succeeds (pass and warn do).
    pub fn is_healthy(self) -> bool {
        self != Self::Fail
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run of a check found: a [`Status`] and an optional short output.
///
/// The output of a failing or warning check is an operator's clue ("connection
/// refused", "pool exhausted"). It is logged, and shown in health responses only when
/// details are enabled, because it may name internal hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The status.
    pub status: Status,
    /// A short explanation, if any.
    pub output: Option<String>,
}

impl Outcome {
    /// Healthy.
    pub fn pass() -> Self {
        Self {
            status: Status::Pass,
            output: None,
        }
    }

    /// Degraded but serving, with why.
    pub fn warn(output: impl Into<String>) -> Self {
        Self {
            status: Status::Warn,
            output: Some(output.into()),
        }
    }

    /// Unhealthy, with why.
    pub fn fail(output: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            output: Some(output.into()),
        }
    }
}

/// `Ok(())` passes; `Err(e)` fails with `e`'s message.
impl<E: fmt::Display> From<Result<(), E>> for Outcome {
    fn from(result: Result<(), E>) -> Self {
        match result {
            Ok(()) => Self::pass(),
            Err(err) => Self::fail(err.to_string()),
        }
    }
}

/// The future a [`Check`] returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// A health check: an async function run in the background on its own interval.
///
/// Each run is spawned as its own task, so the future must own what it uses
/// (`'static`): clone a pool or a client handle into it. A run that exceeds its
/// timeout is cancelled and counts as a failure; a run that panics counts as a
/// failure too, and the service goes on.
///
/// Closures `Fn() -> impl Future<Output = impl Into<Outcome>>` are checks:
///
/// ```
/// use opskit_health::{Check, Outcome};
///
/// fn assert_check(_: impl Check) {}
/// assert_check(|| async { Outcome::pass() });
/// assert_check(|| async { Ok::<(), std::io::Error>(()) });
/// ```
///
/// A check must be async all the way: a blocking call inside it blocks a runtime
/// thread that the timeout cannot take back. Wrap blocking work in
/// `tokio::task::spawn_blocking`.
pub trait Check: Send + Sync + 'static {
    /// Starts one run of the check.
    fn run(&self) -> CheckFuture;

    /// Failed runs in a row before this check, once passing, reports failing, when
    /// its [`CheckOptions`] do not set [`failure_threshold`](CheckOptions::failure_threshold).
    /// 1 unless the check says otherwise; the checks opskit ships (a database pool,
    /// a TCP connection, the schema) say 3, because one run that is slow while the
    /// service is busy is not a failed dependency. [`Tolerant`] gives any check
    /// such a default.
    fn default_failure_threshold(&self) -> u32 {
        1
    }
}

/// A check whose failure threshold defaults to more than one run: see
/// [`Check::default_failure_threshold`]. [`CheckOptions::failure_threshold`] still
/// wins over it.
///
/// ```
/// use opskit_health::{Check, Outcome, Tolerant};
///
/// let check = Tolerant::new(|| async { Outcome::pass() }, 3);
/// assert_eq!(check.default_failure_threshold(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Tolerant<C> {
    check: C,
    failures: u32,
}

impl<C> Tolerant<C> {
    /// `check`, reporting failing after `failures` failed runs in a row (at least 1).
    pub fn new(check: C, failures: u32) -> Self {
        Self {
            check,
            failures: failures.max(1),
        }
    }
}

impl<C: Check> Check for Tolerant<C> {
    fn run(&self) -> CheckFuture {
        self.check.run()
    }

    fn default_failure_threshold(&self) -> u32 {
        self.failures
    }
}

impl<F, Fut, O> Check for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = O> + Send + 'static,
    O: Into<Outcome>,
{
    fn run(&self) -> CheckFuture {
        let future = self();
        Box::pin(async move { future.await.into() })
    }
}

/// The three probes of Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Probe {
    /// `/livez`: is the process able to make progress? Failing restarts the container.
    Liveness,
    /// `/readyz`: should the service receive traffic? Failing removes it from the load
    /// balancer, without a restart.
    Readiness,
    /// `/startupz`: has the service finished starting? Holds off the other two.
    Startup,
}

impl Probe {
    /// `liveness`, `readiness` or `startup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Liveness => "liveness",
            Self::Readiness => "readiness",
            Self::Startup => "startup",
        }
    }

    pub(crate) const ALL: [Probe; 3] = [Probe::Liveness, Probe::Readiness, Probe::Startup];

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Liveness => 0,
            Self::Readiness => 1,
            Self::Startup => 2,
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a check is scheduled and which probes it counts for.
///
/// By default a check counts for **readiness only**, runs every 10 seconds with a
/// 2 second timeout, reports failing after the check's own
/// [default](Check::default_failure_threshold) of failed runs in a row (3 for the
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
    /// the check's [own default](Check::default_failure_threshold)).
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
