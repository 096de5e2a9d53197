//! The redacted summary of a loaded configuration, for the startup log.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

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

/// One setting of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryEntry {
    /// The full variable name.
    pub variable: String,
    /// The value as it may be shown: the text of a plain setting (truncated when
    /// long), `[REDACTED]` for a secret, the masked URL for a
    /// [`ConnectionString`](opskit_secret::ConnectionString); `None` when unset.
    pub value: Option<String>,
    /// Where the value came from.
    pub source: Source,
    /// The file read, when the source is [`Source::File`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Whether the setting is a secret.
    pub secret: bool,
}

impl fmt::Display for SummaryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={value}", self.variable)?,
            None => write!(f, "{}", self.variable)?,
        }
        match &self.file {
            Some(file) => write!(f, " (file {})", file.display()),
            None => write!(f, " ({})", self.source),
        }
    }
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Summary {
    entries: Vec<SummaryEntry>,
}

impl Summary {
    pub(crate) fn new(entries: Vec<SummaryEntry>) -> Self {
        Self { entries }
    }

    /// The settings, in the order of the struct's fields.
    pub fn entries(&self) -> &[SummaryEntry] {
        &self.entries
    }

    /// The entry of one variable.
    pub fn get(&self, variable: &str) -> Option<&SummaryEntry> {
        self.entries.iter().find(|e| e.variable == variable)
    }

    /// The summary as a JSON value (a list of objects), for a structured log field.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}
