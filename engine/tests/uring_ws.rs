//! The io_uring backend through the public server API: many concurrent WebSocket clients on two
//! workers echo messages of every size (from one byte to several receive buffers), and the
//! server shuts down cleanly. On a kernel without io_uring the server falls back to epoll and
//! the same checks hold.

mod common;

use std::sync::{Arc, Mutex};
use std::thread;

use common::{Got, RawWs};
use volley::config::Backend;
use volley::proto::ws::OpCode;
use volley::server::{CloseReason, ConnId, Server, WsConn, WsHandler, WsMessage};

#[derive(Default, Clone)]
struct Echo {
    closes: Arc<Mutex<Vec<CloseReason>>>,
}

impl WsHandler for Echo {
    fn on_message(&self, ws: &mut WsConn<'_, '_>, msg: WsMessage<'_>) {
        match msg {
            WsMessage::Text(t) => ws.send_text(t),
            WsMessage::Binary(b) => ws.send_binary(b),
        };
    }

    fn on_close(&self, _id: ConnId, reason: &CloseReason) {
        self.closes.lock().unwrap().push(reason.clone());
    }
}

/// Sizes that straddle the 16 KiB receive buffers and the 125/65535 frame-length boundaries.
fn size(client: usize, round: usize) -> usize {
    const SIZES: [usize; 9] = [1, 125, 126, 16_383, 16_384, 16_385, 65_535, 65_536, 200_000];
    SIZES[(client * 7 + round) % SIZES.len()]
}

#[test]
fn concurrent_clients_echo_every_size() {
    let echo = Echo::default();
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.backend = Backend::Uring;
        })
        .websocket("/", echo.clone())
        .listen()
        .unwrap();
    let addr = server.local_addr();
    let clients: Vec<_> = (0..16)
        .map(|client| {
            thread::spawn(move || {
                let mut ws = RawWs::connect(addr, "/");
                for round in 0..24 {
                    let payload: Vec<u8> = (0..size(client, round))
                        .map(|i| (i * 31 + client + round) as u8)
                        .collect();
                    ws.send(OpCode::Binary, &payload);
                    ws.send(OpCode::Text, &format!("{client}/{round}").into_bytes());
                    assert_eq!(ws.read(), Got::Binary(payload));
                    assert_eq!(ws.read(), Got::Text(format!("{client}/{round}")));
                }
                ws.send(OpCode::Close, &1000u16.to_be_bytes());
                assert_eq!(ws.read(), Got::Close(Some(1000)));
                assert_eq!(ws.read(), Got::Eof);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.shutdown();
    let closes = echo.closes.lock().unwrap();
    assert_eq!(closes.len(), 16);
    assert!(closes
        .iter()
        .all(|r| *r == CloseReason::PeerClose(Some(volley::proto::ws::CloseCode::NORMAL))));
}
