//! HTTP long-polling on virtual time, byte for byte: a parked GET answered in the turn that
//! queues a packet, two GETs at once, bad and oversize POST bodies, unknown sessions, a
//! keep-alive connection carrying several requests, and the client's own close, each with the
//! status, body and disconnect reason the reference server gives.
//!
//! The helpers here (requests, the handshake, joining `/`, reading several responses) serve the
//! other polling tests too.

use std::sync::{Arc, Mutex};

use super::{exchange, ms, response, Router};
use crate::config::Config;
use crate::proto::http::{self, BodyKind, Limits};
use crate::runtime::{Sim, SimConn};
use crate::server::{Ack, Server, ServerHandle};

/// The reference's answer to a request for a session it does not know.
pub(super) const UNKNOWN_SID: &str = r#"{"code":1,"message":"Session ID unknown"}"#;
/// The reference's answer to a request its transport cannot take (`Bad request`).
pub(super) const BAD_REQUEST: &str = r#"{"code":3,"message":"Bad request"}"#;

/// The handshake GET of a new polling session.
pub(super) const HANDSHAKE: &str =
    "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: sim\r\n\r\n";

/// A polling GET for session `sid`.
pub(super) fn get_req(sid: &str) -> String {
    format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\r\n")
}

/// A polling POST of `body` for session `sid`.
pub(super) fn post_req(sid: &str, body: &str) -> String {
    format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Opens a polling session with the handshake GET on `conn`; returns its sid and the whole
/// open packet.
pub(super) fn handshake(sim: &mut Sim<Router>, conn: SimConn) -> (String, String) {
    let (status, open) = exchange(sim, conn, HANDSHAKE);
    assert_eq!(status, 200, "{open}");
    let v: serde_json::Value =
        serde_json::from_str(open.strip_prefix('0').expect("an open packet")).unwrap();
    (v["sid"].as_str().unwrap().to_string(), open)
}

/// The open packet the reference sends a polling session with `config`, byte for byte.
pub(super) fn open_packet(sid: &str, config: &Config) -> String {
    format!(
        r#"0{{"sid":"{sid}","upgrades":["websocket"],"pingInterval":{},"pingTimeout":{},"maxPayload":{}}}"#,
        config.ping_interval.as_millis(),
        config.ping_timeout.as_millis(),
        config.max_payload
    )
}

/// Joins namespace `/` over polling on `conn` (POST `40`, GET the CONNECT); returns the
/// Socket.IO id.
pub(super) fn join(sim: &mut Sim<Router>, conn: SimConn, sid: &str) -> String {
    assert_eq!(
        exchange(sim, conn, &post_req(sid, "40")),
        (200, "ok".into())
    );
    let (status, connect) = exchange(sim, conn, &get_req(sid));
    assert_eq!(status, 200, "{connect}");
    let v: serde_json::Value =
        serde_json::from_str(connect.strip_prefix("40").expect("40{...}")).unwrap();
    v["sid"].as_str().unwrap().to_string()
}

/// Every complete response `conn` received since the last read, in order.
pub(super) fn responses(sim: &mut Sim<Router>, conn: SimConn) -> Vec<(u16, String)> {
    let out = sim.take(conn);
    let mut got = Vec::new();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let head = http::parse_response(rest, &Limits::default())
            .expect("a response")
            .expect("a whole head");
        let BodyKind::Length(n) = head.body else {
            panic!("a response without Content-Length");
        };
        let body = &rest[head.head_len..head.head_len + n];
        got.push((head.status, String::from_utf8_lossy(body).into_owned()));
        rest = &rest[head.head_len + n..];
    }
    got
}

/// The disconnect reasons the application heard, in order.
pub(super) type Reasons = Arc<Mutex<Vec<String>>>;

