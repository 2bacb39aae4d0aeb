//! The conformance example against the official npm `socket.io-client` 4.x, on every transport
//! setup it supports (WebSocket only, polling only, polling then upgrade, polling with
//! `upgrade: false`): auth, connect_error with data, events and acks both ways (with timeouts),
//! binary, several namespaces on one connection, disconnect reasons, heartbeats, the upgrade
//! without lost or duplicated events, 100 polling clients, and reconnection after a restart.

mod common;

use common::ServerProcess;

fn run_mode(mode: &str, extra: &[&str]) {
    // 100 polling clients in one node process answer pings and send their CONNECT through
    // POSTs: on a loaded 2-core machine a 200 ms ping timeout, or 1 s from the handshake to the
    // CONNECT, is too tight for them, so polling modes get more slack.
    let polling = mode == "polling" || mode == "noupgrade";
    let (interval, timeout, connect) = if polling {
        ("1000", "3000", "5000")
    } else {
        ("300", "200", "1000")
    };
    let env = [
        ("VOLLEY_WORKERS", "4"),
        ("VOLLEY_PING_INTERVAL_MS", interval),
        ("VOLLEY_PING_TIMEOUT_MS", timeout),
        ("VOLLEY_CONNECT_TIMEOUT_MS", connect),
    ];
    let server = ServerProcess::start("conformance", &env);
    let out = common::run_node("sio_client.mjs", &[&server.url(), mode]);
    common::assert_cases(&out, common::SIO_CLIENT_CASES);
    common::assert_cases(&out, extra);
}

#[test]
fn socket_io_client_over_websocket() {
    run_mode("websocket", &[]);
}

#[test]
fn socket_io_client_over_polling() {
    run_mode(
        "polling",
        &["stays on polling", "100 concurrent polling clients"],
    );
}

#[test]
fn socket_io_client_polling_then_upgrade() {
    run_mode(
        "default",
        &["upgrades to websocket without losing or duplicating events"],
    );
}

#[test]
fn socket_io_client_with_upgrade_off() {
    run_mode(
        "noupgrade",
        &["stays on polling", "100 concurrent polling clients"],
    );
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
