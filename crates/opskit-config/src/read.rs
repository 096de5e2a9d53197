//! Reading one setting: its variable, or its `_FILE` for a secret, parsed; or its
//! default when unset.

use std::path::PathBuf;

use opskit_secret::{ExposeSecret, SecretFile};
use serde::de::DeserializeOwned;

use crate::__private::Shows;
use crate::de::{ValueError, from_missing, from_value};
use crate::env::Environment;
use crate::field_spec::{DefaultSpec, FieldSpec};
use crate::report::ProblemKind;
use crate::summary::{REDACTED, Source};

/// Longest plain value quoted in an error or shown in the summary, in characters.
pub(crate) const MAX_SHOWN_CHARS: usize = 80;

/// What the summary shows of a value.
pub(crate) enum Shown<'e> {
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
pub(crate) struct Read<'e, T> {
    pub(crate) value: T,
    pub(crate) shown: Shown<'e>,
    pub(crate) source: Source,
    pub(crate) file: Option<PathBuf>,
    /// The secret file, when others can read it.
    pub(crate) shared: Option<opskit_secret::SharedSecretFile>,
}

/// A problem found, with the `_FILE` variable when that one is at fault.
pub(crate) type Fault = (Option<String>, ProblemKind);

/// Reads one variable (or its `_FILE`), parsing it or resolving its default.
pub(crate) fn read<'e, T: DeserializeOwned>(
    env: &'e Environment,
    variable: &str,
    spec: &'static FieldSpec,
    secret: bool,
    type_default: Option<fn() -> T>,
    redact: fn(&T) -> Option<String>,
    show: fn(&T) -> Option<String>,
) -> Result<Read<'e, T>, Fault> {
    let value = env.get(variable);
    // Empty and whitespace-only are one case: unset (values are trimmed first).
    let set = value.filter(|value| !is_blank(value));
    if !secret {
        return match set {
            Some(value) => match value.to_str() {
                Some(text) => {
                    parse(text, Source::Env, None, secret, (redact, show)).map_err(|k| (None, k))
                }
                None => Err((None, ProblemKind::NotUnicode)),
            },
            None => unset(spec, secret, type_default, value.is_some(), redact, show)
                .map_err(|k| (None, k)),
        };
    }
    let file_variable = format!("{variable}_FILE");
    let file = env.get(&file_variable).filter(|path| !is_blank(path));
    match (set, file) {
        (Some(_), Some(_)) => Err((None, ProblemKind::BothSet { file_variable })),
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            match SecretFile::new(&path).read_string_quietly() {
                // A secret never shows its own text, so nothing borrowed from the
                // file's content outlives it.
                Ok((text, shared)) => {
                    match parse(
                        text.expose_secret(),
                        Source::File,
                        Some(path),
                        true,
                        (redact, show),
                    ) {
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
            Some(text) => {
                parse(text, Source::Env, None, secret, (redact, show)).map_err(|k| (None, k))
            }
            None => Err((None, ProblemKind::NotUnicode)),
        },
        (None, None) => {
            unset(spec, secret, type_default, value.is_some(), redact, show).map_err(|k| (None, k))
        }
    }
}

/// Whether a variable's value is empty once trimmed (text that is not Unicode is
/// never blank: it is reported as such).
fn is_blank(value: &std::ffi::OsStr) -> bool {
    value.to_str().is_some_and(|text| text.trim().is_empty())
}

/// Parses a value that is set.
fn parse<'e, T: DeserializeOwned>(
    text: &'e str,
    source: Source,
    file: Option<PathBuf>,
    secret: bool,
    (redact, show): (Shows<T>, Shows<T>),
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
            let masked = if secret { redact(&value) } else { None };
            if secret {
                // Whoever writes a log line later (a driver quoting a connection
                // parameter, say), opskit-telemetry's writer redacts these. A type
                // with a masked form (a connection URL) keeps only its secret parts
                // out of logs, so its host, database and file can still be read;
                // any other secret is hidden whole.
                if masked.is_none() {
                    opskit_secret::redaction::register(text);
                }
                if text.contains("://") {
                    opskit_secret::redaction::register_url(text);
                }
            }
            // The value used, in the format it is read in (`a,,b,` shows `a,b`, `ALL`
            // shows `all`); the text as written when the type has no such form or
            // its form is too long to show whole.
            let shown = if secret {
                masked.map_or(Shown::Redacted, Shown::Owned)
            } else {
                match show(&value) {
                    Some(rendered) if rendered.chars().count() <= MAX_SHOWN_CHARS => {
                        Shown::Owned(rendered)
                    }
                    _ => Shown::Text(text),
                }
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
    if secret && err.custom && opskit_secret::redaction::quotes(&err.message, text.trim()) {
        "the value does not parse as this type (the parser's message is withheld because it \
         quotes the secret)"
            .to_owned()
    } else {
        err.message.clone()
    }
}

/// At most [`MAX_SHOWN_CHARS`] characters of `text`, marked when cut.
pub(crate) fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}… ({} bytes in all)", &text[..cut], text.len()),
        None => text.to_owned(),
    }
}
