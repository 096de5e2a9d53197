//! `#[config(range = "...")]`: a duration or number outside its range is a problem
//! of its variable that names both ends, reported with every other problem.

use std::time::Duration;

use opskit_config::{Config, Invalid, ProblemKind};
use opskit_testkit::assert_contains;

/// Settings with ranges.
#[derive(Config)]
#[config(prefix = "APP_")]
#[config(rule(workers_within_pool(workers, pool_size)))]
struct Settings {
    /// Longest a request may take.
    #[config(default = "30s", range = "100ms..=1h")]
    request_timeout: Duration,
    /// Worker threads.
    #[config(default = "4", range = "1..=64")]
    workers: u32,
    /// Connections in the pool.
    #[config(default = "8", range = "1..")]
    pool_size: u32,
    /// Share of requests traced.
    #[config(range = "0.0..=1.0")]
    trace_ratio: Option<f64>,
    /// Port to listen on.
    #[config(default = "8080")]
    port: u16,
}

fn workers_within_pool(workers: &u32, pool_size: &u32) -> Option<Invalid> {
    (workers > pool_size).then(|| Invalid::new("workers", "is above APP_POOL_SIZE"))
}

#[test]
fn a_value_outside_its_range_names_both_ends_with_every_other_problem() {
    let err = Settings::from_pairs([
        ("APP_REQUEST_TIMEOUT", "2h"),
        ("APP_WORKERS", "0"),
        ("APP_POOL_SIZE", "0"),
        ("APP_TRACE_RATIO", "1.5"),
        ("APP_PORT", "http"),
    ])
    .unwrap_err();
    let report = err.to_string();
    assert_eq!(
        report
            .lines()
            .filter(|l| l.starts_with("  APP_"))
            .collect::<Vec<_>>(),
        [
            "  APP_REQUEST_TIMEOUT invalid value \"2h\": expected a duration from 100ms to 1h (expected Duration)",
            "  APP_WORKERS invalid value \"0\": expected a whole number from 1 to 64 (expected u32)",
            "  APP_POOL_SIZE invalid value \"0\": expected a whole number of at least 1 (expected u32)",
            "  APP_TRACE_RATIO invalid value \"1.5\": expected a number from 0.0 to 1.0 (expected Option<f64>)",
            "  APP_PORT invalid value \"http\": expected a whole number from 0 to 65535 (expected u16)",
        ],
        "{report}"
    );
    assert_contains(&report, "      Longest a request may take.");
}

#[test]
fn the_ends_are_allowed_and_an_unset_option_is_in_range() {
    let loaded = Settings::from_pairs([
        ("APP_REQUEST_TIMEOUT", "100ms"),
        ("APP_WORKERS", "64"),
        ("APP_POOL_SIZE", "64"),
    ])
    .unwrap();
    assert_eq!(loaded.request_timeout, Duration::from_millis(100));
    assert_eq!(
        (loaded.workers, loaded.pool_size, loaded.port),
        (64, 64, 8080)
    );
    assert_eq!(loaded.trace_ratio, None);
    let loaded =
        Settings::from_pairs([("APP_REQUEST_TIMEOUT", "60m"), ("APP_TRACE_RATIO", "0")]).unwrap();
    assert_eq!(loaded.request_timeout, Duration::from_secs(3600));
    assert_eq!(loaded.trace_ratio, Some(0.0));
}

#[test]
fn a_rule_does_not_run_on_a_value_outside_its_range() {
    let err = Settings::from_pairs([("APP_WORKERS", "65"), ("APP_POOL_SIZE", "8")]).unwrap_err();
    let variables: Vec<&str> = err.problems().iter().map(|p| p.variable.as_str()).collect();
    assert_eq!(variables, ["APP_WORKERS"], "{err}");
    let err = Settings::from_pairs([("APP_WORKERS", "16"), ("APP_POOL_SIZE", "8")]).unwrap_err();
    assert!(
        err.to_string()
            .contains("APP_WORKERS invalid value \"16\": is above APP_POOL_SIZE")
    );
}

#[test]
fn a_default_or_a_range_in_the_code_that_breaks_is_a_bug_of_the_service() {
    /// Ranges written wrong.
    #[derive(Config)]
    #[allow(dead_code, reason = "it never loads")]
    #[config(prefix = "APP_")]
    struct Wrong {
        /// A default outside its own range.
        #[config(default = "0s", range = "1s..")]
        interval: Duration,
        /// A range whose end is not a duration.
        #[config(default = "1s", range = "1x..=2s")]
        delay: Duration,
        /// A range upside down.
        #[config(default = "1", range = "9..=1")]
        tries: u8,
    }
    let err = Wrong::from_pairs::<_, &str, &str>([]).unwrap_err();
    let kinds: Vec<&ProblemKind> = err.problems().iter().map(|p| &p.kind).collect();
    assert_eq!(
        kinds,
        [
            &ProblemKind::InvalidDefault {
                default: "0s".to_owned(),
                reason: "expected a duration of at least 1s".to_owned(),
            },
            &ProblemKind::InvalidRange {
                range: "1x..=2s".to_owned(),
                reason: format!(
                    "\"1x\": expected {}",
                    "a duration such as 30s, 500ms, 1m30s, 2h or 5 minutes (units: ns, us, ms, \
                     s, m, h, d, or their names such as sec, min, hours, days), at most 3650d"
                ),
            },
            &ProblemKind::InvalidRange {
                range: "9..=1".to_owned(),
                reason: "its lower end is above its upper end".to_owned(),
            },
        ],
        "{err}"
    );
    assert!(
        err.to_string().contains(
            "APP_DELAY the range \"1x..=2s\" in the code is not valid: \"1x\": expected a duration"
        ),
        "{err}"
    );
}
