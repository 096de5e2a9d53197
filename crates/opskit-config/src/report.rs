//! The report of a failed load: every problem, plus warnings.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::warnings::{Warning, log_warnings};

/// What is wrong with one variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// A required variable is not set.
    #[error("is not set, and this setting has no default")]
    Missing,
    /// A required variable is set to the empty string (or only whitespace).
    #[error("is set but empty (or only whitespace), and this setting has no default")]
    Empty,
    /// The value does not parse as the field's type, is outside its
    /// `#[config(range = "...")]`, or breaks a rule across settings.
    #[error("{}{reason}", match value { Some(value) => format!("invalid value {value}: "), None => "invalid value: ".to_owned() })]
    Invalid {
        /// The value, quoted and truncated; `None` for a secret, whose value is never shown.
        value: Option<String>,
        /// Why it was refused, in words that do not contain a secret's value.
        reason: String,
    },
    /// The value is not valid UTF-8.
    #[error("is not valid UTF-8; set it to text")]
    NotUnicode,
    /// Both `VAR` and `VAR_FILE` are set for a secret.
    #[error("is set, and so is {file_variable}; set only one of them")]
    BothSet {
        /// The `_FILE` variable that is also set.
        file_variable: String,
    },
    /// The file named by `VAR_FILE` could not be read.
    #[error("{message}")]
    SecretFile {
        /// The file named by the variable.
        #[serde(serialize_with = "crate::summary::lossy_path")]
        path: PathBuf,
        /// What is wrong with it (from [`opskit_secret::SecretFileError`]).
        message: String,
    },
    /// The value (or its absence) is valid on its own but breaks a rule of the
    /// service, such as "production needs an API token" (an [`Invalid`] of a
    /// setting that is unset).
    #[error("{reason}")]
    NotAllowed {
        /// Why, and what to do.
        reason: String,
    },
    /// The default written in the code does not parse, or is outside the setting's
    /// `#[config(range = "...")]`: a bug in the service, not in its environment.
    #[error(
        "the default {default:?} in the code is not valid: {reason}; this is a bug in the service, not in its environment"
    )]
    InvalidDefault {
        /// The default as written in `#[config(default = "...")]`.
        default: String,
        /// Why it was refused.
        reason: String,
    },
    /// The range written in the code (`#[config(range = "...")]`) does not parse,
    /// or its lower end is above its upper end: a bug in the service, not in its
    /// environment.
    #[error(
        "the range {range:?} in the code is not valid: {reason}; this is a bug in the service, not in its environment"
    )]
    InvalidRange {
        /// The range as written.
        range: String,
        /// Why it was refused.
        reason: String,
    },
}

