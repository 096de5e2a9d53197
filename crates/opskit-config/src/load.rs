//! Loading: every field read, every problem collected, then one verdict.

use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::ops::{Deref, DerefMut, Range};
use std::path::PathBuf;

use opskit_secret::{ExposeSecret, SecretFile};
use serde::de::DeserializeOwned;

use crate::__private::{DefaultSpec, FieldSpec};
use crate::Config;
use crate::de::{ValueError, from_missing, from_value};
use crate::env::Environment;
use crate::report::{ConfigError, Problem, ProblemKind, Warning, WarningKind};
use crate::summary::{Source, StoredEntry, Summary};
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

/// Warnings logged while no subscriber was installed, for [`log_pending_warnings`].
static PENDING: std::sync::Mutex<Vec<Warning>> = std::sync::Mutex::new(Vec::new());

/// Logs each warning as a warning event; with no subscriber installed yet, keeps
/// them for [`log_pending_warnings`].
pub(crate) fn log_warnings(warnings: &[Warning]) {
    let no_subscriber =
        tracing::dispatcher::get_default(|d| d.is::<tracing::subscriber::NoSubscriber>());
    if no_subscriber {
        if let Ok(mut pending) = PENDING.lock() {
            pending.extend(warnings.iter().cloned());
        }
        return;
    }
    for warning in warnings {
        log_warning(warning);
    }
}

fn log_warning(warning: &Warning) {
    match &warning.kind {
        WarningKind::SharedSecretFile { path, mode } => tracing::warn!(
            event = "secret.file_permissions",
            variable = %warning.variable,
            path = %path.display(),
            mode = format_args!("{mode:04o}"),
            "{warning}"
        ),
        WarningKind::UnknownVariable { suggestion } => tracing::warn!(
            event = "config.unknown_variable",
            variable = %warning.variable,
            suggestion = suggestion.as_deref(),
            "{warning}"
        ),
        WarningKind::NotASecret { .. } => tracing::warn!(
            event = "config.unknown_variable",
            variable = %warning.variable,
            "{warning}"
        ),
    }
}

/// Logs the warnings of loads that ran before any `tracing` subscriber was
/// installed, once each. A service that must load its settings before it can set up
/// logging (its log format is one of its settings, say) calls this right after;
/// `opskit-telemetry`'s `init` calls it for you.
pub fn log_pending_warnings() {
    let pending = match PENDING.lock() {
        Ok(mut pending) => std::mem::take(&mut *pending),
        Err(_) => return,
    };
    for warning in &pending {
        log_warning(warning);
    }
}

/// Loads `T` from `env`: every field is read, every problem collected.
pub(crate) fn load<T: Config>(env: &Environment) -> Result<Loaded<T>, ConfigError> {
    let mut loader = Loader::new(env);
    let config = T::__load(&mut loader, T::PREFIX);
    let mut warnings = loader.unknown_variables(T::PREFIX);
    warnings.append(&mut loader.shared_files);
    match config {
        Some(config) if loader.problems.is_empty() => Ok(Loaded {
            config,
            summary: Summary::new(loader.text, loader.entries),
            warnings,
        }),
        _ => Err(ConfigError::new(loader.problems, warnings)),
    }
}

/// Reads fields for generated code and collects problems and summary entries.
///
/// Variable names and shown values are appended to one string, `text`, which
/// becomes the [`Summary`]'s: a load allocates per value parsed, not per setting.
#[doc(hidden)]
#[derive(Debug)]
pub struct Loader<'e> {
    env: &'e Environment,
    problems: Vec<Problem>,
    text: String,
    entries: Vec<StoredEntry>,
    /// Names of the fields that failed, for typo detection (the others are in `entries`).
    failed: Vec<(Range<usize>, bool)>,
    /// Secret files others can read.
    shared_files: Vec<Warning>,
}

