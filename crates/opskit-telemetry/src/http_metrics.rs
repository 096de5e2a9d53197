//! HTTP server metrics with OpenTelemetry names.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{Method, Request, Response, Uri};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

/// The route label of requests that matched no route template.
pub const UNMATCHED_ROUTE: &str = "unmatched";

type RouteFn = Arc<dyn Fn(&Method, &Uri) -> Cow<'static, str> + Send + Sync>;

/// Layer that applies [`HttpMetrics`]: records, for every request,
///
/// - `http_server_request_duration_seconds` (histogram), labels
///   `http_request_method`, `http_route`, `http_response_status_code`;
/// - `http_server_active_requests` (gauge), label `http_request_method`.
///
/// The route label is the route **template**, never the raw path, so that
/// `/notes/1`, `/notes/2`, ... do not each become a time series: with the `axum`
/// feature it is axum's `MatchedPath` (apply the layer with `Router::layer` so that
/// it runs after routing); otherwise, or for requests no route matched, it is
/// `unmatched`, unless [`route_fn`](Self::route_fn) maps requests to a bounded set of
/// names. Methods outside the standard set are recorded as `_OTHER`, as
/// OpenTelemetry prescribes. The duration runs until the response head is ready.
#[derive(Clone, Default)]
pub struct HttpMetricsLayer {
    route_fn: Option<RouteFn>,
}

impl std::fmt::Debug for HttpMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetricsLayer")
            .field("route_fn", &self.route_fn.is_some())
            .finish()
    }
}

impl HttpMetricsLayer {
    /// The layer, with route labels from axum's `MatchedPath` where available.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the route of requests that carry no matched route template. `f` must
    /// return one of a bounded set of names (a template, not the path).
    #[must_use]
    pub fn route_fn(
        mut self,
        f: impl Fn(&Method, &Uri) -> Cow<'static, str> + Send + Sync + 'static,
    ) -> Self {
        self.route_fn = Some(Arc::new(f));
        self
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics {
            inner,
            route_fn: self.route_fn.clone(),
        }
    }
}

/// Records request metrics; see [`HttpMetricsLayer`].
#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    route_fn: Option<RouteFn>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for HttpMetrics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = HttpMetricsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = method_label(request.method());
        let route = route_label(&request, self.route_fn.as_ref());
        metrics::gauge!("http_server_active_requests", "http_request_method" => method)
            .increment(1.0);
        HttpMetricsFuture {
            future: self.inner.call(request),
            active: Active { method },
            route: Some(route),
            start: Instant::now(),
        }
    }
}

fn route_label<B>(request: &Request<B>, route_fn: Option<&RouteFn>) -> Cow<'static, str> {
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Cow::Owned(matched.as_str().to_owned());
    }
    match route_fn {
        Some(f) => f(request.method(), request.uri()),
        None => Cow::Borrowed(UNMATCHED_ROUTE),
    }
}

/// The standard methods as themselves, anything else as `_OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// Decrements the active-requests gauge when the request ends, however it ends
/// (response, error, or the client going away and the future being dropped).
struct Active {
    method: &'static str,
}

impl Drop for Active {
    fn drop(&mut self) {
        metrics::gauge!("http_server_active_requests", "http_request_method" => self.method)
            .decrement(1.0);
    }
}

pin_project! {
    /// Response future of [`HttpMetrics`].
    pub struct HttpMetricsFuture<F> {
        #[pin]
        future: F,
        active: Active,
        route: Option<Cow<'static, str>>,
        start: Instant,
    }
}

impl<F> std::fmt::Debug for HttpMetricsFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetricsFuture")
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for HttpMetricsFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.future.poll(cx));
        let status: Cow<'static, str> = match &result {
            Ok(response) => status_label(response.status().as_u16()),
            Err(_) => Cow::Borrowed("error"),
        };
        let route = this.route.take().unwrap_or(Cow::Borrowed(UNMATCHED_ROUTE));
        metrics::histogram!(
            "http_server_request_duration_seconds",
            "http_request_method" => this.active.method,
            "http_route" => route,
            "http_response_status_code" => status,
        )
        .record(this.start.elapsed().as_secs_f64());
        Poll::Ready(result)
    }
}

/// The status code as a label, without allocating for the common ones.
fn status_label(code: u16) -> Cow<'static, str> {
    const COMMON: [(u16, &str); 20] = [
        (200, "200"),
        (201, "201"),
        (202, "202"),
        (204, "204"),
        (301, "301"),
        (302, "302"),
        (304, "304"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (409, "409"),
        (413, "413"),
        (422, "422"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    COMMON.iter().find(|(c, _)| *c == code).map_or_else(
        || Cow::Owned(code.to_string()),
        |(_, label)| Cow::Borrowed(*label),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(
            method_label(&Method::from_bytes(b"PURGE").unwrap()),
            "_OTHER"
        );
        assert_eq!(status_label(404), "404");
        assert_eq!(status_label(418), "418");
    }
}
