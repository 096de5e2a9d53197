//! A tower health-check layer that Kubernetes can trust.
//!
//! [`HealthEndpointsLayer`] answers `/livez`, `/readyz` and `/startupz` (GET and HEAD) from the
//! latest results of checks that run **in the background**, each on its own
//! interval and timeout. A probe never waits for a check, so a slow database cannot
//! make the kubelet's one-second probe time out, and a storm of probes does not
//! become a storm of database queries. Every other request passes to the inner
//! service untouched, without an allocation.
//!
//! # Example (axum)
//!
//! ```no_run
//! use std::time::Duration;
//! use axum::{Router, routing::get};
//! use opskit_health::{CheckOptions, Health, Outcome, checks::tcp_connect};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let health = Health::builder()
//!     .service_id("notes")
//!     .version(env!("CARGO_PKG_VERSION"))
//!     .check("cache", tcp_connect("127.0.0.1:6379"), CheckOptions::new())
//!     .check(
//!         "queue",
//!         || async { Outcome::warn("backlog above 1000") },
//!         CheckOptions::new().interval(Duration::from_secs(30)),
//!     )
//!     .build()?;
//!
//! let app = Router::new()
//!     .route("/notes", get(|| async { "[]" }))
//!     .layer(health.layer());
//!
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
//! health.mark_started();
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! `Router::layer` is the simplest placement. It wraps every route, though, and each
//! request then passes one more boxed service per layer; wrapping the router as a
//! whole answers probes before routing and costs one layer per request:
//!
//! ```
//! # use axum::{Router, ServiceExt, extract::Request, http::Response, routing::get};
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let health = opskit_health::Health::builder().build()?;
//! let router = Router::new().route("/notes", get(|| async { "[]" }));
//! let app = tower::ServiceBuilder::new()
//!     .map_response(|response: Response<_>| response.map(axum::body::Body::new))
//!     .layer(health.layer())
//!     .service(router);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let server = axum::serve(listener, ServiceExt::<Request>::into_make_service(app));
//! # drop(server); Ok(()) }
//! ```
//!
//! The notes example serves this way; `docs/benchmarks.md` has the difference.
//!
//! # Example (plain tower)
//!
//! The layer wraps any `Service<http::Request<B>>` whose responses have a `Bytes`
//! body: hyper's, tonic's HTTP side, your own.
//!
//! ```
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use bytes::Bytes;
//! use opskit_health::Health;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let health = Health::builder().build()?;
//! let app = ServiceBuilder::new().layer(health.layer()).service(service_fn(
//!     |_request: Request<()>| async { Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello")))) },
//! ));
//!
//! // Not started yet: readiness fails, liveness passes.
//! let ready = app.clone().oneshot(Request::get("/readyz").body(())?).await?;
//! assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
//! health.mark_started();
//! let ready = app.clone().oneshot(Request::get("/readyz").body(())?).await?;
//! assert_eq!(ready.status(), StatusCode::OK);
//! assert_eq!(ready.headers()["content-type"], "application/health+json");
//!
//! // Everything else reaches the inner service.
//! let hello = app.clone().oneshot(Request::get("/").body(())?).await?;
//! assert_eq!(hello.into_body().collect().await?.to_bytes(), "hello");
//!
//! // Shutdown begins: readiness fails at once, liveness keeps passing.
//! health.drain();
//! let ready = app.clone().oneshot(Request::get("/readyz").body(())?).await?;
//! assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
//! let live = app.oneshot(Request::get("/livez").body(())?).await?;
//! assert_eq!(live.status(), StatusCode::OK);
//! # Ok(()) }
//! ```
//!
//! # Probes
//!
//! | probe | default path | passes when | on failure Kubernetes |
//! |---|---|---|---|
//! | liveness | `/livez` | every liveness check passes or warns | restarts the container |
//! | readiness | `/readyz` | started, not draining, not in maintenance, every readiness check passes or warns (and has run at least once) | stops sending traffic |
//! | startup | `/startupz` | [`Health::mark_started`] was called and every startup check passes; once it has passed, it passes for good (Kubernetes stops asking; a check failing later fails readiness) | holds off the other probes, then restarts |
//!
//! Checks count for **readiness** unless [`CheckOptions::probes`] says otherwise.
//! Liveness must not check external dependencies: when a shared database blinks, a
//! liveness check on it restarts every replica at once, which turns a database
//! incident into an outage of the whole service and does not bring the database back.
//!
//! # Responses
//!
//! `200` for pass and warn, `503` for fail, `405` (with `Allow: GET, HEAD`) for other
//! methods; body `application/health+json` after draft-inadarei-api-health-check;
//! `Cache-Control: no-store`. `?exclude=NAME` (repeatable) leaves checks out;
//! `/readyz/NAME` reports one check (`404` for an unknown name, listing the known
//! ones). A check's output (its error text) is withheld from responses unless
//! [`HealthBuilder::details`] is on; it is logged in the `health.changed` event.
//!
//! ```json
//! {"status":"fail","version":"1.4.2","serviceId":"notes",
//!  "checks":{"database:responseTime":[{"componentId":"database","componentType":"datastore",
//!    "status":"fail","observedValue":2000.4,"observedUnit":"ms","time":"2026-11-28T01:02:03.456Z",
//!    "output":"details withheld; the reason is in the service log (event health.changed)"}]}}
//! ```
//!
//! # Checks
//!
//! Each check runs in a task of its own: a run that passes its timeout is cancelled
//! and counts as a failure; a run that panics counts as a failure and the service
//! goes on. Until a readiness check has finished its first run, readiness fails
//! ("not checked yet"). A check's first run reports what it finds; after that a
//! passing check reports failing only after [`CheckOptions::failure_threshold`]
//! failed runs in a row, by default the check's own
//! ([`Check::default_failure_threshold`]: 3 for the checks opskit ships, so one run
//! that is slow because the service is busy does not fail readiness; 1 for a
//! closure, or wrap it in [`Tolerant`]). [`CheckOptions::success_threshold`] does
//! the same the other way.
//!
//! # Observability
//!
//! Events, each with a stable `event` field: `health.changed` when a check's status
//! changes (`check`, `from`, `to`, `output`) and when a probe's does (`probe`,
//! `from`, `to`, `reason`); `health.probe_misconfigured` when a request whose
//! `User-Agent` starts with `kube-probe/` is answered 404 by the application (the
//! manifest's probe path is wrong). Metrics through the `metrics` facade:
//! `health_check_status{check}` (1 or 0), `health_check_duration_seconds{check}`,
//! `health_check_failures_total{check}`.
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `config` | [`HealthSettings`], read from the environment with opskit-config | no |
//! | `sqlx` | [`checks::sqlx_pool`]: a check for an sqlx 0.9 pool of any database (it turns on no driver) | no |
//!
//! Nothing is on by default: the layer and its checks need neither.

