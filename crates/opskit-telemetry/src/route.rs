//! Route and method labels: what request metrics and request spans both call a
//! request, bounded so that neither grows a series or a name per raw path.

use std::borrow::Cow;
use std::sync::Arc;

use http::{Method, Request, Uri};

/// The route label of requests that matched no route template.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Maps a request to a route name (see `HttpMetricsLayer::route_fn`).
pub(crate) type RouteFn = Arc<dyn Fn(&Method, &Uri) -> Cow<'static, str> + Send + Sync>;

/// A route label: a template shared with the framework (no copy), or a name.
#[derive(Debug, Clone)]
pub(crate) enum Route {
    #[cfg(feature = "axum")]
    Matched(axum::extract::MatchedPath),
    Named(Cow<'static, str>),
}

impl Route {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            #[cfg(feature = "axum")]
            Self::Matched(matched) => matched.as_str(),
            Self::Named(name) => name,
        }
    }
}

/// The route of `request`: axum's matched template, else what `route_fn` names,
/// else [`UNMATCHED_ROUTE`].
pub(crate) fn route_label<B>(request: &Request<B>, route_fn: Option<&RouteFn>) -> Route {
    #[cfg(feature = "axum")]
    if let Some(matched) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Route::Matched(matched.clone());
    }
    match route_fn {
        Some(f) => Route::Named(f(request.method(), request.uri())),
        None => Route::Named(Cow::Borrowed(UNMATCHED_ROUTE)),
    }
}

/// The standard methods; anything else is `_OTHER`, as OpenTelemetry prescribes.
pub(crate) const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "_OTHER",
];

/// The index in [`METHODS`] of `method`.
pub(crate) fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::HEAD => 4,
        Method::OPTIONS => 5,
        Method::PATCH => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_are_other() {
        assert_eq!(METHODS[method_index(&Method::GET)], "GET");
        assert_eq!(
            METHODS[method_index(&Method::from_bytes(b"PURGE").unwrap())],
            "_OTHER"
        );
    }
}
