//! One rule for values (trimmed, secrets included), defaults shown as they are,
//! rules across fields through `#[config(validate = "...")]`, and load-time warnings
//! that survive loading before logging.

use std::net::SocketAddr;

use opskit_config::{Config, Invalid, Requirement, WarningKind};
use opskit_secret::canary::{Canary, assert_no_leak};
use opskit_secret::{ConnectionString, ExposeSecret, SecretString};
use opskit_testkit::CapturedLogs;
use opskit_testkit::assert_contains;

/// Settings with a plain value, a list, and secrets.
#[derive(Config)]
#[config(prefix = "APP_", validate = "Settings::check")]
struct Settings {
    /// Address to bind.
    #[config(default = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Worker count.
    #[config(default = "4")]
    workers: u32,
    /// Allowed origins.
    #[config(default)]
    origins: Vec<String>,
    /// Database URL.
    #[config(default = "sqlite://data/app.db")]
    database_url: ConnectionString,
    /// API token.
    token: Option<SecretString>,
    /// Most workers allowed.
    #[config(default = "16")]
    max_workers: u32,
}

impl Settings {
    fn check(&self) -> Vec<Invalid> {
        let mut invalid = Vec::new();
        if self.workers > self.max_workers {
            invalid.push(Invalid::new(
                "workers",
                format!(
                    "is above APP_MAX_WORKERS ({}); lower it or raise that",
                    self.max_workers
                ),
            ));
        }
        if !self.database_url.expose_secret().starts_with("sqlite:") {
            invalid.push(Invalid::new(
                "database_url",
                "uses a scheme this service was not built for; supported: sqlite",
            ));
        }
        invalid
    }
}

#[test]
fn every_value_is_trimmed_the_same_way_secrets_included() {
    let loaded = Settings::from_pairs([
        ("APP_LISTEN", " 127.0.0.1:9000 "),
        ("APP_WORKERS", " 8 "),
        ("APP_DATABASE_URL", "  sqlite://data/other.db \t"),
        ("APP_TOKEN", " t0ken "),
    ])
    .unwrap();
    assert_eq!(loaded.listen, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(loaded.workers, 8);
    assert_eq!(
        loaded.database_url.expose_secret(),
        "sqlite://data/other.db",
        "the value used is the value shown"
    );
    assert_eq!(loaded.token.as_ref().unwrap().expose_secret(), "t0ken");
    let summary = loaded.summary().to_string();
    assert_contains(&summary, "APP_DATABASE_URL=sqlite://data/other.db");
}

#[test]
fn defaults_show_as_values_and_a_url_default_is_masked_the_same_everywhere() {
    let loaded = Settings::from_pairs::<_, &str, &str>([]).unwrap();
    assert!(loaded.origins.is_empty());
    let summary = loaded.summary().to_string();
    // Written as it is read: set back into the variable, it loads the same value.
    assert!(summary.contains("APP_ORIGINS= "), "{summary}");
    assert!(!summary.contains("[]"), "{summary}");
    assert!(!summary.contains("Default::default()"), "{summary}");
    assert!(
        summary.contains("APP_DATABASE_URL=sqlite://data/app.db"),
        "a URL with no password has nothing to hide:\n{summary}"
    );
    let described = Settings::describe();
    let url = described
        .settings()
        .iter()
        .find(|s| s.variable == "APP_DATABASE_URL")
        .unwrap();
    assert_eq!(
        url.requirement,
        Requirement::Default(Some("sqlite://data/app.db".into()))
    );
}

#[test]
fn a_secret_default_with_a_password_is_masked_in_the_summary_and_the_listing() {
    /// A default that (wrongly) holds a password.
    #[derive(Config)]
    #[config(prefix = "APP_")]
    struct Defaulted {
        /// Database URL.
        #[config(default = "postgres://app:Canary-default-pw@db/app")]
        database_url: ConnectionString,
    }
    let loaded = Defaulted::from_pairs::<_, &str, &str>([]).unwrap();
    assert!(loaded.database_url.expose_secret().ends_with("@db/app"));
    let summary = loaded.summary().to_string();
    assert_contains(&summary, "APP_DATABASE_URL=postgres://app:***@db/app");
    let listing = Defaulted::describe().to_markdown() + &Defaulted::describe().to_env_example();
    assert!(listing.contains("postgres://app:***@db/app"), "{listing}");
    assert_no_leak(
        &(summary + &listing),
        "Canary-default-pw",
        "summary and listing",
    );
}

#[test]
fn rules_across_fields_are_problems_of_the_variable_reported_with_the_rest() {
    let canary = Canary::new("url");
    let url = format!("postgres://app:{}@db/app", canary.value());
    let err = Settings::from_pairs([("APP_WORKERS", "32"), ("APP_DATABASE_URL", url.as_str())])
        .unwrap_err();
    let variables: Vec<&str> = err.problems().iter().map(|p| p.variable.as_str()).collect();
    assert_eq!(variables, ["APP_WORKERS", "APP_DATABASE_URL"]);
    let report = err.to_string();
    assert_contains(
        &report,
        "APP_WORKERS invalid value \"32\": is above APP_MAX_WORKERS (16)",
    );
    assert!(report.contains("supported: sqlite"), "{report}");
    assert_no_leak(format!("{report}\n{err:?}"), canary.value(), "the report");
    assert_eq!(err.exit_code(), 78);

    // A field's own problem and a rule's problem come out together.
    let err = Settings::from_pairs([("APP_WORKERS", "32"), ("APP_LISTEN", "nowhere")]).unwrap_err();
    assert_eq!(
        err.problems().len(),
        1,
        "a field that failed stops the rule check: {err}"
    );
    assert_eq!(err.problems()[0].variable, "APP_LISTEN");
}

#[test]
fn warnings_of_a_load_before_logging_are_logged_once_logging_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "t0ken").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = path.to_str().unwrap().to_owned();

    // No subscriber: the load keeps its warnings, in `warnings()` and for later.
    let loaded =
        Settings::from_pairs([("APP_TOKEN_FILE", path.as_str()), ("APP_WORKRES", "2")]).unwrap();
    let kinds: Vec<&WarningKind> = loaded.warnings().iter().map(|w| &w.kind).collect();
    assert!(
        matches!(
            kinds.as_slice(),
            [
                WarningKind::UnknownVariable { .. },
                WarningKind::SharedSecretFile { mode: 0o644, .. }
            ]
        ),
        "{kinds:?}"
    );
    loaded.log_warnings();

    let captured = CapturedLogs::default();
    tracing::subscriber::with_default(captured.json_subscriber(), || {
        opskit_config::log_pending_warnings();
        // Once only.
        opskit_config::log_pending_warnings();
    });
    let output = captured.text();
    let events: Vec<String> = output
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|l| l["fields"]["event"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        events,
        ["config.unknown_variable", "secret.file_permissions"],
        "{output}"
    );
    assert!(output.contains("APP_TOKEN_FILE"), "{output}");
}

