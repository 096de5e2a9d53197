//! The JSON log format, settings errors, and panics as events.

use opskit_config::Config;
use opskit_telemetry::{
    InitError, LogFormat, LogLevel, LogSettings, install_panic_hook, subscriber,
};
use opskit_testkit::CapturedLogs;
use opskit_testkit::assert_contains;
use serde_json::Value;

fn json() -> LogSettings {
    LogSettings {
        format: LogFormat::Json,
        ..LogSettings::default()
    }
}

#[test]
fn json_lines_carry_time_level_target_message_fields_and_spans() {
    let captured = CapturedLogs::default();
    let subscriber = subscriber(&json(), captured.clone(), true).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", route = "/notes/{id}");
        let _entered = span.enter();
        tracing::info!(event = "note.created", id = 42, "created note {}", 42);
        tracing::debug!("not shown at info");
    });
    let lines = captured.events();
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    let timestamp = line["timestamp"].as_str().unwrap();
    assert!(
        timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
        "{timestamp}"
    );
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["target"], "test_logging");
    assert_eq!(line["message"], "created note 42");
    assert_eq!(line["event"], "note.created");
    assert_eq!(line["id"], 42);
    assert_eq!(line["span"]["name"], "request");
    assert_eq!(line["span"]["route"], "/notes/{id}");
    assert_eq!(line["spans"][0]["name"], "request");
}

#[test]
fn span_fields_of_every_kind_are_json_values_of_that_kind() {
    #[derive(Debug)]
    struct Query {
        #[allow(dead_code)] // read through Debug only
        sql: &'static str,
    }
    let captured = CapturedLogs::default();
    let subscriber = subscriber(&json(), captured.clone(), false).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(
            "work",
            text = "a \"quoted\" line\nand a \\ tab\t\u{1}",
            signed = -7_i64,
            unsigned = 18_446_744_073_709_551_615_u64,
            ratio = 0.25,
            nan = f64::NAN,
            yes = true,
            shown = %format_args!("{} {}", "GET", "/notes/{id}"),
            query = ?Query { sql: "SELECT \"x\"" },
            later = tracing::field::Empty,
        );
        span.record("later", 3);
        let _entered = span.enter();
        tracing::info!(event = "work.done");
    });
    let line = &captured.events()[0];
    let span = &line["span"];
    assert_eq!(
        span["text"], "a \"quoted\" line\nand a \\ tab\t\u{1}",
        "{line}"
    );
    assert_eq!(span["signed"], -7);
    assert_eq!(span["unsigned"], u64::MAX);
    assert_eq!(span["ratio"], 0.25);
    assert_eq!(span["nan"], "NaN");
    assert_eq!(span["yes"], true);
    assert_eq!(span["shown"], "GET /notes/{id}");
    assert_eq!(span["query"], "Query { sql: \"SELECT \\\"x\\\"\" }");
    assert_eq!(span["later"], 3);
    assert_eq!(span["name"], "work");
}

#[test]
fn auto_is_json_off_a_terminal_and_text_on_one() {
    let auto = LogSettings::default();
    assert!(auto.is_json(false));
    assert!(!auto.is_json(true));
    let captured = CapturedLogs::default();
    let subscriber = subscriber(&auto, captured.clone(), true).unwrap();
    tracing::subscriber::with_default(subscriber, || tracing::warn!("hello people"));
    let text = captured.text();
    assert!(
        text.contains("WARN") && text.contains("hello people"),
        "{text}"
    );
    assert!(
        serde_json::from_str::<Value>(text.trim()).is_err(),
        "not JSON on a terminal"
    );
}

#[test]
fn rust_log_wins_over_log_level_and_bad_directives_are_an_error() {
    let settings =
        LogSettings::from_pairs([("LOG_LEVEL", "error"), ("RUST_LOG", "test_logging=debug")])
            .unwrap()
            .into_inner();
    assert_eq!(settings.level, LogLevel::Error);
    let captured = CapturedLogs::default();
    let debug = subscriber(
        &LogSettings {
            format: LogFormat::Json,
            ..settings
        },
        captured.clone(),
        false,
    )
    .unwrap();
    tracing::subscriber::with_default(debug, || tracing::debug!("visible"));
    assert_eq!(captured.events().len(), 1);

    let bad = LogSettings {
        filter: Some("info,[=".into()),
        ..json()
    };
    match subscriber(&bad, std::io::sink, false) {
        Err(InitError::Filter(message)) => assert!(!message.is_empty()),
        other => panic!("expected a filter error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn invalid_log_settings_are_reported_like_any_configuration() {
    let err = LogSettings::from_pairs([("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")]).unwrap_err();
    let report = InitError::from(err).to_string();
    assert_contains(
        &report,
        "LOG_FORMAT invalid value \"xml\": expected one of: json, pretty, auto",
    );
    assert_contains(&report, "LOG_LEVEL invalid value \"loud\"");
}

#[test]
fn a_panic_is_logged_as_a_structured_error_event() {
    let captured = CapturedLogs::default();
    let subscriber = subscriber(&json(), captured.clone(), false).unwrap();
    install_panic_hook();
    tracing::subscriber::with_default(subscriber, || {
        let result = std::panic::catch_unwind(|| panic!("the disk is full"));
        assert!(result.is_err());
    });
    let lines = captured.events();
    let panic = lines
        .iter()
        .find(|l| l["event"] == "service.panic")
        .expect("a service.panic event");
    assert_eq!(panic["level"], "ERROR");
    assert_eq!(
        panic["message"],
        "panic in thread a_panic_is_logged_as_a_structured_error_event: the disk is full"
    );
    assert_eq!(panic["panic_message"], "the disk is full");
    assert!(
        panic["location"]
            .as_str()
            .unwrap()
            .starts_with("crates/opskit-telemetry/tests/test_logging.rs:")
    );
    assert_eq!(
        panic["thread"],
        "a_panic_is_logged_as_a_structured_error_event"
    );
}

/// A secret that opskit-config loaded is redacted from every line, whoever writes
/// it: here a driver's warning that quotes a connection parameter, in the message
/// and in a field, as is and percent-encoded.
#[test]
fn secrets_loaded_by_the_config_are_redacted_from_lines_other_crates_write() {
    #[derive(Config)]
    #[config(prefix = "APP_")]
    #[allow(dead_code)]
    struct Settings {
        /// The database.
        database_url: opskit_secret::ConnectionString,
    }
    let canary = "ssl-canary-7f3e/91";
    let url = format!("postgres://app:pw-canary-2b8c@db/notes?sslpassword={canary}");
    Settings::from_pairs([("APP_DATABASE_URL", url.as_str())]).unwrap();

    let captured = CapturedLogs::default();
    let subscriber = subscriber(&json(), captured.clone(), true).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!(
            target: "sqlx::postgres::options",
            key = "sslpassword",
            value = canary,
            "ignoring unrecognized connect parameter sslpassword={canary} (encoded: ssl-canary-7f3e%2F91)"
        );
        // A driver quoting the whole URL: its password goes, the rest stays.
        tracing::warn!(target: "sqlx::postgres", "connecting to {url}");
    });
    let text = captured.text();
    let events = captured.events();
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(events[0]["value"], "[REDACTED]", "{text}");
    assert!(
        text.contains("@db/notes"),
        "the host stays readable: {text}"
    );
    for form in [canary, "ssl-canary-7f3e%2F91", "pw-canary-2b8c"] {
        assert!(!text.contains(form), "{form} in {text}");
    }
}
