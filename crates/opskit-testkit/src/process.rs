//! A service started as a real process with a clean environment, its stdout read
//! line by line as JSON events.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A service running as a child process, its stdout and stderr read by two threads.
#[derive(Debug)]
pub struct Service {
    child: Child,
    /// Every stdout line so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    events: Receiver<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    /// The address from `service.listening`, once [`Service::start`] saw it.
    pub address: Option<SocketAddr>,
}

impl Service {
    /// Starts `binary` with only `env` set (plus `LOG_FORMAT=json`), in `dir`.
    pub fn spawn(binary: &Path, dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn_with_args(binary, dir, &[], env)
    }

    /// [`Service::spawn`] with command-line arguments.
    pub fn spawn_with_args(binary: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(binary)
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the service starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (sender, events) = channel();
        let stdout = child.stdout.take().unwrap();
        let all = lines.clone();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                all.lock().unwrap().push(line.clone());
                if let Ok(event) = serde_json::from_str::<Value>(&line) {
                    let _ = sender.send(event);
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buffer = Vec::new();
            let _ = pipe.read_to_end(&mut buffer);
            sink.lock().unwrap().extend(buffer);
        });
        Self {
            child,
            lines,
            events,
            stderr,
            readers: vec![stdout_reader, stderr_reader],
            address: None,
        }
    }

    /// Starts and waits until it is ready, remembering its address.
    pub fn start(binary: &Path, dir: &Path, env: &[(&str, &str)]) -> Self {
        let service = Self::start_listening(binary, dir, env);
        service.wait_for("service.ready");
        service
    }

    /// Starts and waits until it listens (it may not be ready: a database it waits
    /// for, migrations not applied), remembering its address.
    pub fn start_listening(binary: &Path, dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_listening_with_args(binary, dir, &[], env)
    }

    /// [`start_listening`](Self::start_listening) with command-line arguments (a
    /// wrapper such as `prlimit` and the service's path, say).
    pub fn start_listening_with_args(
        binary: &Path,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut service = Self::spawn_with_args(binary, dir, args, env);
        // The HTTP listener's: a service may open others first (an admin port).
        let listening = loop {
            let listening = service.wait_for("service.listening");
            if listening["listener"] == "http" || listening.get("listener").is_none() {
                break listening;
            }
        };
        service.address = Some(listening["address"].as_str().unwrap().parse().unwrap());
        service
    }

    /// The address it listens on.
    ///
    /// # Panics
    ///
    /// When it was not started with [`Service::start`].
    pub fn address(&self) -> SocketAddr {
        self.address.expect("the service is listening")
    }

    /// Waits up to 60 s for the next event named `event` on stdout.
    ///
    /// # Panics
    ///
    /// When none comes, with the output so far.
    pub fn wait_for(&self, event: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(value) if value["event"] == event => return value,
                Ok(_) => {}
                Err(_) => panic!(
                    "no {event} event; output so far:\n{}\nstderr:\n{}",
                    self.lines.lock().unwrap().join("\n"),
                    String::from_utf8_lossy(&self.stderr.lock().unwrap())
                ),
            }
        }
    }

    /// The address of the listener named `listener` (`service.listening`'s
    /// `listener` field, such as `metrics`), from the lines read so far.
    pub fn listener(&self, listener: &str) -> Option<SocketAddr> {
        self.lines.lock().unwrap().iter().find_map(|line| {
            let event: Value = serde_json::from_str(line).ok()?;
            (event["event"] == "service.listening" && event["listener"] == listener)
                .then(|| event["address"].as_str()?.parse().ok())
                .flatten()
        })
    }

    /// Its process id (to send it other signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit code; returns it with stdout's lines and stderr, complete:
    /// both readers have reached the end of their pipes.
    pub fn finish(mut self) -> (i32, Vec<String>, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the service did not stop within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().expect("an output reader thread panicked");
        }
        let lines = self.lines.lock().unwrap().clone();
        let stderr = String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned();
        (status.code().unwrap_or(-1), lines, stderr)
    }
}

