//! Scheduling, timeouts, thresholds and panics, on Tokio's paused clock: time only
//! moves when every task waits, so these run in milliseconds and exactly.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use opskit_health::{CheckOptions, Health, Outcome, Probe, Status, Tolerant};
use tower::{ServiceExt, service_fn};

type App = tower::util::BoxCloneService<
    Request<()>,
    http::Response<opskit_health::ResponseBody<http_body_util::Full<bytes::Bytes>>>,
    std::convert::Infallible,
>;

fn app(health: &Health) -> App {
    tower::util::BoxCloneService::new(tower::Layer::layer(
        &health.layer(),
        service_fn(|_: Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(
                bytes::Bytes::from_static(b"app"),
            )))
        }),
    ))
}

async fn get(app: &App, path: &str) -> (StatusCode, serde_json::Value) {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

/// `path` answers 503 with `check`'s output `output`; returns the check's entry.
async fn assert_fails_with(app: &App, path: &str, check: &str, output: &str) -> serde_json::Value {
    let (status, body) = get(app, path).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let entry = body["checks"][format!("{check}:responseTime")][0].clone();
    assert_eq!(entry["output"], output, "{body}");
    entry
}

/// A check that counts its runs and answers from a script.
fn scripted(script: Vec<Outcome>) -> (impl opskit_health::Check, Arc<AtomicU32>) {
    common::counted(move |n| {
        let outcome = script
            .get(n as usize)
            .or(script.last())
            .cloned()
            .unwrap_or_else(Outcome::pass);
        async move { outcome }
    })
}

#[tokio::test(start_paused = true)]
async fn each_check_runs_on_its_own_interval() {
    let (fast, fast_runs) = scripted(vec![Outcome::pass()]);
    let (slow, slow_runs) = scripted(vec![Outcome::pass()]);
    let health = Health::builder()
        .check(
            "fast",
            fast,
            CheckOptions::new().interval(Duration::from_secs(1)),
        )
        .check(
            "slow",
            slow,
            CheckOptions::new().interval(Duration::from_secs(10)),
        )
        .build()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    // Runs at 0, 1, ..., 10 s for the fast one; at 0 and 10 s for the slow one.
    assert_eq!(fast_runs.load(Ordering::SeqCst), 11);
    assert_eq!(slow_runs.load(Ordering::SeqCst), 2);
    drop(health);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        fast_runs.load(Ordering::SeqCst),
        11,
        "checks stop with the registry"
    );
}

#[tokio::test(start_paused = true)]
async fn readiness_is_unknown_and_failing_until_every_check_has_run() {
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Outcome::pass()
    };
    let options = CheckOptions::new().timeout(Duration::from_secs(30));
    let health = common::started("slow", slow, options);
    let app = app(&health);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_fails_with(&app, "/readyz", "slow", "not checked yet").await;
    // Liveness does not count the readiness check and passes meanwhile.
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["checks"]["slow:responseTime"][0]["observedValue"],
        5000.0
    );
}

