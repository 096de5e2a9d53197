//! Loading through the public API: values, defaults, names, and every problem at once.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use opskit_config::{Config, ProblemKind, Requirement, Source};
use opskit_secret::canary::{Canary, assert_no_leak};
use opskit_secret::{ConnectionString, ExposeSecret, SecretString};
use opskit_testkit::assert_contains;
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Format {
    Json,
    Pretty,
}

/// Settings of the database connection pool.
#[derive(Config)]
struct Pool {
    /// Largest number of open connections.
    #[config(default = "10")]
    max_connections: u32,
    /// How long to wait for a free connection.
    #[config(default = "5s")]
    acquire_timeout: Duration,
}

/// A service's settings.
#[derive(Config)]
#[config(prefix = "APP_")]
struct Settings {
    /// Address to bind.
    listen: SocketAddr,
    /// Log format.
    #[config(default = "json")]
    log_format: Format,
    /// Whether to print debug output.
    #[config(default = "false")]
    debug: bool,
    /// Allowed origins.
    #[config(default)]
    origins: Vec<String>,
    /// Public URL of the service.
    public_url: Option<url::Url>,
    /// Database connection URL.
    #[config(name = "DATABASE_URL")]
    database_url: ConnectionString,
    /// Token for writes.
    api_token: SecretString,
    /// Signing key, a plain type marked secret.
    #[config(secret)]
    signing_key: Option<String>,
    /// The database pool.
    #[config(nested)]
    pool: Pool,
    /// The replica pool.
    #[config(nested, prefix = "REPLICA_")]
    replica: Pool,
}

fn valid() -> Vec<(&'static str, String)> {
    vec![
        ("APP_LISTEN", "127.0.0.1:8080".into()),
        ("DATABASE_URL", "postgres://app:pw@db:5432/notes".into()),
        ("APP_API_TOKEN", "t0ken".into()),
    ]
}

#[test]
fn loads_values_defaults_and_nested_settings() {
    let mut env = valid();
    env.extend([
        ("APP_LOG_FORMAT", "pretty".into()),
        ("APP_DEBUG", "On".into()),
        (
            "APP_ORIGINS",
            " https://a.example ,https://b.example, ".into(),
        ),
        ("APP_PUBLIC_URL", "https://notes.example/".into()),
        ("APP_POOL_MAX_CONNECTIONS", "32".into()),
        ("APP_REPLICA_ACQUIRE_TIMEOUT", "1m30s".into()),
    ]);
    let loaded = Settings::from_pairs(env).unwrap();
    assert_eq!(loaded.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(loaded.log_format, Format::Pretty);
    assert!(loaded.debug);
    assert_eq!(loaded.origins, ["https://a.example", "https://b.example"]);
    assert_eq!(
        loaded.public_url.as_ref().unwrap().host_str(),
        Some("notes.example")
    );
    assert_eq!(
        loaded.database_url.expose_secret(),
        "postgres://app:pw@db:5432/notes"
    );
    assert_eq!(loaded.api_token.expose_secret(), "t0ken");
    assert_eq!(loaded.signing_key, None);
    assert_eq!(loaded.pool.max_connections, 32);
    assert_eq!(loaded.pool.acquire_timeout, Duration::from_secs(5));
    assert_eq!(loaded.replica.max_connections, 10);
    assert_eq!(loaded.replica.acquire_timeout, Duration::from_secs(90));
    assert!(loaded.warnings().is_empty(), "{:?}", loaded.warnings());
}

#[test]
fn reports_every_problem_at_once_with_name_reason_type_and_doc() {
    let err = Settings::from_pairs([
        ("APP_LISTEN", "localhost"),
        ("APP_LOG_FORMAT", "xml"),
        ("APP_DEBUG", "maybe"),
        ("DATABASE_URL", ""),
        ("APP_POOL_MAX_CONNECTIONS", "-1"),
        ("APP_REPLICA_ACQUIRE_TIMEOUT", "90"),
    ])
    .unwrap_err();
    let by_name: Vec<(&str, &ProblemKind)> = err
        .problems()
        .iter()
        .map(|p| (p.variable.as_str(), &p.kind))
        .collect();
    let names: Vec<&str> = by_name.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "APP_LISTEN",
            "APP_LOG_FORMAT",
            "APP_DEBUG",
            "DATABASE_URL",
            "APP_API_TOKEN",
            "APP_POOL_MAX_CONNECTIONS",
            "APP_REPLICA_ACQUIRE_TIMEOUT",
        ]
    );
    assert_eq!(by_name[3].1, &ProblemKind::Empty);
    assert_eq!(by_name[4].1, &ProblemKind::Missing);

    let report = err.to_string();
    for expected in [
        "invalid configuration: 7 problems",
        "APP_LISTEN invalid value \"localhost\": invalid socket address syntax (expected SocketAddr)",
        "      Address to bind.",
        "APP_LOG_FORMAT invalid value \"xml\": expected one of: json, pretty (expected Format)",
        "APP_DEBUG invalid value \"maybe\": expected a boolean: true/false, 1/0, yes/no or on/off (any case) (expected bool)",
        "DATABASE_URL is set but empty (or only whitespace), and this setting has no default (expected ConnectionString, secret)",
        "APP_API_TOKEN is not set, and this setting has no default (expected SecretString, secret)",
        "      Token for writes.",
        "APP_POOL_MAX_CONNECTIONS invalid value \"-1\": expected a whole number from 0 to 4294967295 (expected u32)",
        "APP_REPLICA_ACQUIRE_TIMEOUT invalid value \"90\": expected a duration such as 30s",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
}