/// What the summary shows of a value.
enum Shown<'e> {
    /// Nothing: the setting is unset.
    Nothing,
    /// `[REDACTED]`.
    Redacted,
    /// The value's text, cut when long.
    Text(&'e str),
    /// A redacted rendering made by the type (a masked URL).
    Owned(String),
}

/// A value read, with what the summary shows of it.
struct Read<'e, T> {
    value: T,
    shown: Shown<'e>,
    source: Source,
    file: Option<PathBuf>,
    /// The secret file, when others can read it.
    shared: Option<opskit_secret::SharedSecretFile>,
}

/// A problem found, with the `_FILE` variable when that one is at fault.
type Fault = (Option<String>, ProblemKind);

impl<'e> Loader<'e> {
    fn new(env: &'e Environment) -> Self {
        Self {
            env,
            problems: Vec::new(),
            text: String::with_capacity(env.len() * 48),
            entries: Vec::with_capacity(env.len()),
            failed: Vec::new(),
            shared_files: Vec::new(),
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
        show: fn(&T) -> Option<String>,
    ) -> Option<T> {
        let start = self.text.len();
        spec.name.push_full(prefix, &mut self.text);
        let name = start..self.text.len();
        let variable = &self.text[name.clone()];
        match read(self.env, variable, spec, secret, type_default, redact, show) {
            Ok(read) => {
                if let Some(shared) = read.shared {
                    self.shared_files.push(Warning {
                        variable: format!("{variable}_FILE"),
                        kind: WarningKind::SharedSecretFile {
                            path: shared.path,
                            mode: shared.mode,
                        },
                    });
                }
                let value = match read.shown {
                    Shown::Nothing => None,
                    Shown::Redacted => Some(self.push(REDACTED)),
                    Shown::Text(text) => Some(self.push_cut(text)),
                    Shown::Owned(text) => Some(self.push(&text)),
                };
                self.entries.push(StoredEntry {
                    variable: name,
                    value,
                    source: read.source,
                    file: read.file,
                    secret,
                });
                Some(read.value)
            }
            Err((file_variable, kind)) => {
                let variable = file_variable.unwrap_or_else(|| variable.to_owned());
                self.problems.push(Problem {
                    variable,
                    kind,
                    expected: spec.ty,
                    secret,
                    doc: spec.doc,
                });
                self.failed.push((name, secret));
                None
            }
        }
    }

    /// Records the problems a `#[config(validate = "...")]` function found, each
    /// under the variable of the field it names.
    pub fn invalid(
        &mut self,
        prefix: &str,
        fields: &[(&'static str, &'static FieldSpec, bool)],
        invalid: Vec<crate::Invalid>,
    ) {
        for invalid in invalid {
            let field = fields.iter().find(|(name, _, _)| *name == invalid.field);
            let (variable, expected, secret, doc) = match field {
                Some((_, spec, secret)) => (spec.name.full(prefix), spec.ty, *secret, spec.doc),
                // A variable outside the struct, named in capitals (`LOG_FORMAT`).
                None if invalid.field.bytes().all(|b| !b.is_ascii_lowercase()) => {
                    (invalid.field.to_owned(), "", false, "")
                }
                None => (
                    format!("{prefix}{}", invalid.field.to_ascii_uppercase()),
                    "",
                    false,
                    "",
                ),
            };
            let value = (!secret)
                .then(|| {
                    self.entries
                        .iter()
                        .find(|e| self.text[e.variable.clone()] == variable)
                        .and_then(|e| e.value.clone())
                        .map(|shown| format!("{:?}", &self.text[shown]))
                })
                .flatten();
            // A rule on a value shows the value (unless secret); on an unset
            // setting, only the rule.
            let set = field.is_some()
                && (self.env.get(&variable).is_some_and(|v| !v.is_empty())
                    || self.env.get(&format!("{variable}_FILE")).is_some());
            let kind = if set {
                ProblemKind::Invalid {
                    value,
                    reason: invalid.reason,
                }
            } else {
                ProblemKind::NotAllowed {
                    reason: invalid.reason,
                }
            };
            self.problems.push(Problem {
                variable,
                kind,
                expected,
                secret,
                doc,
            });
        }
    }

    fn push(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    /// Appends at most [`MAX_SHOWN_CHARS`] characters of `text`, marked when cut.
    fn push_cut(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        // A text no longer in bytes than the limit has no more characters either.
        let cut = if text.len() > MAX_SHOWN_CHARS {
            text.char_indices().nth(MAX_SHOWN_CHARS)
        } else {
            None
        };
        match cut {
            Some((cut, _)) => {
                let _ = write!(self.text, "{}… ({} bytes in all)", &text[..cut], text.len());
            }
            None => self.text.push_str(text),
        }
        start..self.text.len()
    }

    /// Every variable name read, with whether it is a secret.
    fn known(&self) -> impl Iterator<Item = (&str, bool)> {
        let read = self.entries.iter().map(|e| (&e.variable, e.secret));
        let failed = self.failed.iter().map(|(name, secret)| (name, *secret));
        read.chain(failed)
            .map(|(name, secret)| (&self.text[name.clone()], secret))
    }

    /// Variables set with the root prefix that no field read.
    fn unknown_variables(&self, prefix: &str) -> Vec<Warning> {
        if prefix.is_empty() {
            return Vec::new();
        }
        let mut known: HashSet<&str> = self.known().map(|(name, _)| name).collect();
        let file_variables: Vec<String> = self
            .known()
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
                let kind = match not_a_secret {
                    Some(setting) => WarningKind::NotASecret { setting },
                    None => WarningKind::UnknownVariable {
                        suggestion: typo::closest(name, prefix, known.iter().copied())
                            .map(str::to_owned),
                    },
                };
                Warning {
                    variable: name.to_owned(),
                    kind,
                }
            })
            .collect();
        warnings.sort_by(|a, b| a.variable.cmp(&b.variable));
        warnings
    }
}

