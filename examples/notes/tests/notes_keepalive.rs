//! Keep-alive clients across SIGTERM: 24 clients hold connections straight to one
//! replica (as pods reach each other through kube-proxy, which keeps established
//! connections on a terminating pod) and send reads and writes without pause. The
//! replica is sent SIGTERM: from then on every answer says `Connection: close`, so
//! each client moves on after the answer it waits for, and no request the replica
//! accepted goes unanswered. New connections go to the replica until the load
//! balancer has noticed (half the drain delay here), then to another replica.
//!
//! And connections the kernel queued before the listener closes are served, not
//! reset: the replica is stopped (SIGSTOP) across the moment it stops accepting
//! while clients connect, then resumed.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::process::Service;

const CLIENTS: usize = 24;
const RUNS: usize = 10;
const TOKEN: &str = "keepalive-token-7d1";

/// One HTTP/1.1 response read off a kept-alive connection.
struct Answer {
    status: u16,
    /// It said `Connection: close`.
    close: bool,
    /// The body, when the status is not a success (to say why).
    error: Option<String>,
}

/// Reads one response (with a `Content-Length` body) from `reader`.
fn read_answer(reader: &mut BufReader<TcpStream>) -> std::io::Result<Answer> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed before any answer",
        ));
    }
    let status = line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not a status line: {line:?}")))?;
    let (mut length, mut close) = (0usize, false);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed inside the headers",
            ));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        let (name, value) = (name.to_ascii_lowercase(), value.trim().to_ascii_lowercase());
        match name.as_str() {
            "content-length" => length = value.parse().unwrap_or(0),
            "connection" => close |= value == "close",
            "transfer-encoding" => panic!("a chunked answer: {value}"),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let error =
        (!(200..300).contains(&status)).then(|| String::from_utf8_lossy(&body).into_owned());
    Ok(Answer {
        status,
        close,
        error,
    })
}

/// One request as a client saw it.
struct Sent {
    at: Instant,
    /// To the replica that was sent SIGTERM.
    to_stopping: bool,
    /// On a connection that had answered before.
    reused: bool,
    result: Result<Answer, String>,
}

/// What every client shares.
struct Clients {
    stopping: SocketAddr,
    other: SocketAddr,
    /// The load balancer has noticed: new connections go to the other replica.
    moved: AtomicBool,
    stop: AtomicBool,
    /// Answers received so far, from either replica.
    answered: AtomicUsize,
}

