//! Logs: one JSON object per line for collectors, text for people, every line
//! with the request (and trace) it belongs to, secrets redacted, panics as events.
//!
//! [`init`] writes JSON lines to stdout when stdout is not a terminal (or when
//! `LOG_FORMAT=json`): `timestamp` (RFC 3339, UTC), `level`, `target`, `message`,
//! the event's fields at the top level (among them `event`, the stable name), and the
//! span context (`span`, `spans`). `LOG_LEVEL` sets the level; `RUST_LOG` (filter
//! directives) wins over it. Inside a request traced by [`RequestTracingLayer`](crate::traces::RequestTracingLayer), a
//! line starts with `request_id` (and, with the `otel` feature, `trace_id` and
//! `span_id`). [`filter`] and [`format_layer`] are the layers [`init`] stacks;
//! [`init_with_layer`] adds one of your own under the same filter.
//!
//! | event | level | fields |
//! |---|---|---|
//! | `service.starting` | INFO | `service`, `version`, `commit`, `dirty`, `profile`, `target`, `rustc_version`, `pid`, `config` (the redacted configuration summary, JSON) |
//! | `service.listening` | INFO | `listener`, `address` (as bound) |
//! | `service.ready` | INFO | `startup_ms` (since the process started) |
//! | `service.draining` | INFO | `signal`, `drain_delay_ms` |
//! | `service.stopped` | INFO, ERROR when `exit_code` ≠ 0 | `uptime_s`, `reason`, `exit_code` |
//! | `service.panic` | ERROR | `panic_message`, `location` (`file:line:column`), `thread` |
//! | `http.request` | INFO, WARN for 5xx ([`RequestLog`](crate::traces::RequestLog): 5xx only by default) | `http_request_method`, `http_route`, `http_response_status_code`, `http_server_request_duration_seconds` |
//! | `otel.flush_failed` | WARN | (feature `otel`) at shutdown: queued spans not exported within the timeout, or spans the collector did not take (refused, unreachable) since the start, and request traces not started while exports failed |
//!

pub(crate) mod fields;
mod filter;
mod init;
mod nest;
mod panic;
mod redact;

pub use filter::LogFilter;
pub(crate) use init::effective_filter;
pub use init::{
    Filtered, InitError, LogFormat, LogLevel, LogSettings, Logging, filter, format_layer, init,
    init_or_exit, init_with, init_with_layer, subscriber,
};
pub use panic::install_panic_hook;
pub use redact::{Redacting, RedactingWriter};