/// A server whose `/` namespace acks `echo` with its arguments, answers `shout` with an emit of
/// `heard` (no ack), and records each disconnect reason; `configure` adjusts the reference
/// defaults.
pub(super) fn server(configure: impl FnOnce(&mut Config)) -> (Sim<Router>, ServerHandle, Reasons) {
    let reasons = Reasons::default();
    let seen = reasons.clone();
    let (sim, handle) = Server::builder()
        .configure(configure)
        .namespace("/", move |ns| {
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            ns.on("shout", |s, args| {
                s.emit_args("heard", args).unwrap();
                None
            });
            let seen = seen.clone();
            ns.on_disconnect(move |_, reason| seen.lock().unwrap().push(reason.as_str().into()));
        })
        .simulate();
    (sim, handle, reasons)
}

/// A session joined to `/` over polling on a fresh connection: the sim, the handle, the
/// reasons, the sid, the Socket.IO id and the connection.
pub(super) fn joined(
    configure: impl FnOnce(&mut Config),
) -> (Sim<Router>, ServerHandle, Reasons, String, String, SimConn) {
    let (mut sim, handle, reasons) = server(configure);
    let conn = sim.connect();
    let (sid, _) = handshake(&mut sim, conn);
    let socket = join(&mut sim, conn, &sid);
    (sim, handle, reasons, sid, socket, conn)
}

fn reasons_of(reasons: &Reasons) -> Vec<String> {
    reasons.lock().unwrap().clone()
}

