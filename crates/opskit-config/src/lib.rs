//! Typed environment configuration that reports every problem at once and never
//! shows a secret.
//!
//! Derive [`Config`] on a plain struct; each field is one environment variable,
//! named from an optional prefix and the field name in `SCREAMING_SNAKE_CASE`.
//! Loading reads every field before it decides, so one failed start lists every
//! missing variable, every unparseable value, every unreadable secret file, with
//! the variable's full name, what is wrong, the expected type and the field's doc
//! comment; a secret's value is never quoted.
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! use opskit_config::Config;
//! use opskit_secret::{ConnectionString, ExposeSecret, SecretString};
//! use serde::Deserialize;
//!
//! /// Where the service runs.
//! #[derive(Debug, Deserialize, PartialEq)]
//! #[serde(rename_all = "lowercase")]
//! enum Deployment { Local, Staging, Production }
//!
//! /// Settings of the notes service.
//! #[derive(Config)]
//! #[config(prefix = "NOTES_")]
//! struct Settings {
//!     /// Address the HTTP server binds.
//!     #[config(default = "127.0.0.1:8080")]
//!     listen: SocketAddr,
//!     /// Where the service runs; production refuses laptop defaults.
//!     #[config(default = "local")]
//!     deployment: Deployment,
//!     /// How long in-flight requests may take to finish on shutdown.
//!     #[config(default = "30s")]
//!     shutdown_timeout: Duration,
//!     /// Origins allowed by CORS, comma-separated.
//!     #[config(default)]
//!     cors_origins: Vec<String>,
//!     /// Database connection URL (secret; `NOTES_DATABASE_URL_FILE` may name a file).
//!     database_url: ConnectionString,
//!     /// Token that write requests must present.
//!     api_token: Option<SecretString>,
//!     /// Extra verbosity.
//!     #[config(default = "off")]
//!     debug: bool,
//! }
//!
//! let loaded = Settings::from_pairs([
//!     ("NOTES_DEPLOYMENT", "staging"),
//!     ("NOTES_CORS_ORIGINS", "https://a.example, https://b.example"),
//!     ("NOTES_DATABASE_URL", "postgres://notes:pw@db:5432/notes"),
//!     ("NOTES_DEBUG", "YES"),
//! ])?;
//! assert_eq!(loaded.deployment, Deployment::Staging);
//! assert_eq!(loaded.shutdown_timeout, Duration::from_secs(30));
//! assert_eq!(loaded.cors_origins, ["https://a.example", "https://b.example"]);
//! assert!(loaded.debug);
//! assert!(loaded.api_token.is_none());
//! assert_eq!(loaded.database_url.expose_secret(), "postgres://notes:pw@db:5432/notes");
//! // The summary is safe to log:
//! let summary = loaded.summary().to_string();
//! assert!(summary.contains("NOTES_DATABASE_URL=postgres://notes:***@db:5432/notes (env)"));
//! assert!(summary.contains("NOTES_LISTEN=127.0.0.1:8080 (default)"));
//! # Ok::<(), opskit_config::ConfigError>(())
//! ```
//!
//! In `main`, use [`Config::from_env_or_exit`]: on failure it logs the report as one
//! `config.invalid` event, prints it on stderr and exits with [`exit::CONFIG`] (78).
//!
//! # Variables
//!
//! | Attribute | Where | Effect |
//! |---|---|---|
//! | `#[config(prefix = "APP_")]` | struct | prefix of every variable of this struct when it is loaded at the top |
//! | `#[config(name = "DATABASE_URL")]` | field | the variable's exact name (no prefix) |
//! | `#[config(default = "30s")]` | field | used when unset; parsed like a value, shown in the listing |
//! | `#[config(default)]` | field | the type's `Default` when unset |
//! | `#[config(secret)]` | field | a secret (types [`SecretString`](opskit_secret::SecretString), [`SecretBox`](opskit_secret::SecretBox) and [`ConnectionString`](opskit_secret::ConnectionString), and `Option`s and `Vec`s of them, are secrets already, aliases included; a type of your own that holds a secret needs the attribute) |
//! | `#[config(nested)]` | field | a struct that derives `Config`, read with the sub-prefix `FIELD_` |
//! | `#[config(nested, prefix = "DB_")]` | field | the same, with another sub-prefix (`""`: the parent's prefix alone) |
//! | `#[config(range = "100ms..=1h")]` | field | the values a duration or number accepts, ends included (`"1.."`, `"..=64"`: one end); outside is a problem of its variable: `expected a duration from 100ms to 1h` |
//! | `#[config(crate = "path")]` | struct | where `opskit_config` is (found automatically through `opskit`) |
//! | `#[config(rule(check(a, b)))]` | struct | a rule across fields: the function `check(&a, &b)` (a path: `Self::check`, `rules::check`) returns `Vec<`[`Invalid`]`>` or `Option<Invalid>`; it runs whenever `a` and `b` parsed, so its problems are reported with every other problem (see [Rules across settings](#rules-across-settings)); repeatable |
//! | `#[config(validate = "path")]` | struct | a `fn(&Self) -> Vec<Invalid>`; it runs only when *every* field parsed, so a failed field hides its problems: prefer `rule` |
//!
//! # Rules across settings
//!
//! A rule that reads several settings ("production refuses `*` as a CORS origin")
//! is written as the call of its function with the fields it reads:
//! `#[config(rule(check(a, b)))]` calls `check(&a, &b)`, which returns the problems
//! it found (`Vec<`[`Invalid`]`>` or `Option<Invalid>`), each naming the field at fault.
//! Each argument is a reference to the field's type, or to what it dereferences to
//! (`&[String]` for a `Vec<String>`, `&Path` for a `PathBuf`).
//! It runs whenever its fields parsed, even when another setting failed, so one
//! start lists every problem. A rule whose field failed does not run (that field's
//! own problem is reported instead). A nested struct is a field like any other: it
//! parsed when every setting in it did. Problems come in the order of the fields,
//! then each rule's in the order the rules are written, then `validate`'s.
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use opskit_config::{Config, Invalid};
//! use serde::Deserialize;
//!
//! /// Where the service runs.
//! #[derive(Debug, Deserialize, PartialEq)]
//! #[serde(rename_all = "lowercase")]
//! enum Deployment { Local, Production }
//!
//! /// Settings of the service.
//! #[derive(Config)]
//! #[config(prefix = "APP_")]
//! #[config(rule(no_wildcard_in_production(deployment, allowed_origins)))]
//! struct Settings {
//!     /// Address the HTTP server binds.
//!     #[config(default = "127.0.0.1:8080")]
//!     listen: SocketAddr,
//!     /// Where the service runs.
//!     #[config(default = "local")]
//!     deployment: Deployment,
//!     /// Origins allowed by CORS, comma-separated.
//!     #[config(default)]
//!     allowed_origins: Vec<String>,
//! }
//!
//! fn no_wildcard_in_production(
//!     deployment: &Deployment,
//!     allowed_origins: &[String],
//! ) -> Option<Invalid> {
//!     (*deployment == Deployment::Production && allowed_origins.iter().any(|o| o == "*"))
//!         .then(|| Invalid::new("allowed_origins", "allows every origin; production needs a list"))
//! }
//!
//! let err = Settings::from_pairs([
//!     ("APP_LISTEN", "localhost"),
//!     ("APP_DEPLOYMENT", "production"),
//!     ("APP_ALLOWED_ORIGINS", "*"),
//! ])
//! .unwrap_err();
//! let variables: Vec<&str> = err.problems().iter().map(|p| p.variable.as_str()).collect();
//! assert_eq!(variables, ["APP_LISTEN", "APP_ALLOWED_ORIGINS"]);
//! assert!(err.to_string().contains(
//!     "APP_ALLOWED_ORIGINS invalid value \"*\": allows every origin; production needs a list"
//! ));
//! # let loaded = Settings::from_pairs([("APP_ALLOWED_ORIGINS", "*")]).unwrap();
//! # assert_eq!(loaded.listen.port(), 8080);
//! ```
//!
//! `#[config(validate = "path")]` names a `fn(&Self) -> Vec<Invalid>` instead. It
//! needs the whole struct, so it runs only when every field parsed: with
//! `APP_LISTEN=localhost` above it would not run, and `APP_ALLOWED_ORIGINS` would be
//! missing from the report. Keep it for rules that read most of the struct; give a
//! rule that must always report its fields.
//!
//! # Values
//!
//! Any `serde::Deserialize` type, read from the variable's text. Every value,
//! secrets and `_FILE` contents included, is trimmed of surrounding whitespace first
//! (`" 8080 "` is `8080`): the value used is the value the summary shows.
//!
//! - numbers; bools as `true/false`, `1/0`, `yes/no`, `on/off`, any case;
//! - enums of unit variants by their serde name (`rename_all` applies), in any case
//!   (`LOG_LEVEL=INFO` is `info`);
//! - `SocketAddr`, `IpAddr`, `url::Url`, and other types that deserialize from a string;
//! - [`std::time::Duration`] in the humane format of [`parse_duration`] (`30s`, `1m30s`);
//! - `Vec<T>` (and sets) from a comma list, items trimmed, empty items dropped;
//!   maps from `key=value` comma lists;
//! - `Option<T>`: `None` when unset.
//!
//! A variable set to the empty string counts as unset (Compose and Kubernetes
//! manifests often write `VAR=`): it takes the default, or is reported as "set but
//! empty" when the setting is required.
//!
//! # Secrets
//!
//! A secret setting is read from `VAR` or from the file named by `VAR_FILE` (the
//! Docker and Kubernetes convention; read with [`opskit_secret::SecretFile`]).
//! Setting both is an error. A secret's value never appears in an error, the
//! summary or a log: an invalid secret is reported as invalid, with why, in words
//! that do not contain it.
//!
//! # Typos
//!
//! With a prefix, every variable that carries it but is read by no setting becomes a
//! [`Warning`]: `APP_PROT is not a setting; did you mean APP_PORT?`.

