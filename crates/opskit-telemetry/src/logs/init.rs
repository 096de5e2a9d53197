//! Logging set up from the environment: JSON for collectors, text for people.

use std::io::IsTerminal;

use opskit_config::{Config, ConfigError};
use serde::Deserialize;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::filter::LogFilter;

use super::fields::JsonSpanFields;
use super::nest::NestingWriter;
use super::redact::RedactingWriter;
use crate::traces::correlate::Correlated;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line: for log collectors.
    Json,
    /// Human-readable lines, coloured on a terminal.
    Pretty,
    /// JSON when stdout is not a terminal (a container, a pipe), else pretty.
    Auto,
}

/// The level used when `RUST_LOG` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default: lifecycle events, warnings, errors.
    Info,
    /// Debugging detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
            Self::Trace => "trace",
        }
    }
}

/// Logging settings, read from `LOG_FORMAT`, `LOG_LEVEL` and `RUST_LOG`. A
/// `RUST_LOG` that does not parse as filter directives is a problem of the
/// configuration report, like any other value.
#[derive(Debug, Clone, Config)]
#[config(validate = "LogSettings::check")]
pub struct LogSettings {
    /// Log format: json, pretty, or auto (JSON when stdout is not a terminal).
    #[config(name = "LOG_FORMAT", default = "auto")]
    pub format: LogFormat,
    /// Level when RUST_LOG is unset: error, warn, info, debug or trace.
    #[config(name = "LOG_LEVEL", default = "info")]
    pub level: LogLevel,
    /// Filter directives such as "info,sqlx=warn" (tracing-subscriber syntax); wins over LOG_LEVEL.
    #[config(name = "RUST_LOG")]
    pub filter: Option<String>,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Auto,
            level: LogLevel::Info,
            filter: None,
        }
    }
}

impl LogSettings {
    fn check(&self) -> Vec<opskit_config::Invalid> {
        match &self.filter {
            Some(directives) => match EnvFilter::try_new(directives) {
                Ok(_) => Vec::new(),
                Err(err) => vec![opskit_config::Invalid::new(
                    "filter",
                    format!(
                        "is not a valid filter ({err}); use directives such as \"info\" or \"info,sqlx=warn\""
                    ),
                )],
            },
            None => Vec::new(),
        }
    }

    /// The filter in effect: `RUST_LOG`, else `LOG_LEVEL`.
    pub fn effective_filter(&self) -> &str {
        self.filter.as_deref().unwrap_or(self.level.as_str())
    }

    /// Whether the filter lets opskit's lifecycle events (`service.starting`, at
    /// INFO, target `opskit_telemetry::lifecycle`) through. `RUST_LOG=garbage`
    /// parses as "trace for the target `garbage`" and silences everything else.
    pub fn shows_lifecycle(&self) -> bool {
        const TARGET: &str = "opskit_telemetry::lifecycle";
        let Some(directives) = &self.filter else {
            return self.level.as_str() != "error" && self.level.as_str() != "warn";
        };
        let at_least_info = |level: &str| {
            matches!(
                level.trim().to_ascii_lowercase().as_str(),
                "info" | "debug" | "trace"
            )
        };
        let mut shown = false;
        for directive in directives.split(',').map(str::trim) {
            if directive.contains('[') {
                continue; // span filters: not about this target
            }
            match directive.split_once('=') {
                None if is_level(directive) => shown = at_least_info(directive),
                None if TARGET.starts_with(directive) && !directive.is_empty() => shown = true,
                Some((target, level)) if TARGET.starts_with(target.trim()) => {
                    shown = at_least_info(level);
                }
                _ => {}
            }
        }
        shown
    }

    /// Whether lines will be JSON, given whether stdout is a terminal.
    pub fn is_json(&self, stdout_is_terminal: bool) -> bool {
        match self.format {
            LogFormat::Json => true,
            LogFormat::Pretty => false,
            LogFormat::Auto => !stdout_is_terminal,
        }
    }
}

