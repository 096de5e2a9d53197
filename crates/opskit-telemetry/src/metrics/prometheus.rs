//! Prometheus exposition, served by the application itself.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::build_info::BuildInfo;

/// OpenTelemetry's advised bucket boundaries for `http.server.request.duration`, in
/// seconds; opskit uses them for every histogram.
pub const HTTP_DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The process-wide Prometheus recorder, exposed on a path of the application
/// ([`layer`](Self::layer)) or on a listener of its own ([`serve`](Self::serve)),
/// never on a port the exporter picks.
///
/// Every histogram uses explicit buckets ([`HTTP_DURATION_BUCKETS`]), never
/// summaries, so they aggregate across replicas.
#[derive(Debug, Clone)]
pub struct PrometheusMetrics {
    handle: PrometheusHandle,
}

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// Another metrics recorder is installed already.
    #[error(
        "a metrics recorder is already installed in this process; install PrometheusMetrics once, in main"
    )]
    AlreadyInstalled,
    /// The exporter refused its configuration.
    #[error("the Prometheus exporter refused its configuration: {0}")]
    Exporter(String),
}

impl PrometheusMetrics {
    /// Installs the global recorder, gives every metric opskit registers its `HELP`
    /// text (Prometheus' `promtool check metrics` wants one), sets the
    /// `*_build_info` gauge and
    /// `process_start_time_seconds`, and (inside a Tokio runtime) runs the
    /// exporter's upkeep every second: histogram samples queue up until upkeep
    /// folds them into buckets, so under heavy load the interval bounds memory.
    ///
    /// # Errors
    ///
    /// [`MetricsError`] when a recorder is installed already.
    pub fn install(info: &BuildInfo) -> Result<Self, MetricsError> {
        let handle = PrometheusBuilder::new()
            .set_buckets(&HTTP_DURATION_BUCKETS)
            .map_err(|e| MetricsError::Exporter(e.to_string()))?
            .install_recorder()
            .map_err(|e| match e {
                metrics_exporter_prometheus::BuildError::FailedToSetGlobalRecorder(_) => {
                    MetricsError::AlreadyInstalled
                }
                other => MetricsError::Exporter(other.to_string()),
            })?;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let upkeep = handle.clone();
            runtime.spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_secs(1));
                loop {
                    interval.tick().await;
                    upkeep.run_upkeep();
                }
            });
        }
        describe(info);
        process_collector().describe();
        // metrics-process describes the start time too; opskit's text and value win.
        describe(info);
        info.record_metric();
        super::process::record_start_time_metric();
        Ok(Self { handle })
    }

    /// The metrics in the Prometheus text format, the process metrics read now.
    pub fn render(&self) -> String {
        render(&self.handle)
    }

    /// A layer that answers `GET /metrics` on the application's own port and passes
    /// every other request through.
    pub fn layer(&self) -> MetricsEndpointLayer {
        self.layer_at("/metrics")
    }

    /// [`layer`](Self::layer) on another path.
    pub fn layer_at(&self, path: impl Into<String>) -> MetricsEndpointLayer {
        MetricsEndpointLayer {
            handle: self.handle.clone(),
            path: Some(path.into().into()),
        }
    }

    /// [`layer`](Self::layer) when `enabled`, else a layer of the same type that
    /// passes every request through: for a service that serves `/metrics` on a
    /// listener of its own ([`serve`](Self::serve)) when one is configured, and on
    /// the application's port otherwise, with one service stack.
    pub fn layer_if(&self, enabled: bool) -> MetricsEndpointLayer {
        MetricsEndpointLayer {
            handle: self.handle.clone(),
            path: enabled.then(|| "/metrics".into()),
        }
    }

    /// Serves `GET /metrics` (and 404 for anything else) on a listener of its own,
    /// an admin port that is not exposed to the public, until the future is dropped.
    ///
    /// # Errors
    ///
    /// When accepting a connection fails.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let endpoint = self.layer().layer(tower_service_fn());
        loop {
            let (stream, _) = listener.accept().await?;
            let service = hyper_util::service::TowerToHyperService::new(endpoint.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(error = %err, "metrics connection ended with an error");
                }
            });
        }
    }
}

/// The admin listener's fallback: 404.
fn tower_service_fn() -> NotFound {
    NotFound
}

/// Answers 404 to everything.
#[derive(Debug, Clone, Copy)]
struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let mut response = Response::new(Full::new(Bytes::from_static(
            b"not found; metrics are at /metrics\n",
        )));
        *response.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(response))
    }
}

/// Layer that answers the metrics path with the Prometheus text format; see
/// [`PrometheusMetrics::layer`].
#[derive(Debug, Clone)]
pub struct MetricsEndpointLayer {
    handle: PrometheusHandle,
    /// `None`: pass everything through.
    path: Option<std::sync::Arc<str>>,
}

impl<S> Layer<S> for MetricsEndpointLayer {
    type Service = MetricsEndpoint<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsEndpoint {
            inner,
            handle: self.handle.clone(),
            path: self.path.clone(),
        }
    }
}

