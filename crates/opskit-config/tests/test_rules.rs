//! Rules across settings: a `#[config(rule(check(a, b)))]` runs whenever the fields it
//! reads parsed, so its problem is in the one report with every other problem; a
//! rule whose field failed does not run; `validate` runs only when every field parsed.

use std::net::SocketAddr;

use opskit_config::{Config, ConfigError, Invalid, ProblemKind};
use opskit_secret::canary::{Canary, assert_no_leak};
use opskit_secret::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Where the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Deployment {
    Local,
    Production,
}

/// Settings whose rules read some fields each.
#[derive(Config)]
#[config(prefix = "APP_", validate = "Settings::check")]
#[config(rule(wildcard_origins_only_locally(deployment, allowed_origins)))]
#[config(rule(Settings::public_listen_needs_a_token(listen, api_token)))]
#[config(rule(pool_bounds(db)))]
struct Settings {
    /// Address the HTTP server binds.
    #[config(default = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the service runs.
    #[config(default = "local")]
    deployment: Deployment,
    /// Origins allowed by CORS, comma-separated.
    #[config(default)]
    allowed_origins: Vec<String>,
    /// Token write requests must present.
    api_token: Option<SecretString>,
    /// Worker threads.
    #[config(default = "4")]
    workers: u32,
    /// The database pool.
    #[config(nested)]
    db: Pool,
}

/// A nested struct, read under `APP_DB_`.
#[derive(Config)]
struct Pool {
    /// Smallest pool size.
    #[config(default = "1")]
    min_connections: u32,
    /// Largest pool size.
    #[config(default = "10")]
    max_connections: u32,
}

fn wildcard_origins_only_locally(
    deployment: &Deployment,
    allowed_origins: &[String],
) -> Vec<Invalid> {
    let mut invalid = Vec::new();
    if *deployment == Deployment::Production && allowed_origins.iter().any(|o| o == "*") {
        invalid.push(Invalid::new(
            "allowed_origins",
            "allows every origin, which production refuses; list the origins",
        ));
    }
    invalid
}

impl Settings {
    fn public_listen_needs_a_token(
        listen: &SocketAddr,
        api_token: &Option<SecretString>,
    ) -> Vec<Invalid> {
        match api_token {
            None if !listen.ip().is_loopback() => vec![Invalid::new(
                "api_token",
                "is not set, and APP_LISTEN is not a loopback address; set a token",
            )],
            Some(token) if token.expose_secret().len() < 32 => vec![Invalid::new(
                "api_token",
                "is shorter than 32 characters; use a longer token",
            )],
            _ => Vec::new(),
        }
    }

    fn check(&self) -> Vec<Invalid> {
        let mut invalid = Vec::new();
        if self.workers > 64 {
            invalid.push(Invalid::new("workers", "is more than 64; lower it"));
        }
        invalid
    }
}

/// A rule may return one problem at most.
fn pool_bounds(db: &Pool) -> Option<Invalid> {
    (db.max_connections < db.min_connections).then(|| {
        Invalid::new(
            "db_max_connections",
            "is below APP_DB_MIN_CONNECTIONS; raise it or lower that",
        )
    })
}

fn variables(err: &ConfigError) -> Vec<&str> {
    err.problems().iter().map(|p| p.variable.as_str()).collect()
}

#[test]
fn a_rule_whose_fields_parsed_is_reported_with_a_field_that_failed() {
    let err = Settings::from_pairs([
        ("APP_LISTEN", "localhost"),
        ("APP_DEPLOYMENT", "production"),
        ("APP_ALLOWED_ORIGINS", "*"),
    ])
    .unwrap_err();
    assert_eq!(
        variables(&err),
        ["APP_LISTEN", "APP_ALLOWED_ORIGINS"],
        "{err}"
    );
    assert!(matches!(
        err.problems()[0].kind,
        ProblemKind::Invalid { .. }
    ));
    assert_eq!(
        err.problems()[1].kind,
        ProblemKind::Invalid {
            value: Some("\"*\"".to_owned()),
            reason: "allows every origin, which production refuses; list the origins".to_owned(),
        },
        "the rule's problem shows the value, as a parse problem does"
    );
    let report = err.to_string();
    assert!(
        report.starts_with("invalid configuration: 2 problems"),
        "{report}"
    );
    assert!(
        report.contains(
            "APP_ALLOWED_ORIGINS invalid value \"*\": allows every origin, which production \
             refuses; list the origins (expected Vec<String>)\n      Origins allowed by CORS"
        ),
        "{report}"
    );
}