fn is_level(text: &str) -> bool {
    matches!(
        text.to_ascii_lowercase().as_str(),
        "off" | "error" | "warn" | "info" | "debug" | "trace"
    )
}

/// The filter `init_with` installed, for `service.starting`.
static EFFECTIVE_FILTER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The log filter in effect (`RUST_LOG`, else `LOG_LEVEL`), once logging is set up.
pub(crate) fn effective_filter() -> Option<&'static str> {
    EFFECTIVE_FILTER.get().map(String::as_str)
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// `LOG_FORMAT`, `LOG_LEVEL` or `RUST_LOG` is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// `RUST_LOG` does not parse as filter directives.
    #[error(
        "RUST_LOG is not a valid filter ({0}); use directives such as \"info\" or \"info,sqlx=warn\""
    )]
    Filter(String),
    /// A global subscriber was installed already (by another `init`, or a library).
    #[error(
        "logging was already initialised in this process; call opskit_telemetry::init once, first thing in main"
    )]
    AlreadyInitialized,
}

/// Sets up logging from `LOG_FORMAT`, `LOG_LEVEL` and `RUST_LOG`, writing to
/// stdout, and installs the [panic hook](crate::logs::install_panic_hook).
///
/// Call it first in `main`, before loading the configuration, so a configuration
/// failure is logged too.
///
/// # Errors
///
/// [`InitError`] when a variable is invalid or logging was set up already. Nothing
/// is logged then, so print the error: [`init_or_exit`] does.
pub fn init() -> Result<(), InitError> {
    let settings = LogSettings::from_env()?.into_inner();
    init_with(&settings)
}

/// [`init`], or on failure the error on stderr and exit code 78 (`EX_CONFIG`).
pub fn init_or_exit() {
    if let Err(err) = init() {
        eprintln!("cannot start logging: {err}");
        std::process::exit(opskit_exit::CONFIG);
    }
}

/// [`init`] with explicit settings.
///
/// # Errors
///
/// [`InitError::Filter`] or [`InitError::AlreadyInitialized`].
pub fn init_with(settings: &LogSettings) -> Result<(), InitError> {
    init_with_layer(settings, tracing_subscriber::layer::Identity::new())
}

/// [`init_with`], with a layer of your own on top of opskit's filter and format: a
/// `tracing-opentelemetry` layer, an error reporter's, or several in a `Vec` or a
/// tuple of `.and_then`s. The filter (`RUST_LOG`, else `LOG_LEVEL`) applies to your
/// layer too, so a span it never enables costs it nothing.
///
/// ```no_run
/// use opskit_config::Config;
/// use opskit_telemetry::LogSettings;
/// use tracing_subscriber::Layer;
///
/// let settings = LogSettings::from_env_or_exit().into_inner();
/// // Any layer: here, one that writes errors to stderr as well.
/// let errors = tracing_subscriber::fmt::layer()
///     .with_writer(std::io::stderr)
///     .with_filter(tracing_subscriber::filter::LevelFilter::ERROR);
/// opskit_telemetry::init_with_layer(&settings, errors)?;
/// # Ok::<(), opskit_telemetry::InitError>(())
/// ```
///
/// # Errors
///
/// [`InitError::Filter`] or [`InitError::AlreadyInitialized`].
pub fn init_with_layer<L>(settings: &LogSettings, layer: L) -> Result<(), InitError>
where
    L: Layer<Logging> + Send + Sync + 'static,
{
    let terminal = std::io::stdout().is_terminal();
    let subscriber = subscriber(settings, std::io::stdout, terminal)?.with(layer);
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| InitError::AlreadyInitialized)?;
    let _ = EFFECTIVE_FILTER.set(settings.effective_filter().to_owned());
    if !settings.shows_lifecycle() {
        // The filter hides this warning too: stderr is the one place left.
        eprintln!(
            "warning: the log filter {:?} (RUST_LOG, else LOG_LEVEL) hides opskit's lifecycle events \
             (service.starting, service.ready, ...): a directive such as \"bookmarks=trace\" alone \
             enables only that target; start it with a level, such as \"info,bookmarks=trace\"",
            settings.effective_filter()
        );
    }
    crate::metrics::process::start_time();
    super::panic::install_panic_hook();
    // Warnings of a configuration loaded before logging (a secret file others can
    // read, a mistyped variable) are not lost.
    opskit_config::log_pending_warnings();
    Ok(())
}

