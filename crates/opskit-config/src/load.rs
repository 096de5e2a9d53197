//! Loading: every field read, every problem collected, then one verdict.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use opskit_secret::{ExposeSecret, SecretFile};
use serde::de::DeserializeOwned;

use crate::Config;
use crate::de::{ValueError, from_missing, from_value};
use crate::env::Environment;
use crate::__private::{DefaultSpec, FieldSpec};
use crate::report::{ConfigError, Problem, ProblemKind, Warning};
use crate::summary::{Source, Summary, SummaryEntry};
use crate::typo;

/// Longest plain value quoted in an error or shown in the summary, in characters.
const MAX_SHOWN_CHARS: usize = 80;

/// What `[REDACTED]` secrets look like in the summary.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// A loaded configuration with its [`Summary`] and [`Warning`]s.
///
/// Dereferences to the configuration itself.
pub struct Loaded<T> {
    config: T,
    summary: Summary,
    warnings: Vec<Warning>,
}

impl<T> Loaded<T> {
    /// The redacted summary, for the startup log.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Variables that carry the prefix but match no setting (typos, most often).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Emits each warning as a `config.unknown_variable` warning event.
    pub fn log_warnings(&self) {
        log_warnings(&self.warnings);
    }

    /// The configuration.
    pub fn into_inner(self) -> T {
        self.config
    }

    /// The configuration, the summary and the warnings.
    pub fn into_parts(self) -> (T, Summary, Vec<Warning>) {
        (self.config, self.summary, self.warnings)
    }
}

impl<T> Deref for Loaded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.config
    }
}

impl<T> DerefMut for Loaded<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.config
    }
}

/// Shows the summary and warnings only: the configuration may hold values whose
/// `Debug` is not redacted.
impl<T> fmt::Debug for Loaded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("summary", &self.summary)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

pub(crate) fn log_warnings(warnings: &[Warning]) {
    for warning in warnings {
        tracing::warn!(
            event = "config.unknown_variable",
            variable = %warning.variable,
            suggestion = warning.suggestion.as_deref(),
            "{warning}"
        );
    }
}

/// Loads `T` from `env`: every field is read, every problem collected.
pub(crate) fn load<T: Config>(env: &Environment) -> Result<Loaded<T>, ConfigError> {
    let mut loader = Loader::new(env);
    let config = T::__load(&mut loader, T::PREFIX);
    let warnings = loader.unknown_variables(T::PREFIX);
    match config {
        Some(config) if loader.problems.is_empty() => Ok(Loaded {
            config,
            summary: Summary::new(loader.entries),
            warnings,
        }),
        _ => Err(ConfigError::new(loader.problems, warnings)),
    }
}

/// Reads fields for generated code and collects problems and summary entries.
#[doc(hidden)]
#[derive(Debug)]
pub struct Loader<'e> {
    env: &'e Environment,
    problems: Vec<Problem>,
    entries: Vec<SummaryEntry>,
    /// Every variable name read, with whether it is a secret.
    known: Vec<(String, bool)>,
}

/// Where the text of a value came from.
enum Text<'a> {
    Env(&'a str),
    File(opskit_secret::SecretString, PathBuf),
}

impl<'e> Loader<'e> {
    fn new(env: &'e Environment) -> Self {
        Self {
            env,
            problems: Vec::new(),
            entries: Vec::new(),
            known: Vec::new(),
        }
    }

    /// Reads one field. `None` when it has a problem (already recorded).
    pub fn field<T: DeserializeOwned>(
        &mut self,
        prefix: &str,
        spec: &'static FieldSpec,
        secret: bool,
        type_default: Option<fn() -> T>,
        redact: fn(&T) -> Option<String>,
    ) -> Option<T> {
        let env = self.env;
        let variable = spec.name.full(prefix);
        let file_variable = secret.then(|| format!("{variable}_FILE"));
        let set = |name: &str| env.get(name).filter(|value| !value.is_empty());
        let value = set(&variable);
        let file = file_variable
            .as_deref()
            .and_then(|name| set(name).map(|path| (name, path)));

        let problem = |variable: &str, kind| Problem {
            variable: variable.to_owned(),
            kind,
            expected: spec.ty,
            secret,
            doc: spec.doc,
        };
        let result = match (value, file) {
            (Some(_), Some((file_variable, _))) => Err(problem(
                &variable,
                ProblemKind::BothSet {
                    file_variable: file_variable.to_owned(),
                },
            )),
            (None, Some((file_variable, path))) => {
                let path = PathBuf::from(path);
                match SecretFile::new(&path).read_string() {
                    Ok(secret) => Ok(Some(Text::File(secret, path))),
                    Err(err) => Err(problem(
                        file_variable,
                        ProblemKind::SecretFile {
                            path,
                            message: err.to_string(),
                        },
                    )),
                }
            }
            (Some(value), None) => match value.to_str() {
                Some(text) => Ok(Some(Text::Env(text))),
                None => Err(problem(&variable, ProblemKind::NotUnicode)),
            },
            (None, None) => Ok(None),
        };

        let outcome = match result {
            Err(problem) => Err(problem),
            Ok(Some(Text::Env(text))) => {
                self.parse(&variable, text, Source::Env, None, secret, redact)
                    .map_err(|kind| problem(&variable, kind))
            }
            Ok(Some(Text::File(text, path))) => self
                .parse(&variable, text.expose_secret(), Source::File, Some(path), secret, redact)
                .map_err(|kind| problem(&variable, kind)),
            Ok(None) => {
                let was_empty = env.get(&variable).is_some_and(OsStr::is_empty);
                self.unset(&variable, spec, secret, type_default, was_empty)
                    .map_err(|kind| problem(&variable, kind))
            }
        };
        self.known.push((variable, secret));
        match outcome {
            Ok(value) => Some(value),
            Err(problem) => {
                self.problems.push(problem);
                None
            }
        }
    }

