//! Health settings read from the environment.

use opskit_config::{Config, Invalid};

use crate::health::HealthBuilder;
use crate::probe::Probe;

/// Settings of the health endpoints, to nest in a service's configuration with
/// `#[config(nested)]` (variables `HEALTH_DETAILS`, `HEALTH_READINESS_PATH`, ... under
/// the field name `health`).
///
/// The paths are checked when the configuration loads, with the rules
/// [`HealthBuilder::build`] applies (a path, starting with `/`, each used once, not
/// `/metrics`): a bad one is a configuration problem naming its variable (exit 78),
/// never a failure later in startup. [`route_conflicts`](Self::route_conflicts)
/// adds the service's own routes to the rules.
///
/// Needs the `config` feature.
///
/// ```
/// use opskit_config::{Config, Invalid};
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
///
/// // A bad path is a configuration problem of its variable, found at load time.
/// let err = Settings::from_pairs([
///     ("APP_HEALTH_READINESS_PATH", "ready"),
///     ("APP_HEALTH_STARTUP_PATH", "/livez"),
/// ])
/// .unwrap_err();
/// let variables: Vec<&str> = err.problems().iter().map(|p| p.variable.as_str()).collect();
/// assert_eq!(variables, ["APP_HEALTH_READINESS_PATH", "APP_HEALTH_STARTUP_PATH"]);
/// assert!(err.to_string().contains("must start with '/'"));
/// assert!(err.to_string().contains("used twice"));
/// # Ok::<(), opskit_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Config)]
#[config(validate = "HealthSettings::check")]
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

/// The fields of the probe paths: liveness, readiness, startup, readiness aliases.
const FIELDS: [&str; 4] = [
    "liveness_path",
    "readiness_path",
    "startup_path",
    "readiness_aliases",
];

/// [`FIELDS`] as a service's own rule names them, these settings nested as `health`.
const NESTED_FIELDS: [&str; 4] = [
    "health_liveness_path",
    "health_readiness_path",
    "health_startup_path",
    "health_readiness_aliases",
];

impl HealthSettings {
    /// Every probe path with its field's name from `fields` ([`FIELDS`] or
    /// [`NESTED_FIELDS`]): the three probes, then each readiness alias.
    fn paths(&self, fields: [&'static str; 4]) -> impl Iterator<Item = (&'static str, &str)> {
        let [liveness, readiness, startup, aliases] = fields;
        [
            (liveness, self.liveness_path.as_str()),
            (readiness, self.readiness_path.as_str()),
            (startup, self.startup_path.as_str()),
        ]
        .into_iter()
        .chain(
            self.readiness_aliases
                .iter()
                .map(move |alias| (aliases, alias.as_str())),
        )
    }

    /// The paths' problems, for the configuration report.
    fn check(&self) -> Vec<Invalid> {
        let mut seen: Vec<&str> = Vec::new();
        let mut invalid = Vec::new();
        for (field, path) in self.paths(FIELDS) {
            if let Some(reason) = crate::paths::path_problem(path, seen.iter().copied()) {
                invalid.push(Invalid::new(
                    field,
                    format!("{reason}; set a path such as /readyz"),
                ));
            }
            seen.push(path);
        }
        invalid
    }
}

impl HealthSettings {
    /// The probe paths that would take over one of `routes`, the paths the
    /// service's own router serves (templates such as `/notes/{id}` allowed), as
    /// problems for the service's `#[config(validate = "...")]` rule: a probe
    /// answers before the application, so `GET /notes` would get a health response
    /// and `POST /notes` a 405.
    ///
    /// The problems name the variables of settings nested as `health`
    /// (`#[config(nested)] health: HealthSettings`, so `APP_HEALTH_STARTUP_PATH`).
    /// `/metrics` and paths used twice are refused when the settings load, without
    /// this.
    ///
    /// ```
    /// use opskit_config::{Config, Invalid};
    /// use opskit_health::HealthSettings;
    ///
    /// /// The service's settings.
    /// #[derive(Config)]
    /// #[config(prefix = "APP_", validate = "Settings::check")]
    /// struct Settings {
    ///     /// Health endpoints.
    ///     #[config(nested)]
    ///     health: HealthSettings,
    /// }
    ///
    /// impl Settings {
    ///     fn check(&self) -> Vec<Invalid> {
    ///         self.health.route_conflicts(&["/notes", "/notes/{id}"])
    ///     }
    /// }
    ///
    /// let err = Settings::from_pairs([("APP_HEALTH_STARTUP_PATH", "/notes")]).unwrap_err();
    /// assert_eq!(err.problems()[0].variable, "APP_HEALTH_STARTUP_PATH");
    /// assert!(err.to_string().contains("takes over the route /notes"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn route_conflicts(&self, routes: &[&str]) -> Vec<Invalid> {
        let mut invalid = Vec::new();
        for (field, path) in self.paths(NESTED_FIELDS) {
            if let Some(route) = routes
                .iter()
                .find(|route| crate::paths::takes_over(path, route))
            {
                invalid.push(Invalid::new(
                    field,
                    format!(
                        "the probe path {path} takes over the route {route} of the service \
                         (probes answer first); choose a path the service does not serve, \
                         such as /readyz"
                    ),
                ));
            }
        }
        invalid
    }
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