#[test]
fn a_rule_whose_field_failed_does_not_run() {
    // LISTEN failed: the rule on LISTEN and API_TOKEN says nothing about the token.
    // DEPLOYMENT failed: the rule on DEPLOYMENT and ALLOWED_ORIGINS says nothing.
    let err = Settings::from_pairs([
        ("APP_LISTEN", "localhost"),
        ("APP_DEPLOYMENT", "prod"),
        ("APP_ALLOWED_ORIGINS", "*"),
    ])
    .unwrap_err();
    assert_eq!(variables(&err), ["APP_LISTEN", "APP_DEPLOYMENT"], "{err}");

    // A nested struct is a rule's input once every setting of it parsed.
    let err = Settings::from_pairs([
        ("APP_DB_MIN_CONNECTIONS", "many"),
        ("APP_DB_MAX_CONNECTIONS", "0"),
    ])
    .unwrap_err();
    assert_eq!(variables(&err), ["APP_DB_MIN_CONNECTIONS"], "{err}");
}

#[test]
fn a_nested_struct_that_parsed_is_a_rule_input_while_another_field_failed() {
    let err = Settings::from_pairs([
        ("APP_LISTEN", "localhost"),
        ("APP_DB_MIN_CONNECTIONS", "5"),
        ("APP_DB_MAX_CONNECTIONS", "2"),
    ])
    .unwrap_err();
    assert_eq!(
        variables(&err),
        ["APP_LISTEN", "APP_DB_MAX_CONNECTIONS"],
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "APP_DB_MAX_CONNECTIONS is below APP_DB_MIN_CONNECTIONS; raise it or lower that"
        ),
        "{err}"
    );
}

#[test]
fn problems_come_in_field_order_then_each_rule_in_the_order_written() {
    let pairs = [
        ("APP_DB_MAX_CONNECTIONS", "2"),
        ("APP_DB_MIN_CONNECTIONS", "5"),
        ("APP_LISTEN", "0.0.0.0:80"),
        ("APP_WORKERS", "many"),
        ("APP_ALLOWED_ORIGINS", "*"),
        ("APP_DEPLOYMENT", "production"),
    ];
    let expected = [
        "APP_WORKERS",
        "APP_ALLOWED_ORIGINS",
        "APP_API_TOKEN",
        "APP_DB_MAX_CONNECTIONS",
    ];
    let err = Settings::from_pairs(pairs).unwrap_err();
    assert_eq!(variables(&err), expected, "{err}");
    // Whatever order the environment lists the variables in.
    let mut reversed = pairs;
    reversed.reverse();
    let again = Settings::from_pairs(reversed).unwrap_err();
    assert_eq!(again, err);
}

#[test]
fn validate_runs_after_the_rules_and_only_when_every_field_parsed() {
    let pairs = [
        ("APP_WORKERS", "100"),
        ("APP_DEPLOYMENT", "production"),
        ("APP_ALLOWED_ORIGINS", "*"),
    ];
    let err = Settings::from_pairs(pairs).unwrap_err();
    assert_eq!(
        variables(&err),
        ["APP_ALLOWED_ORIGINS", "APP_WORKERS"],
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("APP_WORKERS invalid value \"100\": is more than 64; lower it"),
        "{err}"
    );

    let err =
        Settings::from_pairs(pairs.into_iter().chain([("APP_LISTEN", "localhost")])).unwrap_err();
    assert_eq!(
        variables(&err),
        ["APP_LISTEN", "APP_ALLOWED_ORIGINS"],
        "validate needs the whole struct, so a failed field skips it: {err}"
    );

    let loaded =
        Settings::from_pairs([("APP_WORKERS", "8"), ("APP_ALLOWED_ORIGINS", "*")]).unwrap();
    assert_eq!(loaded.workers, 8);
    assert_eq!(loaded.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(loaded.deployment, Deployment::Local);
    assert_eq!(loaded.allowed_origins, ["*"]);
    assert!(loaded.api_token.is_none());
    assert_eq!(loaded.db.max_connections, 10);
}

#[test]
fn a_rule_on_a_secret_never_shows_it() {
    let canary = Canary::new("token");
    let err = Settings::from_pairs([("APP_API_TOKEN", canary.value()), ("APP_WORKERS", "many")])
        .unwrap_err();
    assert_eq!(variables(&err), ["APP_WORKERS", "APP_API_TOKEN"], "{err}");
    assert_eq!(
        err.problems()[1].kind,
        ProblemKind::Invalid {
            value: None,
            reason: "is shorter than 32 characters; use a longer token".to_owned(),
        }
    );
    assert_no_leak(format!("{err}\n{err:?}"), canary.value(), "the report");
}
