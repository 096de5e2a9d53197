//! HTTP server metrics with OpenTelemetry names.

use rustc_hash::FxBuildHasher;
use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{Method, Request, Response, Uri};
use metrics::{Gauge, Histogram};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::route::{METHODS, Route, RouteFn, method_index, route_label};

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
///
/// The layer registers each label set with the metrics recorder the first time it
/// sees it and keeps the handle, so install the recorder
/// ([`PrometheusMetrics::install`](crate::metrics::PrometheusMetrics::install)) before serving.
#[derive(Clone, Default)]
pub struct HttpMetricsLayer {
    route_fn: Option<RouteFn>,
    handles: Arc<Handles>,
}

/// Metric handles, registered once per label set and reused: finding one here is a
/// short hash of the route template and a scan of that route's few series, where
/// the `metrics` macros would build and hash a whole key (and allocate its labels) on
/// every request.
#[derive(Default)]
struct Handles {
    /// `http_server_active_requests` per method (index of [`METHODS`]).
    active: [OnceLock<Gauge>; METHODS.len()],
    /// `http_server_request_duration_seconds` per route, then per (method, status).
    // Route templates are the service's own, not client input: a hash that resists
    // flooding buys nothing here and costs a SipHash per request.
    durations: RwLock<HashMap<Box<str>, Vec<Series>, FxBuildHasher>>,
}

/// One histogram of a route: its method index, status code (0 for an error) and
/// handle.
type Series = (usize, u16, Histogram);

impl Handles {
    fn active(&self, method: usize) -> &Gauge {
        self.active[method].get_or_init(|| {
            metrics::gauge!("http_server_active_requests", "http_request_method" => METHODS[method])
        })
    }

    fn record(&self, method: usize, route: &str, status: Option<u16>, seconds: f64) {
        let code = status.unwrap_or(0);
        {
            let durations = self
                .durations
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let found = durations
                .get(route)
                .and_then(|series| series.iter().find(|(m, c, _)| *m == method && *c == code));
            if let Some((_, _, histogram)) = found {
                return histogram.record(seconds);
            }
        }
        let status_label = match status {
            Some(code) => status_label(code),
            None => Cow::Borrowed("error"),
        };
        let histogram = metrics::histogram!(
            "http_server_request_duration_seconds",
            "http_request_method" => METHODS[method],
            "http_route" => route.to_owned(),
            "http_response_status_code" => status_label,
        );
        histogram.record(seconds);
        let mut durations = self
            .durations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let series = durations.entry(route.into()).or_default();
        if !series.iter().any(|(m, c, _)| *m == method && *c == code) {
            series.push((method, code, histogram));
        }
    }
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
            handles: self.handles.clone(),
        }
    }
}

/// Records request metrics; see [`HttpMetricsLayer`].
#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    route_fn: Option<RouteFn>,
    handles: Arc<Handles>,
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
        let method = method_index(request.method());
        let route = route_label(&request, self.route_fn.as_ref());
        self.handles.active(method).increment(1.0);
        HttpMetricsFuture {
            future: self.inner.call(request),
            active: Active {
                handles: self.handles.clone(),
                method,
            },
            route: Some(route),
            start: Instant::now(),
        }
    }
}

/// Decrements the active-requests gauge when the request ends, however it ends
/// (response, error, or the client going away and the future being dropped).
struct Active {
    handles: Arc<Handles>,
    method: usize,
}

impl Drop for Active {
    fn drop(&mut self) {
        self.handles.active(self.method).decrement(1.0);
    }
}

pin_project! {
    /// Response future of [`HttpMetrics`].
    pub struct HttpMetricsFuture<F> {
        #[pin]
        future: F,
        active: Active,
        route: Option<Route>,
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
        let status = result
            .as_ref()
            .ok()
            .map(|response| response.status().as_u16());
        if let Some(route) = this.route.take() {
            this.active.handles.record(
                this.active.method,
                route.as_str(),
                status,
                this.start.elapsed().as_secs_f64(),
            );
        }
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
        assert_eq!(status_label(404), "404");
        assert_eq!(status_label(418), "418");
    }
}
