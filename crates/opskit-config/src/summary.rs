//! The redacted summary of a loaded configuration, for the startup log.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What `[REDACTED]` secrets look like in the summary.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The environment variable.
    Env,
    /// The file named by the `_FILE` variable (secrets only).
    File,
    /// The default written in the code.
    Default,
    /// Not set, and optional: the field is `None`.
    Unset,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Env => "env",
            Self::File => "file",
            Self::Default => "default",
            Self::Unset => "unset",
        })
    }
}

/// Serializes a path as text, replacing bytes that are not UTF-8, so a report with an
/// odd path still serializes.
pub(crate) fn lossy_path<S: serde::Serializer>(
    path: &Path,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

fn lossy_optional_path<S: serde::Serializer>(
    path: &Option<&Path>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => lossy_path(path, serializer),
        None => serializer.serialize_none(),
    }
}

/// One setting of a [`Summary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SummaryEntry<'a> {
    /// The full variable name.
    pub variable: &'a str,
    /// The value as it may be shown: the text of a plain setting (cut after 80
    /// characters), `[REDACTED]` for a secret, the masked URL for a
    /// [`ConnectionString`](opskit_secret::ConnectionString); `None` when unset.
    pub value: Option<&'a str>,
    /// Where the value came from.
    pub source: Source,
    /// The file read, when the source is [`Source::File`].
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "lossy_optional_path"
    )]
    pub file: Option<&'a Path>,
    /// Whether the setting is a secret.
    pub secret: bool,
}

impl fmt::Display for SummaryEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(value) => write!(f, "{}={value}", self.variable)?,
            None => f.write_str(self.variable)?,
        }
        match self.file {
            Some(file) => write!(f, " (file {})", file.display()),
            None => write!(f, " ({})", self.source),
        }
    }
}

/// A summary entry as stored: ranges into the summary's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredEntry {
    pub(crate) variable: Range<usize>,
    pub(crate) value: Option<Range<usize>>,
    pub(crate) source: Source,
    pub(crate) file: Option<PathBuf>,
    pub(crate) secret: bool,
}

/// Every setting of a loaded configuration with its value and source, secrets shown
/// as `[REDACTED]`: safe to log at startup.
///
/// `Display` writes one setting per line (`APP_PORT=8080 (default)`); `Serialize`
/// gives a list of [`SummaryEntry`] objects for a JSON log.
///
/// ```
/// use opskit_config::{Config, Source};
/// use opskit_secret::{ConnectionString, SecretString};
///
/// #[derive(Config)]
/// #[config(prefix = "APP_")]
/// struct Settings {
///     /// Port.
///     #[config(default = "8080")]
///     port: u16,
///     /// Token.
///     token: SecretString,
///     /// Database.
///     database_url: ConnectionString,
///     /// Optional banner.
///     banner: Option<String>,
/// }
///
/// let loaded = Settings::from_pairs([
///     ("APP_TOKEN", "t0ken"),
///     ("APP_DATABASE_URL", "postgres://app:pw@db/notes"),
/// ])?;
/// assert_eq!(
///     loaded.summary().to_string(),
///     "APP_PORT=8080 (default)\n\
///      APP_TOKEN=[REDACTED] (env)\n\
///      APP_DATABASE_URL=postgres://app:***@db/notes (env)\n\
///      APP_BANNER (unset)"
/// );
/// assert_eq!(loaded.summary().get("APP_PORT").unwrap().source, Source::Default);
/// # Ok::<(), opskit_config::ConfigError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Every name and shown value, one after the other (one allocation for all).
    text: String,
    entries: Vec<StoredEntry>,
}

impl Summary {
    pub(crate) fn new(text: String, entries: Vec<StoredEntry>) -> Self {
        Self { text, entries }
    }

    /// The settings, in the order of the struct's fields.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = SummaryEntry<'_>> + '_ {
        self.entries.iter().map(|entry| SummaryEntry {
            variable: &self.text[entry.variable.clone()],
            value: entry.value.clone().map(|range| &self.text[range]),
            source: entry.source,
            file: entry.file.as_deref(),
            secret: entry.secret,
        })
    }

    /// The entry of one variable.
    pub fn get(&self, variable: &str) -> Option<SummaryEntry<'_>> {
        self.entries().find(|e| e.variable == variable)
    }

    /// The number of settings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no settings.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The summary as a JSON value (a list of objects), for a structured log field.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Serialize for Summary {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.entries())
    }
}

impl fmt::Debug for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}
