//! The layer in front of real HTTP servers on loopback, probed over real TCP.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use opskit_health::{CheckOptions, Health, HealthBuilder, Outcome};
use opskit_testkit::CapturedLogs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Serves an axum app behind the health layer on an ephemeral loopback port.
async fn serve_axum(health: &Health) -> SocketAddr {
    let app = Router::new()
        .route("/notes", get(|| async { "notes" }))
        .layer(health.layer());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get_path(addr: SocketAddr, path: &str) -> Answer {
    send(
        addr,
        Request::get(path)
            .header("host", "test")
            .body(Full::default())
            .unwrap(),
    )
    .await
}

/// A fence for a request that would otherwise wait forever: far past what any
/// answer takes, it fails the test rather than hang it.
const FENCE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_check_slower_than_the_kubelet_timeout_does_not_slow_the_probe() {
    // Kubernetes gives an HTTP probe 1 s by default; this check takes as long as
    // the test holds it: each run waits for a permit the test hands out.
    let permits = Arc::new(Semaphore::new(0));
    let runs = Arc::new(AtomicUsize::new(0));
    let slow = {
        let (permits, runs) = (permits.clone(), runs.clone());
        move || {
            let (permits, runs) = (permits.clone(), runs.clone());
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                permits.acquire().await.unwrap().forget();
                Outcome::pass()
            }
        }
    };
    let options = CheckOptions::new()
        .interval(Duration::from_millis(100))
        .timeout(Duration::from_secs(3600));
    let health = common::started("slow", slow, options);
    let addr = serve_axum(&health).await;
    let probe = || async {
        tokio::time::timeout(FENCE, get_path(addr, "/readyz"))
            .await
            .expect("the probe waited for the check")
            .status
    };

    // During the first run, which cannot end yet, the answer is "not checked yet".
    assert_eq!(probe().await, StatusCode::SERVICE_UNAVAILABLE);

    // The first run ends; the second starts and cannot end. Every probe now
    // answers from the first run's result, and none starts a run of its own.
    permits.add_permits(1);
    let second_run = async {
        while probe().await != StatusCode::OK || runs.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(FENCE, second_run)
        .await
        .expect("the first run's result was never served, or no second run started");
    for _ in 0..20 {
        assert_eq!(probe().await, StatusCode::OK);
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "a probe ran the check instead of reading its cached result"
    );
}

#[tokio::test]
async fn a_hung_check_and_a_panicking_check_fail_readiness_and_the_server_goes_on() {
    let hung = || std::future::pending::<Outcome>();
    let panics = || async {
        if true {
            panic!("check exploded");
        }
        Outcome::pass()
    };
    let health = Health::builder()
        .details(true)
        .check(
            "hung",
            hung,
            CheckOptions::new().timeout(Duration::from_millis(200)),
        )
        .check(
            "panics",
            panics,
            CheckOptions::new().interval(Duration::from_millis(100)),
        )
        .build()
        .unwrap();
    health.mark_started();
    let addr = serve_axum(&health).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let answer = get_path(addr, "/readyz").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body["status"], "fail");
    assert_eq!(
        body["checks"]["hung:responseTime"][0]["output"],
        "timed out after 200ms"
    );
    assert_eq!(
        body["checks"]["panics:responseTime"][0]["output"],
        "the check panicked: check exploded"
    );
    // The application itself still serves.
    let answer = get_path(addr, "/notes").await;
    assert_eq!(
        (answer.status, &answer.body[..]),
        (StatusCode::OK, &b"notes"[..])
    );
    // Excluding both makes readiness pass; a single check can be asked for by name.
    let answer = get_path(addr, "/readyz?exclude=hung&exclude=panics").await;
    assert_eq!(answer.status, StatusCode::OK);
    let answer = get_path(addr, "/readyz/hung").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let answer = get_path(addr, "/readyz/nope").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        body["output"],
        "no readiness check named \"nope\"; readiness checks: hung, panics"
    );
}

