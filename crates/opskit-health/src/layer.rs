//! The tower layer: answers probe paths, passes everything else through.

use std::future::Future;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::body::ResponseBody;
use crate::health::Health;
use crate::paths::Route;
use crate::render::{self, ProbeView, Rendered};

/// The media type of health responses.
pub const HEALTH_JSON: &str = "application/health+json";

impl Health {
    /// The tower layer that answers the probe paths from this registry.
    pub fn layer(&self) -> HealthEndpointsLayer {
        HealthEndpointsLayer::new(self.clone())
    }
}

/// Layer that applies [`HealthEndpoints`]: answers the probe paths of a [`Health`]
/// and passes every other request to the inner service untouched. See the
/// [crate docs](crate).
#[derive(Debug, Clone)]
pub struct HealthEndpointsLayer {
    health: Health,
}

impl HealthEndpointsLayer {
    /// The layer for `health`; the same as [`Health::layer`].
    pub fn new(health: Health) -> Self {
        Self { health }
    }
}

impl<S> Layer<S> for HealthEndpointsLayer {
    type Service = HealthEndpoints<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HealthEndpoints {
            inner,
            health: self.health.clone(),
        }
    }
}

/// Answers `GET`/`HEAD` on the probe paths from the cached results of the background
/// checks (never waiting for a check), `405` for other methods there, and passes
/// every other request to `inner`.
#[derive(Debug, Clone)]
pub struct HealthEndpoints<S> {
    inner: S,
    health: Health,
}

impl<S> HealthEndpoints<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HealthEndpoints<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        if let Some(route) = self.health.paths.route(request.uri().path()) {
            let response = respond(&self.health, route, request.method(), request.uri().query());
            return ResponseFuture {
                kind: FutureKind::Ready {
                    response: Some(Box::new(response)),
                },
            };
        }
        // The kubelet probing a path that is not a probe: watch for the 404 that
        // means the manifest's probe path is wrong. Only kubelet requests pay for it.
        let agent = if self.health.watch_kubelet {
            kube_probe_agent(request.headers())
        } else {
            None
        };
        let watch = agent.map(|agent| {
            Box::new(Watch {
                path: request.uri().path().to_owned(),
                user_agent: String::from_utf8_lossy(agent.as_bytes()).into_owned(),
                health: self.health.clone(),
            })
        });
        ResponseFuture {
            kind: FutureKind::Inner {
                future: self.inner.call(request),
                watch,
            },
        }
    }
}

/// The `User-Agent` of a request from the kubelet (`kube-probe/<version>`).
#[inline]
fn kube_probe_agent(headers: &http::HeaderMap) -> Option<&HeaderValue> {
    // A linear scan of a few headers is cheaper than hashing for `get`, and this runs
    // on every request that passes through.
    let agent = if headers.len() <= 8 {
        headers
            .iter()
            .find(|(name, _)| *name == USER_AGENT)
            .map(|(_, value)| value)
    } else {
        headers.get(USER_AGENT)
    };
    agent.filter(|agent| agent.as_bytes().starts_with(b"kube-probe/"))
}

/// A kubelet request passed to the inner service.
#[derive(Debug)]
struct Watch {
    path: String,
    user_agent: String,
    health: Health,
}

pin_project! {
    /// Response future of [`HealthEndpoints`].
    pub struct ResponseFuture<F> {
        #[pin]
        kind: FutureKind<F>,
    }
}

pin_project! {
    #[project = Projection]
    enum FutureKind<F> {
        // A request passed to the inner service.
        Inner {
            #[pin]
            future: F,
            watch: Option<Box<Watch>>,
        },
        // A probe, answered at once.
        // Boxed, so that the future of a passed-through request stays small.
        Ready {
            response: Option<Box<Response<Bytes>>>,
        },
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            Projection::Inner { future, watch } => {
                let response = ready!(future.poll(cx))?;
                if let Some(watch) = watch.take()
                    && response.status() == StatusCode::NOT_FOUND
                {
                    crate::observe::probe_misconfigured(
                        &watch.path,
                        &watch.user_agent,
                        &watch.health.paths.describe(),
                    );
                }
                Poll::Ready(Ok(response.map(ResponseBody::inner)))
            }
            Projection::Ready { response } => {
                let response = response
                    .take()
                    .expect("ResponseFuture polled after completion");
                Poll::Ready(Ok((*response).map(ResponseBody::full)))
            }
        }
    }
}

/// Answers a probe request.
fn respond(
    health: &Health,
    route: Route<'_>,
    method: &Method,
    query: Option<&str>,
) -> Response<Bytes> {
    if method != Method::GET && method != Method::HEAD {
        let mut response = Response::new(Bytes::from_static(
            br#"{"status":"fail","output":"method not allowed: probes answer GET and HEAD"}"#,
        ));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return with_headers(response);
    }
    let rendered = render_route(health, route, query);
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        rendered.body
    };
    let mut response = Response::new(body);
    *response.status_mut() = rendered.code;
    with_headers(response)
}

fn with_headers(mut response: Response<Bytes>) -> Response<Bytes> {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(HEALTH_JSON));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The probe's cached response, or one rendered for `?exclude=` or `/probe/NAME`.
fn render_route(health: &Health, route: Route<'_>, query: Option<&str>) -> Rendered {
    let shared = &health.shared;
    let exclude: Vec<String> = query
        .map(|query| {
            form_urlencoded::parse(query.as_bytes())
                .filter(|(key, _)| key == "exclude")
                .map(|(_, value)| value.into_owned())
                .collect()
        })
        .unwrap_or_default();
    if route.check.is_none() && exclude.is_empty() {
        return shared.rendered(route.probe);
    }
    let checks = shared.checks.lock().unwrap_or_else(PoisonError::into_inner);
    match route.check {
        None => ProbeView::new(&**shared, route.probe, &checks, &exclude).render(),
        Some(name) => {
            let mut of_probe = checks.iter().filter(|c| c.options.counts_for(route.probe));
            match of_probe.clone().find(|c| &*c.name == name) {
                Some(check) => ProbeView::render_one(&**shared, route.probe, check),
                None => {
                    let known: Vec<&str> = of_probe.by_ref().map(|c| &*c.name).collect();
                    render::not_found(route.probe, name, &known)
                }
            }
        }
    }
}