    /// Parses a value that is set, recording its summary entry.
    fn parse<T: DeserializeOwned>(
        &mut self,
        variable: &str,
        text: &str,
        source: Source,
        file: Option<PathBuf>,
        secret: bool,
        redact: fn(&T) -> Option<String>,
    ) -> Result<T, ProblemKind> {
        match from_value::<T>(text) {
            Ok(value) => {
                let shown = if secret {
                    redact(&value).unwrap_or_else(|| REDACTED.to_owned())
                } else {
                    truncate(text)
                };
                self.record(variable, Some(shown), source, file, secret);
                Ok(value)
            }
            Err(err) => Err(ProblemKind::Invalid {
                value: (!secret).then(|| format!("{:?}", truncate(text))),
                reason: reason(&err, text, secret),
            }),
        }
    }

    /// Resolves a field whose variable is not set: default, `None`, or missing.
    fn unset<T: DeserializeOwned>(
        &mut self,
        variable: &str,
        spec: &'static FieldSpec,
        secret: bool,
        type_default: Option<fn() -> T>,
        was_empty: bool,
    ) -> Result<T, ProblemKind> {
        let shown = |text: &str| {
            if secret {
                REDACTED.to_owned()
            } else {
                truncate(text)
            }
        };
        match (spec.default, type_default) {
            (DefaultSpec::Literal(literal), _) => match from_value::<T>(literal) {
                Ok(value) => {
                    self.record(variable, Some(shown(literal)), Source::Default, None, secret);
                    Ok(value)
                }
                Err(err) => Err(ProblemKind::InvalidDefault {
                    default: if secret { REDACTED.to_owned() } else { literal.to_owned() },
                    reason: reason(&err, literal, secret),
                }),
            },
            (_, Some(type_default)) => {
                self.record(
                    variable,
                    Some(shown("Default::default()")),
                    Source::Default,
                    None,
                    secret,
                );
                Ok(type_default())
            }
            _ => match from_missing::<T>() {
                Ok(value) => {
                    self.record(variable, None, Source::Unset, None, secret);
                    Ok(value)
                }
                Err(_) if was_empty => Err(ProblemKind::Empty),
                Err(_) => Err(ProblemKind::Missing),
            },
        }
    }

    fn record(
        &mut self,
        variable: &str,
        value: Option<String>,
        source: Source,
        file: Option<PathBuf>,
        secret: bool,
    ) {
        self.entries.push(SummaryEntry {
            variable: variable.to_owned(),
            value,
            source,
            file,
            secret,
        });
    }

    /// Variables set with the root prefix that no field read.
    fn unknown_variables(&self, prefix: &str) -> Vec<Warning> {
        if prefix.is_empty() {
            return Vec::new();
        }
        let mut known: HashSet<&str> = self.known.iter().map(|(name, _)| name.as_str()).collect();
        let file_variables: Vec<String> = self
            .known
            .iter()
            .filter(|(_, secret)| *secret)
            .map(|(name, _)| format!("{name}_FILE"))
            .collect();
        known.extend(file_variables.iter().map(String::as_str));

        let mut warnings: Vec<Warning> = self
            .env
            .names()
            .filter(|name| name.starts_with(prefix) && !known.contains(name))
            .map(|name| {
                let not_a_secret = name
                    .strip_suffix("_FILE")
                    .filter(|stem| known.contains(stem))
                    .map(str::to_owned);
                let suggestion = match not_a_secret {
                    Some(_) => None,
                    None => typo::closest(
                        name,
                        prefix,
                        self.known.iter().map(|(name, _)| name.as_str()),
                    )
                    .map(str::to_owned),
                };
                Warning {
                    variable: name.to_owned(),
                    suggestion,
                    not_a_secret,
                }
            })
            .collect();
        warnings.sort_by(|a, b| a.variable.cmp(&b.variable));
        warnings
    }
}

/// The reason a value was refused. For a secret, a message from a third-party parser
/// (`serde::de::Error::custom`) is withheld when it quotes the value, or any eight
/// characters in a row of it.
fn reason(err: &ValueError, text: &str, secret: bool) -> String {
    if secret && err.custom && quotes(&err.message, text.trim()) {
        "the value does not parse as this type (the parser's message is withheld because it \
         quotes the secret)"
            .to_owned()
    } else {
        err.message.clone()
    }
}

/// Whether `message` contains `secret`, or a run of eight of its characters.
fn quotes(message: &str, secret: &str) -> bool {
    let chars: Vec<char> = secret.chars().collect();
    if chars.is_empty() {
        return false;
    }
    let window = chars.len().min(8);
    chars.windows(window).any(|run| {
        let run: String = run.iter().collect();
        message.contains(&run)
    })
}

/// At most [`MAX_SHOWN_CHARS`] characters of `text`, marked when cut.
fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}