/// How requests are logged.
#[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Verbosity {
    Errors,
    All,
}

/// Settings whose text and value differ.
#[derive(Config)]
#[config(prefix = "SHOWN_")]
struct Shown {
    /// Allowed origins.
    #[config(default)]
    origins: Vec<String>,
    /// Request logging.
    #[config(default = "errors")]
    verbosity: Verbosity,
    /// A timeout.
    #[config(default = "1s")]
    timeout: std::time::Duration,
}

/// The summary shows the value used, in the form it is read in, not the raw text:
/// empty list items dropped, an enum by its name, a duration normalized.
#[test]
fn the_summary_shows_the_value_used() {
    let loaded = Shown::from_pairs([
        ("SHOWN_ORIGINS", "a,,b,"),
        ("SHOWN_VERBOSITY", "ALL"),
        ("SHOWN_TIMEOUT", "90 seconds"),
    ])
    .unwrap();
    assert_eq!(loaded.verbosity, Verbosity::All);
    let summary = loaded.summary();
    let shown = |variable| summary.get(variable).unwrap().value.unwrap().to_owned();
    assert_eq!(shown("SHOWN_ORIGINS"), "a,b");
    assert_eq!(shown("SHOWN_VERBOSITY"), "all");
    assert_eq!(shown("SHOWN_TIMEOUT"), "1m 30s");
    // Each, set back, loads the same value.
    let again = Shown::from_pairs([
        ("SHOWN_ORIGINS", shown("SHOWN_ORIGINS").as_str()),
        ("SHOWN_VERBOSITY", shown("SHOWN_VERBOSITY").as_str()),
        ("SHOWN_TIMEOUT", shown("SHOWN_TIMEOUT").as_str()),
    ])
    .unwrap();
    assert_eq!(again.origins, loaded.origins);
    assert_eq!(again.timeout, loaded.timeout);
}

/// `--env-example` is a file a user can uncomment line by line and run: an empty
/// list default is an empty value, never `[]`.
#[test]
fn the_env_example_loads_when_every_line_is_uncommented() {
    let example = Shown::describe().to_env_example();
    assert!(example.contains("#SHOWN_ORIGINS=\n"), "{example}");
    let pairs: Vec<(String, String)> = example
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    assert_eq!(pairs.len(), 3, "{example}");
    let loaded = Shown::from_pairs(pairs).unwrap();
    assert!(loaded.origins.is_empty());
    assert_eq!(loaded.verbosity, Verbosity::Errors);
}
