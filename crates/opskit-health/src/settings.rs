//! Health settings read from the environment.

use opskit_config::Config;

use crate::check::Probe;
use crate::health::HealthBuilder;

/// Settings of the health endpoints, to nest in a service's configuration with
/// `#[config(nested)]` (variables `HEALTH_DETAILS`, `HEALTH_READINESS_PATH`, ... under
/// the field name `health`).
///
/// Needs the `config` feature.
///
/// ```
/// use opskit_config::Config;
/// use opskit_health::HealthSettings;
///
/// /// The service's settings.
/// #[derive(Config)]
/// #[config(prefix = "APP_")]
/// struct Settings {
///     /// Health endpoints.
///     #[config(nested)]
///     health: HealthSettings,
/// }
///
/// let settings = Settings::from_pairs([("APP_HEALTH_READINESS_ALIASES", "/healthz")])?;
/// assert_eq!(settings.health.readiness_aliases, ["/healthz"]);
/// assert!(!settings.health.details);
/// # Ok::<(), opskit_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Config)]
pub struct HealthSettings {
    /// Show each check's output (error text) in health responses; off, it is only logged.
    #[config(default = "false")]
    pub details: bool,
    /// Path of the liveness probe.
    #[config(default = "/livez")]
    pub liveness_path: String,
    /// Path of the readiness probe.
    #[config(default = "/readyz")]
    pub readiness_path: String,
    /// Path of the startup probe.
    #[config(default = "/startupz")]
    pub startup_path: String,
    /// Extra paths answered like readiness, comma-separated (such as /healthz).
    #[config(default)]
    pub readiness_aliases: Vec<String>,
}

impl HealthBuilder {
    /// Applies [`HealthSettings`]: details and paths.
    #[must_use]
    pub fn settings(self, settings: &HealthSettings) -> Self {
        let builder = self
            .details(settings.details)
            .path(Probe::Liveness, settings.liveness_path.clone())
            .path(Probe::Readiness, settings.readiness_path.clone())
            .path(Probe::Startup, settings.startup_path.clone());
        settings
            .readiness_aliases
            .iter()
            .fold(builder, |builder, alias| {
                builder.alias(Probe::Readiness, alias.clone())
            })
    }
}