#[test]
fn secret_values_never_appear_in_errors_or_the_summary() {
    let token = Canary::new("token");
    let key = Canary::new("key");
    let password = Canary::new("password");
    // Invalid secrets: a token that is fine, a URL that is not a URL, a key that
    // is fine, then the same through the summary.
    let bad_url = format!("app:{}@db/notes", password.value());
    let err = Settings::from_pairs([
        ("APP_LISTEN", "127.0.0.1:1".to_owned()),
        ("DATABASE_URL", bad_url),
        ("APP_API_TOKEN", token.value().to_owned()),
        ("APP_SIGNING_KEY", key.value().to_owned()),
    ])
    .unwrap_err();
    let report = format!("{err}\n{err:?}\n{}", serde_json::to_string(&err).unwrap());
    for canary in [&token, &key, &password] {
        assert_no_leak(&report, canary.value(), "the error report");
    }
    assert_contains(
        &report,
        "DATABASE_URL invalid value: the connection URL has no host",
    );

    let loaded = Settings::from_pairs([
        ("APP_LISTEN", "127.0.0.1:1".to_owned()),
        (
            "DATABASE_URL",
            format!(
                "postgres://app:{}@db/notes?sslpassword={}",
                password.value(),
                key.value()
            ),
        ),
        ("APP_API_TOKEN", token.value().to_owned()),
        ("APP_SIGNING_KEY", key.value().to_owned()),
    ])
    .unwrap();
    let summary = format!(
        "{}\n{:?}\n{}\n{loaded:?}",
        loaded.summary(),
        loaded.summary(),
        loaded.summary().to_json()
    );
    for canary in [&token, &key, &password] {
        assert_no_leak(&summary, canary.value(), "the summary");
    }
    assert!(summary.contains("DATABASE_URL=postgres://app:***@db/notes?sslpassword=*** (env)"));
    assert!(summary.contains("APP_API_TOKEN=[REDACTED] (env)"));
    assert!(summary.contains("APP_SIGNING_KEY=[REDACTED] (env)"));
}

