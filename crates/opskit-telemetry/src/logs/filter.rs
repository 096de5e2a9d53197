//! The log filter: `RUST_LOG`'s directives, else `LOG_LEVEL`, at the cost the
//! directives need.
//!
//! tracing-subscriber's `EnvFilter` keeps a table of the spans a span directive
//! (`[name{field=value}]`) might match, and reads it under a lock on every span's
//! creation, entry, exit and close, whether or not any directive names a span. A
//! traced request enters and leaves its span at least twice, on whichever worker
//! thread polls it, so that is a shared lock taken six times a request for nothing.
//! Directives of targets and levels alone (`info`, `info,sqlx=warn`) decide by
//! callsite: [`LogFilter`] keeps them in a `Targets` filter, which does no work per
//! span, and gives `EnvFilter` only directives that need it.

use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Context, Layer};

/// The filter opskit's logging sits on ([`filter`](super::filter)): the same
/// directives as `EnvFilter`, in tracing-subscriber's syntax.
///
/// Directives of targets and levels (`info`, `warn,notes=debug`) are kept in a
/// `Targets` filter, decided once per callsite with no work per span; directives
/// that name spans or fields (`info,[request]=debug`) use `EnvFilter`, which
/// follows spans as they are entered.
///
/// ```
/// use opskit_telemetry::{LogFilter, LogSettings};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let settings = LogSettings { filter: Some("info,sqlx=warn".into()), ..LogSettings::default() };
/// let filter = LogFilter::new(settings.effective_filter())?;
/// assert!(!filter.follows_spans());
/// let _subscriber = tracing_subscriber::registry().with(filter);
///
/// assert!(LogFilter::new("info,[request{route=/notes}]=debug")?.follows_spans());
/// # Ok::<(), opskit_telemetry::InitError>(())
/// ```
#[derive(Debug)]
pub struct LogFilter(Directives);

// One per process, made once: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Directives {
    /// Targets and levels only: decided per callsite.
    Static(Targets),
    /// Span or field directives: `EnvFilter` follows the spans.
    Spans(EnvFilter),
}

impl LogFilter {
    /// The filter for `directives` (tracing-subscriber's syntax, as `RUST_LOG`).
    ///
    /// # Errors
    ///
    /// [`InitError::Filter`](super::InitError::Filter) when the directives do not
    /// parse.
    pub fn new(directives: &str) -> Result<Self, super::InitError> {
        // EnvFilter's parser is the reference: what it refuses is refused, and what
        // it accepts either means the same to Targets or goes to EnvFilter.
        let env = EnvFilter::try_new(directives)
            .map_err(|err| super::InitError::Filter(err.to_string()))?;
        // EnvFilter skips empty directives (a trailing comma); so does this. It does
        // not trim them: " info" names a target, and means that here too.
        let kept: Vec<&str> = directives
            .split(',')
            .filter(|directive| !directive.is_empty())
            .collect();
        let targets = (!kept.is_empty() && !directives.contains(['[', '{']))
            .then(|| kept.join(",").parse::<Targets>().ok())
            .flatten();
        Ok(Self(match targets {
            Some(targets) => Directives::Static(targets),
            None => Directives::Spans(env),
        }))
    }

    /// Whether this filter follows spans (its directives name spans or fields), the
    /// work per span that a filter of targets and levels does without.
    pub fn follows_spans(&self) -> bool {
        matches!(self.0, Directives::Spans(_))
    }
}

impl<S: Subscriber> Layer<S> for LogFilter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        match &self.0 {
            Directives::Static(targets) => Layer::<S>::register_callsite(targets, metadata),
            Directives::Spans(env) => Layer::<S>::register_callsite(env, metadata),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        match &self.0 {
            Directives::Static(targets) => Layer::<S>::max_level_hint(targets),
            Directives::Spans(env) => Layer::<S>::max_level_hint(env),
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        match &self.0 {
            Directives::Static(targets) => Layer::enabled(targets, metadata, ctx),
            Directives::Spans(env) => Layer::enabled(env, metadata, ctx),
        }
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        match &self.0 {
            Directives::Static(targets) => Layer::event_enabled(targets, event, ctx),
            Directives::Spans(env) => Layer::event_enabled(env, event, ctx),
        }
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let Directives::Spans(env) = &self.0 {
            Layer::on_new_span(env, attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Directives::Spans(env) = &self.0 {
            Layer::on_record(env, id, values, ctx);
        }
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        if let Directives::Spans(env) = &self.0 {
            Layer::on_enter(env, id, ctx);
        }
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        if let Directives::Spans(env) = &self.0 {
            Layer::on_exit(env, id, ctx);
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        if let Directives::Spans(env) = &self.0 {
            Layer::on_close(env, id, ctx);
        }
    }
}
