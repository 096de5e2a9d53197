//! Query parameters a database driver would ignore: a URL written for another
//! client (libpq reads `connect_timeout`, sqlx does not) must be refused at start,
//! not half-honoured. Drivers log an ignored parameter with its value, so the
//! check names a parameter only when its name looks like one: a bare `?s3cr3t`
//! would otherwise print the secret itself.
//!
//! ```
//! use opskit_secret::{ConnectionString, IgnoredParameter, SQLX_POSTGRES_PARAMETERS};
//!
//! let url: ConnectionString = "postgres://app:pw@db/notes?sslmode=require&connect_timeout=5".parse()?;
//! assert_eq!(
//!     url.ignored_parameter(SQLX_POSTGRES_PARAMETERS),
//!     Some(IgnoredParameter::Named("connect_timeout".to_owned()))
//! );
//! let url: ConnectionString = "postgres://app:pw@db/notes?Sup3r-S3cret".parse()?;
//! let ignored = url.ignored_parameter(SQLX_POSTGRES_PARAMETERS).unwrap();
//! assert!(!ignored.to_string().contains("S3cret"));
//! # Ok::<(), opskit_secret::ConnectionStringError>(())
//! ```

use std::fmt;

use secrecy::ExposeSecret;

use crate::ConnectionString;

/// The query parameters sqlx's PostgreSQL driver reads (sqlx-postgres 0.9,
/// `options/parse.rs`); it ignores any other, logging it with its value. An entry
/// ending in `[` is a prefix (`options[search_path]=...`).
pub const SQLX_POSTGRES_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
    "options[",
];

/// A query parameter the driver would ignore, as far as it may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoredParameter {
    /// Its name, which looks like a parameter's name (short, lowercase).
    Named(String),
    /// A parameter whose name does not look like one (it may be a secret pasted
    /// in the wrong place), so it is not shown.
    Unnamed,
}

impl fmt::Display for IgnoredParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(name) => write!(f, "the parameter {name:?}"),
            Self::Unnamed => {
                f.write_str("a parameter (its name is not shown: it does not look like one)")
            }
        }
    }
}

impl ConnectionString {
    /// The first query parameter of the URL that is not in `known` (see
    /// [`SQLX_POSTGRES_PARAMETERS`]), named only when its name looks like one.
    pub fn ignored_parameter(&self, known: &[&str]) -> Option<IgnoredParameter> {
        let url = self.expose_secret();
        let query = url.split_once('?')?.1;
        let query = query.split('#').next().unwrap_or(query);
        let key = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split('=').next().unwrap_or(pair))
            .find(|key| !is_known(key, known))?;
        Some(if looks_like_a_name(key) {
            IgnoredParameter::Named(key.to_owned())
        } else {
            IgnoredParameter::Unnamed
        })
    }
}

fn is_known(key: &str, known: &[&str]) -> bool {
    known.iter().any(|name| match name.strip_suffix('[') {
        Some(prefix) => key.starts_with(prefix) && key[prefix.len()..].starts_with('['),
        None => key == *name,
    })
}

/// A short lowercase identifier, as libpq's parameter names are.
fn looks_like_a_name(key: &str) -> bool {
    (1..=32).contains(&key.len())
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(url: &str) -> Option<IgnoredParameter> {
        url.parse::<ConnectionString>()
            .unwrap()
            .ignored_parameter(SQLX_POSTGRES_PARAMETERS)
    }

    #[test]
    fn every_parameter_the_driver_reads_passes_and_others_are_named_when_safe() {
        assert_eq!(
            ignored("postgres://a@db/n?sslmode=verify-full&sslrootcert=/ca&options[search_path]=x"),
            None
        );
        assert_eq!(ignored("postgres://a@db/n"), None);
        assert_eq!(
            ignored("postgres://a@db/n?sslmode=require&connect_timeout=abc"),
            Some(IgnoredParameter::Named("connect_timeout".to_owned()))
        );
        assert_eq!(
            ignored("postgres://a@db/n?Canary-Bare-Key-51f3"),
            Some(IgnoredParameter::Unnamed)
        );
        assert_eq!(
            ignored("postgres://a@db/n?optionsx=1"),
            Some(IgnoredParameter::Named("optionsx".to_owned()))
        );
    }
}
