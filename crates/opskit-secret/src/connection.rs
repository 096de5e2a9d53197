//! Connection strings whose password is masked when printed.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Query parameters whose values are masked, compared without regard to case.
const SECRET_QUERY_KEYS: &[&str] = &["password", "sslpassword"];

/// The mask written in place of a password.
const MASK: &str = "***";

/// A connection URL (`DATABASE_URL`, `REDIS_URL`, ...) that holds a password.
///
/// `Debug` and `Display` print the URL with the password, and any `password=` or
/// `sslpassword=` query parameter, replaced by `***`, so the value can go into a
/// startup log and an operator can see which host and database the service uses.
/// The full value is available only through [`ExposeSecret::expose_secret`].
///
/// It parses from a string ([`FromStr`], [`TryFrom<String>`], serde's `Deserialize`);
/// a parse error never contains the input.
///
/// ```
/// use opskit_secret::{ConnectionString, ExposeSecret};
///
/// let url: ConnectionString =
///     "postgres://app:pw@db:5432/notes?sslmode=require&sslpassword=k3y".parse()?;
/// assert_eq!(
///     url.to_string(),
///     "postgres://app:***@db:5432/notes?sslmode=require&sslpassword=***"
/// );
/// assert_eq!(url.scheme(), "postgres");
/// assert_eq!(url.host(), Some("db"));
/// assert!(url.expose_secret().contains("pw@db"));
///
/// let err = "not a url: pw".parse::<ConnectionString>().unwrap_err();
/// assert!(!err.to_string().contains("pw"));
/// # Ok::<(), opskit_secret::ConnectionStringError>(())
/// ```
#[derive(Clone)]
pub struct ConnectionString {
    secret: SecretString,
    masked: String,
    scheme: String,
    host: Option<String>,
}

impl ConnectionString {
    /// Parses a connection URL.
    ///
    /// # Errors
    ///
    /// [`ConnectionStringError`] when the value is empty or not a URL with a scheme.
    /// The error never contains the value.
    pub fn parse(value: &str) -> Result<Self, ConnectionStringError> {
        if value.trim().is_empty() {
            return Err(ConnectionStringError::Empty);
        }
        let url = Url::parse(value).map_err(ConnectionStringError::NotAUrl)?;
        check_shape(&url)?;
        Ok(Self {
            masked: mask(&url),
            scheme: url.scheme().to_owned(),
            host: url.host_str().map(str::to_owned),
            secret: SecretString::from(value),
        })
    }

    /// The URL with its password masked; the same text as `Display`.
    pub fn masked(&self) -> &str {
        &self.masked
    }

    /// `text` with every secret part of this URL replaced by `***`: the password and
    /// secret query parameters, as written in the URL, as a URL parser re-encodes
    /// them, and percent-decoded. See [`scrub_url_secrets`].
    ///
    /// ```
    /// use opskit_secret::ConnectionString;
    ///
    /// let url: ConnectionString = "postgres://app:p%40ss@db/notes".parse()?;
    /// assert_eq!(
    ///     url.scrub("login failed with p@ss (p%40ss)"),
    ///     "login failed with *** (***)"
    /// );
    /// # Ok::<(), opskit_secret::ConnectionStringError>(())
    /// ```
    pub fn scrub(&self, text: &str) -> String {
        scrub_url_secrets(self.secret.expose_secret(), text)
    }

    /// The URL scheme (`postgres`, `sqlite`, `redis`, ...), for choosing a driver.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The host, when the URL has one.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
}

/// Refuses URLs whose masked form could still show part of a password: a password
/// written without `//` or with an unencoded `@` or `#` ends up in the path, query or
/// fragment, where masking cannot find it.
fn check_shape(url: &Url) -> Result<(), ConnectionStringError> {
    let file_like = matches!(url.scheme(), "sqlite" | "file");
    if !file_like && (url.cannot_be_a_base() || url.host().is_none()) {
        return Err(ConnectionStringError::NoHost);
    }
    let after_host = [Some(url.path()), url.query()];
    if after_host.iter().flatten().any(|part| part.contains('@')) {
        return Err(ConnectionStringError::StrayAt);
    }
    if url.fragment().is_some() {
        return Err(ConnectionStringError::Fragment);
    }
    Ok(())
}

