//! One span per request, a request id on it and on the response, and a log line per
//! request when asked for: [`RequestTracingLayer`] and the [`RequestTracing`]
//! service it applies, laid out as tower-http lays out a middleware (`layer`,
//! `service`, `future`; `log` for the `http.request` line).

mod future;
mod layer;
mod log;
mod service;

pub use future::RequestTracingFuture;
pub use layer::RequestTracingLayer;
pub use log::RequestLog;
pub use service::RequestTracing;
