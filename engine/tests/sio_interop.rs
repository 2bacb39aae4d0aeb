//! The conformance example against the official npm `socket.io-client` 4.x over WebSocket:
//! auth, connect_error with data, events and acks both ways (with timeouts), binary, several
//! namespaces on one connection, disconnect reasons, heartbeats, and reconnection after a restart.

mod common;

use common::ServerProcess;

const CASES: &[&str] = &[
    "connect with auth",
    "connect without auth gets {}",
    "connect_error with data",
    "unknown namespace is refused",
    "events both ways",
    "ack from the server",
    "ack from the client, and its timeout on the server",
    "binary both ways",
    "several namespaces on one connection",
    "server disconnect reason",
    "client disconnect reason",
    "heartbeats keep the connection alive",
];

#[test]
fn socket_io_client_over_websocket() {
    let server = ServerProcess::start("conformance", &[("VOLLEY_WORKERS", "2")]);
    let out = common::run_node("sio_client.mjs", &[&server.url(), "websocket"]);
    common::assert_cases(&out, CASES);
}

#[test]
fn socket_io_client_reconnects_after_a_restart() {
    let port = common::free_port();
    let env = [("VOLLEY_LISTEN", format!("127.0.0.1:{port}"))];
    let server = ServerProcess::start_with("conformance", &env);
    let bin = server.binary.clone();
    let pid = server.pid().to_string();
    let out = common::run_node(
        "sio_reconnect.mjs",
        &[&server.url(), &pid, bin.to_str().unwrap()],
    );
    common::assert_cases(&out, &["reconnects after the server restarts"]);
}
