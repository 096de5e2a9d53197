//! The [`Check`] trait: what every check implements, and [`Tolerant`], which lets
//! a check miss a few runs before it fails.

use std::future::Future;
use std::pin::Pin;

use crate::outcome::Outcome;

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
    /// its [`CheckOptions`](crate::CheckOptions) do not set [`failure_threshold`](crate::CheckOptions::failure_threshold).
    /// 1 unless the check says otherwise; the checks opskit ships (a database pool,
    /// a TCP connection, the schema) say 3, because one run that is slow while the
    /// service is busy is not a failed dependency. [`Tolerant`] gives any check
    /// such a default.
    fn default_failure_threshold(&self) -> u32 {
        1
    }
}

/// A check whose failure threshold defaults to more than one run: see
/// [`Check::default_failure_threshold`]. [`CheckOptions::failure_threshold`](crate::CheckOptions::failure_threshold) still
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
