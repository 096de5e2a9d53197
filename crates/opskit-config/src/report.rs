//! The report of a failed load: every problem, plus warnings.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// What is wrong with one variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// A required variable is not set.
    #[error("is not set, and this setting has no default")]
    Missing,
    /// A required variable is set to the empty string.
    #[error("is set but empty, and this setting has no default")]
    Empty,
    /// The value does not parse as the field's type.
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
    /// The value is valid on its own but not allowed in this deployment (a rule of
    /// the service, such as "production needs an API token").
    #[error("{reason}")]
    NotAllowed {
        /// Why, and what to do.
        reason: String,
    },
    /// The default written in the code does not parse: a bug in the service, not in
    /// its environment.
    #[error(
        "the default {default:?} in the code is not valid: {reason}; this is a bug in the service, not in its environment"
    )]
    InvalidDefault {
        /// The default as written in `#[config(default = "...")]`.
        default: String,
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
        write!(f, " (expected {}", self.expected)?;
        if self.secret {
            f.write_str(", secret")?;
        }
        f.write_str(")")
    }
}

/// Something suspicious that does not stop the service: a variable with the
/// config's prefix that no setting reads, most often a typo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// The variable that is set.
    pub variable: String,
    /// The known variable it most likely meant, if one is close.
    pub suggestion: Option<String>,
    /// When the variable is `NAME_FILE` for a setting that is not a secret, that
    /// setting's variable (only secrets can be read from files).
    pub not_a_secret: Option<String>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(setting) = &self.not_a_secret {
            return write!(
                f,
                "{} is not a setting: {setting} is not a secret, so it is read only from {setting}",
                self.variable
            );
        }
        match &self.suggestion {
            Some(suggestion) => write!(
                f,
                "{} is not a setting; did you mean {suggestion}?",
                self.variable
            ),
            None => write!(
                f,
                "{} is not a setting of this service and is ignored",
                self.variable
            ),
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
        std::process::exit(crate::exit::CONFIG)
    }

    /// The problems, in the order of the struct's fields. Never empty.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Variables that are set with the prefix but read by no setting.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The exit code a service should stop with: [`exit::CONFIG`](crate::exit::CONFIG) (78).
    pub fn exit_code(&self) -> i32 {
        crate::exit::CONFIG
    }

    /// Emits the report as one `tracing` error event, `event = "config.invalid"`, with
    /// the fields `problem_count`, `variables` (comma-separated names) and `problems`
    /// (a JSON array of [`Problem`]s), and each warning as a `config.unknown_variable`
    /// warning event.
    pub fn log(&self) {
        crate::load::log_warnings(&self.warnings);
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
