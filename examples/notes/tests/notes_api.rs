//! The API a user copies refuses abuse: writes are authenticated before their body
//! is read, bodies are capped, lists come in bounded pages.

mod support;

use opskit_testkit::assert_contains;
use support::process::{Service, get, post_json, raw_get};

const TOKEN: &str = "t0ken-for-the-api";

fn start() -> (tempfile::TempDir, Service) {
    support::start_local(&[("NOTES_API_TOKEN", TOKEN)])
}

fn post(service: &Service, token: &str, body: &str) -> (u16, String) {
    post_json(service.address(), "/notes", token, body).unwrap()
}

#[test]
fn writes_are_refused_before_their_body_is_read() {
    let (_dir, service) = start();
    // Not even JSON: a handler that parsed first would answer 400 or 422.
    let (status, body) = post(&service, "wrong", "{not json");
    assert_eq!(status, 401, "{body}");
    let (status, body) = post(&service, TOKEN, "{not json");
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(&service, TOKEN, r#"{"title":"","body":"b"}"#);
    assert_eq!(status, 422, "{body}");
    service.terminate();
    assert_eq!(service.finish().0, 0);
}

#[test]
fn bodies_over_the_cap_are_refused_with_413() {
    let (_dir, service) = start();
    let huge = format!(r#"{{"title":"big","body":"{}"}}"#, "x".repeat(100 * 1024));
    let (status, body) = post(&service, TOKEN, &huge);
    assert_eq!(status, 413, "{body}");
    let (status, _) = post(&service, TOKEN, r#"{"title":"small","body":"fits"}"#);
    assert_eq!(status, 201);
    service.terminate();
    assert_eq!(service.finish().0, 0);
}

#[test]
fn lists_come_in_pages_linked_to_the_next() {
    let (_dir, service) = start();
    for i in 0..5 {
        let (status, body) = post(
            &service,
            TOKEN,
            &format!(r#"{{"title":"n{i}","body":"b"}}"#),
        );
        assert_eq!(status, 201, "{body}");
    }
    let first = raw_get(service.address(), "/notes?limit=2").unwrap();
    assert_contains(&first, "link: </notes?after=2&limit=2>; rel=\"next\"");
    let (status, body) = get(service.address(), "/notes?after=2&limit=2").unwrap();
    assert_eq!(status, 200);
    let page: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let ids: Vec<i64> = page.iter().map(|n| n["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [3, 4]);
    // The last page is short and has no link; a huge limit is clamped, not obeyed.
    let last = raw_get(service.address(), "/notes?after=4&limit=1000000").unwrap();
    assert!(!last.contains("link:"), "{last}");
    assert!(last.contains("\"id\":5"), "{last}");
    service.terminate();
    assert_eq!(service.finish().0, 0);
}

/// A burst of 2,000 writes on SQLite (one writer at a time, so requests queue for
/// the pool): readiness stays 200 throughout, since its checks have a connection
/// of their own and the database check needs three misses in a row.
#[test]
fn readiness_holds_through_a_write_burst() {
    let (_dir, service) = start();
    let address = service.address();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                answers.push(get(address, "/readyz").unwrap());
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            answers
        })
    };
    let writers: Vec<_> = (0..16)
        .map(|w| {
            std::thread::spawn(move || {
                (0..125)
                    .map(|n| {
                        let body = format!(r#"{{"title":"w{w} n{n}","body":"burst"}}"#);
                        post_json(address, "/notes", TOKEN, &body).unwrap().0
                    })
                    .filter(|status| *status == 201)
                    .count()
            })
        })
        .collect();
    let created: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let answers = poller.join().unwrap();
    assert_eq!(created, 2000);
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} readiness answers failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    service.terminate();
    assert_eq!(service.finish().0, 0);
}

/// With `NOTES_METRICS_LISTEN`, `/metrics` answers on that port alone: the
/// application's port, open to every client, does not serve it.
#[test]
fn metrics_move_to_their_own_port_when_asked() {
    let (_dir, service) = support::start_local(&[("NOTES_METRICS_LISTEN", "127.0.0.1:0")]);
    let admin = service
        .listener("metrics")
        .expect("service.listening for the metrics listener");
    assert_ne!(admin, service.address());
    let (status, body) = get(admin, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("http_server_request_duration_seconds") || body.contains("notes_build_info"),
        "{body}"
    );
    assert_eq!(get(service.address(), "/metrics").unwrap().0, 404);
    assert_eq!(get(service.address(), "/readyz").unwrap().0, 200);
}
