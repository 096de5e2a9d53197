//! One span per request, a request id on it and on the response, and a log line per
//! request when asked for: [`RequestTracingLayer`] and the [`RequestTracing`]
//! service it applies, laid out as tower-http lays out a middleware (`layer`,
//! `service`, `future`; `log` for the `http.request` line, `span` for the span and
//! its fields).

mod future;
mod layer;
mod log;
mod service;
mod span;

pub use future::RequestTracingFuture;
pub use layer::RequestTracingLayer;
pub use log::RequestLog;
pub use service::RequestTracing;
pub(crate) use span::SpanFields;
