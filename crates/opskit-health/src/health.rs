//! The registry of checks and the handle that controls the service's lifecycle.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use crate::check_state::CheckState;
use crate::checks::Check;
use crate::error::BuildError;
use crate::options::CheckOptions;
use crate::outcome::Status;
use crate::paths::Paths;
use crate::probe::Probe;
use crate::render::Identity;
use crate::runner;
use crate::state::{Flag, Shared};

/// The health of a service: its checks, running in the background, and its
/// lifecycle (started, draining, maintenance).
///
/// Cheap to clone; every clone controls the same state. Build one with
/// [`Health::builder`], put [`Health::layer`] in front of the application, call
/// [`mark_started`](Health::mark_started) when the service is ready to serve, and
/// [`drain`](Health::drain) when shutdown begins. The background checks stop when the
/// last clone (and the last layer) is dropped.
#[derive(Debug, Clone)]
pub struct Health {
    pub(crate) shared: Arc<Shared>,
    pub(crate) paths: Arc<Paths>,
    pub(crate) watch_kubelet: bool,
}

impl Health {
    /// Starts building a registry.
    pub fn builder() -> HealthBuilder {
        HealthBuilder::default()
    }

    /// Marks startup complete: `/startupz` passes (once the startup checks do), and
    /// `/readyz` may pass.
    pub fn mark_started(&self) {
        self.shared.set_flag(Flag::Started, true);
    }

    /// Begins draining: `/readyz` fails from now on, so load balancers stop sending
    /// new requests, while `/livez` keeps passing so the process is not restarted
    /// mid-shutdown. There is no way back: a draining service is going away.
    pub fn drain(&self) {
        self.shared.set_flag(Flag::Draining, true);
    }

    /// Stops the registry for good, at the end of a shutdown: its checks no longer
    /// run and nothing of it is logged any more (a run finishing meanwhile is
    /// waited for). The probes keep answering with the last state. opskit's
    /// `GracefulShutdown` calls it before `service.stopped`, which must be the last
    /// line.
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Fills in what the builder left unset of the identity every response reports
    /// (`serviceId`, `version`, `releaseId`), and re-renders the responses. What the
    /// builder set wins. opskit-telemetry's `serve` calls it with the build info, so
    /// `/readyz` names the running commit without the builder being told.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use opskit_health::{Health, Probe};
    ///
    /// let health = Health::builder().version("1.4.0").build().unwrap();
    /// health.identify("notes", "0.0.0", "1.4.0+3f2c1ab");
    /// // The builder's version stays; the release id is filled in.
    /// # let _ = health.status(Probe::Readiness);
    /// # }
    /// ```
    pub fn identify(&self, service_id: &str, version: &str, release_id: &str) {
        let changed = {
            let mut guard = (self.shared.identity.write()).unwrap_or_else(PoisonError::into_inner);
            let identity = &mut *guard;
            let mut changed = false;
            for (field, value) in [
                (&mut identity.service_id, service_id),
                (&mut identity.version, version),
                (&mut identity.release_id, release_id),
            ] {
                if field.is_none() && !value.is_empty() {
                    *field = Some(value.to_owned());
                    changed = true;
                }
            }
            changed
        };
        if changed {
            self.shared.rerender();
        }
    }

    /// Whether [`drain`](Self::drain) was called.
    pub fn is_draining(&self) -> bool {
        self.shared.flag(Flag::Draining)
    }

    /// Takes the service out of (`true`) or back into (`false`) rotation by hand, for
    /// maintenance: `/readyz` fails while it is set.
    pub fn set_maintenance(&self, on: bool) {
        self.shared.set_flag(Flag::Maintenance, on);
    }

    /// The current status of a probe, as its endpoint would answer.
    pub fn status(&self, probe: Probe) -> Status {
        self.shared.rendered(probe).status
    }

    /// Waits until every check has finished its first run, or `timeout` passed;
    /// returns whether all have. Call it before announcing the service ready, so
    /// that "ready" in the log means `/readyz` can pass rather than "not checked
    /// yet".
    pub async fn wait_until_checked(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so a run recorded in between still wakes us.
            let recorded = self.shared.recorded.notified();
            let mut recorded = std::pin::pin!(recorded);
            recorded.as_mut().enable();
            if self.all_checked() {
                return true;
            }
            if tokio::time::timeout_at(deadline, recorded).await.is_err() {
                return self.all_checked();
            }
        }
    }

    /// Whether every check has finished its first run.
    fn all_checked(&self) -> bool {
        let checks = self
            .shared
            .checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        checks.iter().all(|c| c.status.is_some())
    }

    /// The names of the checks, in registration order.
    pub fn check_names(&self) -> Vec<String> {
        let checks = self
            .shared
            .checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        checks.iter().map(|c| c.name.to_string()).collect()
    }
}

