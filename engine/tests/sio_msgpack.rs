//! The msgpack parser (`VOLLEY_PARSER=msgpack`) against the official npm `socket.io-client` 4.x
//! configured with `socket.io-msgpack-parser`, over WebSocket only, polling only (binary
//! Engine.IO packets as `b<base64>` in the payloads) and polling then upgrade:
//! - the whole conformance suite of `interop/sio_client.mjs` with the msgpack parser;
//! - `interop/sio_msgpack.mjs` (every kind of value both ways on two namespaces, acks with
//!   binary both ways, a room broadcast reaching several clients, connect_error with data from
//!   middleware, disconnect both ways), run against Volley and against the reference Node
//!   server with the same parser (`interop/msgpack_ref_server.mjs`), so the script checks the
//!   protocol and not Volley's reading of it;
//! - a default JSON client against each: it must see the same outcome from both;
//! - connection state recovery (`interop/sio_recovery.mjs`) with the msgpack parser;
//! - bad input over a raw WebSocket ends the session, a packet nested too deep is dropped;
//! - the Redis adapter, which forwards the default parser's form, is refused at `listen`.

mod common;

use std::time::Duration;

use common::{Got, NodeServer, RawWs, ServerProcess};

const SUITE: &[&str] = &[
    "events with every kind of value both ways, on / and /custom",
    "acks both ways, binary included",
    "a room broadcast reaches every member once",
    "connect_error from middleware, with data",
    "disconnect both ways",
];

/// The conformance example with the msgpack parser. One worker: the `within` ack counts the
/// room members on the sender's worker, which the reference counts over the whole server.
/// Heartbeat and connect timeouts with slack for the 100 polling clients of one node process.
fn volley() -> ServerProcess {
    let env = [
        ("VOLLEY_PARSER", "msgpack"),
        ("VOLLEY_WORKERS", "1"),
        ("VOLLEY_PING_INTERVAL_MS", "1000"),
        ("VOLLEY_PING_TIMEOUT_MS", "3000"),
        ("VOLLEY_CONNECT_TIMEOUT_MS", "5000"),
    ];
    ServerProcess::start("conformance", &env)
}

/// The `outcome ...` line of a `sio_msgpack.mjs` run.
fn outcome(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("outcome "))
        .unwrap_or_else(|| panic!("no outcome line in:\n{stdout}"))
        .to_string()
}

/// `sio_msgpack.mjs` over `mode` against the reference and Volley: every case passes on both,
/// and a JSON client sees the same from both.
fn against_both(mode: &str) {
    let reference = NodeServer::start("msgpack_ref_server.mjs", &[]);
    let expected = common::run_node("sio_msgpack.mjs", &[&reference.url(), mode]);
    common::assert_cases(&expected, SUITE);
    drop(reference);
    let server = volley();
    let got = common::run_node("sio_msgpack.mjs", &[&server.url(), mode]);
    common::assert_cases(&got, SUITE);
    assert_eq!(
        outcome(&got),
        outcome(&expected),
        "a JSON client against a msgpack server: Volley (left) and the reference (right) differ"
    );
}

#[test]
fn msgpack_over_websocket_as_the_reference() {
    against_both("websocket");
}

#[test]
fn msgpack_over_polling_as_the_reference() {
    against_both("polling");
}

#[test]
fn msgpack_polling_then_upgrade_as_the_reference() {
    against_both("default");
}

#[test]
fn conformance_suite_with_msgpack_over_websocket() {
    let server = volley();
    let out = common::run_node("sio_client.mjs", &[&server.url(), "websocket", "msgpack"]);
    common::assert_cases(&out, common::SIO_CLIENT_CASES);
}

#[test]
fn conformance_suite_with_msgpack_over_polling() {
    let server = volley();
    let out = common::run_node("sio_client.mjs", &[&server.url(), "polling", "msgpack"]);
    common::assert_cases(&out, common::SIO_CLIENT_CASES);
    common::assert_cases(
        &out,
        &["stays on polling", "100 concurrent polling clients"],
    );
}

#[test]
fn conformance_suite_with_msgpack_polling_then_upgrade() {
    let server = volley();
    let out = common::run_node("sio_client.mjs", &[&server.url(), "default", "msgpack"]);
    common::assert_cases(&out, common::SIO_CLIENT_CASES);
    common::assert_cases(
        &out,
        &["upgrades to websocket without losing or duplicating events"],
    );
}

