//! The startup and shutdown events every service logs, in order.

use std::net::SocketAddr;
use std::time::Duration;

use opskit_config::Summary;

use super::signal::Signal;
use crate::build_info::BuildInfo;

/// Emits the lifecycle events of a service, in the order they happen:
///
/// | event | when | fields |
/// |---|---|---|
/// | `service.starting` | [`Lifecycle::starting`], right after the configuration loaded | `service`, `version`, `commit`, `dirty`, `profile`, `target`, `rustc_version`, `pid`, `log_filter` (the filter in effect), `config` (the redacted summary, JSON) |
/// | `service.listening` | [`Lifecycle::listening`], after a socket is bound | `listener` (a name: `http`, `admin`), `address` (the address actually bound, so port 0 and wrong-port mistakes show) |
/// | `service.ready` | [`Lifecycle::ready`], when the service can serve | `startup_ms`: time from process start |
/// | `service.draining` | [`Lifecycle::draining`], when shutdown begins | `signal`, `drain_delay_ms` |
/// | `service.stopped` | [`Lifecycle::stopped`] (or [`Lifecycle::exit`], which then ends the process), the last line | `uptime_s`, `reason`, `exit_code` |
///
/// All at INFO, except `service.stopped` with a non-zero exit code (ERROR).
#[derive(Debug, Clone)]
pub struct Lifecycle {
    info: BuildInfo,
}

impl Lifecycle {
    /// Emits `service.starting` with the build info and the redacted configuration.
    pub fn starting(info: BuildInfo, config: Option<&Summary>) -> Self {
        let config = config.map(|summary| summary.to_json().to_string());
        tracing::info!(
            event = "service.starting",
            service = info.name,
            version = info.version,
            commit = info.commit,
            dirty = info.dirty,
            profile = info.profile,
            target = info.target,
            rustc_version = info.rustc_version,
            pid = std::process::id(),
            log_filter = crate::logs::effective_filter(),
            config = config.as_deref(),
            "starting {info}"
        );
        Self { info }
    }

    /// The build info given to [`starting`](Self::starting).
    pub fn build_info(&self) -> &BuildInfo {
        &self.info
    }

    /// Emits `service.listening` for a bound socket.
    pub fn listening(&self, listener: &str, address: SocketAddr) {
        tracing::info!(
            event = "service.listening",
            listener,
            address = %address,
            "{listener} listening on {address}"
        );
    }

    /// Emits `service.ready`, with the time since the process started.
    pub fn ready(&self) {
        let startup = crate::metrics::process::uptime();
        tracing::info!(
            event = "service.ready",
            startup_ms = millis(startup),
            "{} ready after {} ms",
            self.info.name,
            millis(startup)
        );
    }

    /// Emits `service.draining`: shutdown began on `signal`.
    pub fn draining(&self, signal: Signal, drain_delay: Duration) {
        tracing::info!(
            event = "service.draining",
            signal = signal.as_str(),
            drain_delay_ms = millis(drain_delay),
            "{} received, draining: readiness fails now, new connections are refused in {} ms",
            signal.as_str(),
            millis(drain_delay)
        );
    }

    /// Emits `service.stopped` and ends the process with `exit_code`: the step every
    /// failure after `service.starting` takes (an exit code from
    /// [`exit`](opskit_exit), such as [`exit::UNAVAILABLE`](opskit_exit::UNAVAILABLE)).
    ///
    /// `service.stopped` is the last line: from the moment it is written, this
    /// thread holds stdout's lock until the process ends, so a line another thread
    /// logs meanwhile (a health check's change, a request) waits and never comes
    /// after it. Stdout is flushed, so the line is not lost in a pipe's buffer.
    pub fn exit(&self, reason: &str, exit_code: i32) -> ! {
        // Queued spans first: their exporter's thread may log, which must not wait
        // for the lock taken below.
        self.flush_traces();
        let mut stdout = std::io::stdout().lock();
        // The lock is reentrant: this thread's own line goes through.
        self.log_stopped(reason, exit_code);
        let _ = std::io::Write::flush(&mut stdout);
        std::process::exit(exit_code)
    }

    /// Emits `service.stopped`, the last event: why, and the exit code the process
    /// is about to return.
    ///
    /// With the `otel` feature and an exporter, the spans still queued are exported
    /// first, waiting at most `OTEL_EXPORTER_OTLP_TIMEOUT`; when they cannot be
    /// (the collector is down or slow), `otel.flush_failed` says so and the process
    /// stops anyway.
    pub fn stopped(&self, reason: &str, exit_code: i32) {
        self.flush_traces();
        self.log_stopped(reason, exit_code);
    }

    /// Exports the spans still queued (feature `otel`), or says they are lost.
    fn flush_traces(&self) {
        #[cfg(feature = "otel")]
        if let Some(problem) = crate::traces::otel::flush() {
            tracing::warn!(
                event = "otel.flush_failed",
                "traces lost at shutdown: {problem}"
            );
        }
    }

    fn log_stopped(&self, reason: &str, exit_code: i32) {
        let uptime_s = crate::metrics::process::uptime().as_secs_f64();
        if exit_code == 0 {
            tracing::info!(
                event = "service.stopped",
                uptime_s,
                reason,
                exit_code,
                "stopped: {reason}"
            );
        } else {
            tracing::error!(
                event = "service.stopped",
                uptime_s,
                reason,
                exit_code,
                "stopped with exit code {exit_code}: {reason}"
            );
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