/// Reads one variable (or its `_FILE`), parsing it or resolving its default.
fn read<'e, T: DeserializeOwned>(
    env: &'e Environment,
    variable: &str,
    spec: &'static FieldSpec,
    secret: bool,
    type_default: Option<fn() -> T>,
    redact: fn(&T) -> Option<String>,
    show: fn(&T) -> Option<String>,
) -> Result<Read<'e, T>, Fault> {
    let value = env.get(variable);
    let set = value.filter(|value| !value.is_empty());
    if !secret {
        return match set {
            Some(value) => match value.to_str() {
                Some(text) => parse(text, Source::Env, None, secret, redact).map_err(|k| (None, k)),
                None => Err((None, ProblemKind::NotUnicode)),
            },
            None => unset(spec, secret, type_default, value.is_some(), redact, show)
                .map_err(|k| (None, k)),
        };
    }
    let file_variable = format!("{variable}_FILE");
    let file = env.get(&file_variable).filter(|path| !path.is_empty());
    match (set, file) {
        (Some(_), Some(_)) => Err((None, ProblemKind::BothSet { file_variable })),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            match SecretFile::new(&path).read_string_quietly() {
                // A secret never shows its own text, so nothing borrowed from the
                // file's content outlives it.
                Ok((text, shared)) => {
                    match parse(text.expose_secret(), Source::File, Some(path), true, redact) {
                        Ok(read) => Ok(Read {
                            value: read.value,
                            shown: match read.shown {
                                Shown::Owned(shown) => Shown::Owned(shown),
                                _ => Shown::Redacted,
                            },
                            source: read.source,
                            file: read.file,
                            shared,
                        }),
                        Err(kind) => Err((None, kind)),
                    }
                }
                Err(err) => Err((
                    Some(file_variable),
                    ProblemKind::SecretFile {
                        path,
                        message: err.to_string(),
                    },
                )),
            }
        }
        (Some(value), None) => match value.to_str() {
            Some(text) => parse(text, Source::Env, None, secret, redact).map_err(|k| (None, k)),
            None => Err((None, ProblemKind::NotUnicode)),
        },
        (None, None) => {
            unset(spec, secret, type_default, value.is_some(), redact, show).map_err(|k| (None, k))
        }
    }
}

