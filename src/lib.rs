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
//! # Adding opskit to a service
//!
//! Turn on what the service uses; nothing else is compiled. For an axum service on
//! PostgreSQL over TLS, with its sqlx 0.9 pool:
//!
//! ```toml
//! [dependencies]
//! opskit = { version = "0.1", features = ["telemetry", "health", "axum", "migrate", "postgres", "tls"] }
//! sqlx = { version = "0.9", features = ["runtime-tokio", "postgres", "tls-rustls", "migrate", "macros"] }
//! ```
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `config` | [`config`](https://docs.rs/opskit-config): typed environment configuration (`#[derive(Config)]`); turns on `secret` | yes |
//! | `secret` | [`secret`](https://docs.rs/opskit-secret): secret types, secret files, masked connection strings, secrets that rotate without a restart | yes (through `config`) |
//! | `health` | [`health`](https://docs.rs/opskit-health): the tower health-check layer (`/livez`, `/readyz`, `/startupz`) | no |
//! | `telemetry` | [`telemetry`](https://docs.rs/opskit-telemetry): logging init, build info, lifecycle events, Prometheus metrics, graceful shutdown; turns on `config`, and with `health` drains it on shutdown | no |
//! | `axum` | route labels from axum's `MatchedPath` in the HTTP metrics layer; turns on `telemetry` | no |
//! | `migrate` | [`migrate`](https://docs.rs/opskit-migrate): the rollback-safe migration guard for sqlx 0.9 and its linter; pick a database below | no |
//! | `postgres` | PostgreSQL: the guard on `postgres://` URLs (with `migrate`), the sqlx pool check `health::checks::sqlx_pool` (with `health`), and `secret::sqlx`, a pool whose credentials rotate | no |
//! | `sqlite` | SQLite, compiled in: the guard on `sqlite:` URLs (with `migrate`), the sqlx pool check (with `health`), and `secret::sqlx` | no |
//! | `tls` | TLS to PostgreSQL with rustls: `sslmode=require`, and `verify-full` with `sslrootcert=` | no |
//! | `tls-native-tls` | TLS to PostgreSQL with the platform's TLS library instead of rustls | no |
//! | `full` | all of the above but `tls-native-tls`: what the notes example uses | no |
//!
//! [`exit`] (the exit-code table) is always there. The crates track sqlx 0.9, axum
//! 0.8, http 1 and tower 0.5.

// Feature badges on docs.rs, whose nightly rustdoc has `doc_cfg`; a stable build
// with `--cfg docsrs` still works, and each module says its feature in words.
#![cfg_attr(opskit_doc_cfg, feature(doc_cfg))]

/// Typed environment configuration: [`opskit_config`]. Needs the `config` feature.
#[cfg(feature = "config")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "config")))]
pub use opskit_config as config;
/// Exit codes, from `sysexits.h`: [`opskit_exit`]. Always available.
pub use opskit_exit as exit;
/// The tower health-check layer: [`opskit_health`]. Needs the `health` feature.
#[cfg(feature = "health")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "health")))]
pub use opskit_health as health;
/// The rollback-safe migration guard: [`opskit_migrate`]. Needs the `migrate`
/// feature, and `postgres` or `sqlite` for a database.
#[cfg(feature = "migrate")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "migrate")))]
pub use opskit_migrate as migrate;
/// Secret types: [`opskit_secret`]. Needs the `secret` feature (on with `config`).
#[cfg(feature = "secret")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "secret")))]
pub use opskit_secret as secret;
/// Logging, build info, lifecycle events, metrics, graceful shutdown:
/// [`opskit_telemetry`]. Needs the `telemetry` feature.
#[cfg(feature = "telemetry")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "telemetry")))]
pub use opskit_telemetry as telemetry;

/// The README's examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
