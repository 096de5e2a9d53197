//! Serving: the first steps of a service in order ([`start`]), the lifecycle events
//! from `service.starting` to `service.stopped` ([`Lifecycle`]), graceful shutdown
//! on SIGTERM ([`GracefulShutdown`]) and, with the `health` feature, an HTTP server
//! that does all of it ([`serve`]).
//!
//! | event | level | fields |
//! |---|---|---|
//! | `service.starting` | INFO | `service`, `version`, `commit`, `dirty`, `profile`, `target`, `rustc_version`, `pid`, `config` (the redacted configuration summary, JSON) |
//! | `service.listening` | INFO | `listener`, `address` (as bound) |
//! | `service.ready` | INFO | `startup_ms` (since the process started) |
//! | `service.draining` | INFO | `signal`, `drain_delay_ms` |
//! | `service.stopped` | INFO, ERROR when `exit_code` ≠ 0 | `uptime_s`, `reason`, `exit_code` |
//! | `service.panic` | ERROR | `panic_message`, `location` (`file:line:column`), `thread` |

#[cfg(feature = "health")]
mod connections;
mod lifecycle;
#[cfg(feature = "health")]
mod serve;
pub(crate) mod shutdown;
pub(crate) mod signal;
mod start;

pub use lifecycle::Lifecycle;
#[cfg(feature = "health")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "health")))]
pub use serve::{HttpService, HttpSettings, serve};
pub use shutdown::{GracefulShutdown, ShutdownOutcome};
pub use signal::{Signal, shutdown_signal};
pub use start::{Started, start};