// Feature badges on docs.rs, whose nightly rustdoc has `doc_cfg`; a stable build
// with `--cfg docsrs` still works, and each gated item says its feature in words.
#![cfg_attr(opskit_doc_cfg, feature(doc_cfg))]

// Generated code names `::opskit_config`, which this makes valid inside the crate too.
#[allow(unused_extern_crates)]
extern crate self as opskit_config;

mod de;
mod describe;
mod duration;
mod env;
mod field_spec;
mod loaded;
mod loader;
mod range;
mod read;
mod render;
mod report;
mod summary;
mod typo;
mod warnings;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

use std::ffi::OsString;

pub use describe::{Description, Requirement, Setting};
pub use duration::{MAX_DURATION, parse_duration};
pub use loaded::Loaded;
pub use report::{ConfigError, Invalid, Problem, ProblemKind};
pub use summary::{Source, Summary, SummaryEntry};
pub use warnings::{Warning, WarningKind, log_pending_warnings};

/// Derives [`Config`](trait@Config) for a struct with named fields. See the
/// [crate docs](crate) for the attributes.
pub use opskit_config_derive::Config;

/// Exit codes, from `sysexits.h`: the one opskit table ([`opskit_exit`]);
/// [`exit::CONFIG`] (78) is this crate's.
pub use opskit_exit as exit;

