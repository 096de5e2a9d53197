//! The header-read timeout on loopback: it cuts a client that waits to send a
//! request, never one whose request is in flight, however long its body takes.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{HttpSettings, accept_loop};
use crate::serving::shutdown::GracefulShutdown;

/// The header-read timeout of these tests: every wait below is several times it.
const TIMEOUT: Duration = Duration::from_millis(300);

/// A body of `left` chunks, one every 200 ms.
struct Trickle {
    left: usize,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Body for Trickle {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        std::task::ready!(self.sleep.as_mut().poll(cx));
        self.left -= 1;
        let next = tokio::time::Instant::now() + Duration::from_millis(200);
        self.sleep.as_mut().reset(next);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"chunk\n")))))
    }
}

/// `GET /slow`: six chunks over 1.2 s. Anything else: the request's body read
/// whole, answered with its length.
async fn handle(
    request: Request<Incoming>,
) -> Result<Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>, Infallible> {
    if request.uri().path() == "/slow" {
        let body = Trickle {
            left: 6,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        return Ok(Response::new(body.boxed()));
    }
    let length = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().len(),
        Err(_) => 0,
    };
    let text = http_body_util::Full::new(Bytes::from(length.to_string()));
    Ok(Response::new(text.map_err(|never| match never {}).boxed()))
}

/// A server on loopback with the header-read timeout of these tests, on a runtime
/// of its own (kept alive as long as the server is).
struct Server {
    _runtime: tokio::runtime::Runtime,
    address: SocketAddr,
}

impl Server {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let address = listen(&runtime);
        Self {
            _runtime: runtime,
            address,
        }
    }

    /// A connection on which `head` was sent.
    fn send(&self, head: &[u8]) -> TcpStream {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head).unwrap();
        stream
    }
}

fn listen(runtime: &tokio::runtime::Runtime) -> SocketAddr {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let settings = HttpSettings {
            header_read_timeout: TIMEOUT,
            ..HttpSettings::default()
        };
        let shutdown = GracefulShutdown::new(Duration::ZERO, Duration::from_secs(1));
        let service = tower::service_fn(handle);
        tokio::spawn(accept_loop(listener, service, settings, shutdown));
        address
    })
}

/// Reads until the server closes the connection (failing after 10 s, long past
/// the timeout, if it does not).
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut text = Vec::new();
    let closed = stream.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text).into_owned();
    assert!(
        closed.is_ok(),
        "the server did not close the connection ({closed:?}) after: {text:?}"
    );
    text
}

#[test]
fn a_response_body_sent_for_longer_than_the_timeout_is_not_cut() {
    let server = Server::start();
    let mut stream = server.send(b"GET /slow HTTP/1.1\r\nhost: test\r\n\r\n");
    // The whole body, then (idle past the timeout) the close.
    let text = read_to_close(&mut stream);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(text.matches("chunk\n").count(), 6, "the whole body: {text}");
}

#[test]
fn a_request_body_sent_for_longer_than_the_timeout_is_read_whole() {
    let server = Server::start();
    let mut stream =
        server.send(b"POST /upload HTTP/1.1\r\nhost: test\r\ncontent-length: 6\r\n\r\n");
    for byte in b"abcdef" {
        std::thread::sleep(Duration::from_millis(200));
        stream.write_all(&[*byte]).unwrap();
    }
    let text = read_to_close(&mut stream);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n6"),
        "all six bytes were read: {text}"
    );
}

#[test]
fn a_client_that_sends_nothing_or_idles_after_a_response_is_cut() {
    let server = Server::start();
    let mut silent = server.send(b"");
    assert_eq!(read_to_close(&mut silent), "", "closed without an answer");

    let mut idle = server.send(b"POST / HTTP/1.1\r\nhost: test\r\ncontent-length: 0\r\n\r\n");
    let text = read_to_close(&mut idle);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "answered, then closed: {text}"
    );
}