/// Serializes the URL with the password masked.
fn mask(url: &Url) -> String {
    let mut masked = url.clone();
    if url.password().is_some() {
        // Only URLs that cannot carry credentials refuse this, and those have none.
        let _ = masked.set_password(Some(MASK));
    }
    let has_secret_param = url.query_pairs().any(|(key, _)| is_secret_key(&key));
    if has_secret_param {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_key(&key) {
                    MASK.to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        masked.query_pairs_mut().clear().extend_pairs(pairs);
    }
    masked.into()
}

/// `text` with the secret parts of the connection URL `url` replaced by `***`: its
/// password and its `password=` / `sslpassword=` query values, each as written, as
/// a URL parser re-encodes it, and percent-decoded (as a driver sends it).
///
/// For messages this crate does not control, such as a database driver's error. It
/// works on URLs [`ConnectionString::parse`] refuses, too, since a driver may accept
/// them. Secrets shorter than four characters are left alone: replacing every `2` or
/// `ab` in a message would garble it and hide nothing worth hiding.
///
/// ```
/// use opskit_secret::scrub_url_secrets;
///
/// let url = "postgres://app:s3cr%3Ft@db/notes?sslpassword=k3y-pass";
/// assert_eq!(
///     scrub_url_secrets(url, "s3cr?t, s3cr%3Ft, k3y-pass, app@db"),
///     "***, ***, ***, app@db"
/// );
/// ```
pub fn scrub_url_secrets(url: &str, text: &str) -> String {
    let mut scrubbed = text.to_owned();
    for secret in &url_secret_forms(url) {
        if scrubbed.contains(secret.as_str()) {
            scrubbed = scrubbed.replace(secret.as_str(), MASK);
        }
    }
    scrubbed
}

/// The secrets of `url` (its password and secret query values) in every form they
/// may be quoted in: as written, as a URL parser re-encodes them, percent-decoded;
/// at least four characters each, longest first.
pub(crate) fn url_secret_forms(url: &str) -> Vec<String> {
    let mut secrets = raw_url_secrets(url);
    if let Ok(parsed) = Url::parse(url) {
        if let Some(password) = parsed.password() {
            secrets.push(password.to_owned());
        }
        secrets.extend(
            parsed
                .query_pairs()
                .filter(|(key, _)| is_secret_key(key))
                .map(|(_, value)| value.into_owned()),
        );
    }
    let decoded: Vec<String> = secrets
        .iter()
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    secrets.extend(decoded);
    secrets.retain(|s| s.chars().count() >= 4);
    // Longest first, so a secret that contains another is replaced whole.
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    secrets.dedup();
    secrets
}

/// The password and secret query values exactly as written in `url`, found without
/// a URL parser (which would re-encode them, or refuse the URL).
fn raw_url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        secrets.push(password.to_owned());
    }
    if let Some((_, query)) = url.split_once('?') {
        let query = query.split('#').next().unwrap_or_default();
        for pair in query.split('&') {
            if let Some((key, value)) = pair.split_once('=')
                && is_secret_key(key)
            {
                secrets.push(value.to_owned());
            }
        }
    }
    secrets
}

fn is_secret_key(key: &str) -> bool {
    SECRET_QUERY_KEYS
        .iter()
        .any(|secret| key.eq_ignore_ascii_case(secret))
}

impl ExposeSecret<str> for ConnectionString {
    fn expose_secret(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl fmt::Display for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked)
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectionString")
            .field(&self.masked)
            .finish()
    }
}

impl FromStr for ConnectionString {
    type Err = ConnectionStringError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

impl TryFrom<String> for ConnectionString {
    type Error = ConnectionStringError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let value = zeroize::Zeroizing::new(value);
        Self::parse(&value)
    }
}

