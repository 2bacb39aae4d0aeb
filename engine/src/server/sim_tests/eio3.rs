//! Engine.IO v3 sessions (`allow_eio3`) on virtual time: the client pings and the server answers,
//! never pinging itself, and cuts a client that stops pinging exactly `ping_interval +
//! ping_timeout` after its last ping; `/` is joined without a CONNECT; binary messages carry
//! their type byte on WebSocket and travel as binary payloads over polling when the client did
//! not ask for base64.

use std::sync::{Arc, Mutex};

use super::{ms, Got, WsPeer};
use crate::proto::http::{self, Limits};
use crate::runtime::{Sim, SimConn};
use crate::server::service::Router;
use crate::server::Server;

/// A server accepting v3 clients with the reference's heartbeat (25 s, 20 s), whose `/` echoes
/// `echo` and records each disconnect reason.
fn server() -> (Sim<Router>, Arc<Mutex<Vec<String>>>) {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    let (sim, _handle) = Server::builder()
        .allow_eio3(true)
        .configure(|c| {
            c.ping_interval = ms(25_000);
            c.ping_timeout = ms(20_000);
        })
        .namespace("/", move |ns| {
            let seen = seen.clone();
            ns.on_disconnect(move |_, reason| seen.lock().unwrap().push(reason.as_str().into()));
            ns.on("echo", |socket, args| {
                let _ = socket.emit_args("echo", args);
                None
            });
        })
        .simulate();
    (sim, reasons)
}

#[test]
fn websocket_client_pings_and_a_silent_client_is_cut_at_interval_plus_timeout() {
    let (mut sim, reasons) = server();
    let conn = sim.connect();
    let mut peer = WsPeer::upgrade(&mut sim, conn, "/socket.io/?EIO=3&transport=websocket");
    let open = peer.texts(&mut sim);
    assert!(open[0].starts_with(r#"0{"sid":"#), "{open:?}");
    assert_eq!(open[1..], ["40"], "joined to / without asking, no sid");

    sim.advance(ms(30_000));
    assert_eq!(peer.texts(&mut sim), Vec::<String>::new(), "no server ping");
    peer.send(&mut sim, "2");
    assert_eq!(peer.texts(&mut sim), ["3"], "the ping is answered");

    // Binary both ways: the attachment frame starts with the message type byte.
    peer.send(&mut sim, r#"451-["echo",{"_placeholder":true,"num":0}]"#);
    peer.send_binary(&mut sim, &[4, 1, 2, 3]);
    assert_eq!(
        peer.read(&mut sim),
        [
            Got::Text(r#"451-["echo",{"_placeholder":true,"num":0}]"#.into()),
            Got::Binary(vec![4, 1, 2, 3]),
        ]
    );

    // A client without binary frames sends the attachment as base64 text (`b4...`).
    peer.send(&mut sim, r#"451-["echo",{"_placeholder":true,"num":0}]"#);
    peer.send(&mut sim, "b4BwgJ");
    assert_eq!(
        peer.read(&mut sim),
        [
            Got::Text(r#"451-["echo",{"_placeholder":true,"num":0}]"#.into()),
            Got::Binary(vec![4, 7, 8, 9]),
        ]
    );

    // No ping after the one at 30 s: cut at 30 + 25 + 20 = 75 s, not a millisecond before.
    sim.advance(ms(44_999));
    assert!(reasons.lock().unwrap().is_empty());
    sim.advance(ms(1));
    assert_eq!(*reasons.lock().unwrap(), ["ping timeout"]);
    assert!(sim.write_shut(peer.conn));
}

#[test]
fn a_pong_from_a_v3_client_is_an_invalid_heartbeat_direction() {
    let (mut sim, reasons) = server();
    let conn = sim.connect();
    let mut peer = WsPeer::upgrade(&mut sim, conn, "/socket.io/?EIO=3&transport=websocket");
    peer.texts(&mut sim);
    peer.send(&mut sim, "3");
    assert_eq!(*reasons.lock().unwrap(), ["transport error"]);
}

/// An HTTP exchange on `conn` with a raw body: status, `Content-Type` and body bytes.
fn exchange(
    sim: &mut Sim<Router>,
    conn: SimConn,
    head: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut req = head.as_bytes().to_vec();
    req.extend_from_slice(body);
    sim.send(conn, &req);
    let out = sim.take(conn);
    let parsed = http::parse_response(&out, &Limits::default())
        .expect("a response")
        .expect("a whole head");
    let text = String::from_utf8_lossy(&out[..parsed.head_len]).into_owned();
    let content_type = text
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or_default()
        .to_string();
    (parsed.status, content_type, out[parsed.head_len..].to_vec())
}

#[test]
fn polling_binary_payloads_for_a_client_that_takes_binary() {
    let (mut sim, _) = server();
    let conn = sim.connect();
    let handshake = "GET /socket.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: sim\r\n\r\n";
    let (status, content_type, open) = exchange(&mut sim, conn, handshake, b"");
    assert_eq!((status, &*content_type), (200, "text/plain; charset=UTF-8"));
    let open = String::from_utf8(open).unwrap();
    let (len, packet) = open.split_once(':').unwrap();
    assert_eq!(packet.chars().count(), len.parse::<usize>().unwrap());
    let json: serde_json::Value = serde_json::from_str(&packet[1..]).unwrap();
    let sid = json["sid"].as_str().unwrap().to_string();
    let get =
        format!("GET /socket.io/?EIO=3&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\r\n");
    assert_eq!(
        exchange(&mut sim, conn, &get, b""),
        (200, "text/plain; charset=UTF-8".into(), b"2:40".to_vec())
    );

    // An event with an attachment as a binary payload: a string record, then a binary one.
    let event = br#"451-["echo",{"_placeholder":true,"num":0}]"#;
    let mut body = vec![0, 4, 2, 255];
    body.extend_from_slice(event);
    body.extend_from_slice(&[1, 4, 255, 4, 7, 8, 9]);
    let post = format!(
        "POST /socket.io/?EIO=3&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    assert_eq!(exchange(&mut sim, conn, &post, &body).0, 200);
    let (status, content_type, payload) = exchange(&mut sim, conn, &get, b"");
    assert_eq!((status, &*content_type), (200, "application/octet-stream"));
    assert_eq!(payload, body, "the echo comes back framed the same way");
}
