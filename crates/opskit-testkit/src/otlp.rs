//! An OTLP/HTTP trace receiver on loopback, for tests: it answers
//! `POST /v1/traces` as a collector does and decodes each export with the official
//! OpenTelemetry protobuf types (`opentelemetry-proto`), so a test reads the spans a
//! real process exported over real HTTP.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use prost::Message;

/// One span as the receiver decoded it, ids in lower-case hex as W3C
/// `traceparent` writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedSpan {
    /// The trace id (32 hex digits).
    pub trace_id: String,
    /// The span id (16 hex digits).
    pub span_id: String,
    /// The parent span's id, empty for a root span.
    pub parent_span_id: String,
    /// The span's name.
    pub name: String,
    /// OTLP's span kind: 1 internal, 2 server, 3 client.
    pub kind: i32,
    /// OTLP's status code: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    /// The span's attributes, values as text.
    pub attributes: BTreeMap<String, String>,
    /// The resource's attributes (`service.name`, ...), values as text.
    pub resource: BTreeMap<String, String>,
}

/// What the receiver answers.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// 200 with an empty `ExportTraceServiceResponse` at once.
    Answer,
    /// The same, after this long: a collector under load.
    Slow(Duration),
}

/// A trace receiver on a free loopback port; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    address: SocketAddr,
    received: Received,
    stop: Arc<AtomicBool>,
}

impl Receiver {
    /// A receiver that answers every export at once.
    pub fn start() -> io::Result<Self> {
        Self::with(Behaviour::Answer)
    }

    /// A receiver that takes `delay` to answer each export.
    pub fn slow(delay: Duration) -> io::Result<Self> {
        Self::with(Behaviour::Slow(delay))
    }

    fn with(behaviour: Behaviour) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let receiver = Self {
            address: listener.local_addr()?,
            received: Received::default(),
            stop: Arc::default(),
        };
        let received = receiver.received.clone();
        let stop = receiver.stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let received = received.clone();
                        std::thread::spawn(move || {
                            let _ = serve(stream, behaviour, &received);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(receiver)
    }

    /// The base URL to give as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.spans.lock().unwrap().clone()
    }

    /// How many export requests arrived.
    pub fn exports(&self) -> usize {
        *self.received.exports.lock().unwrap()
    }

    /// The HTTP headers of the latest export, names in lowercase.
    pub fn headers(&self) -> BTreeMap<String, String> {
        self.received.headers.lock().unwrap().clone()
    }

    /// Waits up to `timeout` until some received span satisfies `found`, and
    /// returns every span received by then.
    pub fn wait_for(
        &self,
        timeout: Duration,
        found: impl Fn(&ReceivedSpan) -> bool,
    ) -> Option<Vec<ReceivedSpan>> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if spans.iter().any(&found) {
                return Some(spans);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What the connections record, shared with the [`Receiver`].
#[derive(Debug, Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    exports: Arc<Mutex<usize>>,
    headers: Arc<Mutex<BTreeMap<String, String>>>,
}

/// Serves one connection's requests (keep-alive) until the client closes it.
fn serve(stream: TcpStream, behaviour: Behaviour, received: &Received) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                if name == "content-length" {
                    length = value.parse().unwrap_or(0);
                }
                headers.insert(name, value.to_owned());
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        if let Behaviour::Slow(delay) = behaviour {
            std::thread::sleep(delay);
        }
        let status = if request_line.starts_with("POST /v1/traces ") {
            match ExportTraceServiceRequest::decode(body.as_slice()) {
                Ok(request) => {
                    *received.exports.lock().unwrap() += 1;
                    *received.headers.lock().unwrap() = headers;
                    received.spans.lock().unwrap().extend(flatten(request));
                    "200 OK"
                }
                Err(_) => "400 Bad Request",
            }
        } else {
            "404 Not Found"
        };
        let answer = ExportTraceServiceResponse::default().encode_to_vec();
        write!(
            writer,
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        )?;
        writer.write_all(&answer)?;
        writer.flush()?;
    }
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| text_attributes(r.attributes))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                out.push(ReceivedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    status_code: span.status.map_or(0, |s| s.code),
                    attributes: text_attributes(span.attributes),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}

fn text_attributes(
    attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
) -> BTreeMap<String, String> {
    attributes
        .into_iter()
        .map(|kv| (kv.key, kv.value.map(text).unwrap_or_default()))
        .collect()
}

fn text(value: AnyValue) -> String {
    match value.value {
        Some(any_value::Value::StringValue(s)) => s,
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    // One string per id, not one per byte: the receiver shares the CPUs of the
    // benchmarks it serves.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}
