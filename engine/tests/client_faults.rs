//! Faults the threaded client must survive, played by fake servers on our own codecs: a
//! silent server (ping timeout), connections reset in the middle of a WebSocket frame or of a
//! polling response, malformed packets, and a port nobody listens on. Each is reported with
//! the JS client's reason (plus a typed `on_error` for malformed input), then the client
//! reconnects; nothing panics. Every wait is bounded.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{client_options as options, expect, expect_one_of, free_port, record, CLIENT_WAIT};
use volley::client::{Client, ClientError, TransportKind};
use volley::proto::http::{self, BodyKind};
use volley::proto::{eio, sio, ws};

const WAIT: Duration = CLIENT_WAIT;

/// What a fake WebSocket server does on a connection after the upgrade, the open packet and
/// the CONNECT of `/`.
#[derive(Clone)]
enum Then {
    /// Nothing: only the client's ping timeout ends it.
    Silent,
    /// Half of a text frame, then a TCP reset.
    HalfFrameThenReset,
    /// These bytes (frames), then nothing.
    Send(Vec<u8>),
}

/// A fake WebSocket server that plays `plan[i]` on its `i`-th connection (and `Silent` past
/// the plan), announcing `ping_interval_ms` (and 100 ms of ping timeout). Returns its port and
/// a channel that gets each connection's number once its handshake is done.
fn fake_ws_server(plan: Vec<Then>, ping_interval_ms: u64) -> (u16, Receiver<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = channel();
    thread::spawn(move || {
        let mut held = Vec::new();
        for (i, stream) in listener.incoming().take(8).enumerate() {
            let Ok(mut stream) = stream else { continue };
            if ws_handshake(&mut stream, ping_interval_ms).is_none() {
                continue;
            }
            let _ = tx.send(i);
            match plan.get(i).cloned().unwrap_or(Then::Silent) {
                Then::Silent => held.push(stream),
                Then::Send(bytes) => {
                    let _ = stream.write_all(&bytes);
                    held.push(stream);
                }
                Then::HalfFrameThenReset => {
                    let mut frame = Vec::new();
                    ws::encode_frame(&mut frame, ws::OpCode::Text, &[b'4'; 100]);
                    let _ = stream.write_all(&frame[..20]);
                    reset(stream);
                }
            }
        }
    });
    (port, rx)
}