// Feature badges on docs.rs, whose nightly rustdoc has `doc_cfg`; a stable build
// with `--cfg docsrs` still works, and each gated item says its feature in words.
#![cfg_attr(opskit_doc_cfg, feature(doc_cfg))]

mod body;
mod check_state;
pub mod checks;
mod error;
mod gate;
mod health;
mod layer;
mod observe;
mod options;
mod outcome;
mod paths;
mod probe;
mod render;
mod runner;
#[cfg(feature = "config")]
mod settings;
mod state;

pub use body::ResponseBody;
pub use checks::{Check, CheckFuture, Tolerant};
pub use error::BuildError;
pub use health::{Health, HealthBuilder};
pub use layer::{HEALTH_JSON, HealthEndpoints, HealthEndpointsLayer, ResponseFuture};

/// The old name of [`HealthEndpointsLayer`], kept for one release.
#[deprecated(
    since = "0.1.0",
    note = "renamed `HealthEndpointsLayer`, after its service `HealthEndpoints`"
)]
pub type HealthLayer = HealthEndpointsLayer;

/// The old name of [`HealthEndpoints`], kept for one release.
#[deprecated(
    since = "0.1.0",
    note = "renamed `HealthEndpoints`; its layer is `HealthEndpointsLayer`"
)]
pub type HealthService<S> = HealthEndpoints<S>;
pub use options::CheckOptions;
pub use outcome::{Outcome, Status};
pub use probe::Probe;
#[cfg(feature = "config")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "config")))]
pub use settings::HealthSettings;

/// The crate README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
