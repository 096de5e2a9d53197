//! The open connections of [`serve`](super::serve), and which to let go when there
//! are too many.
//!
//! A slow client (slowloris) holds a connection by sending its request headers a
//! byte at a time; enough of them use up the file descriptors, and then the
//! kubelet's probe cannot connect and the pod is restarted. Past the connection
//! limit, the oldest connections that are waiting for the rest of a request are
//! closed to make room: a probe, whose request arrives at once, is always served.
//!
//! A connection is let go only when all three hold:
//!
//! - the server has read everything its client sent and is waiting for more (so a
//!   request sitting unread in the socket, as in a burst of new connections the
//!   server has not got to yet, is never lost);
//! - no whole request has arrived on it;
//! - it has been open for at least [`SHED_GRACE`], so a client that connects and
//!   sends its request a moment later is not mistaken for a slow one.
//!
//! The grace holds while the process has file descriptors to spare. Past the hard
//! limit (an eighth above the limit), or when an accept fails for want of them,
//! the oldest connections waiting for the rest of a request are let go whatever
//! their age: a burst of slow clients younger than the grace would otherwise use up
//! the descriptors, and a probe queued behind them in the listen queue would wait
//! out the grace (as long as the kubelet's default probe timeout) before it could
//! be accepted.
//!
//! When the registry tells a connection to close, its task reads once more before
//! closing; a whole request that arrived in between is served after all.
//!
//! # The header-read timeout
//!
//! An HTTP/1 connection may wait for a request's head (from its opening, or from
//! the end of its last response's body) at most the header-read timeout: a client
//! trickling its headers a byte at a time is cut at the timeout, not reset by each
//! byte, and an idle keep-alive connection is closed. A request in flight (its body
//! being read, its handler running, its response being sent) is never cut. The
//! registry checks every eighth of the timeout, against a clock it keeps itself, so
//! a request costs two stores and a load: hyper's own header-read timeout arms a
//! timer for every request (a boxed sleep, registered with the runtime's timer and
//! removed again), about 1,400 instructions a request. A connection is cut between
//! the timeout and a quarter past it. HTTP/2 connections are left to HTTP/2's own
//! flow once their first request has arrived.
//!
//! The count of open connections leaves out the ones already told to close, so a
//! connection that is being closed is never made room for twice.
//!
//! # At shutdown
//!
//! From SIGTERM on, every HTTP/1 response says `Connection: close`, so a client
//! moves to another replica after the answer it is waiting for, and HTTP/2
//! connections get a GOAWAY. When the server stops accepting, connections that
//! have served a request are closed once their in-flight request is answered
//! (idle ones at once: the client has had the whole drain delay to see the
//! `Connection: close`); a connection whose first request has not arrived yet is
//! left to send it, and is answered with `Connection: close`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::shutdown::Phase;

/// How long a new connection has to send its first request before it may be closed
/// to make room.
pub(crate) const SHED_GRACE: Duration = Duration::from_secs(1);

/// What the registry and a connection's task both know of the connection.
#[derive(Debug)]
struct State {
    /// When it was accepted.
    opened: Instant,
    /// A whole request arrived on it.
    served: AtomicBool,
    /// It speaks HTTP/2.
    http2: AtomicBool,
    /// The server read everything the client had sent and waited for more.
    waited: AtomicBool,
    /// It ended, or the registry told it to close.
    closing: AtomicBool,
    /// Wakes its task to close it.
    close: Notify,
    /// Since when (on `clock`) the server has been waiting for a request's head, or
    /// [`BUSY`] while a request is in flight.
    waiting_since: AtomicU64,
    /// The `waiting_since` the registry saw when it cut the connection for taking
    /// longer than the header-read timeout, or [`NOT_CUT`].
    cut_at: AtomicU64,
    /// The registry's clock, shared with every connection.
    clock: Arc<Clock>,
    /// Set from SIGTERM on, for every connection: responses say `Connection: close`.
    draining: Arc<AtomicBool>,
}

/// `waiting_since` while a request is in flight.
const BUSY: u64 = u64::MAX;

/// `cut_at` of a connection not cut for its header-read timeout.
const NOT_CUT: u64 = u64::MAX;

/// Milliseconds since the registry started, as of its last check: what a
/// connection reads when it starts waiting for a request, one load rather than a
/// clock read per request.
#[derive(Debug)]
struct Clock {
    start: Instant,
    now: AtomicU64,
}

impl Clock {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            now: AtomicU64::new(0),
        }
    }

    /// The time of the last check.
    fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }

    /// Reads the time, for a check.
    fn tick(&self) -> u64 {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(BUSY - 1);
        self.now.store(now, Ordering::Relaxed);
        now
    }
}

