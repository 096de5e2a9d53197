//! Operational building blocks for Rust services, in one dependency.
//!
//! `opskit` re-exports its member crates behind cargo features, so a service adds one
//! dependency and turns on what it uses.
//!
//! # Example
//!
//! ```
//! use opskit::config::Config;
//! use opskit::secret::{ExposeSecret, SecretString};
//!
//! /// Settings of the example service.
//! #[derive(Config)]
//! #[config(prefix = "NOTES_")]
//! struct Settings {
//!     /// TCP port the HTTP server listens on.
//!     #[config(default = "8080")]
//!     port: u16,
//!     /// Token that write requests must present.
//!     api_token: SecretString,
//! }
//!
//! let loaded = Settings::from_pairs([("NOTES_API_TOKEN", "t0ken")])?;
//! assert_eq!(loaded.port, 8080);
//! assert_eq!(loaded.api_token.expose_secret(), "t0ken");
//! assert!(!loaded.summary().to_string().contains("t0ken"));
//! # Ok::<(), opskit::config::ConfigError>(())
//! ```
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `config` | [`config`]: typed environment configuration (`#[derive(Config)]`); turns on `secret` | yes |
//! | `secret` | [`secret`]: secret types, secret files, masked connection strings | yes (through `config`) |
//! | `health` | `health`: the tower health-check layer (`/livez`, `/readyz`, `/startupz`) | no |
//! | `telemetry` | `telemetry`: logging init, build info, lifecycle events, Prometheus metrics, graceful shutdown; turns on `health` and `config` | no |
//! | `migrate` | `migrate`: the rollback-safe migration guard for sqlx, its linter and CLI | no |
//! | `axum` | route labels from axum's `MatchedPath` in the HTTP metrics layer; turns on `telemetry` | no |

#[cfg(feature = "config")]
pub use opskit_config as config;
#[cfg(feature = "health")]
pub use opskit_health as health;
#[cfg(feature = "migrate")]
pub use opskit_migrate as migrate;
#[cfg(feature = "secret")]
pub use opskit_secret as secret;
#[cfg(feature = "telemetry")]
pub use opskit_telemetry as telemetry;

/// The README's examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
