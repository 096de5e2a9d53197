//! What the probes read: the latest reported state of every check, the lifecycle
//! flags, and pre-rendered responses.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::StatusCode;

use crate::check_state::CheckState;
use crate::gate::Gate;
use crate::outcome::{Outcome, Status};
use crate::probe::Probe;
use crate::render::{self, Identity, Rendered};

/// Everything the probes and the runners share.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Set by the builder; fields it left unset may be filled once serving starts
    /// ([`Health::identify`](crate::Health::identify)).
    pub(crate) identity: RwLock<Identity>,
    pub(crate) details: bool,
    pub(crate) checks: Mutex<Vec<CheckState>>,
    /// Woken after each recorded run, for [`Health::wait_until_checked`](crate::Health::wait_until_checked).
    pub(crate) recorded: tokio::sync::Notify,
    started: AtomicBool,
    /// The startup probe has passed once: it passes from then on, as Kubernetes
    /// stops asking it (a check that fails later fails readiness, not startup).
    startup_passed: AtomicBool,
    draining: AtomicBool,
    maintenance: AtomicBool,
    /// The full response of each probe, re-rendered whenever anything changes.
    rendered: RwLock<[Rendered; 3]>,
    /// Background tasks, aborted when the last handle goes.
    pub(crate) tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// Set by [`stop`](Self::stop): from then on nothing is recorded or logged. A
    /// run being recorded holds the read side, so `stop` returns only once no
    /// event of this registry can follow.
    stopped: RwLock<bool>,
}

impl Shared {
    pub(crate) fn new(identity: Identity, details: bool, checks: Vec<CheckState>) -> Self {
        let placeholder = || Rendered {
            status: Status::Fail,
            code: StatusCode::SERVICE_UNAVAILABLE,
            body: Bytes::new(),
        };
        let shared = Self {
            identity: RwLock::new(identity),
            details,
            checks: Mutex::new(checks),
            recorded: tokio::sync::Notify::new(),
            started: AtomicBool::new(false),
            startup_passed: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            maintenance: AtomicBool::new(false),
            rendered: RwLock::new([placeholder(), placeholder(), placeholder()]),
            tasks: Mutex::new(Vec::new()),
            stopped: RwLock::new(false),
        };
        shared.rerender_unguarded();
        shared
    }

    /// The full response of `probe`, ready to send.
    pub(crate) fn rendered(&self, probe: Probe) -> Rendered {
        self.rendered.read().unwrap_or_else(PoisonError::into_inner)[probe.index()].clone()
    }

    /// The lifecycle gate closing `probe`, if any.
    pub(crate) fn gate(&self, probe: Probe) -> Option<Gate> {
        let started = self.started.load(Ordering::Acquire);
        match probe {
            Probe::Liveness => None,
            Probe::Startup => (!started).then_some(Gate::Starting),
            Probe::Readiness => {
                if self.draining.load(Ordering::Acquire) {
                    Some(Gate::Draining)
                } else if self.maintenance.load(Ordering::Acquire) {
                    Some(Gate::Maintenance)
                } else if !started {
                    Some(Gate::Starting)
                } else {
                    None
                }
            }
        }
    }

    /// Whether the startup probe has passed once.
    pub(crate) fn startup_passed(&self) -> bool {
        self.startup_passed.load(Ordering::Acquire)
    }

    /// Sets a lifecycle flag; re-renders and logs when the value changed.
    pub(crate) fn set_flag(&self, flag: Flag, value: bool) {
        let atomic = match flag {
            Flag::Started => &self.started,
            Flag::Draining => &self.draining,
            Flag::Maintenance => &self.maintenance,
        };
        if atomic.swap(value, Ordering::AcqRel) != value {
            self.rerender();
        }
    }

    pub(crate) fn flag(&self, flag: Flag) -> bool {
        match flag {
            Flag::Started => &self.started,
            Flag::Draining => &self.draining,
            Flag::Maintenance => &self.maintenance,
        }
        .load(Ordering::Acquire)
    }