#[test]
fn third_party_parser_messages_that_quote_a_secret_are_withheld() {
    /// Settings with a secret URL.
    #[derive(Config)]
    #[allow(dead_code)]
    struct S {
        /// A secret URL parsed by the url crate, whose errors quote the input.
        #[config(secret)]
        webhook: url::Url,
        /// The same type, not secret.
        homepage: url::Url,
    }
    let canary = Canary::new("hook");
    let err = S::from_pairs([("WEBHOOK", canary.value()), ("HOMEPAGE", "not-a-url")]).unwrap_err();
    let report = err.to_string();
    assert_no_leak(&report, canary.value(), "the report");
    assert_contains(
        &report,
        "WEBHOOK invalid value: the value does not parse as this type",
    );
    assert_contains(&report, "HOMEPAGE invalid value \"not-a-url\"");
}

#[test]
fn typos_with_the_prefix_are_warnings_with_the_closest_name() {
    let mut env = valid();
    env.extend([
        ("APP_LISTNE", "x".into()),
        ("APP_POOL_MAX_CONECTIONS", "3".into()),
        ("APP_DEBUG_FILE", "/x".into()),
        ("APP_COMPLETELY_UNRELATED", "1".into()),
        ("APP_API_TOKEN_FILE_", "1".into()),
        ("OTHER_THING", "ignored without the prefix".into()),
    ]);
    let loaded = Settings::from_pairs(env).unwrap();
    let warnings: Vec<String> = loaded.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "APP_API_TOKEN_FILE_ is not a setting; did you mean APP_API_TOKEN_FILE?",
            "APP_COMPLETELY_UNRELATED is not a setting of this service and is ignored",
            "APP_DEBUG_FILE is not a setting: APP_DEBUG is not a secret, so it is read only from APP_DEBUG",
            "APP_LISTNE is not a setting; did you mean APP_LISTEN?",
            "APP_POOL_MAX_CONECTIONS is not a setting; did you mean APP_POOL_MAX_CONNECTIONS?",
        ]
    );
}

#[test]
fn a_typo_is_listed_beside_the_missing_variable_it_explains() {
    let err = Settings::from_pairs([
        ("APP_LISTEN", "127.0.0.1:1"),
        ("DATABASE_URL", "postgres://db/notes"),
        ("APP_API_TOKN", "t"),
    ])
    .unwrap_err();
    let report = err.to_string();
    assert!(report.contains("APP_API_TOKEN is not set"), "{report}");
    assert_contains(
        &report,
        "warning: APP_API_TOKN is not a setting; did you mean APP_API_TOKEN?",
    );
}

#[test]
fn the_summary_says_where_each_value_came_from() {
    let loaded = Settings::from_pairs(valid()).unwrap();
    let summary = loaded.summary();
    assert_eq!(summary.get("APP_LISTEN").unwrap().source, Source::Env);
    assert_eq!(
        summary.get("APP_LOG_FORMAT").unwrap().source,
        Source::Default
    );
    assert_eq!(summary.get("APP_LOG_FORMAT").unwrap().value, Some("json"));
    assert_eq!(summary.get("APP_PUBLIC_URL").unwrap().source, Source::Unset);
    assert_eq!(summary.get("APP_PUBLIC_URL").unwrap().value, None);
    assert_eq!(
        summary.get("APP_POOL_ACQUIRE_TIMEOUT").unwrap().value,
        Some("5s")
    );
    assert_eq!(summary.len(), Settings::describe().settings().len());
}

/// A setting's default, as the listing shows it.
fn default(value: &'static str) -> Requirement {
    Requirement::Default(Some(value.into()))
}