/// `{type: 0, nsp: "/"}` as notepack writes it: CONNECT to `/` with no auth.
const CONNECT_ROOT: &[u8] = b"\x82\xa4type\x00\xa3nsp\xa1/";

/// A raw client joined to `/` with the msgpack parser; the server's CONNECT reply is binary.
fn msgpack_client(server: &ServerProcess) -> RawWs {
    let (mut ws, _) = RawWs::eio_connect(server.addr, "/socket.io/");
    ws.send_binary(CONNECT_ROOT);
    match ws.read() {
        Got::Binary(b) => assert!(b.starts_with(b"\x83\xa4type\x00"), "{b:?}"),
        other => panic!("expected the binary CONNECT reply, got {other:?}"),
    }
    ws
}

#[test]
fn bad_input_ends_the_session_as_the_reference_does() {
    let server = volley();
    let cases: [(&str, &[u8], bool); 4] = [
        ("a text packet", b"42[\"x\"]", false),
        ("bytes that are not msgpack", b"\xc1", true),
        (
            "a packet type the parser lacks",
            b"\x82\xa4type\x05\xa3nsp\xa1/",
            true,
        ),
        ("a missing namespace", b"\x81\xa4type\x02", true),
    ];
    for (what, input, binary) in cases {
        let mut ws = msgpack_client(&server);
        if binary {
            ws.send_binary(input);
        } else {
            ws.send_text(std::str::from_utf8(input).unwrap());
        }
        ws.expect_closed(Duration::from_secs(5));
        eprintln!("closed after {what}");
    }
}

#[test]
fn too_deep_packets_are_dropped_and_the_session_goes_on() {
    let server = volley();
    let mut ws = msgpack_client(&server);
    // {type: 2, nsp: "/", data: ["message", [[[...1001 deep...]]]]}
    let mut deep = b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa7message".to_vec();
    deep.extend(std::iter::repeat_n(0x91, 1001));
    deep.push(0xc0);
    ws.send_binary(&deep);
    // Then an event the conformance server echoes: it still arrives.
    ws.send_binary(b"\x83\xa4type\x02\xa3nsp\xa1/\xa4data\x92\xa7message\x01");
    loop {
        match ws.read() {
            Got::Text(t) if t == "2" => ws.send_text("3"),
            // The conformance server's `auth` event on connect.
            Got::Binary(b) if b.windows(4).any(|w| w == b"auth") => {}
            Got::Binary(b) => {
                assert!(
                    b.windows(12).any(|w| w == b"message-back"),
                    "expected the echo, got {b:?}"
                );
                break;
            }
            other => panic!("expected the echo, got {other:?}"),
        }
    }
}

#[test]
fn connection_state_recovery_with_msgpack() {
    // interop/sio_recovery.mjs against the recovery example, as tests/sio_recovery.rs runs it.
    let env = |window: &'static str| [("VOLLEY_RECOVERY_MS", window), ("VOLLEY_PARSER", "msgpack")];
    let long = ServerProcess::start("recovery", &env("60000"));
    let short = ServerProcess::start("recovery", &env("300"));
    let out = common::run_node("sio_recovery.mjs", &[&long.url(), &short.url(), "msgpack"]);
    common::assert_cases(
        &out,
        &[
            "within the window the socket is recovered with its missed broadcasts in order (polling,websocket)",
            "within the window the socket is recovered with its missed broadcasts in order (websocket)",
            "after the window the client gets a fresh session",
        ],
    );
}

#[test]
fn the_redis_adapter_is_refused_with_the_msgpack_parser() {
    let result = volley::server::Server::builder()
        .configure(|c| c.listen = "127.0.0.1:0".parse().unwrap())
        .parser(volley::config::Parser::Msgpack)
        .redis("redis://127.0.0.1:1")
        .namespace("/", |_| {})
        .listen();
    match result {
        Err(volley::server::Error::Registration(message)) => {
            assert!(message.contains("msgpack"), "{message}")
        }
        Err(e) => panic!("another error: {e}"),
        Ok(server) => {
            server.shutdown();
            panic!("the Redis adapter was accepted with the msgpack parser");
        }
    }
}
