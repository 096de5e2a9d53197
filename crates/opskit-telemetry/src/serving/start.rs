//! The first steps of every service, in order: logging, configuration, who we are,
//! metrics.

use opskit_config::{Config, Loaded};

use super::lifecycle::Lifecycle;
use crate::build_info::BuildInfo;
use crate::metrics::PrometheusMetrics;

/// What [`start`] leaves running: the loaded settings, the lifecycle (for the events
/// still to come and for [`Lifecycle::exit`]), and the installed metrics recorder.
#[derive(Debug)]
pub struct Started<S> {
    /// The settings, with their summary and warnings.
    pub settings: Loaded<S>,
    /// The lifecycle whose `service.starting` was logged.
    pub lifecycle: Lifecycle,
    /// The Prometheus recorder, for its `/metrics` layer.
    pub metrics: PrometheusMetrics,
}

/// Starts a service the way every service should, each failure ending the process
/// with its exit code and a line saying why:
///
/// 1. `--describe` and `--env-example` print the settings (a Markdown table, an
///    `.env` template) and exit 0, without starting anything;
/// 2. logging ([`init`](crate::logs::init)), so everything after is logged;
/// 3. the settings `S`, every problem at once, `LOG_FORMAT`, `LOG_LEVEL` and
///    `RUST_LOG`'s included, and with the `otel` feature the `OTEL_*` variables of
///    [`OtelSettings`](crate::traces::OtelSettings) (78, the report on stderr and as one
///    `config.invalid` event); with an OTLP endpoint, the trace exporter is part of
///    the logging set up in step 2 ([`tracing_layer`](crate::traces::tracing_layer));
/// 4. `service.starting` with the build info and the redacted settings (from step
///    2 on, inside a tokio runtime, a SIGTERM is kept: one that arrives before the
///    service serves starts its graceful shutdown as soon as it does, instead of
///    killing the process; a process that never serves, such as a migration job,
///    runs to its end; SIGINT still stops a start at once);
/// 5. the Prometheus recorder (70 when another recorder is installed).
///
/// A service whose rules read the log settings (production refuses human-readable
/// logs) nests them in `S` (a field `#[config(nested)] logs:`
/// [`LogSettings`](crate::logs::LogSettings), whose variables keep their names:
/// `LOG_FORMAT`, not `APP_LOG_FORMAT`) rather than reading the environment in a
/// rule: `--describe` then lists them, and a bad `LOG_LEVEL` is reported once.
///
/// Each step stays usable on its own (`init`, `Config::from_env`,
/// [`Lifecycle::starting`], [`PrometheusMetrics::install`]) for a service that needs
/// another order.
///
/// ```no_run
/// use opskit_config::Config;
/// use opskit_telemetry::{BuildInfo, Started};
///
/// /// The service's settings.
/// #[derive(Config)]
/// #[config(prefix = "APP_")]
/// struct Settings {
///     /// Address to listen on.
///     #[config(default = "127.0.0.1:8080")]
///     listen: std::net::SocketAddr,
/// }
///
/// let Started { settings, lifecycle, metrics } = opskit_telemetry::start::<Settings>(BuildInfo {
///     name: "app",
///     ..opskit_telemetry::build_info!()
/// });
/// // ... open the database (lifecycle.exit(reason, code) on failure), build health ...
/// # let _ = (settings, lifecycle, metrics);
/// ```
pub fn start<S: Config>(info: BuildInfo) -> Started<S> {
    #[allow(clippy::print_stdout)] // asked for on the command line
    match std::env::args().nth(1).as_deref() {
        Some("--describe") => {
            print!("{}", S::describe().to_markdown());
            std::process::exit(opskit_exit::OK);
        }
        Some("--env-example") => {
            print!("{}", S::describe().to_env_example());
            std::process::exit(opskit_exit::OK);
        }
        _ => {}
    }
    // Logging settings and the service's in one report: a bad LOG_LEVEL must not
    // hide the other problems.
    let log = crate::logs::LogSettings::from_env();
    #[cfg(feature = "otel")]
    let otel = crate::traces::OtelSettings::from_env();
    let settings = S::from_env();
    let log_settings = log.as_ref().map(|l| (**l).clone()).unwrap_or_default();
    #[cfg(feature = "otel")]
    let (tracing, otel_error) = match otel
        .as_ref()
        .map(|o| crate::traces::tracing_layer(o, &info))
    {
        Ok(Ok(layer)) => (layer, None),
        Ok(Err(err)) => (None, Some(err)),
        Err(_) => (None, None),
    };
    #[cfg(not(feature = "otel"))]
    let tracing = tracing_subscriber::layer::Identity::new();
    if let Err(err) = crate::logs::init_with_layer(&log_settings, tracing) {
        eprintln!("cannot start logging: {err}");
        std::process::exit(opskit_exit::CONFIG);
    }
    super::signal::listen_early();
    #[cfg(feature = "otel")]
    let otel_ok = otel.is_ok();
    #[cfg(not(feature = "otel"))]
    let otel_ok = true;
    let settings = match (log, settings) {
        (Ok(_), Ok(settings)) if otel_ok => {
            settings.log_warnings();
            settings
        }
        (log, settings) => {
            let mut problems = Vec::new();
            if let Err(err) = log {
                problems.extend_from_slice(err.problems());
            }
            #[cfg(feature = "otel")]
            if let Err(err) = &otel {
                problems.extend_from_slice(err.problems());
            }
            // A service that nests `LogSettings` (to read them in its rules) has
            // its log problems reported by `S` too: each once.
            if let Err(err) = settings {
                for problem in err.problems() {
                    if !problems.contains(problem) {
                        problems.push(problem.clone());
                    }
                }
            }
            match opskit_config::ConfigError::from_problems(problems) {
                Some(err) => err.exit(),
                None => std::process::exit(opskit_exit::CONFIG),
            }
        }
    };
    let lifecycle = Lifecycle::starting(info, Some(settings.summary()));
    #[cfg(feature = "otel")]
    if let Some(err) = otel_error {
        lifecycle.exit(&err.to_string(), opskit_exit::CONFIG);
    }
    let metrics = match PrometheusMetrics::install(&info) {
        Ok(metrics) => metrics,
        Err(err) => lifecycle.exit(&err.to_string(), opskit_exit::SOFTWARE),
    };
    Started {
        settings,
        lifecycle,
        metrics,
    }
}
