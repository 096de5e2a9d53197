//! The listing of every variable a configuration reads.

use std::fmt::Write as _;

use serde::Serialize;

/// Whether a setting must be set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Must be set; loading fails without it.
    Required,
    /// May be left unset (an `Option<T>` field).
    Optional,
    /// Has a default, as the summary shows it: the literal from
    /// `#[config(default = "...")]`, or the `Debug` form of the type's `Default` for
    /// `#[config(default)]` (`None` when the type has no `Debug`). A secret's default
    /// shows masked (a URL's password as `***`), or `[REDACTED]`.
    Default(Option<std::borrow::Cow<'static, str>>),
}

/// One variable of a configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// The full variable name, prefix included.
    pub variable: String,
    /// For a secret, the `_FILE` variable that may name a file holding it instead.
    pub file_variable: Option<String>,
    /// The Rust field path (`db.pool_size`).
    pub field: String,
    /// The field's type as written in the struct.
    pub ty: &'static str,
    /// Required, optional, or defaulted.
    pub requirement: Requirement,
    /// Whether the value is a secret (never shown).
    pub secret: bool,
    /// The field's doc comment (first paragraph), or `""`.
    pub doc: &'static str,
}

/// Every variable a [`Config`](crate::Config) reads, from
/// [`Config::describe`](crate::Config::describe): for a runbook table, an
/// `.env.example` file, or a `--help` text that never shows values.
///
/// ```
/// use opskit_config::Config;
/// use opskit_secret::SecretString;
///
/// #[derive(Config)]
/// #[config(prefix = "APP_")]
/// struct Settings {
///     /// TCP port to listen on.
///     #[config(default = "8080")]
///     port: u16,
///     /// Token that write requests must present.
///     api_token: SecretString,
/// }
///
/// let description = Settings::describe();
/// assert_eq!(
///     description.to_markdown(),
///     "| Variable | Type | Required | Default | Secret | Description |\n\
///      |---|---|---|---|---|---|\n\
///      | `APP_PORT` | `u16` | no | `8080` | no | TCP port to listen on. |\n\
///      | `APP_API_TOKEN` | `SecretString` | yes | | yes (or `APP_API_TOKEN_FILE`) | Token that write requests must present. |\n"
/// );
/// assert_eq!(
///     description.to_env_example(),
///     concat!(
///         "# TCP port to listen on.\n",
///         "# u16, default 8080\n",
///         "#APP_PORT=8080\n",
///         "\n",
///         "# Token that write requests must present.\n",
///         "# SecretString, required, secret: or set APP_API_TOKEN_FILE to the path of a file holding it\n",
///         "APP_API_TOKEN=\n",
///     )
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Description {
    settings: Vec<Setting>,
}

impl Description {
    pub(crate) fn new(settings: Vec<Setting>) -> Self {
        Self { settings }
    }

    /// The settings, in the order of the struct's fields (nested structs inline).
    pub fn settings(&self) -> &[Setting] {
        &self.settings
    }

    /// A markdown table: variable, type, required, default, secret, description.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| Variable | Type | Required | Default | Secret | Description |\n|---|---|---|---|---|---|\n",
        );
        for s in &self.settings {
            let required = if s.requirement == Requirement::Required {
                "yes"
            } else {
                "no"
            };
            let default = match &s.requirement {
                Requirement::Default(Some(literal)) if literal.is_empty() => " empty ".to_owned(),
                Requirement::Default(Some(literal)) => format!(" `{}` ", escape_cell(literal)),
                Requirement::Default(None) => " the type's default ".to_owned(),
                Requirement::Required | Requirement::Optional => " ".to_owned(),
            };
            let secret = match &s.file_variable {
                Some(file) => format!("yes (or `{file}`)"),
                None if s.secret => "yes".to_owned(),
                None => "no".to_owned(),
            };
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {required} |{default}| {secret} | {} |",
                s.variable,
                escape_cell(s.ty),
                escape_cell(s.doc)
            );
        }
        out
    }

    /// An `.env.example` text: each variable with its doc and type as comments;
    /// required ones present with an empty value, the others commented out with
    /// their default.
    pub fn to_env_example(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.settings.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            if !s.doc.is_empty() {
                let _ = writeln!(out, "# {}", s.doc);
            }
            let requirement = match &s.requirement {
                Requirement::Required => "required".to_owned(),
                Requirement::Optional => "optional".to_owned(),
                Requirement::Default(Some(literal)) if literal.is_empty() => {
                    "default: empty".to_owned()
                }
                Requirement::Default(Some(literal)) => format!("default {literal}"),
                Requirement::Default(None) => "default: the type's default".to_owned(),
            };
            let _ = write!(out, "# {}, {requirement}", s.ty);
            match &s.file_variable {
                Some(file) => {
                    let _ = writeln!(
                        out,
                        ", secret: or set {file} to the path of a file holding it"
                    );
                }
                None if s.secret => out.push_str(", secret\n"),
                None => out.push('\n'),
            }
            match &s.requirement {
                Requirement::Required => {
                    let _ = writeln!(out, "{}=", s.variable);
                }
                Requirement::Default(Some(literal)) if !s.secret => {
                    let _ = writeln!(out, "#{}={literal}", s.variable);
                }
                _ => {
                    let _ = writeln!(out, "#{}=", s.variable);
                }
            }
        }
        out
    }
}

fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|")
}
