//! The WebSocket server's HTTP handshake, limits, timeouts, queue bound and graceful shutdown,
//! checked byte for byte with a client on our own codec.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{http_status, Got, RawWs};
use volley::proto::ws::OpCode;
use volley::server::{CloseReason, ConnId, Server, WsConn, WsHandler, WsMessage};

#[derive(Default, Clone)]
struct Recorder {
    closes: Arc<Mutex<Vec<CloseReason>>>,
}

impl WsHandler for Recorder {
    fn on_message(&self, ws: &mut WsConn<'_, '_>, msg: WsMessage<'_>) {
        match msg {
            WsMessage::Text("flood") => {
                let chunk = vec![b'x'; 64 * 1024];
                // Far more than max_buffered in one go: the connection must be cut.
                for _ in 0..200 {
                    if !ws.send_binary(&chunk) {
                        break;
                    }
                }
            }
            WsMessage::Text(t) => {
                ws.send_text(t);
            }
            WsMessage::Binary(b) => {
                ws.send_binary(b);
            }
        }
    }

    fn on_close(&self, _id: ConnId, reason: &CloseReason) {
        self.closes.lock().unwrap().push(reason.clone());
    }
}

fn start(rec: &Recorder) -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.handshake_timeout = Duration::from_millis(300);
            c.max_buffered = 1 << 20;
            c.max_header_bytes = 2048;
        })
        .websocket("/", rec.clone())
        .listen()
        .unwrap()
}

const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";

#[test]
fn bad_requests_get_their_status() {
    let rec = Recorder::default();
    let server = start(&rec);
    let addr = server.local_addr();
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let cases: Vec<(String, u16)> = vec![
        (format!("GET /nope HTTP/1.1\r\nHost: x\r\n{UPGRADE}{key}\r\n"), 404),
        (format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{UPGRADE}{key}\r\n"), 405),
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_string(), 426),
        (format!("GET / HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n"), 400),
        (
            format!("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n{key}\r\n"),
            426,
        ),
        ("GARBAGE\r\n\r\n".to_string(), 400),
        (format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(4096)), 431),
    ];
    for (req, want) in cases {
        assert_eq!(http_status(addr, req.as_bytes()), want, "request {req:?}");
    }
    // The server still serves a good client afterwards.
    let mut ws = RawWs::connect(addr, "/");
    ws.send(OpCode::Text, b"still here");
    assert_eq!(ws.read(), Got::Text("still here".into()));
    server.shutdown();
}

#[test]
fn half_a_request_is_closed_by_the_handshake_timeout() {
    let rec = Recorder::default();
    let server = start(&rec);
    let mut sock = TcpStream::connect(server.local_addr()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let t0 = Instant::now();
    let mut all = Vec::new();
    sock.read_to_end(&mut all).unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "not closed by the 300 ms handshake timeout"
    );
    assert!(
        String::from_utf8_lossy(&all).starts_with("HTTP/1.1 408"),
        "got {all:?}"
    );
    server.shutdown();
}

#[test]
fn a_client_that_does_not_read_is_cut_at_the_queue_bound() {
    let rec = Recorder::default();
    let server = start(&rec);
    let mut ws = RawWs::connect(server.local_addr(), "/");
    ws.send(OpCode::Text, b"flood");
    let deadline = Instant::now() + Duration::from_secs(5);
    while rec.closes.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        rec.closes.lock().unwrap().as_slice(),
        &[CloseReason::SlowConsumer]
    );
    server.shutdown();
}

#[test]
fn shutdown_closes_websockets_with_1001_after_queued_frames() {
    let rec = Recorder::default();
    let server = start(&rec);
    let addr = server.local_addr();
    let mut clients: Vec<RawWs> = (0..8).map(|_| RawWs::connect(addr, "/")).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(OpCode::Text, format!("hello {i}").as_bytes());
        assert_eq!(c.read(), Got::Text(format!("hello {i}")));
    }
    let t = std::thread::spawn(move || server.shutdown());
    for c in &mut clients {
        assert_eq!(c.read(), Got::Close(Some(1001)));
        c.send(OpCode::Close, &1001u16.to_be_bytes());
        assert_eq!(c.read(), Got::Eof);
    }
    t.join().unwrap();
    assert_eq!(rec.closes.lock().unwrap().len(), 8);
    assert!(rec
        .closes
        .lock()
        .unwrap()
        .iter()
        .all(|r| *r == CloseReason::Shutdown));
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn a_client_reset_mid_frame_closes_only_that_connection() {
    let rec = Recorder::default();
    let server = start(&rec);
    let addr = server.local_addr();
    let mut other = RawWs::connect(addr, "/");
    let victim = RawWs::connect(addr, "/");
    // Half of a masked 200-byte frame, then a reset (SO_LINGER 0).
    let mut half = Vec::new();
    volley::proto::ws::encode_masked_frame(&mut half, OpCode::Text, &[b'x'; 200], [9, 9, 9, 9]);
    half.truncate(100);
    let mut sock = victim.sock;
    sock.write_all(&half).unwrap();
    socket2::SockRef::from(&sock)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(sock);
    assert!(common::wait_until(Duration::from_secs(3), || !rec
        .closes
        .lock()
        .unwrap()
        .is_empty()));
    let reason = rec.closes.lock().unwrap()[0].clone();
    assert!(
        matches!(reason, CloseReason::Io(_) | CloseReason::Eof),
        "unexpected reason {reason:?}"
    );
    other.send(OpCode::Text, b"unaffected");
    assert_eq!(other.read(), Got::Text("unaffected".into()));
    server.shutdown();
}
