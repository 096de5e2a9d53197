//! Graceful shutdown: drain, stop accepting, finish what is in flight, stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::lifecycle::Lifecycle;

/// What started a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `SIGTERM`: what Kubernetes, systemd and `docker stop` send.
    Terminate,
    /// `SIGINT`: Ctrl-C at a terminal.
    Interrupt,
    /// [`GracefulShutdown::trigger`], from the program itself.
    Requested,
}

impl Signal {
    /// `SIGTERM`, `SIGINT` or `requested`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terminate => "SIGTERM",
            Self::Interrupt => "SIGINT",
            Self::Requested => "requested",
        }
    }
}

/// Set once a SIGTERM arrived, by the listener [`start`](crate::start) opens before
/// the service serves; every [`shutdown_signal`] sees it, however late it asks.
#[cfg(unix)]
static TERMINATED: std::sync::OnceLock<watch::Receiver<bool>> = std::sync::OnceLock::new();

#[cfg(unix)]
fn listen(
    kind: tokio::signal::unix::SignalKind,
    name: &'static str,
) -> Option<tokio::signal::unix::Signal> {
    let stream = tokio::signal::unix::signal(kind);
    if let Err(err) = &stream {
        tracing::error!(event = "service.signal_unavailable", signal = name, error = %err, "cannot listen for {name}: {err}");
    }
    stream.ok()
}

/// Listens for SIGTERM from now on (inside a tokio runtime; elsewhere it does
/// nothing). Without it, a SIGTERM that arrives while the service still starts
/// (Kubernetes stops a pod that is still migrating) takes the default action: the
/// process dies by the signal, with no `service.stopped`. With it, the signal is
/// kept, and [`shutdown_signal`] returns it as soon as the service serves: it
/// drains and stops with exit 0. SIGINT keeps its default until then, so Ctrl-C
/// still stops a start at a terminal at once.
pub(crate) fn listen_early() {
    #[cfg(unix)]
    if tokio::runtime::Handle::try_current().is_ok()
        && TERMINATED.get().is_none()
        && let Some(mut terminate) = listen(tokio::signal::unix::SignalKind::terminate(), "SIGTERM")
    {
        let (sender, receiver) = watch::channel(false);
        if TERMINATED.set(receiver).is_ok() {
            tokio::spawn(async move {
                while terminate.recv().await.is_some() {
                    sender.send_replace(true);
                }
            });
        }
    }
}

/// Resolves when the process receives `SIGTERM` or `SIGINT` (with
/// [`start`](crate::start), also a `SIGTERM` received while the service was
/// starting).
///
/// If a handler cannot be installed (a platform without the signal), an error event
/// is logged and that signal is never reported; the other still is.
pub async fn shutdown_signal() -> Signal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::SignalKind;
        let mut terminate = match TERMINATED.get() {
            Some(_) => None,
            None => listen(SignalKind::terminate(), "SIGTERM"),
        };
        let mut interrupt = listen(SignalKind::interrupt(), "SIGINT");
        async fn next(stream: &mut Option<tokio::signal::unix::Signal>) {
            match stream {
                Some(stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        let terminated = async {
            match TERMINATED.get() {
                Some(terminated) => {
                    let _ = terminated.clone().wait_for(|&set| set).await;
                }
                None => next(&mut terminate).await,
            }
        };
        tokio::select! {
            _ = terminated => Signal::Terminate,
            _ = next(&mut interrupt) => Signal::Interrupt,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Interrupt
    }
}

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

    /// Where the shutdown is, from now on: what [`serve`](crate::serve)'s
    /// connections follow.
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
