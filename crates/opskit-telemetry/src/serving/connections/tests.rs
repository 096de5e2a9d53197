//! Which connections the registry lets go, and when.

use super::*;

/// A header-read timeout no test waits out.
const HOUR: Duration = Duration::from_secs(3600);

fn running() -> watch::Receiver<Phase> {
    watch::channel(Phase::Running).1
}

/// A connection whose client sent part of a request, and the server waits.
fn silent(connections: &mut Connections) -> Handle {
    let (handle, _) = connections.admit();
    handle.state.waited.store(true, Ordering::SeqCst);
    handle
}

/// A registry of at most 3 connections, full: three silent ones, oldest first.
fn full_of_silent_ones() -> (Connections, [Handle; 3]) {
    let mut connections = Connections::with_grace(3, Duration::ZERO, HOUR, running());
    let handles = [(); 3].map(|()| silent(&mut connections));
    (connections, handles)
}

fn closing(handle: &Handle) -> bool {
    handle.state.closing.load(Ordering::SeqCst)
}

#[test]
fn past_the_limit_the_oldest_connections_without_a_request_are_closed() {
    let (mut connections, [first, second, third]) = full_of_silent_ones();
    // The first sent a request: it stays.
    first.state.served.store(true, Ordering::SeqCst);
    let (_fourth, shed) = connections.admit();
    assert_eq!(shed, 1);
    assert!(closing(&second), "the oldest silent one");
    assert!(!closing(&third));
    assert!(!closing(&first));
    // Its task ends: the count does not change again.
    drop(second);
    assert_eq!(connections.open.load(Ordering::SeqCst), 3);
    let (_fifth, shed) = connections.admit();
    assert_eq!(shed, 1, "the third, now the oldest silent one");
    assert!(closing(&third));
}

#[test]
fn a_connection_being_closed_is_not_made_room_for_twice() {
    let (mut connections, [first, second, third]) = full_of_silent_ones();
    let (_fourth, shed) = connections.admit();
    assert_eq!(shed, 1);
    assert!(closing(&first));
    // The first's task has not run yet: its handle is alive. The next
    // connection still needs room for one, not two.
    let (fifth, shed) = connections.admit();
    assert_eq!(shed, 1);
    assert!(closing(&second));
    assert!(!closing(&third), "closed although the limit held");
    assert!(!closing(&fifth));
    drop((first, second));
    assert_eq!(connections.open.load(Ordering::SeqCst), 3);
}

#[test]
fn a_request_the_server_has_not_read_yet_keeps_its_connection() {
    let mut connections = Connections::with_grace(2, Duration::ZERO, HOUR, running());
    // Accepted in a burst: the server has not read from either yet.
    let (unread, _) = connections.admit();
    let (also_unread, _) = connections.admit();
    let (_third, shed) = connections.admit();
    assert_eq!(shed, 0);
    assert!(!closing(&unread) && !closing(&also_unread));
}

#[test]
fn a_new_connection_has_a_grace_period_to_send_its_request() {
    let mut connections = Connections::with_grace(1, Duration::from_secs(3600), HOUR, running());
    let young = silent(&mut connections);
    let (_next, shed) = connections.admit();
    assert_eq!(shed, 0);
    assert!(!closing(&young));
}

#[test]
fn past_the_hard_limit_young_waiting_connections_are_closed_oldest_first() {
    // A limit of 8, so a hard limit of 9; a grace no connection reaches.
    let mut connections = Connections::with_grace(8, Duration::from_secs(3600), HOUR, running());
    let silent: Vec<Handle> = (0..9).map(|_| silent(&mut connections)).collect();
    assert!(silent.iter().all(|h| !closing(h)), "within the hard limit");
    let (_tenth, shed) = connections.admit();
    assert_eq!(shed, 1);
    assert!(closing(&silent[0]), "the oldest waiting one");
    assert!(silent[1..].iter().all(|h| !closing(h)));
    assert_eq!(connections.open.load(Ordering::SeqCst), 9);
}

#[test]
fn a_failed_accept_closes_the_oldest_waiting_connection_whatever_its_age() {
    let mut connections = Connections::with_grace(8, Duration::from_secs(3600), HOUR, running());
    let (unread, _) = connections.admit();
    let first = silent(&mut connections);
    let second = silent(&mut connections);
    assert_eq!(connections.make_room_now(), 1);
    assert!(!closing(&unread), "its request may be in the socket");
    assert!(closing(&first));
    assert!(!closing(&second));
}

#[test]
fn a_request_that_arrives_as_the_connection_is_closed_is_served() {
    let mut connections = Connections::with_grace(1, Duration::ZERO, HOUR, running());
    let slow = silent(&mut connections);
    let (_next, shed) = connections.admit();
    assert_eq!(shed, 1);
    // The task reads once more and finds a whole request.
    assert!(!slow.reprieve(), "nothing arrived yet");
    slow.state.served.store(true, Ordering::SeqCst);
    assert!(slow.reprieve());
    assert!(!closing(&slow));
    assert_eq!(connections.open.load(Ordering::SeqCst), 2);
    drop(slow);
    assert_eq!(connections.open.load(Ordering::SeqCst), 1);
}

/// A registry whose connections may wait 5 ms for a request's head (checked every
/// 5 ms: cut after more than 10 ms).
fn impatient() -> Connections {
    Connections::with_grace(100, Duration::ZERO, Duration::from_millis(5), running())
}

fn past_the_timeout() {
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn a_connection_waiting_for_a_request_past_the_header_read_timeout_is_cut() {
    let mut connections = impatient();
    let (waiting, _) = connections.admit();
    assert_eq!(connections.cut_slow(), 0, "not yet");
    past_the_timeout();
    assert_eq!(connections.cut_slow(), 1);
    assert!(closing(&waiting));
    assert!(!waiting.reprieve(), "no request arrived since");
    assert_eq!(connections.open.load(Ordering::SeqCst), 0);
}

#[test]
fn a_request_in_flight_is_never_cut_and_the_wait_starts_again_after_it() {
    let mut connections = impatient();
    let (busy, _) = connections.admit();
    // Head read, body still arriving or response still being sent.
    let request = InFlight::start(&busy.state);
    past_the_timeout();
    assert_eq!(connections.cut_slow(), 0);
    assert!(!closing(&busy));
    // The response's body is sent: the connection waits for the next head from now.
    drop(request);
    assert_eq!(
        connections.cut_slow(),
        0,
        "it has only just started waiting"
    );
    past_the_timeout();
    assert_eq!(
        connections.cut_slow(),
        1,
        "idle past the timeout after its response"
    );
}

#[test]
fn http2_connections_are_left_to_http2() {
    let mut connections = impatient();
    let (h2, _) = connections.admit();
    h2.state.http2.store(true, Ordering::SeqCst);
    past_the_timeout();
    assert_eq!(connections.cut_slow(), 0);
}

#[test]
fn a_request_that_arrives_as_a_slow_connection_is_cut_is_served() {
    let mut connections = impatient();
    let (slow, _) = connections.admit();
    past_the_timeout();
    assert_eq!(connections.cut_slow(), 1);
    // The task reads once more and finds a whole request.
    let request = InFlight::start(&slow.state);
    assert!(slow.reprieve());
    assert!(!closing(&slow));
    assert_eq!(connections.open.load(Ordering::SeqCst), 1);
    drop(request);
}
