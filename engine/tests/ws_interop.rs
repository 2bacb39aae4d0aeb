//! The plain WebSocket server against the `ws` npm client: echo of text and binary from 0 bytes
//! to maxPayload, fragmentation, ping/pong, close codes, 1009/1007/1002, and 200 clients; again
//! with permessage-deflate, which the client offers by default (its messages from 1 KiB on go
//! compressed, so 1009 comes from the inflated size).

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use volley::config::AcceptMode;
use volley::server::{Server, WsConn, WsHandler, WsMessage};

struct Echo {
    workers_seen: Arc<Mutex<HashSet<u16>>>,
}

impl WsHandler for Echo {
    fn on_open(&self, ws: &mut WsConn<'_, '_>) {
        self.workers_seen.lock().unwrap().insert(ws.id().worker);
    }

    fn on_message(&self, ws: &mut WsConn<'_, '_>, msg: WsMessage<'_>) {
        match msg {
            WsMessage::Text(t) => ws.send_text(t),
            WsMessage::Binary(b) => ws.send_binary(b),
        };
    }
}

#[test]
fn ws_npm_client_against_echo() {
    against_echo(AcceptMode::ReusePort, false);
}

#[test]
fn ws_npm_client_against_echo_with_one_acceptor() {
    against_echo(AcceptMode::Acceptor, false);
}

#[test]
fn ws_npm_client_against_echo_with_permessage_deflate() {
    against_echo(AcceptMode::ReusePort, true);
}

fn against_echo(accept: AcceptMode, deflate: bool) {
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 4;
            c.max_payload = 1_000_000;
            c.accept = accept;
            c.per_message_deflate = deflate;
        })
        .websocket(
            "/",
            Echo {
                workers_seen: seen.clone(),
            },
        )
        .listen()
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let mode = if deflate { "deflate" } else { "plain" };
    let out = common::run_node("ws_client.mjs", &[&url, "1000000", mode]);
    common::assert_cases(
        &out,
        &[if deflate {
            "permessage-deflate is negotiated"
        } else {
            "no extension is negotiated"
        }],
    );
    common::assert_cases(
        &out,
        &[
            "echo text 0 B .. max",
            "echo binary 0 B .. max",
            "fragmented text with a code point split across fragments",
            "fragmented binary",
            "ping gets pong with the same payload",
            "client close code is echoed",
            "oversize message closes with 1009",
            "invalid UTF-8 closes with 1007",
            "unmasked client frame closes with 1002",
            "200 concurrent clients",
        ],
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "200 clients should reach all 4 workers"
    );
    server.shutdown();
}
