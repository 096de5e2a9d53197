//! Graceful shutdown: drain, stop accepting, finish what is in flight, stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::lifecycle::Lifecycle;
use super::signal::{Signal, shutdown_signal};

/// Where a shutdown is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    Draining(Signal),
    Closing(Signal),
}

/// The graceful-shutdown sequence:
///
/// 1. wait for `SIGTERM`/`SIGINT` (or [`trigger`](Self::trigger));
/// 2. make readiness fail (the opskit-health registry's [`drain`]) and log
///    `service.draining`; keep serving, so that requests routed before the load
///    balancer noticed still succeed;
/// 3. after the drain delay, tell the server to stop accepting
///    ([`stop_accepting`](Self::stop_accepting) resolves);
/// 4. let in-flight requests finish, up to the timeout, then stop the health
///    registry ([`stop`]: no check runs or logs after it) and return from
///    [`run`](Self::run), so that `service.stopped` can be the last line.
///
/// [`drain`]: opskit_health::Health::drain
/// [`stop`]: opskit_health::Health::stop
///
/// ```no_run
/// use std::time::Duration;
/// use opskit_telemetry::GracefulShutdown;
///
/// # async fn example(app: axum::Router, health: opskit_health::Health) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
/// let shutdown = GracefulShutdown::new(Duration::from_secs(5), Duration::from_secs(30)).health(health);
/// let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.stop_accepting());
/// let outcome = shutdown.run(server.into_future()).await;
/// println!("{}", outcome.reason());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct GracefulShutdown {
    drain_delay: Duration,
    timeout: Duration,
    #[cfg(feature = "health")]
    health: Option<opskit_health::Health>,
    lifecycle: Option<Lifecycle>,
    phase: Arc<watch::Sender<Phase>>,
    requested: Arc<Notify>,
}

/// How a [`GracefulShutdown::run`] ended.
#[derive(Debug)]
pub struct ShutdownOutcome<T> {
    /// What started the shutdown; `None` when the server stopped by itself.
    pub signal: Option<Signal>,
    /// The server's own result; `None` when it was cut off by the timeout.
    pub result: Option<T>,
}

impl<T> ShutdownOutcome<T> {
    /// Whether in-flight requests were cut off by the timeout.
    pub fn timed_out(&self) -> bool {
        self.result.is_none()
    }

    /// A one-line reason for `service.stopped`.
    pub fn reason(&self) -> String {
        match (self.signal, self.timed_out()) {
            (Some(signal), false) => format!("{}: drained and stopped", signal.as_str()),
            (Some(signal), true) => format!(
                "{}: in-flight requests did not finish within the shutdown timeout and were cut off",
                signal.as_str()
            ),
            (None, _) => "the server stopped on its own".to_owned(),
        }
    }
}

impl GracefulShutdown {
    /// A shutdown that waits `drain_delay` between failing readiness and refusing new
    /// connections, then gives in-flight requests up to `timeout`.
    ///
    /// Kubernetes needs a drain delay of a few seconds: endpoints are removed from
    /// load balancers asynchronously after the pod is marked terminating.
    pub fn new(drain_delay: Duration, timeout: Duration) -> Self {
        let (phase, _) = watch::channel(Phase::Running);
        Self {
            drain_delay,
            timeout,
            #[cfg(feature = "health")]
            health: None,
            lifecycle: None,
            phase: Arc::new(phase),
            requested: Arc::new(Notify::new()),
        }
    }

    /// Drains this health registry when shutdown begins (readiness fails at once,
    /// liveness keeps passing).
    ///
    /// Needs the `health` feature.
    #[cfg(feature = "health")]
    #[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "health")))]
    #[must_use]
    pub fn health(mut self, health: opskit_health::Health) -> Self {
        self.health = Some(health);
        self
    }

    /// Logs `service.draining` through this lifecycle when shutdown begins.
    #[must_use]
    pub fn lifecycle(mut self, lifecycle: Lifecycle) -> Self {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// Starts the shutdown without a signal.
    pub fn trigger(&self) {
        self.requested.notify_one();
    }

    /// The future to give the server as its graceful-shutdown signal: it resolves
    /// after a signal and the drain delay, when the server should stop accepting.
    pub fn stop_accepting(&self) -> impl Future<Output = ()> + Send + 'static {
        let this = self.clone();
        async move {
            let signal = tokio::select! {
                signal = shutdown_signal() => signal,
                () = this.requested.notified() => Signal::Requested,
            };
            this.phase.send_replace(Phase::Draining(signal));
            #[cfg(feature = "health")]
            if let Some(health) = &this.health {
                health.drain();
            }
            match &this.lifecycle {
                Some(lifecycle) => lifecycle.draining(signal, this.drain_delay),
                None => tracing::info!(
                    event = "service.draining",
                    signal = signal.as_str(),
                    drain_delay_ms =
                        u64::try_from(this.drain_delay.as_millis()).unwrap_or(u64::MAX),
                    "{} received, draining",
                    signal.as_str()
                ),
            }
            tokio::time::sleep(this.drain_delay).await;
            this.phase.send_replace(Phase::Closing(signal));
        }
    }

    /// Where the shutdown is, from now on: what [`serve`](crate::serving::serve)'s
    /// connections follow.
    #[cfg(feature = "health")]
    pub(crate) fn phase(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// Drives `server` (which must be polling [`stop_accepting`](Self::stop_accepting))
    /// to its end, giving in-flight requests at most the timeout once it stopped
    /// accepting.
    pub async fn run<F: Future>(&self, server: F) -> ShutdownOutcome<F::Output> {
        let mut phase = self.phase.subscribe();
        let mut server = std::pin::pin!(server);
        let closing = async {
            // The guard `wait_for` returns must not live across an await: it is not Send.
            let signal = phase
                .wait_for(|p| matches!(p, Phase::Closing(_)))
                .await
                .ok()
                .and_then(|p| match *p {
                    Phase::Closing(signal) => Some(signal),
                    _ => None,
                });
            match signal {
                Some(signal) => signal,
                None => std::future::pending().await,
            }
        };
        let signal = tokio::select! {
            result = &mut server => {
                let signal = match *self.phase.borrow() {
                    Phase::Running => None,
                    Phase::Draining(s) | Phase::Closing(s) => Some(s),
                };
                self.stop_health();
                return ShutdownOutcome { signal, result: Some(result) };
            }
            signal = closing => signal,
        };
        let result = tokio::time::timeout(self.timeout, server).await.ok();
        self.stop_health();
        ShutdownOutcome {
            signal: Some(signal),
            result,
        }
    }

    /// The server is done: the health registry's checks stop, and nothing of it is
    /// logged after this (`service.stopped` comes next, the last line).
    fn stop_health(&self) {
        #[cfg(feature = "health")]
        if let Some(health) = &self.health {
            health.stop();
        }
    }
}