/// A configuration read from environment variables. Derive it with
/// [`#[derive(Config)]`](derive@Config); do not implement it by hand.
pub trait Config: Sized {
    /// The prefix of every variable, from `#[config(prefix = "...")]`, or `""`.
    const PREFIX: &'static str;

    #[doc(hidden)]
    fn __describe(out: &mut Vec<Setting>, prefix: &str, field_path: &str);

    #[doc(hidden)]
    fn __load(loader: &mut __private::Loader<'_>, prefix: &str) -> Option<Self>;

    /// Every variable this configuration reads, with type, requirement, secrecy and doc.
    fn describe() -> Description {
        let mut settings = Vec::new();
        Self::__describe(&mut settings, Self::PREFIX, "");
        Description::new(settings)
    }

    /// Loads the configuration from the process environment.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem found.
    fn from_env() -> Result<Loaded<Self>, ConfigError> {
        loader::load(
            &env::Environment::from_process(),
            Self::PREFIX,
            Self::__load,
        )
    }

    /// Loads the configuration from the given name/value pairs instead of the
    /// process environment (for tests). `VAR_FILE` secrets are read from the files
    /// named as usual.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every problem found.
    fn from_pairs<I, K, V>(pairs: I) -> Result<Loaded<Self>, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        loader::load(
            &env::Environment::from_pairs(pairs),
            Self::PREFIX,
            Self::__load,
        )
    }

    /// Loads the configuration from the process environment, or stops the process.
    ///
    /// On success, each [`Warning`] is logged as a warning event (kept until a
    /// subscriber is installed when there is none yet: see [`log_pending_warnings`]).
    /// On failure, the report is logged as one `config.invalid` error event (see
    /// [`ConfigError::log`]) and written in human form on stderr, and the process
    /// exits with [`exit::CONFIG`] (78). Install the tracing subscriber *before* calling
    /// this, or the event is lost (stderr still shows the report).
    fn from_env_or_exit() -> Loaded<Self> {
        match Self::from_env() {
            Ok(loaded) => {
                loaded.log_warnings();
                loaded
            }
            Err(err) => err.exit(),
        }
    }
}

/// The crate README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
