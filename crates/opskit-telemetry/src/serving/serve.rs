//! Serving HTTP the way a service behind Kubernetes should: bound, then ready after
//! the first checks, drained on SIGTERM, with limits a slow client cannot exhaust.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use opskit_config::Config;
use opskit_health::Health;
use tokio::net::{TcpListener, TcpSocket};
use tower_service::Service;

use super::connections::Connections;
use super::lifecycle::Lifecycle;
use super::shutdown::{GracefulShutdown, Phase};
use crate::traces::{RequestLog, RequestTracingLayer};

/// How [`serve`] serves: the shutdown timeline and the limits on connections. Nest
/// it in a service's settings with `#[config(nested, prefix = "")]` to read
/// `APP_DRAIN_DELAY`, `APP_SHUTDOWN_TIMEOUT`, ... under the service's prefix.
#[derive(Debug, Clone, Config)]
pub struct HttpSettings {
    /// Time between failing readiness and refusing new connections after SIGTERM
    /// (load balancers need a few seconds to stop sending).
    #[config(default = "2s")]
    pub drain_delay: Duration,
    /// Longest in-flight requests may run after new connections are refused.
    #[config(default = "30s")]
    pub shutdown_timeout: Duration,
    /// Longest a client may take to send a request's headers (slow clients are cut
    /// off, between the timeout and a quarter past it); also how long an idle
    /// keep-alive connection stays open. A request whose body or response takes
    /// longer is not cut.
    #[config(default = "10s")]
    pub header_read_timeout: Duration,
    /// Open connections past which the oldest that have not sent a request are closed
    /// to make room; 0 picks 80% of the open-files limit.
    #[config(default = "0")]
    pub max_connections: usize,
    /// Longest the service waits for every health check's first run before it warns
    /// that it is not ready yet (`health.not_ready_yet`).
    #[config(default = "10s")]
    pub first_check_timeout: Duration,
    /// Which requests get an http.request log line: off, errors (5xx) or all.
    #[config(default = "errors")]
    pub request_log: RequestLog,
    /// Whether a caller's x-request-id is kept (true behind a proxy that sets it) or replaced.
    #[config(default = "true")]
    pub trust_request_id: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            drain_delay: Duration::from_secs(2),
            shutdown_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 0,
            first_check_timeout: Duration::from_secs(10),
            request_log: RequestLog::Errors,
            trust_request_id: true,
        }
    }
}

impl HttpSettings {
    /// The [`RequestTracingLayer`] these settings describe (`request_log`,
    /// `trust_request_id`), for the router's `Router::layer`.
    pub fn request_tracing(&self) -> RequestTracingLayer {
        RequestTracingLayer::new()
            .request_log(self.request_log)
            .trust_request_id(self.trust_request_id)
    }

    /// The connection limit: the setting, or 80% of the open-files limit.
    pub fn connection_limit(&self) -> usize {
        if self.max_connections > 0 {
            return self.max_connections;
        }
        open_files_limit().map_or(1024, |limit| (limit / 5 * 4).max(16))
    }
}

/// The soft limit on open files, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A service [`serve`] can serve: a tower service of hyper's requests that never
/// fails (errors are responses), whose futures and response bodies can move between
/// threads. Every such service is one (axum's `Router`, a `ServiceBuilder` stack,
/// a `service_fn`, ...): name it in a bound rather than spelling the bounds out.
///
/// ```
/// use opskit_telemetry::HttpService;
///
/// fn runnable(_: impl HttpService) {}
///
/// runnable(tower::service_fn(|_request| async {
///     let body = http_body_util::Full::new(bytes::Bytes::from("ok"));
///     Ok::<_, std::convert::Infallible>(http::Response::new(body))
/// }));
/// ```
pub trait HttpService:
    Service<
        Request<Incoming>,
        Response = Response<Self::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
    /// The response body: any `http_body::Body` of bytes.
    type Body: http_body::Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static;
}

impl<S, B> HttpService for S
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Body = B;
}