/// A GET parks until something is queued, and is answered in the very turn that queues it,
/// with no time passing: an ack and an emit caused by a POST on another connection, and an
/// emit through the handle.
#[test]
fn a_parked_get_is_answered_as_soon_as_a_packet_is_queued() {
    let (mut sim, handle, reasons, sid, socket, conn) = joined(|_| {});
    let other = sim.connect();

    sim.send(conn, get_req(&sid).as_bytes());
    sim.advance(ms(1_000));
    assert_eq!(
        response(&mut sim, conn),
        None,
        "nothing queued: the GET waits"
    );

    // An ack: the POST gets `ok`, the parked GET the ack, in that one step.
    assert_eq!(
        exchange(&mut sim, other, &post_req(&sid, r#"421["echo","hi"]"#)),
        (200, "ok".into())
    );
    assert_eq!(response(&mut sim, conn), Some((200, r#"431["hi"]"#.into())));

    // An emit from the handler, without an ack.
    sim.send(conn, get_req(&sid).as_bytes());
    assert_eq!(response(&mut sim, conn), None);
    assert_eq!(
        exchange(&mut sim, other, &post_req(&sid, r#"42["shout",1,"a"]"#)),
        (200, "ok".into())
    );
    assert_eq!(
        response(&mut sim, conn),
        Some((200, r#"42["heard",1,"a"]"#.into()))
    );

    // An emit through the handle reaches the worker's mailbox and the GET at once.
    sim.send(conn, get_req(&sid).as_bytes());
    assert_eq!(response(&mut sim, conn), None);
    assert!(handle.emit_to("/", &socket, "news", &("x",)).unwrap());
    sim.settle();
    assert_eq!(
        response(&mut sim, conn),
        Some((200, r#"42["news","x"]"#.into()))
    );
    assert_eq!(sim.elapsed(), ms(1_000), "no time passed for any of it");
    assert!(reasons_of(&reasons).is_empty());
}

/// Packets queued while no GET is parked wait, in order, and the next GET takes them all as
/// one payload (`\x1e`-separated).
#[test]
fn packets_queued_between_gets_go_out_together_in_order() {
    let (mut sim, handle, _reasons, sid, socket, conn) = joined(|_| {});
    assert_eq!(
        exchange(
            &mut sim,
            conn,
            &post_req(&sid, "421[\"echo\",1]\u{1e}422[\"echo\",2]")
        ),
        (200, "ok".into())
    );
    assert!(handle.emit_to("/", &socket, "news", &(3,)).unwrap());
    sim.settle();
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (200, "431[1]\u{1e}432[2]\u{1e}42[\"news\",3]".into())
    );
}

/// A second GET while one is parked is the reference's "overlap from client": the session
/// ends with `transport error`, the parked GET gets a close packet and the second a 400; the
/// sid is then unknown.
#[test]
fn two_concurrent_gets_end_the_session_with_transport_error() {
    let (mut sim, _handle, reasons, sid, _socket, conn) = joined(|_| {});
    sim.send(conn, get_req(&sid).as_bytes());
    sim.advance(ms(500));
    assert_eq!(response(&mut sim, conn), None);

    let second = sim.connect();
    let (status, _) = exchange(&mut sim, second, &get_req(&sid));
    assert_eq!(status, 400, "the overlapping GET is refused");
    assert_eq!(
        response(&mut sim, conn),
        Some((200, "1".into())),
        "the parked GET gets the close packet"
    );
    assert_eq!(reasons_of(&reasons), ["transport error"]);

    let after = sim.connect();
    assert_eq!(
        exchange(&mut sim, after, &get_req(&sid)),
        (400, UNKNOWN_SID.into())
    );
}

/// The reference answers the overlapping GET with `res.writeHead(400); res.end()`: no body.
#[test]
fn the_overlapping_get_gets_an_empty_400() {
    let (mut sim, _handle, _reasons, sid, _socket, conn) = joined(|_| {});
    sim.send(conn, get_req(&sid).as_bytes());
    let second = sim.connect();
    assert_eq!(
        exchange(&mut sim, second, &get_req(&sid)),
        (400, String::new())
    );
}

/// A POST whose payload does not parse ends the session with `parse error`: the POST gets
/// 400 (the Engine.IO compliance suite's expectation; the reference aborts it), a parked GET
/// the close packet, and the sid is unknown afterwards.
#[test]
fn a_malformed_post_is_refused_and_ends_the_session() {
    let (mut sim, _handle, reasons, sid, _socket, conn) = joined(|_| {});
    sim.send(conn, get_req(&sid).as_bytes());
    assert_eq!(response(&mut sim, conn), None);

    let poster = sim.connect();
    assert_eq!(
        exchange(&mut sim, poster, &post_req(&sid, "abc")),
        (400, BAD_REQUEST.into())
    );
    assert_eq!(response(&mut sim, conn), Some((200, "1".into())));
    assert_eq!(reasons_of(&reasons), ["parse error"]);

    let after = sim.connect();
    assert_eq!(
        exchange(&mut sim, after, &get_req(&sid)),
        (400, UNKNOWN_SID.into())
    );
}

/// A GET or POST for a sid the server never issued gets 400 with the reference's JSON
/// (`Content-Type: application/json`).
#[test]
fn a_request_for_an_unknown_sid_gets_the_reference_error() {
    let (mut sim, _handle, _reasons) = server(|_| {});
    let conn = sim.connect();
    sim.send(conn, get_req("AAAAAAAAAAAAAAAAAAAA").as_bytes());
    let out = sim.take(conn);
    let head = http::parse_response(&out, &Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(head.status, 400);
    assert_eq!(head.header("content-type"), Some("application/json"));
    assert_eq!(&out[head.head_len..], UNKNOWN_SID.as_bytes());

    for request in [get_req("nope"), post_req("AAAAAAAAAAAAAAAAAAAA", "40")] {
        let conn = sim.connect();
        assert_eq!(
            exchange(&mut sim, conn, &request),
            (400, UNKNOWN_SID.into())
        );
    }
}

/// One keep-alive connection carries the whole session, one request after another, and
/// pipelined requests are answered in the order sent.
#[test]
fn one_keep_alive_connection_carries_requests_in_order() {
    let (mut sim, _handle, _reasons) = server(|_| {});
    let conn = sim.connect();
    let (sid, _) = handshake(&mut sim, conn);
    join(&mut sim, conn, &sid);
    assert_eq!(
        exchange(&mut sim, conn, &post_req(&sid, r#"421["echo","one"]"#)),
        (200, "ok".into())
    );
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (200, r#"431["one"]"#.into())
    );

    // A POST and the GET that collects its ack, written at once.
    let both = post_req(&sid, r#"422["echo","two"]"#) + &get_req(&sid);
    sim.send(conn, both.as_bytes());
    assert_eq!(
        responses(&mut sim, conn),
        [(200, "ok".into()), (200, r#"432["two"]"#.into())]
    );
    assert!(sim.is_open(conn) && !sim.write_shut(conn));
}

/// A request pipelined behind a parked GET on the same connection is read at once, as Node's
/// HTTP server reads pipelined requests while an earlier response is pending (and writes the
/// responses in order): the POST's ack answers the parked GET, then the POST gets `ok`.
#[test]
#[ignore = "defect: a request pipelined behind a parked GET is not read until that GET is answered (here by the ping at 25 s); Node reads it at once"]
fn a_request_pipelined_behind_a_parked_get_is_read_at_once() {
    let (mut sim, _handle, _reasons, sid, _socket, conn) = joined(|_| {});
    let both = get_req(&sid) + &post_req(&sid, r#"421["echo","late"]"#);
    sim.send(conn, both.as_bytes());
    assert_eq!(
        responses(&mut sim, conn),
        [(200, r#"431["late"]"#.into()), (200, "ok".into())]
    );
}

/// A POST body of exactly `max_payload` is taken; one byte more gets 413 and ends the session
/// (`transport error`); a parked GET gets the close packet, and the sid is unknown afterwards.
/// (The reference only answers 413 and leaves the session to the stock client, which closes it
/// on the failed POST; Volley ends it at once, as its real-socket tests promise.)
#[test]
fn a_post_over_max_payload_gets_413_and_ends_the_session() {
    let (mut sim, _handle, reasons, sid, _socket, conn) = joined(|c| c.max_payload = 100);
    // `421["echo","x…x"]`: 14 bytes around the `x`s.
    let event = |len: usize| format!(r#"421["echo","{}"]"#, "x".repeat(len - 14));
    let poster = sim.connect();
    assert_eq!(
        exchange(&mut sim, poster, &post_req(&sid, &event(100))),
        (200, "ok".into())
    );
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (200, format!(r#"431["{}"]"#, "x".repeat(86)))
    );

    sim.send(conn, get_req(&sid).as_bytes());
    let poster = sim.connect();
    let (status, _) = exchange(&mut sim, poster, &post_req(&sid, &event(101)));
    assert_eq!(status, 413);
    assert!(sim.write_shut(poster));
    assert_eq!(response(&mut sim, conn), Some((200, "1".into())));
    assert_eq!(reasons_of(&reasons), ["transport error"]);

    let after = sim.connect();
    assert_eq!(
        exchange(&mut sim, after, &get_req(&sid)),
        (400, UNKNOWN_SID.into())
    );
}

/// The client's close packet `1` by POST ends the session: the POST gets `ok`, a parked GET a
/// noop, the application `transport close`, and the sid is unknown afterwards.
#[test]
fn a_close_packet_by_post_ends_the_session_with_transport_close() {
    let (mut sim, _handle, reasons, sid, _socket, conn) = joined(|_| {});
    sim.send(conn, get_req(&sid).as_bytes());
    assert_eq!(response(&mut sim, conn), None);

    let poster = sim.connect();
    assert_eq!(
        exchange(&mut sim, poster, &post_req(&sid, "1")),
        (200, "ok".into())
    );
    assert_eq!(response(&mut sim, conn), Some((200, "6".into())));
    assert_eq!(reasons_of(&reasons), ["transport close"]);

    let after = sim.connect();
    assert_eq!(
        exchange(&mut sim, after, &get_req(&sid)),
        (400, UNKNOWN_SID.into())
    );
}

/// The client leaving the namespace (`41`) is `client namespace disconnect`, and only that:
/// the Engine.IO session goes on, and the client can join again.
#[test]
fn leaving_the_namespace_by_post_keeps_the_session() {
    let (mut sim, _handle, reasons, sid, socket, conn) = joined(|_| {});
    assert_eq!(
        exchange(&mut sim, conn, &post_req(&sid, "41")),
        (200, "ok".into())
    );
    assert_eq!(reasons_of(&reasons), ["client namespace disconnect"]);
    let again = join(&mut sim, conn, &sid);
    assert_ne!(again, socket, "a new socket");
    assert_eq!(
        exchange(&mut sim, conn, &post_req(&sid, r#"421["echo","back"]"#)),
        (200, "ok".into())
    );
    assert_eq!(
        exchange(&mut sim, conn, &get_req(&sid)),
        (200, r#"431["back"]"#.into())
    );
}
