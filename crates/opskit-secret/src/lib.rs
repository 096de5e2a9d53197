//! Secret values that never show up in logs, errors or `Debug` output.
//!
//! `opskit-secret` builds on [`secrecy`] and adds what a service needs around it:
//!
//! - [`SecretString`], [`SecretBox`] and [`ExposeSecret`], re-exported, so this crate
//!   is the only dependency you need;
//! - [`SecretFile`]: read a secret from a mounted file (`/run/secrets/NAME` in Docker,
//!   a secret volume in Kubernetes) with every error naming the path, never the content;
//! - [`ConnectionString`]: a `DATABASE_URL` whose `Debug` and `Display` mask the
//!   password, so `postgres://app:***@db:5432/notes` can be logged;
//! - [`secret_eq`] and [`constant_time_eq`]: compare a presented token in constant time;
//! - [`canary`]: assert in your own tests that a canary value never leaks;
//! - [`rotation`]: secrets that follow their file without a restart
//!   ([`WatchedSecret`]), tokens accepted during a rotation's grace period
//!   ([`TokenCheck`]), and with the `sqlx` feature a pool whose new connections use
//!   the new credentials.
//!
//! # Example
//!
//! ```
//! use opskit_secret::{ConnectionString, ExposeSecret, SecretString, secret_eq};
//!
//! let url: ConnectionString = "postgres://app:hunter2@db:5432/notes".parse()?;
//! assert_eq!(url.to_string(), "postgres://app:***@db:5432/notes");
//! assert_eq!(format!("{url:?}"), r#"ConnectionString("postgres://app:***@db:5432/notes")"#);
//! assert_eq!(url.expose_secret(), "postgres://app:hunter2@db:5432/notes");
//!
//! let token = SecretString::from("s3cr3t-token");
//! assert!(secret_eq(&token, b"s3cr3t-token"));
//! assert!(!secret_eq(&token, b"guess"));
//! assert_eq!(format!("{token:?}"), "SecretBox<str>([REDACTED])");
//! # Ok::<(), opskit_secret::ConnectionStringError>(())
//! ```
//!
//! # Secrets from files
//!
//! ```no_run
//! use opskit_secret::{ExposeSecret, SecretFile};
//!
//! // Trailing "\n" or "\r\n" is stripped; an empty or oversized file is an error
//! // that names the path. A file readable by group or others logs a warning.
//! let token = SecretFile::new("/run/secrets/api_token").read_string()?;
//! # let _ = token.expose_secret();
//! # Ok::<(), opskit_secret::SecretFileError>(())
//! ```

//! # Secrets that rotate
//!
//! ```
//! use std::time::Duration;
//! use opskit_secret::{SecretFile, SecretString, TokenCheck, WatchedSecret};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("api_token"), "t0ken-1")?;
//! // Read again every second; a new content that passes is used at once.
//! let token: WatchedSecret<SecretString> =
//!     SecretFile::new(dir.path().join("api_token")).watch("APP_API_TOKEN")?;
//! // The previous token is accepted for five minutes after each rotation.
//! let tokens = TokenCheck::new(&token, Duration::from_secs(300));
//! assert!(tokens.verify(b"t0ken-1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Feature flags
//!
//! | Name | Description | Default? |
//! |---|---|---|
//! | `sqlx` | the `sqlx` module: one call makes an sqlx 0.9 pool open new connections with a rotated password or URL; any database, no driver turned on; needs Rust 1.94 | no |

// Feature badges on docs.rs, whose nightly rustdoc has `doc_cfg`.
#![cfg_attr(opskit_doc_cfg, feature(doc_cfg))]

pub mod canary;
mod compare;
mod connection;
mod file;
mod parameters;
pub mod redaction;
pub mod rotation;
#[cfg(feature = "sqlx")]
#[cfg_attr(opskit_doc_cfg, doc(cfg(feature = "sqlx")))]
pub mod sqlx;

pub use compare::{constant_time_eq, secret_eq};
pub use connection::{ConnectionString, ConnectionStringError, scrub_url_secrets};
pub use file::{DEFAULT_MAX_SECRET_FILE_BYTES, SecretFile, SecretFileError, SharedSecretFile};
pub use parameters::{IgnoredParameter, SQLX_POSTGRES_PARAMETERS};
pub use rotation::{TokenCheck, WatchedSecret};
pub use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox, SecretSlice, SecretString};

/// The crate README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
