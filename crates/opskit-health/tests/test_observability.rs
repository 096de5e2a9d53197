//! `health.changed` events on transitions only, and the check metrics.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use opskit_health::{CheckOptions, Outcome};
use opskit_testkit::CapturedLogs;

/// One test per binary: the metrics recorder is process-global.
#[tokio::test(start_paused = true)]
async fn transitions_are_logged_once_and_every_run_is_measured() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::set_global_recorder(recorder).unwrap();

    let captured = CapturedLogs::default();
    let subscriber = captured.json_subscriber();
    let _guard = tracing::subscriber::set_default(subscriber);

    // pass, pass, fail, fail, pass, then pass for ever: two check transitions after
    // the first (unknown -> pass), and the probe follows.
    let (check, runs) = common::counted(|n| async move {
        if n == 2 || n == 3 {
            Outcome::fail("database refused the connection")
        } else {
            Outcome::pass()
        }
    });
    let options = CheckOptions::new().interval(Duration::from_secs(1));
    let health = common::started("database", check, options);
    tokio::time::sleep(Duration::from_millis(7_500)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 8);

    let output = captured.text();
    let changes: Vec<serde_json::Value> = output
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["fields"]["event"] == "health.changed")
        .map(|e| e["fields"].clone())
        .collect();
    let checks: Vec<(String, String)> = changes
        .iter()
        .filter(|f| f["check"] == "database")
        .map(|f| {
            (
                f["from"].as_str().unwrap().to_owned(),
                f["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            ("unknown".into(), "pass".into()),
            ("pass".into(), "fail".into()),
            ("fail".into(), "pass".into())
        ]
    );
    let failing = changes
        .iter()
        .find(|f| f["to"] == "fail" && f["check"] == "database")
        .unwrap();
    assert_eq!(failing["output"], "database refused the connection");
    let probes: Vec<(String, String, String)> = changes
        .iter()
        .filter(|f| f["probe"] == "readiness")
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_owned();
            (s("from"), s("to"), s("reason"))
        })
        .collect();
    assert_eq!(
        probes,
        [
            ("fail".into(), "pass".into(), "checks".into()),
            ("pass".into(), "fail".into(), "checks".into()),
            ("fail".into(), "pass".into(), "checks".into()),
        ],
        "{output}"
    );

    let snapshot = snapshotter.snapshot().into_vec();
    let find = |name: &str| {
        snapshot
            .iter()
            .find(|(key, ..)| {
                key.key().name() == name
                    && key
                        .key()
                        .labels()
                        .any(|l| l.key() == "check" && l.value() == "database")
            })
            .map(|(_, _, _, value)| value)
            .unwrap_or_else(|| panic!("no metric {name}"))
    };
    assert_eq!(find("health_check_status"), &DebugValue::Gauge(1.0.into()));
    assert_eq!(find("health_check_failures_total"), &DebugValue::Counter(2));
    match find("health_check_duration_seconds") {
        DebugValue::Histogram(samples) => assert_eq!(samples.len(), 8),
        other => panic!("not a histogram: {other:?}"),
    }
    drop(health);
}
