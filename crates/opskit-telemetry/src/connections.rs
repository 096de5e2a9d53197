//! The open connections of [`serve`](crate::serve), and which to let go when there
//! are too many.
//!
//! A slow client (slowloris) holds a connection by sending its request headers a
//! byte at a time; enough of them use up the file descriptors, and then the
//! kubelet's probe cannot connect and the pod is restarted. Past the connection
//! limit, the oldest connections that have not sent a whole request yet are closed
//! to make room: a probe, whose request arrives at once, is always served.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use http::Request;
use tokio::sync::Notify;
use tower_service::Service;

/// One open connection, as the registry sees it.
#[derive(Debug)]
struct Tracked {
    /// A whole request arrived on it.
    served: Arc<AtomicBool>,
    /// It ended (or is being closed).
    closed: Arc<AtomicBool>,
    /// Wakes its task to close it.
    close: Arc<Notify>,
}

/// What a connection's task holds: signals its end, and whether to close early.
#[derive(Debug)]
pub(crate) struct Handle {
    served: Arc<AtomicBool>,
    closed: Arc<AtomicBool>,
    close: Arc<Notify>,
    open: Arc<AtomicUsize>,
}

impl Handle {
    /// Whether a whole request arrived: set by [`Marked`].
    pub(crate) fn served(&self) -> Arc<AtomicBool> {
        self.served.clone()
    }

    /// Resolves when the registry closes this connection to make room.
    pub(crate) async fn closed_by_registry(&self) {
        self.close.notified().await;
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::SeqCst);
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections, oldest first.
#[derive(Debug)]
pub(crate) struct Connections {
    limit: usize,
    open: Arc<AtomicUsize>,
    tracked: VecDeque<Tracked>,
}

impl Connections {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Arc::new(AtomicUsize::new(0)),
            tracked: VecDeque::new(),
        }
    }

    /// Registers a new connection; past the limit, first closes the oldest ones
    /// that have not sent a whole request. Returns the handle and how many were
    /// closed.
    pub(crate) fn admit(&mut self) -> (Handle, usize) {
        self.forget_closed();
        let mut shed = 0;
        if self.open.load(Ordering::SeqCst) >= self.limit {
            let excess = self.open.load(Ordering::SeqCst) + 1 - self.limit;
            for tracked in &self.tracked {
                if shed == excess {
                    break;
                }
                if !tracked.served.load(Ordering::SeqCst)
                    && !tracked.closed.swap(true, Ordering::SeqCst)
                {
                    tracked.close.notify_one();
                    shed += 1;
                }
            }
        }
        let tracked = Tracked {
            served: Arc::new(AtomicBool::new(false)),
            closed: Arc::new(AtomicBool::new(false)),
            close: Arc::new(Notify::new()),
        };
        self.open.fetch_add(1, Ordering::SeqCst);
        let handle = Handle {
            served: tracked.served.clone(),
            closed: tracked.closed.clone(),
            close: tracked.close.clone(),
            open: self.open.clone(),
        };
        self.tracked.push_back(tracked);
        (handle, shed)
    }

    /// Drops the entries of ended connections: from the front at once, and all of
    /// them when the list has grown past twice the limit.
    fn forget_closed(&mut self) {
        while self
            .tracked
            .front()
            .is_some_and(|t| t.closed.load(Ordering::SeqCst))
        {
            self.tracked.pop_front();
        }
        if self.tracked.len() > self.limit.saturating_mul(2) {
            self.tracked.retain(|t| !t.closed.load(Ordering::SeqCst));
        }
    }
}

/// The service of one connection, marking it served when a whole request arrives.
#[derive(Debug, Clone)]
pub(crate) struct Marked<S> {
    pub(crate) inner: S,
    pub(crate) served: Arc<AtomicBool>,
}

impl<S, B> Service<Request<B>> for Marked<S>
where
    S: Service<Request<B>, Error = Infallible>,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        self.served.store(true, Ordering::Relaxed);
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_limit_the_oldest_connections_without_a_request_are_closed() {
        let mut connections = Connections::new(3);
        let (first, _) = connections.admit();
        let (second, _) = connections.admit();
        let (third, _) = connections.admit();
        // The first sent a request: it stays.
        first.served().store(true, Ordering::SeqCst);
        let (_fourth, shed) = connections.admit();
        assert_eq!(shed, 1);
        assert!(
            second.closed.load(Ordering::SeqCst),
            "the oldest silent one"
        );
        assert!(!third.closed.load(Ordering::SeqCst));
        assert!(!first.closed.load(Ordering::SeqCst));
        // Its task ends: the count follows.
        drop(second);
        assert_eq!(connections.open.load(Ordering::SeqCst), 3);
        let (_fifth, shed) = connections.admit();
        assert_eq!(shed, 1, "the third, now the oldest silent one");
        assert!(third.closed.load(Ordering::SeqCst));
    }
}