impl<'de> serde::Deserialize<'de> for ConnectionString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ConnectionString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a connection URL such as postgres://user:password@host:5432/database")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
                // `invalid_value` rather than `custom`: the message is ours and never
                // contains the value, and deserializers may treat `custom` text as
                // possibly quoting it.
                ConnectionString::parse(value).map_err(|err| {
                    E::invalid_value(
                        serde::de::Unexpected::Other("connection string"),
                        &err.to_string().as_str(),
                    )
                })
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Why a connection string was refused. Never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionStringError {
    /// The value is empty or only whitespace.
    #[error(
        "the connection string is empty; expected a URL such as postgres://user:password@host:5432/database"
    )]
    Empty,
    /// The value is not a URL.
    #[error(
        "not a URL ({0}); expected a form such as postgres://user:password@host:5432/database or sqlite://data/app.db"
    )]
    NotAUrl(url::ParseError),
    /// The URL has no host (and is not a `sqlite:` or `file:` URL).
    #[error(
        "the connection URL has no host; expected scheme://user:password@host:port/database (is the `//` after the scheme missing?)"
    )]
    NoHost,
    /// An `@` after the host: most often an unencoded `@` in the password.
    #[error(
        "the connection URL has an `@` after the host; percent-encode `@` in the user name or password as %40"
    )]
    StrayAt,
    /// A `#` fragment: most often an unencoded `#` in the password.
    #[error("the connection URL has a `#` fragment; percent-encode `#` in the password as %23")]
    Fragment,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(value: &str) -> String {
        ConnectionString::parse(value).unwrap().to_string()
    }

    #[test]
    fn masks_the_password_in_userinfo() {
        assert_eq!(
            masked("postgres://app:pw@db:5432/notes"),
            "postgres://app:***@db:5432/notes"
        );
        assert_eq!(
            masked("redis://:pw@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
    }

    #[test]
    fn scrub_replaces_the_password_in_every_form_it_may_be_quoted() {
        let url = ConnectionString::parse(
            "postgres://app:s3cr%3Ft@db/notes?sslpassword=k%2By-pass&PASSWORD=other-pw",
        )
        .unwrap();
        assert_eq!(
            url.scrub("s3cr?t / s3cr%3Ft / k+y-pass / k%2By-pass / other-pw / app@db"),
            "*** / *** / *** / *** / *** / app@db"
        );
        let plain = ConnectionString::parse("sqlite://data/notes.db?mode=rwc").unwrap();
        assert_eq!(plain.scrub("mode=rwc"), "mode=rwc");
    }

    #[test]
    fn scrub_finds_the_password_as_written_not_only_as_a_parser_re_encodes_it() {
        // url re-encodes `=` in userinfo as %3D and decodes nothing: the raw form
        // `p=ss%21` would otherwise survive.
        let url = ConnectionString::parse("postgres://app:p=ss%21word@db/notes").unwrap();
        assert_eq!(
            url.scrub("raw p=ss%21word, decoded p=ss!word, re-encoded p%3Dss%21word"),
            "raw ***, decoded ***, re-encoded ***"
        );
    }

    #[test]
    fn scrub_works_on_urls_the_parser_refuses_and_spares_tiny_values() {
        // A fragment makes ConnectionString refuse the URL; a driver may take it.
        assert_eq!(
            scrub_url_secrets("postgres://app:hunter22@db/notes#x", "auth hunter22 failed"),
            "auth *** failed"
        );
        assert_eq!(
            scrub_url_secrets("postgres://app:2@db/notes", "version 2 of 12"),
            "version 2 of 12"
        );
    }

    #[test]
    fn masks_password_query_parameters_in_any_case() {
        assert_eq!(
            masked("postgres://db/notes?user=app&Password=pw&sslmode=require&SSLPASSWORD=k"),
            "postgres://db/notes?user=app&Password=***&sslmode=require&SSLPASSWORD=***"
        );
    }

    #[test]
    fn leaves_urls_without_credentials_alone() {
        assert_eq!(masked("postgres://app@db/notes"), "postgres://app@db/notes");
        assert_eq!(
            masked("sqlite://data/notes.db?mode=rwc"),
            "sqlite://data/notes.db?mode=rwc"
        );
        assert_eq!(masked("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn masks_passwords_with_reserved_characters() {
        let url = ConnectionString::parse("postgres://app:p@ss:w%2Frd@db/notes").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db/notes");
        assert_eq!(
            format!("{url:?}"),
            "ConnectionString(\"postgres://app:***@db/notes\")"
        );
        assert_eq!(url.expose_secret(), "postgres://app:p@ss:w%2Frd@db/notes");
    }

    #[test]
    fn refuses_shapes_that_would_show_part_of_a_password() {
        use ConnectionStringError::*;
        let err = |value| ConnectionString::parse(value).unwrap_err();
        assert_eq!(err("app:secret@db/notes"), NoHost);
        assert_eq!(err("postgres:app:secret@db/notes"), NoHost);
        assert!(matches!(err("postgres://app:se/cret@db/notes"), NotAUrl(_)));
        assert_eq!(err("postgres://app@db/se@cret"), StrayAt);
        assert_eq!(err("postgres://db/notes?user=a@b"), StrayAt);
        assert_eq!(err("postgres://app@db/notes#cret"), Fragment);
        assert!(ConnectionString::parse("sqlite:data/notes.db").is_ok());
        assert!(ConnectionString::parse("file:/srv/db").is_ok());
    }

    #[test]
    fn errors_do_not_contain_the_value() {
        for value in [
            "pw-canary-123",
            "db:pw-canary-123@",
            "app:pw-canary-123@db/notes",
            "postgres://app:pw-canary-123/x@db/notes",
            "postgres://app:pw-canary#123@db/notes",
            "postgres://app:pw-canary-123@db/notes#x",
            "   ",
            "",
        ] {
            // Every input's password starts with `pw-canary` (`pw-canary-123`,
            // `pw-canary#123`): no part of it may be quoted.
            let err = ConnectionString::parse(value).unwrap_err();
            assert!(!err.to_string().contains("pw-canary"), "{err}");
        }
        let err = serde_json::from_str::<ConnectionString>("\"pw-canary-123\"").unwrap_err();
        assert!(!err.to_string().contains("pw-canary"), "{err}");
    }
}