#[tokio::test(start_paused = true)]
async fn a_check_that_never_returns_becomes_a_timeout_failure() {
    let hung = || std::future::pending::<Outcome>();
    let options = CheckOptions::new().timeout(Duration::from_secs(2));
    let health = common::started_showing_outputs("hung", hung, options);
    let app = app(&health);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let entry = assert_fails_with(&app, "/readyz/hung", "hung", "timed out after 2s").await;
    assert_eq!(entry["status"], "fail");
    assert_eq!(entry["observedValue"], 2000.0);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_check_is_a_failure_and_the_next_run_goes_on() {
    let (flaky, runs) = common::counted(|n| async move {
        if n == 0 {
            panic!("boom in check");
        }
        Outcome::pass()
    });
    let options = CheckOptions::new().interval(Duration::from_secs(5));
    let health = common::started_showing_outputs("flaky", flaky, options);
    let app = app(&health);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_fails_with(
        &app,
        "/readyz",
        "flaky",
        "the check panicked: boom in check",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn thresholds_keep_a_flapping_check_from_flapping_readiness() {
    use Outcome as O;
    let (check, _) = scripted(vec![
        O::pass(),
        O::fail("1"),
        O::fail("2"),
        O::pass(),
        O::fail("1"),
        O::fail("2"),
        O::fail("3"),
        O::pass(),
        O::pass(),
    ]);
    let options = CheckOptions::new()
        .interval(Duration::from_secs(1))
        .failure_threshold(3)
        .success_threshold(2);
    let health = common::started("db", check, options);
    let mut seen = Vec::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..9 {
        seen.push(health.status(Probe::Readiness));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    use Status::{Fail as F, Pass as P};
    assert_eq!(seen, [P, P, P, P, P, P, F, F, P]);
}

/// A check that says it tolerates slow runs (as opskit's own do) fails readiness
/// only after its threshold of failed runs, with no option set; options still win.
#[tokio::test(start_paused = true)]
async fn a_check_brings_its_own_failure_threshold_and_options_override_it() {
    use Outcome as O;
    let script = || vec![O::pass(), O::fail("1"), O::fail("2"), O::fail("3")];
    let (tolerant, _) = scripted(script());
    let (strict, _) = scripted(script());
    let every_second = || CheckOptions::new().interval(Duration::from_secs(1));
    let tolerant_health = Health::builder()
        .check("db", Tolerant::new(tolerant, 3), every_second())
        .build()
        .unwrap();
    let overridden_health = Health::builder()
        .check(
            "db",
            Tolerant::new(strict, 3),
            every_second().failure_threshold(1),
        )
        .build()
        .unwrap();
    tolerant_health.mark_started();
    overridden_health.mark_started();
    let mut seen = Vec::new();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for _ in 0..4 {
        seen.push((
            tolerant_health.status(Probe::Readiness),
            overridden_health.status(Probe::Readiness),
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    use Status::{Fail as F, Pass as P};
    assert_eq!(seen, [(P, P), (P, F), (P, F), (F, F)]);
}

/// The startup probe passes for good once it has passed: Kubernetes stops asking,
/// and a startup check that fails later (a busy database) fails readiness only.
#[tokio::test(start_paused = true)]
async fn a_startup_probe_that_passed_does_not_fail_again() {
    let (schema, _) = scripted(vec![Outcome::pass(), Outcome::fail("timed out")]);
    let health = Health::builder()
        .check(
            "schema",
            schema,
            CheckOptions::new()
                .interval(Duration::from_secs(1))
                .probes([Probe::Readiness, Probe::Startup]),
        )
        .build()
        .unwrap();
    let app = app(&health);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get(&app, "/startupz").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "not started yet"
    );
    health.mark_started();
    assert_eq!(get(&app, "/startupz").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        get(&app, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "the check fails now"
    );
    let (status, body) = get(&app, "/startupz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["checks"]["schema:responseTime"][0]["status"], "fail",
        "the check's own status is shown"
    );
}

#[tokio::test(start_paused = true)]
async fn lifecycle_startup_drain_and_maintenance() {
    let (startup, _) = scripted(vec![Outcome::pass()]);
    let (ready, _) = scripted(vec![Outcome::pass()]);
    let health = Health::builder()
        .check(
            "warmup",
            startup,
            CheckOptions::new().probes([Probe::Startup]),
        )
        .check("db", ready, CheckOptions::new())
        .build()
        .unwrap();
    let app = app(&health);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (status, body) = get(&app, "/startupz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body["output"],
        "starting: the service has not finished starting"
    );
    assert_eq!(
        get(&app, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    health.mark_started();
    assert_eq!(get(&app, "/startupz").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);

    health.set_maintenance(true);
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body["output"],
        "maintenance: the service was marked not ready"
    );
    health.set_maintenance(false);
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);

    health.drain();
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["output"], "draining: the service is shutting down");
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/startupz").await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn waiting_until_checked_returns_once_every_check_ran_or_at_the_timeout() {
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Outcome::pass()
    };
    let health = Health::builder()
        .check(
            "slow",
            slow,
            CheckOptions::new().timeout(Duration::from_secs(10)),
        )
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    assert!(!health.wait_until_checked(Duration::from_secs(1)).await);
    assert!(health.wait_until_checked(Duration::from_secs(10)).await);
    assert_eq!(start.elapsed().as_secs(), 3);
}
