//! The upgrade from polling to WebSocket byte for byte: a probe answers pending GETs with a
//! noop; an upgrade that never completes is abandoned after upgradeTimeout and the session goes
//! on polling; a completed one moves the session (polling for it then gets 400, a second
//! WebSocket for it is opened and closed at once, as the reference does); the heartbeat keeps
//! its cadence across the upgrade.

mod common;

use std::time::Duration;

use common::polling::{get, post, session};
use common::{Got, RawWs};
use volley::server::{Ack, Server};

fn start() -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.ping_interval = Duration::from_secs(30);
            c.upgrade_timeout = Duration::from_millis(300);
        })
        .namespace("/", |ns| {
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
        })
        .listen()
        .unwrap()
}

/// One GET: its packets, with heartbeat pings answered (by a POST of `3`) and left out.
fn poll(addr: std::net::SocketAddr, sid: &str) -> Vec<String> {
    let (status, body) = get(addr, sid);
    assert_eq!(status, 200, "{body}");
    let mut out = Vec::new();
    for record in body.split('\u{1e}') {
        if record == "2" {
            assert_eq!(post(addr, sid, "3").0, 200);
        } else {
            out.push(record.to_string());
        }
    }
    out
}

/// Opens the probing WebSocket for `sid` and completes `2probe` -> `3probe`; a GET sent now
/// comes back at once with a noop, so the client can pause polling.
fn probe(server: &Server, sid: &str) -> RawWs {
    let mut ws = RawWs::connect(
        server.local_addr(),
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
    );
    ws.send_text("2probe");
    assert_eq!(ws.read(), Got::Text("3probe".into()));
    let answered = poll(server.local_addr(), sid);
    assert!(
        answered.iter().all(|r| r == "6"),
        "a GET during the probe got {answered:?}"
    );
    ws
}

#[test]
fn an_upgrade_that_never_completes_is_abandoned_and_polling_goes_on() {
    let server = start();
    let addr = server.local_addr();
    let (sid, _) = session(addr);
    let mut ws = probe(&server, &sid);
    // No `5`: after upgradeTimeout the probing WebSocket is closed...
    ws.expect_closed(Duration::from_secs(3));
    // ...and the session is still a working polling session.
    assert_eq!(post(addr, &sid, "421[\"echo\",\"still polling\"]").0, 200);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.extend(poll(addr, &sid));
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got, vec!["431[\"still polling\"]".to_string()]);
    // It can even be upgraded again.
    let mut again = probe(&server, &sid);
    again.send_text("5");
    again.send_text("421[\"echo\",\"upgraded\"]");
    assert_eq!(again.next_text(), "431[\"upgraded\"]");
    server.shutdown();
}

#[test]
fn a_completed_upgrade_moves_the_session_for_good() {
    let server = start();
    let addr = server.local_addr();
    let (sid, _) = session(addr);
    // Something queued during the upgrade goes out on the WebSocket once it completes.
    let mut ws = probe(&server, &sid);
    assert_eq!(post(addr, &sid, "421[\"echo\",\"queued\"]").0, 200);
    ws.send_text("5");
    assert_eq!(ws.next_text(), "431[\"queued\"]");
    ws.send_text("422[\"echo\",\"over websocket\"]");
    assert_eq!(ws.next_text(), "432[\"over websocket\"]");

    let bad_request = "{\"code\":3,\"message\":\"Bad request\"}".to_string();
    assert_eq!(
        get(addr, &sid),
        (400, bad_request),
        "polling after the upgrade"
    );
    // A second WebSocket completes its handshake and is closed without a status (the reference
    // calls `websocket.close()`): stock clients see a close event, never a failed handshake.
    let mut second = RawWs::connect(
        addr,
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
    );
    assert_eq!(second.read(), Got::Close(None), "a second WebSocket");
    // The first one is untouched.
    ws.send_text("423[\"echo\",\"still here\"]");
    assert_eq!(ws.next_text(), "433[\"still here\"]");
    server.shutdown();
}

#[test]
fn the_heartbeat_keeps_its_cadence_across_the_upgrade() {
    // The first ping is due one interval after the open, whether or not an upgrade happened in
    // between; the stock client's retry tests fail on a ping sent right after the upgrade.
    let interval = Duration::from_millis(1500);
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 1;
            c.ping_interval = interval;
        })
        .namespace("/", |_| {})
        .listen()
        .unwrap();
    let addr = server.local_addr();
    let opened = std::time::Instant::now();
    let (sid, _) = session(addr);
    let mut ws = probe(&server, &sid);
    ws.send_text("5");
    let upgraded = opened.elapsed();
    assert!(upgraded < interval / 2, "the upgrade took {upgraded:?}");
    let quiet = interval - upgraded - Duration::from_millis(400);
    assert_eq!(
        ws.read_within(quiet),
        None,
        "a packet right after the upgrade"
    );
    assert_eq!(
        ws.read_within(Duration::from_secs(3)),
        Some(Got::Text("2".into()))
    );
    let pinged = opened.elapsed();
    assert!(
        pinged >= interval - Duration::from_millis(50),
        "pinged at {pinged:?}"
    );
    server.shutdown();
}