/// Parses a value that is set.
fn parse<'e, T: DeserializeOwned>(
    text: &'e str,
    source: Source,
    file: Option<PathBuf>,
    secret: bool,
    redact: fn(&T) -> Option<String>,
) -> Result<Read<'e, T>, ProblemKind> {
    // One rule for every value, secrets included: surrounding whitespace (a quoted
    // `" 8080 "`, a secret pasted with a space) is never meant, so it goes before
    // parsing, and the value used is the value shown.
    let text = text.trim();
    // A secret of blanks is a mistake (a template left unfilled), never a secret.
    if secret && text.trim().is_empty() {
        return Err(ProblemKind::Invalid {
            value: None,
            reason: "holds only whitespace; set the secret itself".to_owned(),
        });
    }
    match from_value::<T>(text) {
        Ok(value) => {
            if secret {
                // Whoever writes a log line later (a driver quoting a connection
                // parameter, say), opskit-telemetry's writer redacts these.
                opskit_secret::redaction::register(text);
                if text.contains("://") {
                    opskit_secret::redaction::register_url(text);
                }
            }
            let shown = if secret {
                redact(&value).map_or(Shown::Redacted, Shown::Owned)
            } else {
                Shown::Text(text)
            };
            Ok(Read {
                value,
                shown,
                source,
                file,
                shared: None,
            })
        }
        Err(err) => Err(ProblemKind::Invalid {
            value: (!secret).then(|| format!("{:?}", cut(text))),
            reason: reason(&err, text, secret),
        }),
    }
}

/// Resolves a field whose variable is not set (or empty): default, `None`, or missing.
fn unset<T: DeserializeOwned>(
    spec: &'static FieldSpec,
    secret: bool,
    type_default: Option<fn() -> T>,
    was_empty: bool,
    redact: fn(&T) -> Option<String>,
    show: fn(&T) -> Option<String>,
) -> Result<Read<'static, T>, ProblemKind> {
    // A secret default shows as its masked form where the type has one (a URL), as
    // `--describe` does; a type's default shows as its value (`[]`).
    let shown = |value: &T, text: Option<&'static str>| {
        if secret {
            redact(value).map_or(Shown::Redacted, Shown::Owned)
        } else if let Some(text) = text {
            Shown::Text(text)
        } else {
            show(value).map_or(Shown::Text("Default::default()"), Shown::Owned)
        }
    };
    let default = |value, shown| Read {
        value,
        shown,
        source: Source::Default,
        file: None,
        shared: None,
    };
    match (spec.default, type_default) {
        (DefaultSpec::Literal(literal), _) => match from_value::<T>(literal) {
            Ok(value) => {
                let shown = shown(&value, Some(literal));
                Ok(default(value, shown))
            }
            Err(err) => Err(ProblemKind::InvalidDefault {
                default: if secret {
                    REDACTED.to_owned()
                } else {
                    literal.to_owned()
                },
                reason: reason(&err, literal, secret),
            }),
        },
        (_, Some(type_default)) => {
            let value = type_default();
            let shown = shown(&value, None);
            Ok(default(value, shown))
        }
        _ => match from_missing::<T>() {
            Ok(value) => Ok(Read {
                value,
                shown: Shown::Nothing,
                source: Source::Unset,
                file: None,
                shared: None,
            }),
            Err(_) if was_empty => Err(ProblemKind::Empty),
            Err(_) => Err(ProblemKind::Missing),
        },
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
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}
