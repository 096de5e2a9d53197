//! Secrets that rotate without a restart: a [`WatchedSecret`] follows its file, a
//! [`TokenCheck`] accepts the previous token for a grace period, and (feature
//! `sqlx`) the `sqlx` module points a pool's new connections at the new
//! credentials.
//!
//! Managed databases and secret stores rotate credentials: Kubernetes updates a
//! mounted Secret by swapping its `..data` symlink, Vault Agent rewrites its file.
//! A watched secret reads its file again every second (a [poll](WatchOptions), which
//! sees the kubelet's swap, a rename over the file and an in-place rewrite alike, on
//! any filesystem), checks the new content the way opskit-config checks a `VAR_FILE`
//! at start, registers it with the [log redaction](crate::redaction) and only then
//! publishes it. A content that fails (unreadable, empty, a directory, over the
//! size limit, still being written, not a valid value) leaves the old value in use.
//!
//! # Example
//!
//! What a service adds to follow its API token and its database password:
//!
//! ```no_run
//! use std::time::Duration;
//! use opskit_secret::rotation::{TokenCheck, WatchedSecret};
//! use opskit_secret::SecretString;
//!
//! // APP_API_TOKEN_FILE=/run/secrets/api_token (or APP_API_TOKEN, which stays fixed)
//! let token: WatchedSecret<SecretString> = WatchedSecret::from_env("APP_API_TOKEN")?;
//! // Clients have five minutes to switch to a new token.
//! let tokens = TokenCheck::new(&token, Duration::from_secs(300));
//! // In a handler:
//! let authorized = tokens.verify(b"presented-token");
//! # let _ = authorized;
//!
//! // APP_DATABASE_PASSWORD_FILE=/run/secrets/db/password; with the `sqlx` feature,
//! // `let _watch = opskit_secret::sqlx::rotate_pool_password(&pool, &password, PgConnectOptions::password)`
//! // makes the pool's new connections use each new password.
//! let password: WatchedSecret<SecretString> = WatchedSecret::from_env("APP_DATABASE_PASSWORD")?;
//! # let _ = password;
//! # Ok::<(), opskit_secret::rotation::RotationError>(())
//! ```
//!
//! # Events and metrics
//!
//! | Event | Level | When | Fields |
//! |-------|-------|------|--------|
//! | `secret.rotated` | info | a new value is in use | `secret` (the variable), `path`, `rotations` |
//! | `secret.rotation_failed` | warn | the file's content cannot be used; logged once per distinct reason while it lasts | `secret`, `path`, `reason` |
//! | `secret.rotation_recovered` | info | after a failure, the file holds the value in use again | `secret`, `path` |
//! | `secret.subscriber_panicked` | error | an [`on_rotate`](WatchedSecret::on_rotate) subscriber panicked | `secret` |
//! | `secret.file_permissions` | warn | a new content's file is readable by others | `path`, `mode` |
//!
//! No event carries a value. Through the [`metrics`] facade (labelled
//! `secret="APP_API_TOKEN"`): `secret_rotations_total` (counter),
//! `secret_rotation_failures_total` (counter, once per distinct failure) and
//! `secret_rotation_failing` (gauge, 1 while the file's content cannot be used). The
//! same counts are on the handle: [`WatchedSecret::rotations`],
//! [`WatchedSecret::rotation_failures`], [`WatchedSecret::is_failing`].

mod options;
mod poller;
mod shared;
mod token;
mod value;
mod watched;

use std::path::PathBuf;
use std::time::Duration;

pub use options::{DEFAULT_POLL_INTERVAL, DEFAULT_SETTLE, WatchOptions};
pub use token::TokenCheck;
pub use value::SecretValue;
pub use watched::{Current, WatchedSecret};

use crate::SecretFileError;

/// Why a secret could not be watched, or why a new content was not taken. Never
/// contains a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RotationError {
    /// The file could not be read, or is empty, a directory, oversized...
    #[error(transparent)]
    File(#[from] SecretFileError),
    /// The content is not a valid value of its type.
    #[error("{subject}: {reason}")]
    Invalid {
        /// The file (`secret file /run/secrets/x`) or variable (`variable APP_X`).
        subject: String,
        /// What is wrong, without the value.
        reason: String,
    },
    /// The content changed between two reads the settle time apart: it is being
    /// written. The next poll reads it again.
    #[error(
        "secret file {}: still being written (its content changed within {settle:?}); write it \
         to a temporary file and rename it over this one",
        path.display()
    )]
    StillChanging {
        /// The file.
        path: PathBuf,
        /// The settle time.
        settle: Duration,
    },
    /// Neither `NAME` nor `NAME_FILE` is set.
    #[error("neither {variable} nor {variable}_FILE is set; set one of them")]
    Unset {
        /// The variable.
        variable: String,
    },
    /// The variable is not valid Unicode.
    #[error("{variable} is not valid UTF-8; store the secret as text")]
    NotUnicode {
        /// The variable.
        variable: String,
    },
    /// The watcher thread could not be started.
    #[error("cannot start the thread watching secret file {}: {source}", path.display())]
    Spawn {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