    /// Stops the checks and every event of this registry: once it returns, no
    /// line of the registry is logged any more (a run finishing meanwhile is
    /// waited for, or dropped).
    pub(crate) fn stop(&self) {
        *self.stopped.write().unwrap_or_else(PoisonError::into_inner) = true;
        abort(&mut self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Records a run of check `index`, logs transitions, updates metrics, re-renders.
    pub(crate) fn record(&self, index: usize, outcome: Outcome, duration: Duration) {
        let stopped = self.stopped.read().unwrap_or_else(PoisonError::into_inner);
        if *stopped {
            return;
        }
        let failed = !outcome.status.is_healthy();
        let (name, transition, reported, output) = {
            let mut checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
            let check = &mut checks[index];
            let transition = check.record(outcome, duration, SystemTime::now());
            (
                check.name.clone(),
                transition,
                check.status,
                check.output.clone(),
            )
        };
        crate::observe::run(&name, duration, failed, reported, output.as_deref());
        if let Some((from, to)) = transition {
            crate::observe::check_changed(&name, from, to, output.as_deref());
        }
        self.rerender_unguarded();
        drop(stopped);
        self.recorded.notify_waiters();
    }

    /// Renders the three probe responses from the current state, logging probe-level
    /// transitions (nothing once stopped).
    pub(crate) fn rerender(&self) {
        let stopped = self.stopped.read().unwrap_or_else(PoisonError::into_inner);
        if !*stopped {
            self.rerender_unguarded();
        }
    }

    /// [`rerender`](Self::rerender) for a caller that holds the stop guard.
    ///
    /// The checks' lock is held until the responses are published: two runs
    /// finishing together would otherwise each render, and the older render could
    /// be written last, leaving the probes on a state that has passed (a check
    /// back to "not checked yet" after the service was announced ready).
    fn rerender_unguarded(&self) {
        let checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
        let mut fresh: Vec<Rendered> = Probe::ALL
            .iter()
            .map(|&probe| {
                let view = render::ProbeView::new(self, probe, &checks, &[]);
                view.render()
            })
            .collect();
        if fresh[Probe::Startup.index()].status.is_healthy() {
            self.startup_passed.store(true, Ordering::Release);
        }
        let mut rendered = self
            .rendered
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for (probe, (old, new)) in Probe::ALL
            .iter()
            .zip(rendered.iter_mut().zip(fresh.drain(..)))
        {
            if !old.body.is_empty() && old.status != new.status {
                crate::observe::probe_changed(*probe, old.status, new.status, self.gate(*probe));
            }
            *old = new;
        }
        drop(rendered);
        drop(checks);
    }
}

impl render::Registry for Shared {
    fn gate(&self, probe: Probe) -> Option<Gate> {
        Shared::gate(self, probe)
    }

    fn startup_passed(&self) -> bool {
        Shared::startup_passed(self)
    }

    fn details(&self) -> bool {
        self.details
    }

    fn identity(&self) -> Identity {
        (self.identity.read())
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A lifecycle flag.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Flag {
    Started,
    Draining,
    Maintenance,
}

impl Drop for Shared {
    fn drop(&mut self) {
        abort(self.tasks.get_mut().unwrap_or_else(PoisonError::into_inner));
    }
}

/// Aborts the registry's background tasks.
fn abort(tasks: &mut Vec<tokio::task::AbortHandle>) {
    for task in tasks.drain(..) {
        task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::options::CheckOptions;

    /// Checks finishing together: whatever the interleaving, the published
    /// response is the one of the newest state, never an older render written last.
    #[test]
    fn runs_finishing_together_leave_the_newest_render() {
        const CHECKS: usize = 4;
        for round in 0..300 {
            let checks = (0..CHECKS)
                .map(|i| CheckState::new(format!("c{i}").into(), CheckOptions::new()))
                .collect();
            let shared = Arc::new(Shared::new(Identity::default(), false, checks));
            shared.set_flag(Flag::Started, true);
            let barrier = Arc::new(std::sync::Barrier::new(CHECKS));
            let runs: Vec<_> = (0..CHECKS)
                .map(|index| {
                    let (shared, barrier) = (shared.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        shared.record(index, Outcome::pass(), Duration::ZERO);
                    })
                })
                .collect();
            for run in runs {
                run.join().unwrap();
            }
            let readiness = shared.rendered(Probe::Readiness);
            assert_eq!(
                readiness.status,
                Status::Pass,
                "round {round}: every check passed, yet /readyz says {}",
                String::from_utf8_lossy(&readiness.body)
            );
        }
    }
}
