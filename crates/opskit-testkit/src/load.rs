//! Load on a running service: requests kept in flight on purpose, and clients that
//! keep sending until told to stop (as a load balancer does until it drops a
//! replica).

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::process::{read_response, request_bytes};

/// A request whose headers and first half of the body are sent, the rest held back:
/// the server has begun it and must finish it, whatever happens meanwhile.
#[derive(Debug)]
pub struct SlowRequest {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowRequest {
    /// Connects and sends all but the second half of `body`.
    ///
    /// # Errors
    ///
    /// When the connection or the write fails.
    pub fn begin(
        address: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<Self> {
        let mut bytes = request_bytes(method, path, headers, body);
        let rest = bytes.split_off(bytes.len() - body.len() / 2);
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.write_all(&bytes)?;
        stream.flush()?;
        Ok(Self { stream, rest })
    }

    /// Sends the rest of the body and reads the response.
    pub fn finish(mut self) -> std::io::Result<(u16, String)> {
        self.stream.write_all(&self.rest)?;
        read_response(self.stream)
    }
}

/// One request of a [`Load`]: when it was sent, and its status or the error.
#[derive(Debug)]
pub struct Sent {
    /// When it was sent.
    pub at: Instant,
    /// Its status, or what went wrong.
    pub result: Result<u16, String>,
    /// The response body (empty when there was no response), to sweep for secrets.
    pub body: String,
}

/// Clients each sending `GET path` on a new connection, one after another.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Vec<Sent>>>,
}

impl Load {
    /// Starts `clients` threads sending `GET path` to `address`.
    pub fn start(address: SocketAddr, path: &'static str, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut sent = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let at = Instant::now();
                        let response = TcpStream::connect(address).and_then(|mut stream| {
                            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
                            stream.write_all(&request_bytes("GET", path, &[], ""))?;
                            read_response(stream)
                        });
                        let (result, body) = match response {
                            Ok((status, body)) => (Ok(status), body),
                            Err(err) => (Err(err.to_string()), String::new()),
                        };
                        sent.push(Sent { at, result, body });
                    }
                    sent
                })
            })
            .collect();
        Self { stop, clients }
    }

    /// Stops sending; every request sent, in order of sending.
    pub fn stop(self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Sent> = self
            .clients
            .into_iter()
            .flat_map(|client| client.join().unwrap())
            .collect();
        all.sort_by_key(|s| s.at);
        all
    }
}

/// Runs `wrk` (the `command`, which may wrap it, as `taskset` does) with one thread
/// and 32 connections for `seconds` against `url`, and returns its requests per
/// second and its p99 latency in milliseconds.
///
/// # Panics
///
/// When `wrk` cannot run (with how to install it) or prints no rate or p99 (with
/// what it printed).
pub fn wrk(mut command: std::process::Command, url: &str, seconds: u64) -> (f64, f64) {
    let output = command
        .args(["-t1", "-c32", &format!("-d{seconds}s"), "--latency", url])
        .output()
        .unwrap_or_else(|e| {
            panic!("wrk could not run ({e}); install it with `apt-get install wrk`")
        });
    let text = String::from_utf8_lossy(&output.stdout);
    let said = || format!("{text}{}", String::from_utf8_lossy(&output.stderr));
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk against {url} gave no rate:\n{}", said()));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| millis(v.trim()))
        .unwrap_or_else(|| panic!("wrk against {url} gave no p99:\n{}", said()));
    (rps, p99)
}

/// A `wrk` latency (`812.00us`, `1.52ms`, `2.01s`) in milliseconds.
fn millis(value: &str) -> Option<f64> {
    let split = value.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(number / 1000.0),
        "ms" => Some(number),
        "s" => Some(number * 1000.0),
        "m" => Some(number * 60_000.0),
        _ => None,
    }
}