/// The registry with opskit's filter: what [`format_layer`] and your own layers sit
/// on in [`subscriber`].
pub type Filtered = Layered<LogFilter, Registry>;

/// opskit's logging (the filter, then the format), the subscriber your layers stack
/// on in [`init_with_layer`]. It is a `tracing` subscriber itself.
pub type Logging = Layered<Box<dyn Layer<Filtered> + Send + Sync>, Filtered>;

/// The filter [`init`] uses: `RUST_LOG`'s directives, else `LOG_LEVEL`
/// ([`LogFilter`]: no work per span unless a directive names one).
///
/// # Errors
///
/// [`InitError::Filter`] when `RUST_LOG` does not parse.
pub fn filter(settings: &LogSettings) -> Result<LogFilter, InitError> {
    LogFilter::new(settings.effective_filter())
}

/// opskit's log lines as a layer, for a subscriber you assemble yourself (put
/// [`filter`] under it):
///
/// - JSON: `timestamp` (RFC 3339, UTC), `level`, `target`, `message`, the event's
///   fields at the top level, the span context (`span`, `spans`), and inside a
///   request traced by [`RequestTracingLayer`](crate::traces::RequestTracingLayer) its
///   `request_id` (and, with the `otel` feature, `trace_id` and `span_id`) at the top
///   level; `service.starting`'s `config` and `config.invalid`'s `problems` are
///   nested JSON;
/// - pretty: human-readable lines, coloured when `stdout_is_terminal`.
///
/// Every line, whoever wrote it, passes through [`RedactingWriter`]: the secrets
/// opskit-config loaded never reach the output.
///
/// ```
/// use opskit_telemetry::LogSettings;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let settings = LogSettings::default();
/// let subscriber = tracing_subscriber::registry()
///     .with(opskit_telemetry::filter(&settings)?)
///     .with(opskit_telemetry::format_layer(&settings, std::io::stdout, false))
///     // .with(tracing_opentelemetry::layer().with_tracer(tracer))
///     ;
/// tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
/// # Ok::<(), opskit_telemetry::InitError>(())
/// ```
pub fn format_layer<S, W>(
    settings: &LogSettings,
    writer: W,
    stdout_is_terminal: bool,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    if settings.is_json(stdout_is_terminal) {
        let json = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true);
        Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .fmt_fields(JsonSpanFields)
                .event_format(Correlated::new(json))
                .with_writer(RedactingWriter::new(NestingWriter::new(writer))),
        )
    } else {
        Box::new(
            tracing_subscriber::fmt::layer()
                .with_ansi(stdout_is_terminal)
                .with_writer(RedactingWriter::new(writer)),
        )
    }
}

/// The subscriber [`init`] installs, writing to `writer`: for tests that capture
/// logs, or for services that install it themselves. It is [`filter`] and
/// [`format_layer`] on a registry; add layers of your own with
/// [`SubscriberExt::with`](tracing_subscriber::layer::SubscriberExt::with).
///
/// # Errors
///
/// [`InitError::Filter`] when `RUST_LOG` does not parse.
pub fn subscriber<W>(
    settings: &LogSettings,
    writer: W,
    stdout_is_terminal: bool,
) -> Result<Logging, InitError>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    Ok(Registry::default()
        .with(filter(settings)?)
        .with(format_layer(settings, writer, stdout_is_terminal)))
}
