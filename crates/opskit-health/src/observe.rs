//! Logs and metrics of the health layer.
//!
//! Events (field `event`):
//! - `health.changed` with `check`, `from`, `to`, `output`: a check's reported status
//!   changed (not on every run);
//! - `health.changed` with `probe`, `from`, `to`, `reason`: a probe's overall status
//!   changed (a check flipped, startup completed, draining began, maintenance);
//! - `health.probe_misconfigured` with `path`, `user_agent`, `probe_paths`: the kubelet
//!   asked for a path the service answered 404.
//!
//! Metrics (through the `metrics` facade):
//! - `health_check_status{check}` gauge: 1 when the reported status is pass or warn,
//!   0 when failing;
//! - `health_check_duration_seconds{check}` histogram: the duration of each run;
//! - `health_check_failures_total{check}` counter: failed runs (timeouts and panics
//!   included), counted whether or not the threshold flipped the status.

use std::time::Duration;

use crate::gate::Gate;
use crate::outcome::Status;
use crate::probe::Probe;

pub(crate) fn run(
    check: &str,
    duration: Duration,
    failed: bool,
    reported: Option<Status>,
    output: Option<&str>,
) {
    let label = check.to_owned();
    let healthy = reported.is_some_and(Status::is_healthy);
    metrics::gauge!("health_check_status", "check" => label.clone()).set(if healthy {
        1.0
    } else {
        0.0
    });
    metrics::histogram!("health_check_duration_seconds", "check" => label.clone())
        .record(duration.as_secs_f64());
    if failed {
        metrics::counter!("health_check_failures_total", "check" => label).increment(1);
        tracing::debug!(
            event = "health.check_failed",
            check,
            output,
            duration_ms = duration.as_secs_f64() * 1000.0,
            "health check {check} failed: {}",
            output.unwrap_or("no output")
        );
    }
}

pub(crate) fn check_changed(check: &str, from: Option<Status>, to: Status, output: Option<&str>) {
    let from = from.map_or("unknown", Status::as_str);
    if to.is_healthy() {
        tracing::info!(
            event = "health.changed",
            check,
            from,
            to = to.as_str(),
            output,
            "health check {check} is now {to} (was {from})"
        );
    } else {
        tracing::warn!(
            event = "health.changed",
            check,
            from,
            to = to.as_str(),
            output,
            "health check {check} is now failing (was {from}): {}",
            output.unwrap_or("no output")
        );
    }
}

pub(crate) fn probe_changed(probe: Probe, from: Status, to: Status, gate: Option<Gate>) {
    let reason = gate.map_or("checks", Gate::output);
    let probe = probe.as_str();
    if to.is_healthy() {
        tracing::info!(
            event = "health.changed",
            probe,
            from = from.as_str(),
            to = to.as_str(),
            reason,
            "{probe} is now {to} (was {from})"
        );
    } else {
        tracing::warn!(
            event = "health.changed",
            probe,
            from = from.as_str(),
            to = to.as_str(),
            reason,
            "{probe} is now failing (was {from}): {reason}"
        );
    }
}

pub(crate) fn probe_misconfigured(path: &str, user_agent: &str, probe_paths: &str) {
    tracing::warn!(
        event = "health.probe_misconfigured",
        path,
        user_agent,
        probe_paths,
        "the kubelet ({user_agent}) probed {path}, which this service answers 404; \
         the probe's httpGet.path is wrong: health paths here are {probe_paths}"
    );
}