/// One problem found while loading: which variable, what is wrong, what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The full variable name, prefix included (`APP_PORT`, or `APP_API_TOKEN_FILE`
    /// when the secret file is at fault).
    pub variable: String,
    /// What is wrong.
    #[serde(flatten)]
    pub kind: ProblemKind,
    /// The field's type as written in the struct (`u16`, `Option<Duration>`, ...).
    pub expected: &'static str,
    /// Whether the setting is a secret.
    pub secret: bool,
    /// The field's doc comment (first paragraph), or `""`.
    pub doc: &'static str,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.variable, self.kind)?;
        match (self.expected.is_empty(), self.secret) {
            (true, false) => Ok(()),
            (true, true) => f.write_str(" (secret)"),
            (false, secret) => {
                write!(f, " (expected {}", self.expected)?;
                if secret {
                    f.write_str(", secret")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Every problem found by one load, with the warnings.
///
/// `Display` writes the human report, one problem per line with its doc line under
/// it, for a person at a terminal; [`ConfigError::log`] emits it as one structured
/// `config.invalid` event for a log collector. Neither contains a secret's value.
///
/// ```
/// use opskit_config::Config;
///
/// #[derive(Config)]
/// #[config(prefix = "APP_")]
/// struct Settings {
///     /// TCP port to listen on.
///     port: u16,
///     /// Number of worker threads.
///     workers: u8,
/// }
///
/// let err = Settings::from_pairs([("APP_WORKERS", "many"), ("APP_PROT", "80")]).unwrap_err();
/// assert_eq!(err.problems().len(), 2);
/// assert_eq!(
///     err.to_string(),
///     "invalid configuration: 2 problems\n\
///      \x20 APP_PORT is not set, and this setting has no default (expected u16)\n\
///      \x20     TCP port to listen on.\n\
///      \x20 APP_WORKERS invalid value \"many\": expected a whole number from 0 to 255 (expected u8)\n\
///      \x20     Number of worker threads.\n\
///      warning: APP_PROT is not a setting; did you mean APP_PORT?\n\
///      Fix the variables above and start the service again."
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    problems: Vec<Problem>,
    warnings: Vec<Warning>,
}

impl ConfigError {
    pub(crate) fn new(problems: Vec<Problem>, warnings: Vec<Warning>) -> Self {
        Self { problems, warnings }
    }

    /// A report of problems a service found itself, after loading: rules across
    /// settings, such as "production refuses the embedded database". It is reported
    /// exactly like a load failure. Returns `None` when `problems` is empty.
    pub fn from_problems(problems: Vec<Problem>) -> Option<Self> {
        (!problems.is_empty()).then(|| Self::new(problems, Vec::new()))
    }

    /// Logs the report ([`log`](Self::log)), writes it on stderr, and exits with
    /// [`exit::CONFIG`](crate::exit::CONFIG) (78): what
    /// [`Config::from_env_or_exit`](crate::Config::from_env_or_exit) does on failure.
    pub fn exit(&self) -> ! {
        self.log();
        eprintln!("{self}");
        std::process::exit(opskit_exit::CONFIG)
    }

    /// The problems, in the order of the struct's fields, then those of each
    /// `rule` in the order the rules are written, then those of `validate`. Never
    /// empty.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Variables that are set with the prefix but read by no setting, and secret
    /// files others can read.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The exit code a service should stop with: [`exit::CONFIG`](crate::exit::CONFIG) (78).
    pub fn exit_code(&self) -> i32 {
        opskit_exit::CONFIG
    }

    /// Emits the report as one `tracing` error event, `event = "config.invalid"`, with
    /// the fields `problem_count`, `variables` (comma-separated names) and `problems`
    /// (a JSON array of [`Problem`]s), and each warning as a warning event (see
    /// [`Warning::event`]).
    pub fn log(&self) {
        log_warnings(&self.warnings);
        let variables: Vec<&str> = self.problems.iter().map(|p| p.variable.as_str()).collect();
        let problems = serde_json::to_string(&self.problems)
            .unwrap_or_else(|e| format!("[problems could not be serialized: {e}]"));
        tracing::error!(
            event = "config.invalid",
            problem_count = self.problems.len(),
            variables = %variables.join(","),
            problems = %problems,
            "invalid configuration: {} ({}); the service will not start",
            plural(self.problems.len(), "problem"),
            variables.join(", "),
        );
    }
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration: {}",
            plural(self.problems.len(), "problem")
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
            if !problem.doc.is_empty() {
                write!(f, "\n      {}", problem.doc)?;
            }
        }
        for warning in &self.warnings {
            write!(f, "\nwarning: {warning}")?;
        }
        f.write_str("\nFix the variables above and start the service again.")
    }
}

impl std::error::Error for ConfigError {}

/// A rule a loaded value breaks that its type alone cannot check (a pool's largest
/// size below its smallest, a URL scheme the service was not built for), returned by
/// the function of a `#[config(rule(check(a, b)))]` (or of
/// `#[config(validate = "...")]`). It becomes a [`Problem`] of the field's variable,
/// reported with every other problem (exit 78): `invalid value` with the value
/// (never a secret's) when the setting is set, [`ProblemKind::NotAllowed`] when not.
///
/// ```
/// use opskit_config::{Config, Invalid};
///
/// /// The service's settings.
/// #[derive(Config)]
/// #[config(prefix = "APP_")]
/// #[config(rule(pool_bounds(min_connections, max_connections)))]
/// struct Settings {
///     /// Smallest pool size.
///     #[config(default = "1")]
///     min_connections: u32,
///     /// Largest pool size.
///     #[config(default = "10")]
///     max_connections: u32,
///     /// TCP port to listen on.
///     #[config(default = "8080")]
///     port: u16,
/// }
///
/// fn pool_bounds(min_connections: &u32, max_connections: &u32) -> Vec<Invalid> {
///     let mut invalid = Vec::new();
///     if max_connections < min_connections {
///         invalid.push(Invalid::new(
///             "max_connections",
///             "is below APP_MIN_CONNECTIONS; raise it or lower that",
///         ));
///     }
///     invalid
/// }
///
/// // The rule's problem comes with the port's: the rule's fields parsed.
/// let err = Settings::from_pairs([("APP_MAX_CONNECTIONS", "0"), ("APP_PORT", "http")])
///     .unwrap_err();
/// assert_eq!(err.problems()[0].variable, "APP_PORT");
/// assert_eq!(err.problems()[1].variable, "APP_MAX_CONNECTIONS");
/// assert!(err.to_string().contains(
///     "APP_MAX_CONNECTIONS invalid value \"0\": is below APP_MIN_CONNECTIONS"
/// ));
/// # let loaded = Settings::from_pairs([("APP_MAX_CONNECTIONS", "1")]).unwrap();
/// # assert_eq!((loaded.min_connections, loaded.max_connections, loaded.port), (1, 1, 8080));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The Rust name of the field at fault (`max_connections`), or, for a rule on a
    /// variable the struct does not read, that variable's name in capitals
    /// (`LOG_FORMAT`).
    pub field: &'static str,
    /// Why, and what to do, in words that do not quote a secret.
    pub reason: String,
}

impl Invalid {
    /// The field `field` breaks a rule: `reason` says which and what to do.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