/// Serves `service` on `listen` until SIGTERM or SIGINT, and returns the exit code,
/// with everything between the settings and the last log line done in order:
///
/// 1. bind, with a listen queue of 4096 (`service.bind_failed` and exit 71 when the
///    address is taken), then `service.listening` with the address actually bound;
/// 2. `service.ready` once readiness first passes (every check has run, none
///    fails): a database that is down at start delays it, with a
///    `health.not_ready_yet` warning after the first checks, rather than failing
///    the start;
/// 3. on SIGTERM: readiness fails, `service.draining`, new connections are refused
///    after the drain delay, in-flight requests get the shutdown timeout (see
///    below);
/// 4. `service.stopped`, the last line, and the exit code (0, or 71 when the
///    server failed).
///
/// Every connection has a header-read timeout, and past
/// [`HttpSettings::connection_limit`] open connections the oldest that have not
/// sent a whole request within a second are closed to make room
/// (`http.connections_shed`), so slow clients cannot use up the file descriptors
/// the probes need: a probe's request arrives at once and is always served. A
/// request that has arrived whole is never dropped to make room, however many
/// connections come at once: a burst past the limit waits in the listen queue
/// and is served in turn.
///
/// From SIGTERM on, keep-alive clients are moved off without losing a request:
///
/// - every HTTP/1 response says `Connection: close`, and the connection closes
///   after it; HTTP/2 connections get a GOAWAY and finish their streams;
/// - when the drain delay ends, connections the kernel has already queued are
///   accepted and served before the listener closes, so none is reset; a client
///   that connects after that is refused (what remains is the instant between
///   the last accept and the close);
/// - a connection that has served requests is closed once it is idle, never in
///   the middle of a request; one whose first request has not arrived yet is left
///   to send it (up to the header-read timeout), and is answered.
///
/// A connection idle since before SIGTERM is closed when the drain delay ends: a
/// client that sends on it at that instant sees it closed, as with any HTTP/1.1
/// server closing an idle connection (clients retry such requests).
///
/// `service` is the whole stack, `health.layer()` and the metrics layer included:
/// where they sit decides what the probes go through. Outermost (the usual
/// choice), probes and `/metrics` answer before the application's own layers: no
/// auth, no compression, no timeout, no CORS. Its response body may be any
/// `http_body::Body` (axum's, tower-http's compression body, ...).
///
/// ```no_run
/// # async fn f(
/// #     lifecycle: opskit_telemetry::Lifecycle,
/// #     health: opskit_health::Health,
/// #     metrics: opskit_telemetry::PrometheusMetrics,
/// #     router: axum::Router,
/// # ) -> std::process::ExitCode {
/// let service = tower::ServiceBuilder::new()
///     .layer(metrics.layer())
///     .layer(health.layer())
///     .service(router);
/// let settings = opskit_telemetry::HttpSettings::default();
/// opskit_telemetry::serve(&lifecycle, &health, &settings, "0.0.0.0:8080".parse().unwrap(), service).await
/// # }
/// ```
pub async fn serve<S: HttpService>(
    lifecycle: &Lifecycle,
    health: &Health,
    settings: &HttpSettings,
    listen: SocketAddr,
    service: S,
) -> std::process::ExitCode {
    // `/readyz` names the running build even when the registry was not told.
    let info = lifecycle.build_info();
    health.identify(info.name, info.version, &info.release_id());
    let listener = match bind(listen) {
        Ok(listener) => listener,
        Err(err) => {
            let reason = format!("cannot listen on {listen}: {err}");
            tracing::error!(event = "service.bind_failed", address = %listen, error = %err, "{reason}");
            lifecycle.exit(&reason, opskit_exit::OS_ERROR);
        }
    };
    match listener.local_addr() {
        Ok(address) => lifecycle.listening("http", address),
        Err(err) => lifecycle.exit(&err.to_string(), opskit_exit::OS_ERROR),
    }
    let shutdown = GracefulShutdown::new(settings.drain_delay, settings.shutdown_timeout)
        .health(health.clone())
        .lifecycle(lifecycle.clone());
    let server = accept_loop(listener, service, settings.clone(), shutdown.clone());
    let server = tokio::spawn(server);

    health.mark_started();
    tokio::spawn(announce_ready(
        lifecycle.clone(),
        health.clone(),
        settings.first_check_timeout,
    ));

    let outcome = shutdown.run(server).await;
    let code = match &outcome.result {
        Some(Err(err)) => {
            lifecycle.stopped(&format!("the server failed: {err}"), opskit_exit::OS_ERROR);
            opskit_exit::OS_ERROR
        }
        _ => {
            lifecycle.stopped(&outcome.reason(), opskit_exit::OK);
            opskit_exit::OK
        }
    };
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Logs `service.ready` when readiness first passes; warns once if it does not
/// pass when every check has run once (or after `first_check_timeout`).
async fn announce_ready(lifecycle: Lifecycle, health: Health, first_check_timeout: Duration) {
    use opskit_health::Probe;
    let checked = health.wait_until_checked(first_check_timeout).await;
    let mut warned = false;
    loop {
        if health.status(Probe::Readiness).is_healthy() {
            lifecycle.ready();
            return;
        }
        if !warned {
            warned = true;
            let why = if checked {
                "a health check fails"
            } else {
                "a health check has not finished its first run"
            };
            tracing::warn!(
                event = "health.not_ready_yet",
                "not ready yet: {why}; /readyz says which. service.ready follows when it passes"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The listen queue's length: connections the kernel completes before the server
/// accepts them. A plain bind gives 128 here; a burst of new connections (a fleet's
/// clients reconnecting, a slowloris attack) while the process briefly waits for a
/// CPU overflows that, and the kernel drops each SYN past it: its client retries
/// after a second, so a probe misses the kubelet's one-second timeout. The kernel
/// caps the value at `net.core.somaxconn` (4096 on current Linux).
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `address` (with `SO_REUSEADDR`, as a plain bind sets it, so a restart
/// does not wait out the old connections' `TIME_WAIT`) and listens with
/// [`LISTEN_BACKLOG`].
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Whether an accept failed because the process (`EMFILE`) or the system (`ENFILE`)
/// has no file descriptor left.
fn out_of_descriptors(err: &std::io::Error) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        matches!(Errno::from_io_error(err), Some(Errno::MFILE | Errno::NFILE))
    }
    #[cfg(not(unix))]
    {
        let _ = err;
        true
    }
}

/// Accepts until the shutdown stops accepting, then serves what the kernel had
/// already queued, closes the listener and waits for the open connections to
/// finish.
async fn accept_loop<S: HttpService>(
    listener: TcpListener,
    service: S,
    settings: HttpSettings,
    shutdown: GracefulShutdown,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The header-read timeout is the connection registry's (see `connections`):
    // hyper's arms a timer for every request.
    builder.http1().header_read_timeout(None);
    let mut phase = shutdown.phase();
    let connections = Connections::new(
        settings.connection_limit(),
        settings.header_read_timeout,
        phase.clone(),
    );
    let mut check = tokio::time::interval(connections.check_interval());
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut server = Server {
        builder,
        service,
        connections,
        last_shed_warning: None,
        open: tokio::sync::mpsc::channel(1),
    };
    let mut stop = std::pin::pin!(shutdown.stop_accepting());
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => server.serve(stream),
                Err(err) => server.accept_failed(&err).await,
            },
            Ok(()) = phase.changed() => {
                if matches!(*phase.borrow_and_update(), Phase::Draining(_)) {
                    server.connections.drain();
                }
            }
            _ = check.tick() => {
                server.connections.cut_slow();
            }
            () = &mut stop => break,
        }
    }
    server.connections.drain();
    server.serve_queued(listener);
    server.wait_for_connections(check).await;
}

/// What [`accept_loop`] serves each connection with.
struct Server<S> {
    builder: auto::Builder<TokioExecutor>,
    service: S,
    connections: Connections,
    last_shed_warning: Option<std::time::Instant>,
    /// Cloned into each connection's task, to wait for them all at the end.
    open: (
        tokio::sync::mpsc::Sender<()>,
        tokio::sync::mpsc::Receiver<()>,
    ),
}

impl<S: HttpService> Server<S> {
    /// A failed accept. Out of file descriptors: let the oldest slow client go
    /// whatever its age, and wait for its descriptor to free up rather than spin or
    /// stop serving. Any other failure (a connection reset before it was accepted)
    /// makes room only as admitting one would.
    async fn accept_failed(&mut self, err: &std::io::Error) {
        if out_of_descriptors(err) {
            self.connections.make_room_now();
        } else {
            self.connections.make_room(1);
        }
        let limit = self.connections.limit();
        tracing::warn!(event = "http.accept_failed", error = %err, limit, "accept failed: {err}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    /// Serves the connections the kernel completed before accepting stopped, which
    /// wait in the listen queue, rather than reset them by closing the listener;
    /// then closes it.
    fn serve_queued(&mut self, listener: TcpListener) {
        let limit = self.connections.limit();
        match listener.into_std() {
            Ok(listener) => loop {
                match listener.accept() {
                    Ok((stream, _)) => match stream
                        .set_nonblocking(true)
                        .and_then(|()| tokio::net::TcpStream::from_std(stream))
                    {
                        Ok(stream) => self.serve(stream),
                        Err(err) => {
                            tracing::warn!(event = "http.accept_failed", error = %err, limit, "accept failed: {err}")
                        }
                    },
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            },
            Err(err) => {
                tracing::warn!(event = "http.accept_failed", error = %err, limit, "accept failed: {err}");
            }
        }
    }

    /// Waits until every connection's task has ended (each holds a sender, and the
    /// channel closes with the last one), still cutting slow clients: one whose
    /// first request has not arrived is left to send it only until its header-read
    /// timeout.
    async fn wait_for_connections(mut self, mut check: tokio::time::Interval) {
        let (sender, mut receiver) = self.open;
        drop(sender);
        loop {
            tokio::select! {
                _ = receiver.recv() => break,
                _ = check.tick() => {
                    self.connections.cut_slow();
                }
            }
        }
    }

    /// Admits `stream` (making room past the limit) and serves it on its own task.
    fn serve(&mut self, stream: tokio::net::TcpStream) {
        let (handle, shed) = self.connections.admit();
        let limit = self.connections.limit();
        if shed > 0
            && self
                .last_shed_warning
                .is_none_or(|at| at.elapsed() > Duration::from_secs(10))
        {
            self.last_shed_warning = Some(std::time::Instant::now());
            tracing::warn!(
                event = "http.connections_shed",
                limit,
                "{limit} connections are open: closing the oldest that have not sent a \
                 request (slow or idle clients) to keep serving; raise NOFILE or the \
                 connection limit if this is real traffic"
            );
        }
        let _ = stream.set_nodelay(true);
        let connection = self
            .builder
            .serve_connection_with_upgrades(
                TokioIo::new(handle.watch(stream)),
                TowerToHyperService::new(handle.mark(self.service.clone())),
            )
            .into_owned();
        let open = self.open.0.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut phase = handle.phase();
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    // The connection first: when the registry closes it, whatever
                    // its client sent meanwhile is read before the close.
                    biased;
                    _ = connection.as_mut() => break,
                    () = handle.closed_by_registry() => {
                        if !handle.reprieve() {
                            break;
                        }
                    }
                    changed = phase.changed(), if !shutting_down => {
                        let now = *phase.borrow_and_update();
                        if changed.is_err() || handle.closes_in(now) {
                            connection.as_mut().graceful_shutdown();
                            shutting_down = true;
                        }
                    }
                }
            }
            drop((handle, open));
        });
    }
}

#[cfg(test)]
mod loopback;

#[cfg(all(test, target_os = "linux"))]
mod tests;