#[test]
fn describe_lists_every_variable_with_requirement_and_secrecy() {
    let description = Settings::describe();
    let rows: Vec<(&str, &Requirement, bool, &str)> = description
        .settings()
        .iter()
        .map(|s| {
            (
                s.variable.as_str(),
                &s.requirement,
                s.secret,
                s.field.as_str(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("APP_LISTEN", &Requirement::Required, false, "listen"),
            ("APP_LOG_FORMAT", &default("json"), false, "log_format"),
            ("APP_DEBUG", &default("false"), false, "debug"),
            (
                "APP_ORIGINS",
                // Written as it is read: an empty list is an empty value.
                &default(""),
                false,
                "origins"
            ),
            (
                "APP_PUBLIC_URL",
                &Requirement::Optional,
                false,
                "public_url"
            ),
            ("DATABASE_URL", &Requirement::Required, true, "database_url"),
            ("APP_API_TOKEN", &Requirement::Required, true, "api_token"),
            (
                "APP_SIGNING_KEY",
                &Requirement::Optional,
                true,
                "signing_key"
            ),
            (
                "APP_POOL_MAX_CONNECTIONS",
                &default("10"),
                false,
                "pool.max_connections"
            ),
            (
                "APP_POOL_ACQUIRE_TIMEOUT",
                &default("5s"),
                false,
                "pool.acquire_timeout"
            ),
            (
                "APP_REPLICA_MAX_CONNECTIONS",
                &default("10"),
                false,
                "replica.max_connections"
            ),
            (
                "APP_REPLICA_ACQUIRE_TIMEOUT",
                &default("5s"),
                false,
                "replica.acquire_timeout"
            ),
        ]
    );
    let secrets: BTreeSet<_> = description
        .settings()
        .iter()
        .filter_map(|s| s.file_variable.as_deref())
        .collect();
    assert_eq!(
        secrets,
        BTreeSet::from([
            "APP_API_TOKEN_FILE",
            "APP_SIGNING_KEY_FILE",
            "DATABASE_URL_FILE"
        ])
    );
    let markdown = description.to_markdown();
    assert_eq!(markdown.lines().count(), 2 + 12);
    assert!(markdown.contains("| `APP_SIGNING_KEY` | `Option<String>` | no | | yes (or `APP_SIGNING_KEY_FILE`) | Signing key, a plain type marked secret. |"));
}

#[test]
fn non_utf8_values_are_reported_not_panicked_on() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let mut env: Vec<(OsString, OsString)> = valid()
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    env.push((
        "APP_LISTEN".into(),
        OsString::from_vec(vec![0x66, 0xff, 0x6f]),
    ));
    env.push(("APP_API_TOKEN".into(), OsString::from_vec(vec![0xc3, 0x28])));
    let err = Settings::from_pairs(env).unwrap_err();
    let kinds: Vec<(&str, &ProblemKind)> = err
        .problems()
        .iter()
        .map(|p| (p.variable.as_str(), &p.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("APP_LISTEN", &ProblemKind::NotUnicode),
            ("APP_API_TOKEN", &ProblemKind::NotUnicode)
        ]
    );
}

#[test]
fn an_invalid_default_in_code_is_reported_as_a_bug_not_a_panic() {
    /// Settings with a broken default.
    #[derive(Config)]
    struct Broken {
        /// A port whose default is out of range.
        #[config(default = "99999")]
        port: u16,
    }
    let err = Broken::from_pairs(Vec::<(String, String)>::new()).unwrap_err();
    assert_eq!(
        err.problems()[0].kind,
        ProblemKind::InvalidDefault {
            default: "99999".into(),
            reason: "expected a whole number from 0 to 65535".into()
        }
    );
    assert!(
        err.to_string()
            .contains("this is a bug in the service, not in its environment")
    );
    // Setting the variable works around it.
    assert_eq!(Broken::from_pairs([("PORT", "80")]).unwrap().port, 80);
}

#[test]
fn without_a_prefix_names_are_bare_and_typos_are_not_guessed() {
    /// Bare settings.
    #[derive(Config)]
    struct Bare {
        /// Port.
        port: u16,
        /// Raw identifier field.
        r#type: String,
    }
    let loaded = Bare::from_pairs([("PORT", "1"), ("TYPE", "x"), ("PROT", "2")]).unwrap();
    assert_eq!((loaded.port, loaded.r#type.as_str()), (1, "x"));
    assert!(loaded.warnings().is_empty());
}

#[test]
fn from_env_reads_the_process_environment() {
    /// Settings read from the real environment.
    #[derive(Config)]
    #[config(prefix = "OPSKIT_TEST_FROM_ENV_")]
    struct FromEnv {
        /// Home directory, which every test runner's environment has.
        #[config(name = "PATH")]
        path: String,
        /// Not set anywhere.
        absent: Option<u8>,
    }
    let loaded = FromEnv::from_env().unwrap();
    assert_eq!(loaded.path, std::env::var("PATH").unwrap());
    assert_eq!(loaded.absent, None);
}

#[test]
fn containers_of_secrets_are_secrets() {
    /// Settings with secrets inside containers.
    #[derive(Config)]
    struct Keys {
        /// Signing keys, newest first.
        signing_keys: Vec<SecretString>,
        /// Old keys still accepted.
        old_keys: Option<Vec<SecretString>>,
    }
    let new = Canary::new("new-key");
    let old = Canary::new("old-key");
    let loaded = Keys::from_pairs([
        ("SIGNING_KEYS", format!("{},second", new.value())),
        ("OLD_KEYS", old.value().to_owned()),
    ])
    .unwrap();
    assert_eq!(loaded.signing_keys.len(), 2);
    assert_eq!(loaded.signing_keys[0].expose_secret(), new.value());
    assert_eq!(
        loaded.old_keys.as_ref().unwrap()[0].expose_secret(),
        old.value()
    );
    let summary = format!("{}", loaded.summary());
    assert_eq!(
        summary,
        "SIGNING_KEYS=[REDACTED] (env)\nOLD_KEYS=[REDACTED] (env)"
    );
    assert!(Keys::describe().settings().iter().all(|s| s.secret));
    assert_no_leak(&summary, new.value(), "the summary");
    assert_no_leak(&summary, old.value(), "the summary");
}

/// Settings whose every field has a default.
#[derive(Config)]
#[config(prefix = "BLANK_")]
struct Defaults {
    /// Address to bind.
    #[config(default = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// How long to wait.
    #[config(default = "5s")]
    timeout: Duration,
    /// Allowed origins.
    #[config(default)]
    origins: Vec<String>,
}

/// Values are trimmed first and an empty value counts as unset, so a value of only
/// blanks (`LISTEN="   "`, a template's quoted placeholder) takes the default too.
#[test]
fn a_whitespace_only_value_counts_as_unset_as_an_empty_one_does() {
    for blank in ["", "   ", " \t "] {
        let loaded = Defaults::from_pairs([
            ("BLANK_LISTEN", blank),
            ("BLANK_TIMEOUT", blank),
            ("BLANK_ORIGINS", blank),
        ])
        .unwrap_or_else(|err| panic!("{blank:?}: {err}"));
        assert_eq!(loaded.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(loaded.timeout, Duration::from_secs(5));
        assert!(loaded.origins.is_empty());
        assert!(
            loaded
                .summary()
                .entries()
                .all(|entry| entry.source == Source::Default),
            "{blank:?}"
        );
    }
}

/// A database URL.
#[derive(Config)]
#[config(prefix = "SHOWURL_")]
struct UrlOnly {
    /// Database URL.
    database_url: ConnectionString,
}

/// A connection string is a secret for its password only: once loaded, the log
/// writer's redaction hides the password and leaves the host, database and file
/// readable, so an operator can see which database failed.
#[test]
fn a_connection_string_keeps_its_host_visible_in_logs() {
    for url in [
        "postgres://app@127.0.0.1:9/bm",
        "sqlite:///missing-dir/b.db",
    ] {
        let loaded = UrlOnly::from_pairs([("SHOWURL_DATABASE_URL", url)]).unwrap();
        assert_eq!(loaded.database_url.masked(), url);
        assert_eq!(
            opskit_secret::redaction::redact(&format!("cannot reach {url}")),
            format!("cannot reach {url}")
        );
    }
    UrlOnly::from_pairs([(
        "SHOWURL_DATABASE_URL",
        "postgres://app:Canary-url-pw-7d1@db.internal/bm",
    )])
    .unwrap();
    assert_eq!(
        opskit_secret::redaction::redact(
            "login to postgres://app:Canary-url-pw-7d1@db.internal/bm"
        ),
        "login to postgres://app:[REDACTED]@db.internal/bm"
    );
}
