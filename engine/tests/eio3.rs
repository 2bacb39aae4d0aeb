//! Engine.IO v3 / Socket.IO v2 clients (`VOLLEY_ALLOW_EIO3`):
//! - `interop/sio_v2.mjs` drives the stock socket.io-client 2.x (npm `socket.io-client-v2`) over
//!   WebSocket only, polling only (binary as `b4<base64>` in length-framed payloads) and polling
//!   then upgrade: connect to `/` and to a namespace with a query, events, acks and binary both
//!   ways, a room broadcast, an ERROR packet from middleware, the client-driven heartbeat at a
//!   300 ms interval, disconnect both ways. It runs against the reference Node server with
//!   `allowEIO3: true` (`interop/eio3_ref_server.mjs`) and against Volley's conformance
//!   example, and both must give the same observations;
//! - off (the default), an `EIO=3` handshake is refused as the reference refuses it;
//! - on, the wire of a raw v3 polling session: the length-framed open packet, `/` connected
//!   without asking, the client's ping answered with a pong, a v4 request for a v3 session
//!   refused.

mod common;

use common::{NodeServer, ServerProcess};

const CASES: &[&str] = &[
    "connects to / and to a custom namespace with a query",
    "events both ways, binary included",
    "acks both ways, binary included",
    "a room broadcast reaches every member once",
    "connect_error from middleware",
    "heartbeat: the client pings and stays connected for several intervals",
    "disconnect both ways",
];

/// The conformance example accepting v3 clients, with the reference script's heartbeat. One
/// worker: the `within` ack counts the room members on the sender's worker, which the reference
/// counts over the whole server.
fn volley(allow: bool) -> ServerProcess {
    let env = [
        ("VOLLEY_ALLOW_EIO3", if allow { "1" } else { "0" }),
        ("VOLLEY_WORKERS", "1"),
        ("VOLLEY_PING_INTERVAL_MS", "300"),
        ("VOLLEY_PING_TIMEOUT_MS", "200"),
    ];
    ServerProcess::start("conformance", &env)
}

/// The `observed <case> <json>` lines of a `sio_v2.mjs` run, in order.
fn observed(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("observed "))
        .collect()
}

/// `sio_v2.mjs` over `mode` against the reference and Volley: every case passes on both, with
/// the same observations.
fn against_both(mode: &str) {
    let reference = NodeServer::start("eio3_ref_server.mjs", &[]);
    let expected = common::run_node("sio_v2.mjs", &[&reference.url(), mode]);
    common::assert_cases(&expected, CASES);
    drop(reference);
    let server = volley(true);
    let got = common::run_node("sio_v2.mjs", &[&server.url(), mode]);
    common::assert_cases(&got, CASES);
    assert_eq!(
        observed(&got),
        observed(&expected),
        "Volley (left) and the reference (right) differ"
    );
}

#[test]
fn socket_io_v2_over_websocket_as_the_reference() {
    against_both("websocket");
}

#[test]
fn socket_io_v2_over_polling_as_the_reference() {
    against_both("polling");
}

#[test]
fn socket_io_v2_polling_then_upgrade_as_the_reference() {
    against_both("upgrade");
}

/// A raw GET or POST on `/socket.io/` with `query` (`EIO` and `transport` included).
fn raw(server: &ServerProcess, method: &str, query: &str, body: &str) -> (u16, String) {
    let req = format!(
        "{method} /socket.io/?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, _, body) = common::http_exchange(server.addr, req.as_bytes());
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn eio3_is_refused_unless_allowed() {
    let server = volley(false);
    for query in ["EIO=3&transport=polling", "transport=polling"] {
        assert_eq!(
            raw(&server, "GET", query, ""),
            (
                400,
                r#"{"code":5,"message":"Unsupported protocol version"}"#.to_string()
            ),
            "{query}"
        );
    }
    // A v4 client is unaffected.
    let (status, open) = raw(&server, "GET", "EIO=4&transport=polling", "");
    assert_eq!(status, 200);
    assert!(open.starts_with(r#"0{"sid":""#), "{open}");
}

#[test]
fn a_raw_v3_polling_session() {
    let server = volley(true);
    let (status, open) = raw(&server, "GET", "EIO=3&transport=polling&b64=1", "");
    assert_eq!(status, 200);
    // `<length>:0{...}`: the open packet framed by its length, then `/`'s CONNECT.
    let (len, rest) = open.split_once(':').unwrap();
    let packet = &rest[..len.parse::<usize>().unwrap()];
    let json: serde_json::Value = serde_json::from_str(&packet[1..]).unwrap();
    assert_eq!(json["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(json["pingInterval"], 300);
    let sid = json["sid"].as_str().unwrap();
    let q = |extra: &str| format!("EIO=3&transport=polling&sid={sid}{extra}");
    let connected = r#"2:4013:42["auth",{}]"#.to_string();
    assert_eq!(raw(&server, "GET", &q(""), ""), (200, connected));
    // The client pings; the server answers.
    assert_eq!(raw(&server, "POST", &q(""), "1:2"), (200, "ok".to_string()));
    assert_eq!(raw(&server, "GET", &q(""), ""), (200, "1:3".to_string()));
    // An event in a length-framed payload (the length in characters) comes back.
    assert_eq!(
        raw(&server, "POST", &q(""), r#"17:42["message","é"]"#),
        (200, "ok".to_string())
    );
    let back = r#"22:42["message-back","é"]"#.to_string();
    assert_eq!(raw(&server, "GET", &q(""), ""), (200, back));
    // A v4 request for the v3 session is the reference's PROTOCOL_MISMATCH.
    let (status, _) = raw(
        &server,
        "GET",
        &format!("EIO=4&transport=polling&sid={sid}"),
        "",
    );
    assert_eq!(status, 400);
}
