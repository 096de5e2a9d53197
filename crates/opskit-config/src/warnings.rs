//! Warnings: what is suspicious but does not stop the service, and their logging,
//! kept until a subscriber is installed when there is none yet.

use std::fmt;

use serde::Serialize;

/// Something suspicious that does not stop the service: a variable with the
/// config's prefix that no setting reads (a typo, most often), or a secret file
/// that others can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// The variable at fault.
    pub variable: String,
    /// What is wrong with it.
    #[serde(flatten)]
    pub kind: WarningKind,
}

/// What a [`Warning`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WarningKind {
    /// The variable carries the prefix but no setting reads it.
    UnknownVariable {
        /// The known variable it most likely meant, if one is close.
        suggestion: Option<String>,
    },
    /// The variable is `NAME_FILE` for a setting that is not a secret (only secrets
    /// are read from files).
    NotASecret {
        /// The setting's own variable.
        setting: String,
    },
    /// The variable names a secret file that users other than the service's can
    /// read (see [`SharedSecretFile`](opskit_secret::SharedSecretFile)).
    SharedSecretFile {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits, such as `0o644`.
        mode: u32,
    },
}

impl Warning {
    /// The `event` field the warning is logged with: `config.unknown_variable` or
    /// `secret.file_permissions`.
    pub fn event(&self) -> &'static str {
        match self.kind {
            WarningKind::SharedSecretFile { .. } => "secret.file_permissions",
            _ => "config.unknown_variable",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variable = &self.variable;
        match &self.kind {
            WarningKind::NotASecret { setting } => write!(
                f,
                "{variable} is not a setting: {setting} is not a secret, so it is read only from {setting}"
            ),
            WarningKind::UnknownVariable {
                suggestion: Some(suggestion),
            } => write!(f, "{variable} is not a setting; did you mean {suggestion}?"),
            WarningKind::UnknownVariable { suggestion: None } => write!(
                f,
                "{variable} is not a setting of this service and is ignored"
            ),
            WarningKind::SharedSecretFile { path, mode } => write!(
                f,
                "{variable}: {}",
                opskit_secret::SharedSecretFile {
                    path: path.clone(),
                    mode: *mode,
                }
            ),
        }
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
