//! The upgrade from polling to WebSocket on virtual time, byte for byte: the probe, the noop
//! that releases the pending GET, the switch (`5`) that moves what polling still held to the
//! WebSocket in order, polling refused afterwards, the upgrade timeout, second WebSockets, and
//! the heartbeat across the switch.

use super::polling::{
    get_req, handshake, join, joined, open_packet, post_req, server, BAD_REQUEST,
};
use super::{exchange, ms, response, Got, Router, WsPeer};
use crate::config::Config;
use crate::runtime::Sim;

/// The upgrade request path of session `sid`.
fn ws_path(sid: &str) -> String {
    format!("/socket.io/?EIO=4&transport=websocket&sid={sid}")
}

/// Opens a WebSocket for session `sid` on a new connection and reads its 101.
fn open_ws(sim: &mut Sim<Router>, sid: &str) -> WsPeer {
    let conn = sim.connect();
    WsPeer::upgrade(sim, conn, &ws_path(sid))
}

/// Probes on `ws` (`2probe` -> `3probe`).
fn probe(sim: &mut Sim<Router>, ws: &mut WsPeer) {
    ws.send(sim, "2probe");
    assert_eq!(ws.read(sim), [Got::Text("3probe".into())]);
}

/// The whole dance: the handshake's open packet offers `websocket`; the WebSocket says nothing
/// until the probe; the GET parked meanwhile is answered with a noop as the probe comes in
/// (the reference within its 100 ms check), and a GET sent after the probe at once; after `5`
/// the session lives on the WebSocket.
#[test]
fn the_upgrade_dance_from_polling_to_websocket() {
    let (mut sim, _handle, reasons) = server(|_| {});
    let conn = sim.connect();
    let (sid, open) = handshake(&mut sim, conn);
    assert_eq!(open, open_packet(&sid, &Config::default()));
    join(&mut sim, conn, &sid);

    sim.send(conn, get_req(&sid).as_bytes());
    let mut ws = open_ws(&mut sim, &sid);
    assert_eq!(
        ws.read(&mut sim),
        [],
        "no open packet on a probing WebSocket"
    );
    sim.advance(ms(1_000));
    assert_eq!(
        response(&mut sim, conn),
        None,
        "the GET waits for the probe"
    );

    probe(&mut sim, &mut ws);
    assert_eq!(
        response(&mut sim, conn),
        Some((200, "6".into())),
        "the probe releases the pending GET with a noop"
    );
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (200, "6".into()),
        "a GET during the probe is answered at once"
    );

    ws.send(&mut sim, "5");
    assert_eq!(ws.read(&mut sim), [], "nothing was pending");
    ws.send(&mut sim, r#"421["echo","over websocket"]"#);
    assert_eq!(ws.texts(&mut sim), [r#"431["over websocket"]"#]);
    assert!(reasons.lock().unwrap().is_empty());
    assert_eq!(sim.elapsed(), ms(1_000));
}

/// What polling holds when `5` comes — acks, handler emits, handle emits, queued after the
/// client paused polling — goes out on the WebSocket first, in the order queued; later emits
/// follow on the WebSocket.
#[test]
fn packets_queued_on_polling_move_to_the_websocket_in_order() {
    let (mut sim, handle, _reasons, sid, socket, conn) = joined(|_| {});
    let mut ws = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut ws);

    assert_eq!(
        exchange(&mut sim, conn, &post_req(&sid, r#"421["echo","a"]"#)),
        (200, "ok".into())
    );
    assert!(handle.emit_to("/", &socket, "news", &(1,)).unwrap());
    sim.settle();
    assert_eq!(
        exchange(&mut sim, conn, &post_req(&sid, r#"42["shout","b"]"#)),
        (200, "ok".into())
    );
    assert_eq!(ws.read(&mut sim), [], "held by polling until the switch");

    ws.send(&mut sim, "5");
    assert_eq!(
        ws.texts(&mut sim),
        [r#"431["a"]"#, r#"42["news",1]"#, r#"42["heard","b"]"#]
    );
    assert!(handle.emit_to("/", &socket, "news", &(2,)).unwrap());
    sim.settle();
    assert_eq!(ws.texts(&mut sim), [r#"42["news",2]"#]);
}

/// Once upgraded, polling for the session is over: a GET and a POST with its sid get 400 with
/// the reference's `Bad request`, and the session carries on over the WebSocket.
#[test]
fn polling_after_the_upgrade_is_a_bad_request() {
    let (mut sim, _handle, reasons, sid, _socket, _conn) = joined(|_| {});
    let mut ws = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut ws);
    ws.send(&mut sim, "5");

    let conn = sim.connect();
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (400, BAD_REQUEST.into())
    );
    let conn = sim.connect();
    assert_eq!(
        exchange(&mut sim, conn, &post_req(&sid, r#"421["echo",1]"#)),
        (400, BAD_REQUEST.into())
    );
    ws.send(&mut sim, r#"422["echo",2]"#);
    assert_eq!(
        ws.texts(&mut sim),
        ["432[2]"],
        "the POST's packet was not taken"
    );
    assert!(reasons.lock().unwrap().is_empty());
}

/// A probe that never sends `5` is abandoned exactly `upgrade_timeout` after its WebSocket
/// opened (the probe does not restart the clock): the WebSocket is closed and the session
/// stays on polling, where a GET parks again as before the upgrade and takes what is queued.
#[test]
fn a_probe_without_upgrade_is_abandoned_exactly_at_the_upgrade_timeout() {
    let (mut sim, _handle, reasons, sid, _socket, _conn) = joined(|c| {
        c.upgrade_timeout = ms(10_000);
    });
    sim.advance(ms(1_000));
    let mut ws = open_ws(&mut sim, &sid);
    sim.advance(ms(2_000));
    probe(&mut sim, &mut ws);

    sim.advance(ms(7_999));
    assert_eq!(ws.read(&mut sim), []);
    assert!(!sim.write_shut(ws.conn), "still probing at 10.999 s");
    sim.advance(ms(1));
    assert!(
        matches!(ws.read(&mut sim)[..], [Got::Close(_)]),
        "closed at 11 s"
    );
    assert!(sim.write_shut(ws.conn));
    assert!(reasons.lock().unwrap().is_empty(), "the session lives on");

    // Polling as before: a GET parks (no noop now), and takes an ack when one is queued.
    // (New connections: idle keep-alive ones close after `handshake_timeout`.)
    let (getter, poster) = (sim.connect(), sim.connect());
    sim.send(getter, get_req(&sid).as_bytes());
    assert_eq!(response(&mut sim, getter), None);
    assert_eq!(
        exchange(
            &mut sim,
            poster,
            &post_req(&sid, r#"421["echo","still polling"]"#)
        ),
        (200, "ok".into())
    );
    assert_eq!(
        response(&mut sim, getter),
        Some((200, r#"431["still polling"]"#.into()))
    );

    // And it can upgrade again.
    let mut again = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut again);
    again.send(&mut sim, "5");
    again.send(&mut sim, r#"422["echo","upgraded"]"#);
    assert_eq!(again.texts(&mut sim), [r#"432["upgraded"]"#]);
}

/// A probing WebSocket that goes away leaves the session on polling, as before the upgrade:
/// a GET parks again instead of getting a noop.
#[test]
fn a_probe_whose_websocket_goes_away_leaves_the_session_on_polling() {
    let (mut sim, _handle, reasons, sid, _socket, conn) = joined(|_| {});
    let mut ws = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut ws);
    sim.hang_up(ws.conn);
    assert!(reasons.lock().unwrap().is_empty());

    sim.send(conn, get_req(&sid).as_bytes());
    assert_eq!(
        response(&mut sim, conn),
        None,
        "polling as before the probe"
    );
    let poster = sim.connect();
    assert_eq!(
        exchange(&mut sim, poster, &post_req(&sid, r#"421["echo",1]"#)),
        (200, "ok".into())
    );
    assert_eq!(response(&mut sim, conn), Some((200, "431[1]".into())));
}

/// Anything but `2probe` or `5` on the probing WebSocket abandons the upgrade (the reference
/// closes the transport and drops the packet): the WebSocket is closed, the message is not
/// delivered, and the session stays on polling.
#[test]
fn an_unexpected_packet_on_the_probe_abandons_the_upgrade() {
    let (mut sim, _handle, reasons, sid, _socket, conn) = joined(|_| {});
    let mut ws = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut ws);
    ws.send(&mut sim, r#"421["echo","too early"]"#);
    assert!(matches!(ws.read(&mut sim)[..], [Got::Close(_)]));
    assert!(reasons.lock().unwrap().is_empty());

    sim.send(conn, get_req(&sid).as_bytes());
    assert_eq!(response(&mut sim, conn), None, "the event was dropped");
    let poster = sim.connect();
    assert_eq!(
        exchange(
            &mut sim,
            poster,
            &post_req(&sid, r#"422["echo","polling"]"#)
        ),
        (200, "ok".into())
    );
    assert_eq!(
        response(&mut sim, conn),
        Some((200, r#"432["polling"]"#.into()))
    );
}

/// A client may send `5` without probing. A GET still parked then is answered by the
/// reference's closing of the discarded polling transport (`doClose` while writable): a close
/// packet `1`.
#[test]
fn a_get_parked_at_an_unprobed_switch_gets_the_close_packet() {
    let (mut sim, _handle, _reasons, sid, _socket, conn) = joined(|_| {});
    sim.send(conn, get_req(&sid).as_bytes());
    let mut ws = open_ws(&mut sim, &sid);
    ws.send(&mut sim, "5");
    assert_eq!(response(&mut sim, conn), Some((200, "1".into())));
    ws.send(&mut sim, r#"421["echo",1]"#);
    assert_eq!(ws.texts(&mut sim), ["431[1]"]);
}

/// The reference's upgrade timeout calls `transport.close()`, whose `ws.close()` sends a close
/// frame without a status.
#[test]
fn an_abandoned_probe_is_closed_without_a_status() {
    let (mut sim, _handle, _reasons, sid, _socket, _conn) = joined(|c| {
        c.upgrade_timeout = ms(10_000);
    });
    let mut ws = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut ws);
    sim.advance(ms(10_000));
    assert_eq!(ws.read(&mut sim), [Got::Close(None)]);
}

/// A WebSocket for a session that is already probing, or already upgraded, completes its
/// handshake and is closed at once without a status (the reference's `websocket.close()`);
/// the session's own WebSocket is untouched.
#[test]
fn a_second_websocket_is_refused_while_probing_and_after_the_upgrade() {
    let (mut sim, _handle, reasons, sid, _socket, _conn) = joined(|_| {});
    let mut ws = open_ws(&mut sim, &sid);

    let mut during = open_ws(&mut sim, &sid);
    assert_eq!(during.read(&mut sim), [Got::Close(None)], "while probing");

    probe(&mut sim, &mut ws);
    ws.send(&mut sim, "5");
    let mut after = open_ws(&mut sim, &sid);
    assert_eq!(
        after.read(&mut sim),
        [Got::Close(None)],
        "after the upgrade"
    );

    ws.send(&mut sim, r#"421["echo","still here"]"#);
    assert_eq!(ws.texts(&mut sim), [r#"431["still here"]"#]);
    assert!(reasons.lock().unwrap().is_empty());
}

/// The heartbeat keeps its cadence across the upgrade: a ping due while the client has paused
/// polling waits and goes out on the WebSocket with the switch; the next is one interval after
/// the pong.
#[test]
fn a_ping_due_during_the_upgrade_goes_out_on_the_websocket() {
    let (mut sim, _handle, reasons, sid, _socket, _conn) = joined(|c| {
        c.ping_interval = ms(25_000);
        c.ping_timeout = ms(20_000);
        c.upgrade_timeout = ms(10_000);
    });
    sim.advance(ms(20_000));
    let mut ws = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut ws);
    sim.advance(ms(5_000));
    assert_eq!(
        ws.read(&mut sim),
        [],
        "the ping due at 25 s waits on polling"
    );
    sim.advance(ms(1_000));
    ws.send(&mut sim, "5");
    assert_eq!(
        ws.texts(&mut sim),
        ["2"],
        "and goes out with the switch at 26 s"
    );

    ws.send(&mut sim, "3");
    sim.advance(ms(24_999));
    assert_eq!(ws.read(&mut sim), []);
    sim.advance(ms(1));
    assert_eq!(ws.texts(&mut sim), ["2"], "one interval after the pong");
    assert_eq!(sim.elapsed(), ms(51_000));
    assert!(reasons.lock().unwrap().is_empty());
}

/// A WebSocket upgrade for a sid the server does not know is refused with 400 before any
/// handshake, and the connection closed.
#[test]
fn a_websocket_for_an_unknown_sid_gets_400() {
    let (mut sim, _handle, _reasons) = server(|_| {});
    let conn = sim.connect();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ws_path("AAAAAAAAAAAAAAAAAAAA")
    );
    let (status, _) = exchange(&mut sim, conn, &req);
    assert_eq!(status, 400);
    assert!(sim.write_shut(conn));
}

/// The reference's `abortUpgrade` answers a refused upgrade with the bare message as
/// `text/html` (`Session ID unknown`), not the polling JSON.
#[test]
fn a_websocket_for_an_unknown_sid_gets_the_reference_body() {
    let (mut sim, _handle, _reasons) = server(|_| {});
    let conn = sim.connect();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ws_path("AAAAAAAAAAAAAAAAAAAA")
    );
    assert_eq!(
        exchange(&mut sim, conn, &req),
        (400, "Session ID unknown".into())
    );
}

/// A client whose probe was answered may have paused polling already: at shutdown its probe
/// stays open until `5` comes, then the session ends on the WebSocket with 1001 and `server
/// shutting down`. Closed at once, the probe would leave the stock client paused with nothing
/// to read until its ping timeout, not reconnecting meanwhile.
#[test]
fn an_upgrade_past_its_probe_finishes_before_the_shutdown_ends_it() {
    let (mut sim, _handle, reasons, sid, _, conn) = joined(|_| {});
    sim.send(conn, get_req(&sid).as_bytes());
    let mut ws = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut ws);
    assert_eq!(response(&mut sim, conn), Some((200, "6".into())));

    sim.shutdown();
    assert!(reasons.lock().unwrap().is_empty(), "{:?}", reasons.lock());
    assert_eq!(ws.read(&mut sim), [], "the probe stays open");
    ws.send(&mut sim, "5");
    assert_eq!(ws.read(&mut sim), [Got::Close(Some(1001))]);
    assert_eq!(*reasons.lock().unwrap(), ["server shutting down"]);
}

/// The probe's client gone instead of sending `5`, the waiting session ends all the same.
#[test]
fn an_upgrade_that_fails_during_shutdown_still_ends_its_session() {
    let (mut sim, _handle, reasons, sid, _, _) = joined(|_| {});
    let mut ws = open_ws(&mut sim, &sid);
    probe(&mut sim, &mut ws);

    sim.shutdown();
    assert!(reasons.lock().unwrap().is_empty());
    sim.hang_up(ws.conn);
    assert_eq!(*reasons.lock().unwrap(), ["server shutting down"]);
}

/// Before its probe the client still polls: the shutdown ends the session at once, the parked
/// GET gets the close packet and the WebSocket a close frame.
#[test]
fn an_upgrade_before_its_probe_ends_at_once_at_shutdown() {
    let (mut sim, _handle, reasons, sid, _, conn) = joined(|_| {});
    sim.send(conn, get_req(&sid).as_bytes());
    let mut ws = open_ws(&mut sim, &sid);

    sim.shutdown();
    assert_eq!(response(&mut sim, conn), Some((200, "1".into())));
    assert!(matches!(ws.read(&mut sim)[..], [Got::Close(_)]));
    assert_eq!(*reasons.lock().unwrap(), ["server shutting down"]);
}
