//! The upgrade from polling to WebSocket byte for byte: a probe answers pending GETs with a
//! noop; an upgrade that never completes is abandoned after upgradeTimeout and the session goes
//! on polling; a completed one moves the session (polling for it then gets 400, a second
//! WebSocket for it is refused).

mod common;

use std::time::Duration;

use common::polling::{get, post, session};
use common::{http_exchange, Got, RawWs};
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
    // (The resumed heartbeat pings at once; `poll` answers it.)
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
        (400, bad_request.clone()),
        "polling after the upgrade"
    );
    let second = format!(
        "GET /socket.io/?EIO=4&transport=websocket&sid={sid} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let (status, _, body) = http_exchange(addr, second.as_bytes());
    assert_eq!(
        (status, String::from_utf8_lossy(&body).into_owned()),
        (400, bad_request),
        "a second WebSocket"
    );
    // The first one is untouched.
    ws.send_text("423[\"echo\",\"still here\"]");
    assert_eq!(ws.next_text(), "433[\"still here\"]");
    server.shutdown();
}
