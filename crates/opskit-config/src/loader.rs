//! Loading: every field read, every problem collected, then one verdict.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::ops::Range;

use serde::de::DeserializeOwned;

use crate::env::Environment;
use crate::field_spec::{DefaultSpec, FieldSpec};
use crate::loaded::Loaded;
use crate::range::{RangeFault, Ranged};
use crate::read::{MAX_SHOWN_CHARS, Shown, cut, read};
use crate::report::{ConfigError, Invalid, Problem, ProblemKind};
use crate::summary::{REDACTED, Source, StoredEntry, Summary};
use crate::typo;
use crate::warnings::{Warning, WarningKind};

/// Loads a `T` under `prefix` with `read_fields` (a `Config`'s `__load`): every
/// field is read, every problem collected.
pub(crate) fn load<T>(
    env: &Environment,
    prefix: &str,
    read_fields: impl FnOnce(&mut Loader<'_>, &str) -> Option<T>,
) -> Result<Loaded<T>, ConfigError> {
    let mut loader = Loader::new(env);
    let config = read_fields(&mut loader, prefix);
    let mut warnings = loader.unknown_variables(prefix);
    warnings.append(&mut loader.shared_files);
    match config {
        Some(config) if loader.problems.is_empty() => Ok(Loaded::new(
            config,
            Summary::new(loader.text, loader.entries),
            warnings,
        )),
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

    /// Checks the value the field `spec` just read (`value`, from [`field`](Self::field))
    /// against its `#[config(range = "...")]`. `None` when it is outside (a problem
    /// recorded in place of the setting's summary entry).
    pub fn in_range<T: Ranged>(&mut self, spec: &'static FieldSpec, value: Option<T>) -> Option<T> {
        let (Some(range), Some(read)) = (spec.range, value.as_ref()) else {
            return value;
        };
        let fault = match crate::range::check(read, &range) {
            Ok(()) => return value,
            Err(fault) => fault,
        };
        // `field` pushed the entry of the value it returned last.
        let Some(entry) = self.entries.pop() else {
            return value;
        };
        let shown = entry.value.as_ref().map(|shown| &self.text[shown.clone()]);
        let kind = match fault {
            RangeFault::InvalidRange(reason) => ProblemKind::InvalidRange {
                range: range.text.to_owned(),
                reason,
            },
            RangeFault::Outside(reason) if entry.source == Source::Default => {
                ProblemKind::InvalidDefault {
                    default: match (entry.secret, spec.default) {
                        (false, DefaultSpec::Literal(literal)) => literal.to_owned(),
                        (false, _) => shown.unwrap_or("Default::default()").to_owned(),
                        (true, _) => REDACTED.to_owned(),
                    },
                    reason,
                }
            }
            // Quoted as written, as a value that does not parse is.
            RangeFault::Outside(reason) => ProblemKind::Invalid {
                value: (!entry.secret)
                    .then(|| self.env.get(&self.text[entry.variable.clone()]))
                    .flatten()
                    .and_then(|written| written.to_str())
                    .map(|written| format!("{:?}", cut(written.trim()))),
                reason,
            },
        };
        self.problems.push(Problem {
            variable: self.text[entry.variable.clone()].to_owned(),
            kind,
            expected: spec.ty,
            secret: entry.secret,
            doc: spec.doc,
        });
        self.failed.push((entry.variable, entry.secret));
        None
    }

    /// Records the problems a `#[config(rule(...))]` or `#[config(validate = "...")]`
    /// function found, each under the variable of the field it names.
    pub fn invalid(
        &mut self,
        prefix: &str,
        fields: &[(&'static str, &'static FieldSpec, bool)],
        invalid: Vec<Invalid>,
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
