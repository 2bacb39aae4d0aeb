//! Engine.IO over WebSocket: the handshake's refusals with the reference server's JSON bodies,
//! the open packet, session ids, a raw Engine.IO echo checked byte for byte, and the eio_echo
//! example driven by the official npm `engine.io-client`.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{http_exchange, Got, RawWs, ServerProcess};
use volley::server::{EioHandler, EioSocket, Server, WsMessage};

struct Echo;

impl EioHandler for Echo {
    fn on_message(&self, s: &mut EioSocket<'_, '_>, msg: WsMessage<'_>) {
        match msg {
            WsMessage::Text(t) => s.send_text(t),
            WsMessage::Binary(b) => s.send_binary(b),
        };
    }
}

fn start() -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.ping_interval = Duration::from_millis(4000);
            c.ping_timeout = Duration::from_millis(3000);
            c.max_payload = 50_000;
        })
        .engine_io(Echo)
        .namespace("/", |_| {})
        .listen()
        .unwrap()
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[test]
fn bad_handshakes_get_the_reference_errors() {
    let server = start();
    let addr = server.local_addr();
    let cases = [
        (
            "GET",
            "EIO=3&transport=websocket",
            true,
            5,
            "Unsupported protocol version",
        ),
        (
            "GET",
            "transport=websocket",
            true,
            5,
            "Unsupported protocol version",
        ),
        (
            "GET",
            "EIO=abc&transport=websocket",
            true,
            5,
            "Unsupported protocol version",
        ),
        (
            "GET",
            "EIO=4&transport=carrier-pigeon",
            true,
            0,
            "Transport unknown",
        ),
        ("GET", "EIO=4", true, 0, "Transport unknown"),
        (
            "GET",
            "EIO=4&transport=WEBSOCKET",
            true,
            0,
            "Transport unknown",
        ),
        // The transport is checked before the version, as the reference does.
        ("GET", "EIO=3&transport=nope", true, 0, "Transport unknown"),
        (
            "POST",
            "EIO=4&transport=websocket",
            true,
            2,
            "Bad handshake method",
        ),
        (
            "PUT",
            "EIO=4&transport=websocket",
            true,
            2,
            "Bad handshake method",
        ),
        ("GET", "EIO=4&transport=websocket", false, 3, "Bad request"),
    ];
    for path in ["/engine.io/", "/socket.io/"] {
        for (method, query, upgrade, code, message) in cases {
            let headers = if upgrade { UPGRADE } else { "" };
            let req = format!(
                "{method} {path}?{query} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{headers}\r\n"
            );
            let (status, resp, body) = http_exchange(addr, req.as_bytes());
            assert_eq!(status, 400, "{method} {path}?{query}");
            let body = String::from_utf8(body).unwrap();
            if upgrade {
                // An upgrade request is refused as the reference's `abortUpgrade` does: the
                // bare message as text/html.
                assert_eq!(resp.header("Content-Type"), Some("text/html"));
                assert_eq!(body, message, "{method} {path}?{query}");
            } else {
                assert_eq!(resp.header("Content-Type"), Some("application/json"));
                assert_eq!(
                    body,
                    format!(r#"{{"code":{code},"message":"{message}"}}"#),
                    "{method} {path}?{query}"
                );
            }
        }
    }
    // The server is unharmed.
    let (mut ws, _) = RawWs::eio_connect(addr, "/engine.io/");
    ws.send_text("4still here");
    assert_eq!(ws.read(), Got::Text("4still here".into()));
    server.shutdown();
}

#[test]
fn open_packet_has_exactly_the_reference_keys_and_sids_are_unique() {
    let server = start();
    let addr = server.local_addr();
    let mut sids = HashSet::new();
    for path in ["/engine.io/", "/socket.io/", "/engine.io", "/socket.io"] {
        for _ in 0..10 {
            let (_ws, open) = RawWs::eio_connect(addr, path);
            let obj = open.as_object().unwrap();
            let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "maxPayload",
                    "pingInterval",
                    "pingTimeout",
                    "sid",
                    "upgrades"
                ]
            );
            assert_eq!(open["upgrades"], serde_json::json!([]));
            assert_eq!(open["pingInterval"], 4000);
            assert_eq!(open["pingTimeout"], 3000);
            assert_eq!(open["maxPayload"], 50_000);
            let sid = open["sid"].as_str().unwrap().to_string();
            assert_eq!(sid.len(), 20, "{sid}");
            assert!(
                sid.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{sid}"
            );
            assert!(sids.insert(sid), "a session id was reused");
        }
    }
    server.shutdown();
}

#[test]
fn raw_engine_io_echoes_text_and_binary_unchanged() {
    let server = start();
    let (mut ws, _) = RawWs::eio_connect(server.local_addr(), "/engine.io/");
    ws.send_text("4hello é");
    assert_eq!(ws.read(), Got::Text("4hello é".into()));
    ws.send_text("4");
    assert_eq!(ws.read(), Got::Text("4".into()));
    ws.send_binary(&[0, 1, 2, 255]);
    assert_eq!(ws.read(), Got::Binary(vec![0, 1, 2, 255]));
    // Noop packets are ignored; the close packet ends the session.
    ws.send_text("6");
    ws.send_text("4after noop");
    assert_eq!(ws.read(), Got::Text("4after noop".into()));
    ws.send_text("1");
    ws.expect_closed(Duration::from_secs(3));
    server.shutdown();
}

#[test]
fn eio_echo_example_with_the_npm_engine_io_client() {
    assert!(
        common::interop_dir()
            .join("node_modules/engine.io-client")
            .exists(),
        "interop/node_modules/engine.io-client missing: run ./scripts/test.sh (npm ci)"
    );
    let server = ServerProcess::start("eio_echo", &[]);
    let out = common::run_node("eio_client.mjs", &[&server.url()]);
    common::assert_cases(
        &out,
        &[
            "open over websocket",
            "text echo",
            "binary echo",
            "many messages keep their order",
            "heartbeats keep the session alive",
        ],
    );
}