/// `builder` with a `database` check (a datastore) whose every run fails, naming
/// the address it could not reach: the registry started and served, and its
/// `/readyz` once the check has run.
async fn readyz_with_a_failing_database(builder: HealthBuilder) -> Answer {
    let failing = || async { Outcome::fail("connect to 10.1.2.3:5432 refused") };
    let health = builder
        .check(
            "database",
            failing,
            CheckOptions::new().component_type("datastore"),
        )
        .build()
        .unwrap();
    health.mark_started();
    let addr = serve_axum(&health).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    get_path(addr, "/readyz").await
}

#[tokio::test]
async fn check_errors_are_withheld_unless_details_are_on() {
    let answer = readyz_with_a_failing_database(
        Health::builder()
            .service_id("notes")
            .version("1.4.2")
            .release_id("1.4.2+abc1234"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers["content-type"], "application/health+json");
    assert_eq!(answer.headers["cache-control"], "no-store");
    let text = String::from_utf8(answer.body.to_vec()).unwrap();
    assert!(!text.contains("10.1.2.3"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["serviceId"], "notes");
    assert_eq!(body["version"], "1.4.2");
    assert_eq!(body["releaseId"], "1.4.2+abc1234");
    let entry = &body["checks"]["database:responseTime"][0];
    assert_eq!(entry["componentType"], "datastore");
    assert_eq!(entry["observedUnit"], "ms");
    assert!(entry["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        entry["output"],
        "details withheld; the reason is in the service log (event health.changed)"
    );

    // With details on, the same failure shows its reason.
    let answer = readyz_with_a_failing_database(Health::builder().details(true)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        body["checks"]["database:responseTime"][0]["output"],
        "connect to 10.1.2.3:5432 refused"
    );
}

/// A registry built without an identity is told it once serving starts (as
/// opskit-telemetry's `serve` does with the build info): every response names the
/// release from then on, and what the builder set wins.
#[tokio::test]
async fn an_identity_filled_in_later_shows_in_every_response() {
    let health = Health::builder()
        .version("9.9.9")
        .check("ok", || async { Outcome::pass() }, CheckOptions::new())
        .build()
        .unwrap();
    health.mark_started();
    assert!(health.wait_until_checked(Duration::from_secs(10)).await);
    let addr = serve_axum(&health).await;
    let before: serde_json::Value =
        serde_json::from_slice(&get_path(addr, "/readyz").await.body).unwrap();
    assert!(before.get("releaseId").is_none(), "{before}");
    health.identify("notes", "1.4.2", "1.4.2+abc1234");
    for path in ["/readyz", "/livez", "/startupz"] {
        let body: serde_json::Value =
            serde_json::from_slice(&get_path(addr, path).await.body).unwrap();
        assert_eq!(body["releaseId"], "1.4.2+abc1234", "{path}: {body}");
        assert_eq!(body["serviceId"], "notes", "{path}: {body}");
        assert_eq!(body["version"], "9.9.9", "{path}: {body}");
    }
}

#[tokio::test]
async fn drain_fails_readiness_at_once_and_keeps_liveness() {
    let health = Health::builder().build().unwrap();
    health.mark_started();
    let addr = serve_axum(&health).await;
    assert_eq!(get_path(addr, "/readyz").await.status, StatusCode::OK);
    health.drain();
    assert_eq!(
        get_path(addr, "/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get_path(addr, "/livez").await.status, StatusCode::OK);
}

/// Sends raw bytes and reads until the server closes the connection.
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test]
async fn head_has_no_body_and_other_methods_get_405() {
    let health = Health::builder().build().unwrap();
    health.mark_started();
    let addr = serve_axum(&health).await;
    let head = raw(
        addr,
        "HEAD /readyz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .await;
    let (head_lines, rest) = head.split_once("\r\n\r\n").unwrap();
    assert!(head_lines.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head_lines.contains("content-type: application/health+json"),
        "{head}"
    );
    assert_eq!(rest, "", "HEAD must send no body");

    let get = raw(
        addr,
        "GET /readyz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(
        get.split_once("\r\n\r\n")
            .unwrap()
            .1
            .contains("\"status\":\"pass\""),
        "{get}"
    );

    let post = raw(
        addr,
        "POST /readyz HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(
        post.starts_with("HTTP/1.1 405 Method Not Allowed"),
        "{post}"
    );
    assert!(
        post.to_ascii_lowercase().contains("allow: get, head"),
        "{post}"
    );
}

#[tokio::test]
async fn other_requests_reach_the_inner_service_byte_for_byte() {
    let health = Health::builder().build().unwrap();
    // A plain hyper server whose service echoes method, path, headers and body.
    let echo = tower::service_fn(|request: Request<hyper::body::Incoming>| async move {
        let (parts, body) = request.into_parts();
        let body = body.collect().await?.to_bytes();
        let mut response = http::Response::new(Full::new(body));
        *response.status_mut() = StatusCode::ACCEPTED;
        response
            .headers_mut()
            .insert("x-method", parts.method.as_str().parse().unwrap());
        response
            .headers_mut()
            .insert("x-path", parts.uri.to_string().parse().unwrap());
        if let Some(value) = parts.headers.get("x-custom") {
            response.headers_mut().insert("x-custom", value.clone());
        }
        Ok::<_, hyper::Error>(response)
    });
    let service = tower::Layer::layer(&health.layer(), echo);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });

    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let answer = send(
        addr,
        Request::put("/notes/42?x=1&y=%20")
            .header("host", "t")
            .header("x-custom", "kept as is")
            .body(Full::new(Bytes::from(payload.clone())))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert_eq!(answer.headers["x-method"], "PUT");
    assert_eq!(answer.headers["x-path"], "/notes/42?x=1&y=%20");
    assert_eq!(answer.headers["x-custom"], "kept as is");
    assert_eq!(answer.body.len(), payload.len());
    assert!(answer.body == payload, "the body came back changed");
    // A path that merely starts like a probe is the application's.
    let answer = send(
        addr,
        Request::get("/readyzz")
            .header("host", "t")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_kubelet_probe_on_a_wrong_path_is_logged_with_the_right_paths() {
    let captured = CapturedLogs::default();
    let subscriber = captured.json_subscriber();
    let _guard = tracing::subscriber::set_default(subscriber);

    let health = Health::builder()
        .alias(opskit_health::Probe::Readiness, "/healthz")
        .build()
        .unwrap();
    health.mark_started();
    let addr = serve_axum(&health).await;
    let probe = |path: &str| {
        Request::get(path)
            .header("host", "t")
            .header("user-agent", "kube-probe/1.31")
            .body(Full::default())
            .unwrap()
    };
    assert_eq!(
        send(addr, probe("/health")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(addr, probe("/healthz")).await.status, StatusCode::OK);
    assert_eq!(send(addr, probe("/notes")).await.status, StatusCode::OK);
    // A browser hitting a wrong path is not a misconfigured probe.
    let browser = Request::get("/health")
        .header("host", "t")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(addr, browser).await.status, StatusCode::NOT_FOUND);

    let output = captured.text();
    let warnings: Vec<serde_json::Value> = output
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["fields"]["event"] == "health.probe_misconfigured")
        .collect();
    assert_eq!(warnings.len(), 1, "{output}");
    let fields = &warnings[0]["fields"];
    assert_eq!(warnings[0]["level"], "WARN");
    assert_eq!(fields["path"], "/health");
    assert_eq!(fields["user_agent"], "kube-probe/1.31");
    assert_eq!(
        fields["probe_paths"],
        "/livez (liveness), /readyz (readiness), /startupz (startup), /healthz (readiness)"
    );
}
