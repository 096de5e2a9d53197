//! A TCP forwarder on loopback that a test can cut and restore: a real server (a
//! PostgreSQL) that goes away and comes back, as a network partition or a restart
//! looks to a client.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Forwards connections from its own address to `target` while up. Down, it
/// listens on nothing (connections are refused) and every forwarded connection is
/// cut.
#[derive(Debug)]
pub struct Outage {
    address: SocketAddr,
    target: SocketAddr,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: JoinHandle<()>,
}

impl Outage {
    /// A forwarder to `target` on a free loopback port, down until [`up`](Self::up).
    pub fn new(target: SocketAddr) -> io::Result<Self> {
        let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        Ok(Self {
            address,
            target,
            running: None,
        })
    }

    /// The address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Starts forwarding (the server "comes back").
    pub fn up(&mut self) -> io::Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.address)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let target = self.target;
        let acceptor = {
            let (stop, streams) = (stop.clone(), streams.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            let _ = client.set_nonblocking(false);
                            if let Ok(server) = TcpStream::connect(target) {
                                pipe(client, server, &streams);
                            }
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        self.running = Some(Running {
            stop,
            streams,
            acceptor,
        });
        Ok(())
    }

    /// Stops forwarding: new connections are refused and open ones are cut.
    pub fn down(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop.store(true, Ordering::SeqCst);
            let _ = running.acceptor.join();
            for stream in running.streams.lock().unwrap().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.down();
    }
}

/// Copies both ways between `client` and `server` on two threads, keeping clones
/// so [`Outage::down`] can cut them.
fn pipe(client: TcpStream, server: TcpStream, streams: &Mutex<Vec<TcpStream>>) {
    let (Ok(client_reader), Ok(server_reader)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    if let (Ok(a), Ok(b)) = (client.try_clone(), server.try_clone()) {
        streams.lock().unwrap().extend([a, b]);
    }
    let copy = |mut from: TcpStream, mut to: TcpStream| {
        std::thread::spawn(move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
        });
    };
    copy(client_reader, server);
    copy(server_reader, client);
}