/// One client: a kept-alive connection, a write then a read, over and over.
fn client(shared: &Clients, id: usize) -> (Vec<Sent>, usize) {
    let mut sent = Vec::new();
    let mut refused = 0;
    let mut connection: Option<(BufReader<TcpStream>, bool, bool)> = None;
    let mut n = 0usize;
    while !shared.stop.load(Ordering::SeqCst) {
        let (reader, to_stopping, reused) = match connection.as_mut() {
            Some(open) => open,
            None => {
                let to_stopping = !shared.moved.load(Ordering::SeqCst);
                let address = if to_stopping {
                    shared.stopping
                } else {
                    shared.other
                };
                match TcpStream::connect(address) {
                    Ok(stream) => {
                        stream
                            .set_read_timeout(Some(Duration::from_secs(30)))
                            .unwrap();
                        connection.insert((BufReader::new(stream), to_stopping, false))
                    }
                    Err(_) => {
                        refused += 1;
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                }
            }
        };
        n += 1;
        let request = if n.is_multiple_of(2) {
            let body = format!(r#"{{"title":"k{id}-{n}","body":"kept alive"}}"#);
            format!(
                "POST /notes HTTP/1.1\r\nhost: notes\r\nauthorization: Bearer {TOKEN}\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
        } else {
            "GET /notes?limit=5 HTTP/1.1\r\nhost: notes\r\n\r\n".to_owned()
        };
        let at = Instant::now();
        let result = reader
            .get_mut()
            .write_all(request.as_bytes())
            .and_then(|()| read_answer(reader))
            .map_err(|err| err.to_string());
        if result.is_ok() {
            shared.answered.fetch_add(1, Ordering::SeqCst);
        }
        let keep = result.as_ref().is_ok_and(|answer| !answer.close);
        sent.push(Sent {
            at,
            to_stopping: *to_stopping,
            reused: *reused,
            result,
        });
        if keep {
            *reused = true;
        } else {
            connection = None;
        }
    }
    (sent, refused)
}

/// A replica of the notes service on `database` (a PostgreSQL URL, or a fresh
/// SQLite file when `None`).
fn replica(database: Option<&str>) -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut env = vec![
        ("NOTES_LISTEN", "127.0.0.1:0"),
        ("NOTES_DATA_DIR", data.to_str().unwrap()),
        ("NOTES_API_TOKEN", TOKEN),
        ("NOTES_DRAIN_DELAY", "1s"),
    ];
    if let Some(url) = database {
        env.push(("NOTES_DATABASE_URL", url));
    }
    let service = Service::start(&support::notes(), dir.path(), &env);
    (dir, service)
}

/// `RUNS` SIGTERMs under keep-alive load, each on a fresh replica beside `other`.
fn keep_alive_clients_lose_nothing_at_sigterm(database: Option<&str>) {
    let (_other_dir, other) = replica(database);
    let mut refused_total = 0;
    for run in 1..=RUNS {
        let (_dir, stopping) = replica(database);
        let shared = Arc::new(Clients {
            stopping: stopping.address(),
            other: other.address(),
            moved: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            answered: AtomicUsize::new(0),
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let shared = shared.clone();
                std::thread::spawn(move || client(&shared, id))
            })
            .collect();
        // Under way first: every client has been answered a few times (a fresh
        // replica opens its database connections as the first requests come).
        let warming = Instant::now();
        while shared.answered.load(Ordering::SeqCst) < 4 * CLIENTS {
            assert!(
                warming.elapsed() < Duration::from_secs(60),
                "run {run}: the clients got no answers"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        stopping.terminate();
        stopping.wait_for("service.draining");
        let draining = Instant::now();
        // The load balancer notices within the drain delay (1 s).
        std::thread::sleep(Duration::from_millis(500));
        shared.moved.store(true, Ordering::SeqCst);
        let (code, lines, stderr) = stopping.finish();
        assert_eq!(code, 0, "run {run}: {stderr}");
        // A little load on the other replica after the stop, then the tally.
        std::thread::sleep(Duration::from_millis(200));
        shared.stop.store(true, Ordering::SeqCst);
        let mut sent = Vec::new();
        for client in clients {
            let (mine, refused) = client.join().unwrap();
            sent.extend(mine);
            refused_total += refused;
        }
        let to_stopping: Vec<&Sent> = sent.iter().filter(|s| s.to_stopping).collect();
        let unanswered: Vec<String> = to_stopping
            .iter()
            .filter_map(|s| {
                s.result.as_ref().err().map(|err| {
                    format!(
                        "{} ms after draining began, on a {} connection: {err}",
                        s.at.saturating_duration_since(draining).as_millis(),
                        if s.reused { "reused" } else { "new" }
                    )
                })
            })
            .collect();
        let after: Vec<&&Sent> = to_stopping.iter().filter(|s| s.at > draining).collect();
        let without_close = after
            .iter()
            .filter(|s| s.result.as_ref().is_ok_and(|a| !a.close))
            .count();
        let failed_status: Vec<String> = sent
            .iter()
            .filter_map(|s| s.result.as_ref().ok())
            .filter_map(|a| a.error.as_ref().map(|body| format!("{}: {body}", a.status)))
            .collect();
        println!(
            "run {run}: {} requests to the stopping replica ({} after draining began), \
             {} unanswered, {without_close} answers after draining without Connection: close; \
             {} to the other replica",
            to_stopping.len(),
            after.len(),
            unanswered.len(),
            sent.len() - to_stopping.len()
        );
        assert!(
            unanswered.is_empty(),
            "run {run}: requests the stopping replica accepted went unanswered:\n{}\n{}",
            unanswered.join("\n"),
            lines.join("\n")
        );
        assert_eq!(
            without_close, 0,
            "run {run}: answers sent while draining must say Connection: close"
        );
        assert!(
            !after.is_empty(),
            "run {run}: no request reached the replica while it drained"
        );
        assert!(failed_status.is_empty(), "run {run}: {failed_status:?}");
    }
    // The listener stays open for the whole drain delay, and clients leave it
    // before it closes: nothing is refused.
    println!("connections refused over {RUNS} runs: {refused_total}");
    assert_eq!(
        refused_total, 0,
        "connections were refused while the replica drained"
    );
    other.stop();
}

#[test]
fn keep_alive_clients_lose_no_request_at_sigterm_on_sqlite() {
    keep_alive_clients_lose_nothing_at_sigterm(None);
}

#[test]
fn keep_alive_clients_lose_no_request_at_sigterm_on_postgres() {
    let Some(pg) = support::postgres::database() else {
        return;
    };
    keep_alive_clients_lose_nothing_at_sigterm(Some(&pg.url));
}

/// Sends `signal` to the process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Clients whose connections the kernel completed while the service could not
/// accept them (stopped across the end of its drain delay) are served when it
/// resumes, with `Connection: close`, rather than reset when the listener closes.
#[test]
fn connections_queued_when_the_listener_closes_are_served() {
    const QUEUED: usize = 20;
    let (_dir, service) = replica(None);
    let address = service.address();
    let pid = service.pid();
    service.terminate();
    service.wait_for("service.draining");
    // Stopped before the drain delay (1 s) ends; resumed after it, when the
    // server's first act is to stop accepting.
    signal(pid, "STOP");
    let mut queued = Vec::new();
    for _ in 0..QUEUED {
        let mut stream = TcpStream::connect(address).expect("the kernel completes the connection");
        stream
            .write_all(b"GET /hello HTTP/1.1\r\nhost: notes\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        queued.push(BufReader::new(stream));
    }
    std::thread::sleep(Duration::from_millis(1500));
    signal(pid, "CONT");
    let answers: Vec<_> = queued
        .iter_mut()
        .map(|reader| read_answer(reader).map_err(|err| err.to_string()))
        .collect();
    let (code, _, stderr) = service.finish();
    assert_eq!(code, 0, "{stderr}");
    let unanswered = answers.iter().filter(|a| a.is_err()).count();
    assert_eq!(
        unanswered,
        0,
        "queued connections were reset: {:?}",
        answers
            .iter()
            .filter_map(|a| a.as_ref().err())
            .collect::<Vec<_>>()
    );
    for answer in answers.into_iter().flatten() {
        assert_eq!(answer.status, 200);
        assert!(
            answer.close,
            "an answer while shutting down says Connection: close"
        );
    }
}
