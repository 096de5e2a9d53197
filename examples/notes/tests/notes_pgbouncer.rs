//! The service through PgBouncer 1.18 in `pool_mode = transaction`
//! (RUNBOOK.md, "The service behind PgBouncer"): with
//! `NOTES_DATABASE_POOLING=transaction` it migrates at start through the pooler and
//! serves reads, writes, pages and deletes from more client connections than the
//! pooler has server connections, so consecutive queries of one client connection
//! meet different server connections. No request fails, readiness never fails, and
//! the role's password appears in no output.
//!
//! With the default (`session`) the same run fails: sqlx prepares named statements
//! (`sqlx_s_1`, ...) that the next transaction does not find on its server
//! connection, or finds there already from another client.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opskit::secret::canary::Canary;
use opskit_testkit::process::{Service, get, post_json, request};
use opskit_testkit::sweep::Sweep;

/// Server connections PgBouncer keeps for the service's database and role.
const SERVER_CONNECTIONS: u32 = 2;
/// Client connections the service may open to PgBouncer.
const CLIENT_CONNECTIONS: &str = "6";
const WRITERS: usize = 6;
const ROUNDS: usize = 40;

/// What went wrong, by request, with the answer's status and body.
#[derive(Default)]
struct Failures(Mutex<Vec<String>>);

impl Failures {
    fn check(&self, what: &str, expected: u16, answer: std::io::Result<(u16, String)>) -> String {
        match answer {
            Ok((status, body)) if status == expected => return body,
            Ok((status, body)) => self
                .0
                .lock()
                .unwrap()
                .push(format!("{what}: {status} {body}")),
            Err(err) => self.0.lock().unwrap().push(format!("{what}: {err}")),
        }
        String::new()
    }
}

/// One client's round: a note written, read back, a page read, the note deleted.
fn round(address: SocketAddr, token: &str, failures: &Failures) {
    let bearer = format!("Bearer {token}");
    let auth = [("authorization", bearer.as_str())];
    let body = failures.check(
        "POST /notes",
        201,
        post_json(
            address,
            "/notes",
            token,
            r#"{"title":"pooled","body":"through pgbouncer"}"#,
        ),
    );
    let Some(id) = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|note| note["id"].as_i64())
    else {
        return;
    };
    let note = failures.check(
        "GET /notes/{id}",
        200,
        get(address, &format!("/notes/{id}")),
    );
    if !note.is_empty() && !note.contains("through pgbouncer") {
        failures
            .0
            .lock()
            .unwrap()
            .push(format!("GET /notes/{id}: {note}"));
    }
    failures.check("GET /notes", 200, get(address, "/notes?limit=20"));
    failures.check(
        "DELETE /notes/{id}",
        204,
        request(address, "DELETE", &format!("/notes/{id}"), &auth, ""),
    );
}

#[test]
fn the_service_serves_through_pgbouncer_in_transaction_pooling() {
    let Some(pg) = support::postgres::database() else {
        eprintln!("skipped: no PostgreSQL (set OPSKIT_TEST_POSTGRES_URL)");
        return;
    };
    let Some(bouncer) = opskit_testkit::pgbouncer::start(&pg.url, SERVER_CONNECTIONS) else {
        return;
    };
    let token = Canary::new("api-token");
    let dir = tempfile::tempdir().unwrap();
    let pooled_url = bouncer.url_for(&pg.url);
    let service = Service::start(
        &support::notes(),
        dir.path(),
        &[
            ("NOTES_LISTEN", "127.0.0.1:0"),
            ("NOTES_DATABASE_URL", &pooled_url),
            ("NOTES_DATABASE_POOLING", "transaction"),
            ("NOTES_DATABASE_MAX_CONNECTIONS", CLIENT_CONNECTIONS),
            ("NOTES_API_TOKEN", token.value()),
            ("NOTES_DRAIN_DELAY", "0s"),
        ],
    );
    let address = service.address();
    let failures = Arc::new(Failures::default());
    let stop = Arc::new(AtomicBool::new(false));
    let not_ready = Arc::new(Mutex::new(Vec::new()));
    let prober = {
        let (stop, not_ready) = (stop.clone(), not_ready.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match get(address, "/readyz") {
                    Ok((200, _)) => {}
                    Ok((status, body)) => {
                        not_ready.lock().unwrap().push(format!("{status} {body}"))
                    }
                    Err(err) => not_ready.lock().unwrap().push(err.to_string()),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let (failures, token) = (failures.clone(), token.value().to_owned());
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    round(address, &token, &failures);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    prober.join().unwrap();

    let mut sweep = Sweep::default();
    sweep.response("GET /metrics", get(address, "/metrics").unwrap());
    sweep.response("GET /readyz", get(address, "/readyz").unwrap());
    service.terminate();
    let (code, lines, stderr) = service.finish();
    let log = bouncer.log();
    let failures = failures.0.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, first: {:#?}\npgbouncer log:\n{log}",
        failures.len(),
        WRITERS * ROUNDS * 4,
        &failures[..failures.len().min(5)]
    );
    let not_ready = not_ready.lock().unwrap();
    assert!(not_ready.is_empty(), "readiness failed: {not_ready:?}");
    assert_eq!(code, 0, "{stderr}");
    sweep.process("notes", &lines, &stderr);
    sweep.record("pgbouncer log", &log);
    sweep.assert_clean(&[pg.password.value(), token.value()]);
}