/// Answers `GET`/`HEAD` on the metrics path; passes everything else to `inner`.
#[derive(Debug, Clone)]
pub struct MetricsEndpoint<S> {
    inner: S,
    handle: PrometheusHandle,
    path: Option<std::sync::Arc<str>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MetricsEndpoint<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<MetricsBody<ResBody>>;
    type Error = S::Error;
    type Future = MetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = request.method();
        if self.path.as_deref() == Some(request.uri().path())
            && (method == Method::GET || method == Method::HEAD)
        {
            let body = if method == Method::HEAD {
                Bytes::new()
            } else {
                Bytes::from(render(&self.handle))
            };
            let mut response = Response::new(Full::new(body));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
            return MetricsFuture {
                kind: Kind::Ready {
                    response: Some(response),
                },
            };
        }
        MetricsFuture {
            kind: Kind::Inner {
                future: self.inner.call(request),
            },
        }
    }
}

pin_project! {
    /// Response future of [`MetricsEndpoint`].
    pub struct MetricsFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProjection]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Ready { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F> std::fmt::Debug for MetricsFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for MetricsFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<MetricsBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProjection::Inner { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(MetricsBody::inner)))
            }
            KindProjection::Ready { response } => {
                let response = response
                    .take()
                    .expect("MetricsFuture polled after completion");
                Poll::Ready(Ok(response.map(MetricsBody::text)))
            }
        }
    }
}

pin_project! {
    /// The response body of [`MetricsEndpoint`]: the inner service's body, or the
    /// metrics text. Its `Default` (empty) lets tower-http's `Timeout` and `Cors`
    /// sit outside the layer.
    #[derive(Debug)]
    pub struct MetricsBody<B> {
        #[pin]
        kind: BodyKind<B>,
    }
}

pin_project! {
    #[project = BodyProjection]
    #[derive(Debug)]
    enum BodyKind<B> {
        Inner { #[pin] body: B },
        Text { #[pin] body: Full<Bytes> },
    }
}

impl<B> MetricsBody<B> {
    fn inner(body: B) -> Self {
        Self {
            kind: BodyKind::Inner { body },
        }
    }

    fn text(body: Full<Bytes>) -> Self {
        Self {
            kind: BodyKind::Text { body },
        }
    }
}

impl<B> Default for MetricsBody<B> {
    fn default() -> Self {
        Self::text(Full::new(Bytes::new()))
    }
}

impl<B> http_body::Body for MetricsBody<B>
where
    B: http_body::Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            BodyProjection::Inner { body } => body.poll_frame(cx),
            // `Full` never fails.
            BodyProjection::Text { body } => match body.poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            BodyKind::Inner { body } => body.is_end_stream(),
            BodyKind::Text { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.kind {
            BodyKind::Inner { body } => body.size_hint(),
            BodyKind::Text { body } => body.size_hint(),
        }
    }
}

/// The process metrics every exporter has (`process_cpu_seconds_total`,
/// `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, `process_threads`), read by the
/// `metrics-process` crate at each scrape.
fn process_collector() -> &'static metrics_process::Collector {
    static COLLECTOR: std::sync::OnceLock<metrics_process::Collector> = std::sync::OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Reads the process metrics, then renders. `metrics-process` also sets
/// `process_start_time_seconds`, truncated to whole seconds from the boot time;
/// opskit's own value (right to 10 ms, see [`super::process::start_time`]) is set
/// after it.
fn render(handle: &PrometheusHandle) -> String {
    process_collector().collect();
    super::process::record_start_time_metric();
    handle.render()
}

/// The `HELP` text (and unit) of every metric opskit registers: the request
/// metrics, the build info, the start time and the health checks'.
fn describe(info: &BuildInfo) {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        "http_server_request_duration_seconds",
        Unit::Seconds,
        "Duration of HTTP server requests, by method, route template and status code."
    );
    describe_gauge!(
        "http_server_active_requests",
        Unit::Count,
        "HTTP server requests being served, by method."
    );
    describe_gauge!(
        info.metric_name(),
        "Build of the running service (version, revision, profile, compiler as labels); always 1."
    );
    describe_gauge!(
        "process_start_time_seconds",
        Unit::Seconds,
        "Start time of the process since the Unix epoch, in seconds."
    );
    describe_gauge!(
        "health_check_status",
        "Whether each health check passes (1) or fails (0), as its probes report it."
    );
    describe_histogram!(
        "health_check_duration_seconds",
        Unit::Seconds,
        "Duration of each health check's runs."
    );
    describe_counter!(
        "health_check_failures_total",
        Unit::Count,
        "Failed runs of each health check."
    );
    // opskit-secret's watched secrets (`opskit_secret::rotation`).
    describe_counter!(
        "secret_rotations_total",
        Unit::Count,
        "New values of each watched secret taken into use."
    );
    describe_counter!(
        "secret_rotation_failures_total",
        Unit::Count,
        "Rotations of each watched secret that failed (its previous value stayed in use)."
    );
    describe_gauge!(
        "secret_rotation_failing",
        "Whether each watched secret's file currently cannot be used (1) or can (0)."
    );
}
