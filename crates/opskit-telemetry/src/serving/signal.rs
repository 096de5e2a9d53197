//! The signals that stop a service: SIGTERM (Kubernetes, systemd, `docker stop`)
//! and SIGINT (Ctrl-C), listened for from the start so that one arriving while the
//! service still starts is kept, not fatal.

use tokio::sync::watch;

/// What started a shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `SIGTERM`: what Kubernetes, systemd and `docker stop` send.
    Terminate,
    /// `SIGINT`: Ctrl-C at a terminal.
    Interrupt,
    /// [`GracefulShutdown::trigger`](super::GracefulShutdown::trigger), from the program itself.
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

/// Set once a SIGTERM arrived, by the listener [`start`](super::start) opens before
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
/// [`start`](super::start), also a `SIGTERM` received while the service was
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
