//! The Socket.IO connect timeout on virtual time: a session that joins no namespace is closed
//! exactly `connect_timeout` after it opened, not a millisecond before, over WebSocket and over
//! polling; one that joins a millisecond before stays. No socket existed, so no disconnect
//! handler runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::polling::{get_req, handshake, post_req, UNKNOWN_SID};
use super::{exchange, ms, response, Got, Router, WsPeer};
use crate::runtime::Sim;
use crate::server::Server;

/// What the application saw: connects and disconnect reasons.
struct Seen {
    connects: Arc<AtomicUsize>,
    reasons: Arc<Mutex<Vec<String>>>,
}

impl Seen {
    fn nothing(&self) -> bool {
        self.connects.load(Ordering::SeqCst) == 0 && self.reasons.lock().unwrap().is_empty()
    }
}

/// A server with a 10 s connect timeout and pings far apart (every 60 s), so that only the
/// connect timeout closes anything.
fn server() -> (Sim<Router>, Seen) {
    let seen = Seen {
        connects: Arc::default(),
        reasons: Arc::default(),
    };
    let (connects, reasons) = (seen.connects.clone(), seen.reasons.clone());
    let (sim, _handle) = Server::builder()
        .configure(|c| {
            c.connect_timeout = ms(10_000);
            c.ping_interval = ms(60_000);
            c.ping_timeout = ms(20_000);
        })
        .namespace("/", move |ns| {
            let connects = connects.clone();
            ns.on_connect(move |_, _| {
                connects.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
            let reasons = reasons.clone();
            ns.on_disconnect(move |_, r| reasons.lock().unwrap().push(r.as_str().into()));
        })
        .simulate();
    (sim, seen)
}

/// Over WebSocket: open at 0, still open at 9.999 s, closed at exactly 10 s.
#[test]
fn a_websocket_that_never_connects_is_closed_exactly_at_the_connect_timeout() {
    let (mut sim, seen) = server();
    let mut ws = WsPeer::open(&mut sim, "");
    let open = ws.texts(&mut sim);
    assert!(matches!(&open[..], [o] if o.starts_with("0{")), "{open:?}");

    sim.advance(ms(9_999));
    assert_eq!(ws.read(&mut sim), []);
    assert!(!sim.write_shut(ws.conn), "open at 9.999 s");
    sim.advance(ms(1));
    assert!(
        matches!(ws.read(&mut sim)[..], [Got::Close(_)]),
        "closed at 10 s"
    );
    assert!(sim.write_shut(ws.conn));
    assert!(seen.nothing(), "no socket, no handler");
}

/// Over WebSocket: a CONNECT at 9.999 s beats the timeout, and nothing closes the session
/// afterwards (up to the first ping at 60 s).
#[test]
fn a_websocket_that_connects_a_millisecond_before_the_timeout_stays() {
    let (mut sim, seen) = server();
    let mut ws = WsPeer::open(&mut sim, "");
    ws.texts(&mut sim);
    sim.advance(ms(9_999));
    ws.send(&mut sim, "40");
    let connect = ws.texts(&mut sim);
    assert!(
        matches!(&connect[..], [c] if c.starts_with("40{\"sid\":")),
        "{connect:?}"
    );

    sim.advance(ms(1));
    assert_eq!(ws.read(&mut sim), [], "nothing at 10 s");
    sim.advance(ms(49_999));
    assert_eq!(ws.read(&mut sim), []);
    assert!(!sim.write_shut(ws.conn));
    sim.advance(ms(1));
    assert_eq!(ws.texts(&mut sim), ["2"], "the first ping, at 60 s");
    assert_eq!(seen.connects.load(Ordering::SeqCst), 1);
    assert!(seen.reasons.lock().unwrap().is_empty());
}

/// Joining stops the clock for good, as the reference clears its timer on the first join:
/// leaving every namespace before the timeout does not bring it back.
#[test]
fn joining_then_leaving_before_the_timeout_does_not_close() {
    let (mut sim, seen) = server();
    let mut ws = WsPeer::open(&mut sim, "");
    ws.connect_sio(&mut sim);
    sim.advance(ms(1_000));
    ws.send(&mut sim, "41");
    assert_eq!(
        *seen.reasons.lock().unwrap(),
        ["client namespace disconnect"]
    );
    sim.advance(ms(58_999));
    assert_eq!(ws.read(&mut sim), [], "nothing at 10 s nor after");
    assert!(!sim.write_shut(ws.conn));
    sim.advance(ms(1));
    assert_eq!(ws.texts(&mut sim), ["2"], "the first ping, at 60 s");
}

/// Over polling with a GET parked: the GET gets the close packet at exactly 10 s, and the sid
/// is unknown afterwards.
#[test]
fn a_polling_session_that_never_connects_is_closed_exactly_at_the_connect_timeout() {
    let (mut sim, seen) = server();
    let conn = sim.connect();
    let (sid, _) = handshake(&mut sim, conn);
    sim.advance(ms(5_000));
    let conn = sim.connect();
    sim.send(conn, get_req(&sid).as_bytes());

    sim.advance(ms(4_999));
    assert_eq!(response(&mut sim, conn), None, "nothing at 9.999 s");
    sim.advance(ms(1));
    assert_eq!(
        response(&mut sim, conn),
        Some((200, "1".into())),
        "the close packet at 10 s"
    );
    let conn = sim.connect();
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (400, UNKNOWN_SID.into())
    );
    assert!(seen.nothing());
}

/// Over polling with no GET parked at the timeout: the next GET learns of the close (a noop
/// and the close packet, as the reference's pending close), then the sid is unknown.
#[test]
fn a_polling_session_closed_between_gets_learns_it_from_the_next_get() {
    let (mut sim, seen) = server();
    let conn = sim.connect();
    let (sid, _) = handshake(&mut sim, conn);
    sim.advance(ms(10_000));
    let conn = sim.connect();
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (200, "6\u{1e}1".into())
    );
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (400, UNKNOWN_SID.into())
    );
    assert!(seen.nothing());
}

/// Over polling: a CONNECT posted at 9.999 s beats the timeout; a GET parked afterwards waits
/// for the first ping at 60 s, the session untouched.
#[test]
fn a_polling_session_that_connects_a_millisecond_before_the_timeout_stays() {
    let (mut sim, seen) = server();
    let conn = sim.connect();
    let (sid, _) = handshake(&mut sim, conn);
    sim.advance(ms(9_999));
    let conn = sim.connect();
    assert_eq!(
        exchange(&mut sim, conn, &post_req(&sid, "40")),
        (200, "ok".into())
    );
    let (status, connect) = exchange(&mut sim, conn, &get_req(&sid));
    assert!(
        status == 200 && connect.starts_with("40{\"sid\":"),
        "{connect}"
    );

    sim.send(conn, get_req(&sid).as_bytes());
    sim.advance(ms(1));
    assert_eq!(response(&mut sim, conn), None, "nothing at 10 s");
    sim.advance(ms(49_999));
    assert_eq!(response(&mut sim, conn), None);
    sim.advance(ms(1));
    assert_eq!(
        response(&mut sim, conn),
        Some((200, "2".into())),
        "the first ping, at 60 s"
    );
    assert_eq!(seen.connects.load(Ordering::SeqCst), 1);
    assert!(seen.reasons.lock().unwrap().is_empty());
}