/// Builds a [`Health`]; see [`Health::builder`].
pub struct HealthBuilder {
    identity: Identity,
    details: bool,
    paths: Paths,
    watch_kubelet: bool,
    checks: Vec<(String, Arc<dyn Check>, CheckOptions)>,
}

impl Default for HealthBuilder {
    fn default() -> Self {
        Self {
            identity: Identity::default(),
            details: false,
            paths: Paths::default(),
            watch_kubelet: true,
            checks: Vec::new(),
        }
    }
}

impl std::fmt::Debug for HealthBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthBuilder")
            .field("identity", &self.identity)
            .field("details", &self.details)
            .field("paths", &self.paths)
            .field(
                "checks",
                &self.checks.iter().map(|c| &c.0).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl HealthBuilder {
    /// The `serviceId` reported in responses.
    #[must_use]
    pub fn service_id(mut self, id: impl Into<String>) -> Self {
        self.identity.service_id = Some(id.into());
        self
    }

    /// The `version` reported in responses (the package version, say).
    #[must_use]
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.identity.version = Some(version.into());
        self
    }

    /// The `releaseId` reported in responses (version and commit, say): what tells
    /// an operator which build answers.
    #[must_use]
    pub fn release_id(mut self, release: impl Into<String>) -> Self {
        self.identity.release_id = Some(release.into());
        self
    }

    /// The `description` reported in responses.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.identity.description = Some(description.into());
        self
    }

    /// Whether responses show each check's output (error text). Off by default: the
    /// output is logged instead, because it may name internal hosts and addresses.
    #[must_use]
    pub fn details(mut self, details: bool) -> Self {
        self.details = details;
        self
    }

    /// The path of a probe (defaults `/livez`, `/readyz`, `/startupz`).
    #[must_use]
    pub fn path(mut self, probe: Probe, path: impl Into<String>) -> Self {
        self.paths.set(probe, path.into());
        self
    }

    /// Another path answered like `probe`, such as `/healthz` for readiness.
    #[must_use]
    pub fn alias(mut self, probe: Probe, path: impl Into<String>) -> Self {
        self.paths.alias(probe, path.into());
        self
    }

    /// Whether to warn (`health.probe_misconfigured`) when a request from the kubelet
    /// (`User-Agent: kube-probe/...`) is answered 404 by the application: a probe
    /// pointed at the wrong path. On by default. It costs one header lookup per
    /// request that is not a probe (about 90 instructions, see
    /// `docs/benchmarks.md`); turn it off where that matters more than the warning.
    #[must_use]
    pub fn warn_on_misdirected_probes(mut self, on: bool) -> Self {
        self.watch_kubelet = on;
        self
    }

    /// Registers a check under `name` (letters, digits, `-`, `_`, `.`; it appears in
    /// URLs such as `/readyz/NAME`).
    #[must_use]
    pub fn check(
        mut self,
        name: impl Into<String>,
        check: impl Check,
        mut options: CheckOptions,
    ) -> Self {
        options
            .failure_threshold
            .get_or_insert_with(|| check.default_failure_threshold());
        self.checks.push((name.into(), Arc::new(check), options));
        self
    }

    /// Validates the registry and starts every check in the background, all at once;
    /// each then runs on its own interval.
    ///
    /// # Errors
    ///
    /// [`BuildError`] when called outside a Tokio runtime, or when a name, path,
    /// interval or timeout is invalid.
    pub fn build(self) -> Result<Health, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        self.paths.validate()?;
        let mut states = Vec::with_capacity(self.checks.len());
        for (name, _, options) in &self.checks {
            validate_check(name, options, &states)?;
            states.push(CheckState::new(Arc::from(name.as_str()), options.clone()));
        }
        let shared = Arc::new(Shared::new(self.identity, self.details, states));
        let tasks = self
            .checks
            .into_iter()
            .enumerate()
            .map(|(index, (_, check, options))| {
                runner::spawn(&runtime, &shared, index, check, options)
            })
            .collect();
        *shared.tasks.lock().unwrap_or_else(PoisonError::into_inner) = tasks;
        Ok(Health {
            shared,
            paths: Arc::new(self.paths),
            watch_kubelet: self.watch_kubelet,
        })
    }
}

fn validate_check(
    name: &str,
    options: &CheckOptions,
    before: &[CheckState],
) -> Result<(), BuildError> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(BuildError::InvalidName(name.to_owned()));
    }
    if before.iter().any(|c| &*c.name == name) {
        return Err(BuildError::DuplicateCheck(name.to_owned()));
    }
    if options.interval == Duration::ZERO {
        return Err(BuildError::ZeroInterval(name.to_owned()));
    }
    if options.timeout == Duration::ZERO {
        return Err(BuildError::ZeroTimeout(name.to_owned()));
    }
    Ok(())
}
