//! `LogFilter` lets through exactly what `EnvFilter` lets through, for directives
//! of targets and levels (kept without following spans) and for span directives.

use std::sync::{Arc, Mutex};

use opskit_telemetry::LogFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Records the target and level of every event that reaches it.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber> Layer<S> for Seen {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut seen = self.0.lock().unwrap();
        seen.push(format!("{} {}", meta.target(), meta.level()));
    }
}

macro_rules! every_level {
    ($target:literal) => {
        tracing::event!(target: $target, Level::TRACE, "t");
        tracing::event!(target: $target, Level::DEBUG, "d");
        tracing::event!(target: $target, Level::INFO, "i");
        tracing::event!(target: $target, Level::WARN, "w");
        tracing::event!(target: $target, Level::ERROR, "e");
    };
}

/// Events of several targets at every level, outside and inside a `request` span.
fn emit() {
    every_level!("notes");
    every_level!("notes::routes");
    every_level!("sqlx");
    every_level!("sqlx::query");
    every_level!("hyper");
    every_level!("opskit_telemetry::lifecycle");
    let span = tracing::info_span!("request", route = "/notes/{id}");
    let _entered = span.enter();
    every_level!("notes");
    every_level!("sqlx::query");
}

fn passed(filter: impl Layer<tracing_subscriber::Registry> + Send + Sync) -> Vec<String> {
    let seen = Seen::default();
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(seen.clone());
    tracing::subscriber::with_default(subscriber, emit);
    seen.0.lock().unwrap().clone()
}

#[test]
fn targets_and_levels_pass_what_env_filter_passes_without_following_spans() {
    for directives in [
        "info",
        "warn",
        "ERROR",
        "trace",
        "off",
        "notes",
        "warn,notes=debug",
        "sqlx=warn,info",
        "info,sqlx::query=off",
        "notes::routes=trace,notes=error,warn",
        "info,sqlx=warn,",
        " info",
        "debug,hyper=info,opskit_telemetry=warn",
    ] {
        let filter = LogFilter::new(directives).unwrap();
        assert!(!filter.follows_spans(), "{directives:?} names no span");
        let expected = passed(EnvFilter::try_new(directives).unwrap());
        assert_eq!(passed(filter), expected, "directives {directives:?}");
    }
}

#[test]
fn span_directives_follow_spans_as_env_filter_does() {
    for directives in [
        "warn,[request]=debug",
        "error,[request{route}]=trace",
        "info,[{route}]=debug",
    ] {
        let filter = LogFilter::new(directives).unwrap();
        assert!(filter.follows_spans(), "{directives:?} names a span");
        let got = passed(filter);
        assert_eq!(
            got,
            passed(EnvFilter::try_new(directives).unwrap()),
            "directives {directives:?}"
        );
        assert!(
            got.iter().any(|line| line.ends_with("DEBUG")),
            "{directives:?}: the span's directive lets more through inside it: {got:?}"
        );
    }
}

#[test]
fn directives_env_filter_refuses_are_refused() {
    for directives in ["info,[=", "notes=loud", "a=b=c"] {
        let err = LogFilter::new(directives).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("RUST_LOG is not a valid filter"),
            "{directives:?}: {err}"
        );
        assert!(EnvFilter::try_new(directives).is_err(), "{directives:?}");
    }
}