impl Service {
    /// Stops it as an orchestrator does (SIGTERM) and asserts a clean exit (0,
    /// stderr shown otherwise); returns stdout's lines and stderr.
    pub fn stop(self) -> (Vec<String>, String) {
        self.terminate();
        let (code, lines, stderr) = self.finish();
        assert_eq!(code, 0, "{stderr}");
        (lines, stderr)
    }
}

/// A test that ends early (a failed assertion) leaves no process behind: it is
/// killed and reaped.
impl Drop for Service {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cargo build --quiet --message-format=json` with `args` in `dir` (a
/// package's manifest directory) and returns the executable cargo built for the
/// target `name`.
///
/// # Panics
///
/// When the build fails (with cargo's output) or builds no executable `name`.
pub fn cargo_build(dir: &str, args: &[&str], name: &str) -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--message-format=json"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "building {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["target"]["name"] == name)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no executable {name}"))
}

/// A loopback TCP port free a moment ago, for a server a test starts on it. (The
/// port is released before it returns: another process may take it meanwhile.)
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the loopback interface has a free port")
}

/// Spawns `command` with a clean environment but `env`, and reads the first line it
/// prints on stdout (a server saying where it listens): the child, and the line
/// without its newline.
///
/// # Panics
///
/// When the command does not start or its stdout cannot be read.
pub fn spawn_reading_first_line(
    command: &mut std::process::Command,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let mut child = command
        .env_clear()
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

/// One HTTP/1.1 request over a new connection: status and body.
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(&request_bytes(method, path, headers, body))?;
    read_response(stream)
}

/// [`request`]: `POST path` of the JSON `body`, with `authorization: Bearer token`.
pub fn post_json(
    address: SocketAddr,
    path: &str,
    token: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let headers = [
        ("authorization", format!("Bearer {token}")),
        ("content-type", "application/json".to_owned()),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    request(address, "POST", path, &headers, body)
}

/// An HTTP/1.1 request with `connection: close`, as bytes.
pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    format!("{head}\r\n{body}").into_bytes()
}

/// A whole response: status, headers (names lowercase, in order) and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Each header as (lowercase name, value).
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl Response {
    /// The first value of the header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The status line and headers as they came, for a canary sweep.
    pub fn head(&self) -> String {
        let mut head = format!("{}\n", self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\n"));
        }
        head
    }
}

/// Reads a whole `connection: close` response: status, headers and body.
pub fn read_full_response(mut stream: TcpStream) -> std::io::Result<Response> {
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {response:?}")))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Reads a whole `connection: close` response: status and body.
pub fn read_response(stream: TcpStream) -> std::io::Result<(u16, String)> {
    read_full_response(stream).map(|response| (response.status, response.body))
}

/// [`request`], with the response's headers.
///
/// # Errors
///
/// When the connection or the response fails.
pub fn exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(&request_bytes(method, path, headers, body))?;
    read_full_response(stream)
}

/// `GET path` on a new connection: the response as it came, status line and
/// headers included.
///
/// # Errors
///
/// When the connection or the response fails.
pub fn raw_get(address: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(&request_bytes("GET", path, &[], ""))?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// `GET path` on a new connection: the status and the body.
///
/// # Errors
///
/// When the connection or the response fails.
pub fn get(address: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    request(address, "GET", path, &[], "")
}

/// The text of a JSON value, such as an event's field (`text(&event["message"])`);
/// a value that is not text fails the test, naming it.
pub fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not text: {value}"))
}

/// Every stdout line of a service, parsed as JSON (a line that is not fails the test).
pub fn events(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a stdout line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// The first event named `name`.
pub fn event(lines: &[String], name: &str) -> Value {
    events(lines)
        .into_iter()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in:\n{}", lines.join("\n")))
}