/// Closes `stream` with a TCP reset (RST) instead of a FIN.
fn reset(stream: TcpStream) {
    thread::sleep(Duration::from_millis(50));
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Reads one request head and its `Content-Length` body.
fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(http::Request, Vec<u8>)> {
    loop {
        if let Some(req) = http::parse_request(buf, &http::Limits::default()).ok()? {
            let len = match req.body {
                BodyKind::Length(n) => n,
                _ => 0,
            };
            let end = req.head_len + len;
            if buf.len() >= end {
                let body = buf[req.head_len..end].to_vec();
                buf.drain(..end);
                return Some((req, body));
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn ws_handshake(stream: &mut TcpStream, ping_interval_ms: u64) -> Option<()> {
    stream.set_read_timeout(Some(WAIT)).ok()?;
    let (req, _) = read_request(stream, &mut Vec::new())?;
    let accept = http::validate_upgrade(&req).ok()?;
    let mut out = Vec::new();
    http::write_switching_protocols(&mut out, &accept);
    let open = format!(
        r#"0{{"sid":"fake","upgrades":[],"pingInterval":{ping_interval_ms},"pingTimeout":100}}"#
    );
    ws::encode_frame(&mut out, ws::OpCode::Text, open.as_bytes());
    ws::encode_frame(&mut out, ws::OpCode::Text, br#"40{"sid":"fake-socket"}"#);
    stream.write_all(&out).ok()
}

fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ws::encode_frame(&mut out, ws::OpCode::Text, payload);
    out
}

fn ok_response(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    http::write_response(
        &mut out,
        200,
        &[("Content-Type", "text/plain; charset=UTF-8")],
        body,
        true,
    );
    out
}

#[test]
fn silent_server_times_out_and_is_reconnected() {
    let (port, accepted) = fake_ws_server(Vec::new(), 200);
    let (tx, closes) = channel();
    let client = Client::builder(options(port, TransportKind::WebSocket))
        .on_close(move |reason| {
            let _ = tx.send(reason.to_string());
        })
        .connect()
        .unwrap();
    let socket = client.socket("/");
    let log = record(&socket);
    socket.connect().unwrap();
    accepted.recv_timeout(WAIT).unwrap();
    expect(&log, "#connect /");
    let started = Instant::now();
    expect(&log, "#disconnect:ping timeout");
    // pingInterval + pingTimeout = 300 ms of silence.
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(closes.recv_timeout(WAIT).unwrap(), "ping timeout");
    accepted.recv_timeout(WAIT).expect("no reconnection");
    expect(&log, "#connect /");
}

/// A client on `port` whose `on_close` reasons and `on_error` errors land in channels.
fn watched_client(
    port: u16,
    transport: TransportKind,
) -> (Client, Receiver<String>, Receiver<ClientError>) {
    let (close_tx, closes) = channel();
    let (error_tx, errors): (Sender<ClientError>, _) = channel();
    let client = Client::builder(options(port, transport))
        .on_close(move |reason| {
            let _ = close_tx.send(reason.to_string());
        })
        .on_error(move |e| {
            let _ = error_tx.send(e.clone());
        })
        .connect()
        .unwrap();
    (client, closes, errors)
}

#[test]
fn reset_mid_frame_is_a_transport_fault_and_reconnects() {
    let (port, accepted) = fake_ws_server(vec![Then::HalfFrameThenReset], 5000);
    let (client, closes, errors) = watched_client(port, TransportKind::WebSocket);
    let socket = client.socket("/");
    let log = record(&socket);
    socket.connect().unwrap();
    assert_eq!(accepted.recv_timeout(WAIT), Ok(0));
    expect(&log, "#connect /");
    let seen = expect_one_of(
        &log,
        &["#disconnect:transport error", "#disconnect:transport close"],
    );
    let reason = closes.recv_timeout(WAIT).unwrap();
    assert_eq!(seen, format!("#disconnect:{reason}"));
    assert_eq!(accepted.recv_timeout(WAIT), Ok(1), "no reconnection");
    expect(&log, "#connect /");
    assert!(errors.try_recv().is_err(), "a reset is no protocol error");
}

#[test]
fn malformed_packets_close_with_typed_errors_and_reconnect() {
    let mut unexpected_binary = Vec::new();
    ws::encode_frame(&mut unexpected_binary, ws::OpCode::Binary, &[1, 2, 3]);
    let mut bad_utf8 = vec![0x81, 0x02];
    bad_utf8.extend_from_slice(&[0xff, 0xfe]);
    let plan = vec![
        Then::Send(text_frame(b"9oops")),
        Then::Send(text_frame(br#"42["a""#)),
        Then::Send(unexpected_binary),
        Then::Send(bad_utf8),
    ];
    let (port, accepted) = fake_ws_server(plan, 5000);
    let (client, closes, errors) = watched_client(port, TransportKind::WebSocket);
    let socket = client.socket("/");
    let log = record(&socket);
    socket.connect().unwrap();
    let expected: [(ErrorCheck, &str); 4] = [
        (
            |e| *e == ClientError::Eio(eio::EioError::UnknownType(b'9')),
            "parse error",
        ),
        (|e| matches!(e, ClientError::Sio(_)), "parse error"),
        (
            |e| *e == ClientError::Sio(sio::SioError::UnexpectedBinary),
            "parse error",
        ),
        (|e| matches!(e, ClientError::Ws(_)), "transport error"),
    ];
    for (i, (is_expected, reason)) in expected.into_iter().enumerate() {
        assert_eq!(accepted.recv_timeout(WAIT), Ok(i));
        expect(&log, "#connect /");
        expect(&log, &format!("#disconnect:{reason}"));
        let error = errors.recv_timeout(WAIT).unwrap();
        assert!(is_expected(&error), "connection {i}: {error:?}");
        assert_eq!(closes.recv_timeout(WAIT).unwrap(), reason);
    }
    assert_eq!(accepted.recv_timeout(WAIT), Ok(4));
    expect(&log, "#connect /");
    assert!(socket.is_connected());
}

/// Whether an `on_error` error is the one a test expects.
type ErrorCheck = fn(&ClientError) -> bool;

/// A fake polling server: the handshake GET gets an open packet (no upgrades), POSTs get
/// `ok`, a session's first long-poll GET gets the CONNECT of `/`; the second GET of the first
/// session gets half a response and a reset, later ones wait. Returns the port and a channel
/// of `"open"` / `"reset"` notes.
fn fake_polling_server() -> (u16, Receiver<&'static str>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = channel();
    let gets: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    thread::spawn(move || {
        for stream in listener.incoming().take(16) {
            let Ok(stream) = stream else { continue };
            let (tx, gets) = (tx.clone(), gets.clone());
            thread::spawn(move || serve_polling(stream, &tx, &gets));
        }
    });
    (port, rx)
}

fn serve_polling(
    mut stream: TcpStream,
    tx: &Sender<&'static str>,
    gets: &Mutex<HashMap<String, u32>>,
) {
    let _ = stream.set_read_timeout(Some(WAIT));
    let mut buf = Vec::new();
    while let Some((req, _body)) = read_request(&mut stream, &mut buf) {
        let Some(sid) = req.query_param("sid").map(|s| s.into_owned()) else {
            let mut sessions = gets.lock().unwrap();
            let sid = format!("fake{}", sessions.len());
            sessions.insert(sid.clone(), 0);
            drop(sessions);
            let open = format!(
                r#"0{{"sid":"{sid}","upgrades":[],"pingInterval":5000,"pingTimeout":5000}}"#
            );
            let _ = stream.write_all(&ok_response(open.as_bytes()));
            let _ = tx.send("open");
            continue;
        };
        if req.method == http::Method::Post {
            let _ = stream.write_all(&ok_response(b"ok"));
            continue;
        }
        let n = {
            let mut sessions = gets.lock().unwrap();
            let n = sessions.entry(sid.clone()).or_default();
            *n += 1;
            *n
        };
        match (sid.as_str(), n) {
            (_, 1) => {
                let _ = stream.write_all(&ok_response(br#"40{"sid":"fake-socket"}"#));
            }
            ("fake0", 2) => {
                let full = ok_response(&[b'6'; 100]);
                let _ = stream.write_all(&full[..full.len() - 90]);
                let _ = tx.send("reset");
                return reset(stream);
            }
            _ => {
                // Park the GET until the client goes away.
                let _ = read_request(&mut stream, &mut buf);
                return;
            }
        }
    }
}

#[test]
fn reset_mid_polling_response_reconnects() {
    let (port, notes) = fake_polling_server();
    let (client, closes, errors) = watched_client(port, TransportKind::Polling);
    let socket = client.socket("/");
    let log = record(&socket);
    socket.connect().unwrap();
    assert_eq!(notes.recv_timeout(WAIT), Ok("open"));
    expect(&log, "#connect /");
    assert_eq!(notes.recv_timeout(WAIT), Ok("reset"));
    let seen = expect_one_of(
        &log,
        &["#disconnect:transport error", "#disconnect:transport close"],
    );
    assert_eq!(
        seen,
        format!("#disconnect:{}", closes.recv_timeout(WAIT).unwrap())
    );
    assert_eq!(notes.recv_timeout(WAIT), Ok("open"), "no reconnection");
    expect(&log, "#connect /");
    assert!(errors.try_recv().is_err(), "a reset is no protocol error");
}

#[test]
fn gives_up_after_the_configured_attempts() {
    let port = free_port();
    let (tx, notes) = channel();
    let (a, e, f) = (tx.clone(), tx.clone(), tx);
    let mut opts = options(port, TransportKind::WebSocket);
    opts.reconnection_attempts = Some(2);
    opts.reconnection_delay = Duration::from_millis(20);
    let client = Client::builder(opts)
        .on_reconnect_attempt(move |n| {
            let _ = a.send(format!("attempt {n}"));
        })
        .on_reconnect_error(move |reason| {
            let _ = e.send(format!("error {reason}"));
        })
        .on_reconnect_failed(move || {
            let _ = f.send("failed".to_owned());
        })
        .connect()
        .unwrap();
    client.socket("/").connect().unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("failed") {
        seen.push(notes.recv_timeout(WAIT).expect("no reconnect_failed"));
    }
    assert_eq!(
        seen,
        [
            "attempt 1",
            "error transport error",
            "attempt 2",
            "error transport error",
            "failed"
        ]
    );
}