impl State {
    /// Whether the registry may close it to make room.
    fn sheddable(&self, now: Instant, grace: Duration) -> bool {
        !self.served.load(Ordering::SeqCst)
            && self.waited.load(Ordering::SeqCst)
            && !self.closing.load(Ordering::SeqCst)
            && now.saturating_duration_since(self.opened) >= grace
    }
}

/// What a connection's task holds: signals its end, and whether to close early.
#[derive(Debug)]
pub(crate) struct Handle {
    state: Arc<State>,
    open: Arc<AtomicUsize>,
    phase: watch::Receiver<Phase>,
}

impl Handle {
    /// The connection's stream, watched so the registry knows when the server is
    /// waiting for its client.
    pub(crate) fn watch<T>(&self, inner: T) -> Watched<T> {
        Watched::new(inner, self.state.clone())
    }

    /// The service of this connection, marking it served when a whole request
    /// arrives.
    pub(crate) fn mark<S>(&self, inner: S) -> Marked<S> {
        Marked::new(inner, self.state.clone())
    }

    /// The server's shutdown phase, seen as changed once at first so that a
    /// connection accepted during the drain acts on it at once.
    pub(crate) fn phase(&self) -> watch::Receiver<Phase> {
        let mut phase = self.phase.clone();
        phase.mark_changed();
        phase
    }

    /// Whether the connection should be shut down gracefully (its in-flight request
    /// answered, then closed; HTTP/2: GOAWAY) in this phase.
    pub(crate) fn closes_in(&self, phase: Phase) -> bool {
        let http2 = self.state.http2.load(Ordering::SeqCst);
        match phase {
            Phase::Running => false,
            Phase::Draining(_) => http2,
            Phase::Closing(_) => http2 || self.state.served.load(Ordering::SeqCst),
        }
    }

    /// Resolves when the registry closes this connection to make room.
    pub(crate) async fn closed_by_registry(&self) {
        self.state.close.notified().await;
    }

    /// After [`closed_by_registry`](Self::closed_by_registry) resolved and the
    /// connection was read once more: whether a whole request arrived after all, in
    /// which case the connection stays open and counts again.
    pub(crate) fn reprieve(&self) -> bool {
        let cut_at = self.state.cut_at.swap(NOT_CUT, Ordering::SeqCst);
        let keep = if cut_at == NOT_CUT {
            self.state.served.load(Ordering::SeqCst)
        } else {
            // Cut for its header-read timeout: kept only if a request arrived since.
            self.state.waiting_since.load(Ordering::SeqCst) != cut_at
        };
        if !keep {
            return false;
        }
        if self.state.closing.swap(false, Ordering::SeqCst) {
            self.open.fetch_add(1, Ordering::SeqCst);
        }
        true
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.state.closing.swap(true, Ordering::SeqCst) {
            self.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The open connections, oldest first.
#[derive(Debug)]
pub(crate) struct Connections {
    limit: usize,
    grace: Duration,
    /// Open connections not told to close.
    open: Arc<AtomicUsize>,
    tracked: VecDeque<Arc<State>>,
    /// Set from SIGTERM on: responses say `Connection: close`.
    draining: Arc<AtomicBool>,
    phase: watch::Receiver<Phase>,
    /// How long an HTTP/1 connection may wait for a request's head.
    header_read_timeout: Duration,
    clock: Arc<Clock>,
}

impl Connections {
    /// Connections up to `limit`, each HTTP/1 one waiting for a request's head at
    /// most `header_read_timeout`, following the server's shutdown `phase`.
    pub(crate) fn new(
        limit: usize,
        header_read_timeout: Duration,
        phase: watch::Receiver<Phase>,
    ) -> Self {
        Self::with_grace(limit, SHED_GRACE, header_read_timeout, phase)
    }

    fn with_grace(
        limit: usize,
        grace: Duration,
        header_read_timeout: Duration,
        phase: watch::Receiver<Phase>,
    ) -> Self {
        Self {
            limit,
            grace,
            open: Arc::new(AtomicUsize::new(0)),
            tracked: VecDeque::new(),
            draining: Arc::new(AtomicBool::new(false)),
            phase,
            header_read_timeout,
            clock: Arc::new(Clock::new()),
        }
    }

    /// How often [`cut_slow`](Self::cut_slow) should run: an eighth of the
    /// header-read timeout, between 5 ms and a second.
    pub(crate) fn check_interval(&self) -> Duration {
        (self.header_read_timeout / 8).clamp(Duration::from_millis(5), Duration::from_secs(1))
    }

    /// Closes the HTTP/1 connections that have waited for a request's head longer
    /// than the header-read timeout; returns how many.
    pub(crate) fn cut_slow(&mut self) -> usize {
        let now = self.clock.tick();
        self.forget_closed();
        // A connection's mark is up to one interval old: wait that much longer, so
        // none is cut before its time.
        let limit = u64::try_from((self.header_read_timeout + self.check_interval()).as_millis())
            .unwrap_or(u64::MAX);
        let mut cut = 0;
        for state in &self.tracked {
            let since = state.waiting_since.load(Ordering::SeqCst);
            if since == BUSY
                || now.saturating_sub(since) <= limit
                || state.http2.load(Ordering::SeqCst)
                || state.closing.load(Ordering::SeqCst)
            {
                continue;
            }
            state.cut_at.store(since, Ordering::SeqCst);
            if !state.closing.swap(true, Ordering::SeqCst) {
                self.open.fetch_sub(1, Ordering::SeqCst);
                state.close.notify_one();
                cut += 1;
            }
        }
        cut
    }

    /// Open connections past which the oldest slow ones are closed.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// From now on, responses say `Connection: close`.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Registers a new connection; past the limit, first closes the oldest ones
    /// that may be let go. Returns the handle and how many were closed.
    pub(crate) fn admit(&mut self) -> (Handle, usize) {
        let shed = self.make_room(1);
        let state = Arc::new(State {
            opened: Instant::now(),
            served: AtomicBool::new(false),
            http2: AtomicBool::new(false),
            waited: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            close: Notify::new(),
            waiting_since: AtomicU64::new(self.clock.now()),
            cut_at: AtomicU64::new(NOT_CUT),
            clock: self.clock.clone(),
            draining: self.draining.clone(),
        });
        self.open.fetch_add(1, Ordering::SeqCst);
        self.tracked.push_back(state.clone());
        let handle = Handle {
            state,
            open: self.open.clone(),
            phase: self.phase.clone(),
        };
        (handle, shed)
    }

    /// Open connections past which even the ones younger than the grace may be let
    /// go: an eighth above the limit, below the open-files limit the limit is
    /// derived from.
    fn hard_limit(&self) -> usize {
        self.limit.saturating_add(self.limit.div_ceil(8))
    }

    /// Closes the oldest connections that may be let go until `room` more fit
    /// under the limit (or none is left to close), and then, past the hard limit,
    /// the oldest waiting ones whatever their age; returns how many it closed.
    pub(crate) fn make_room(&mut self, room: usize) -> usize {
        self.forget_closed();
        let open = self.open.load(Ordering::SeqCst);
        let shed = self.shed((open + room).saturating_sub(self.limit), self.grace);
        let open = self.open.load(Ordering::SeqCst);
        shed + self.shed(
            (open + room).saturating_sub(self.hard_limit()),
            Duration::ZERO,
        )
    }

    /// After an accept failed for want of file descriptors: closes the oldest
    /// connection waiting for the rest of a request, whatever its age, so the next
    /// accept (a probe, perhaps) finds one free. Returns how many it closed.
    pub(crate) fn make_room_now(&mut self) -> usize {
        self.forget_closed();
        self.shed(1, Duration::ZERO)
    }

    /// Closes up to `count` of the oldest connections that may be let go, counting
    /// `grace` as the age a connection must have.
    fn shed(&mut self, count: usize, grace: Duration) -> usize {
        let now = Instant::now();
        let mut shed = 0;
        for state in &self.tracked {
            if shed == count {
                break;
            }
            if state.sheddable(now, grace) && !state.closing.swap(true, Ordering::SeqCst) {
                self.open.fetch_sub(1, Ordering::SeqCst);
                state.close.notify_one();
                shed += 1;
            }
        }
        shed
    }

    /// Drops the entries of ended connections: from the front at once, and all of
    /// them when the list has grown past twice the limit.
    fn forget_closed(&mut self) {
        while self
            .tracked
            .front()
            .is_some_and(|t| t.closing.load(Ordering::SeqCst))
        {
            self.tracked.pop_front();
        }
        if self.tracked.len() > self.limit.saturating_mul(2) {
            self.tracked.retain(|t| !t.closing.load(Ordering::SeqCst));
        }
    }
}

mod marked;
mod watched;

#[cfg(test)]
use marked::InFlight;
pub(crate) use marked::Marked;
pub(crate) use watched::Watched;

#[cfg(test)]
mod tests;
