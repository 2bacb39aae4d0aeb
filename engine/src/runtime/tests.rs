//! The runtime end to end on both backends, with a small service: keep-alive and pipelined
//! HTTP, WebSocket echo of large and many messages (more than the receive buffers at once),
//! hand-offs between workers, a peer reset during sends, graceful shutdown, and the fallback
//! from io_uring to epoll.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{uring, Action, CloseReason, ConnId, Cx, Runtime, Service};
use crate::config::{AcceptMode, Backend, RuntimeConfig};
use crate::proto::http::{self, BodyKind, HttpError, Request};
use crate::proto::ws::{self, OpCode};

/// Answers `GET /to/N` on worker N (handing the connection over when needed) with
/// `worker N`, upgrades WebSocket requests and echoes their messages; `blast` asks for 3 MB.
#[derive(Default)]
struct Echo {
    closes: Mutex<Vec<CloseReason>>,
    /// A worker whose start panics (to see the runtime report it).
    broken_worker: Option<usize>,
}

impl Service for Echo {
    type Session = ();
    type WorkerState = ();
    type Message = ();
    type Timer = ();

    fn worker_state(&self, worker: usize) {
        assert_ne!(
            self.broken_worker,
            Some(worker),
            "worker {worker} cannot start"
        );
    }

    fn on_request(&self, cx: &mut Cx<'_, Self>, id: ConnId, req: &Request) -> Action<()> {
        if let Some(to) = req.path.strip_prefix("/to/") {
            let to = to.parse().unwrap_or(0);
            if usize::from(cx.worker()) != to {
                return Action::Handoff(to);
            }
        }
        if http::is_websocket_upgrade(req) {
            return match http::validate_upgrade(req) {
                Ok(accept) => Action::Upgrade {
                    accept,
                    session: (),
                },
                Err(e) => {
                    cx.respond_error(id, e.status());
                    Action::Responded
                }
            };
        }
        let body = format!("worker {}", cx.worker());
        cx.respond(id, 200, &[], body.as_bytes(), true);
        Action::Responded
    }

    fn on_body(
        &self,
        cx: &mut Cx<'_, Self>,
        id: ConnId,
        _: &Request,
        _: &mut Vec<u8>,
    ) -> Action<()> {
        cx.respond(id, 204, &[], b"", true);
        Action::Responded
    }

    fn on_body_error(&self, _: &mut Cx<'_, Self>, _: ConnId, _: &Request, _: &HttpError) {}

    fn on_open(&self, _: &mut Cx<'_, Self>, _: ConnId, _: &mut ()) {}

    fn on_message(&self, cx: &mut Cx<'_, Self>, id: ConnId, _: &mut (), msg: ws::Message<'_>) {
        match msg {
            ws::Message::Text(t) if &t[..] == b"blast" => {
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..48 {
                    cx.send_frame(id, OpCode::Binary, &chunk);
                }
            }
            ws::Message::Text(t) => {
                cx.send_frame(id, OpCode::Text, t);
            }
            ws::Message::Binary(b) => {
                cx.send_frame(id, OpCode::Binary, b);
            }
            _ => {}
        }
    }

    fn on_timer(&self, _: &mut Cx<'_, Self>, _: ()) {}

    fn on_close(&self, _: &mut Cx<'_, Self>, _: ConnId, _: (), reason: &CloseReason) {
        self.closes.lock().unwrap().push(reason.clone());
    }

    fn on_post(&self, _: &mut Cx<'_, Self>, _: ()) {}
}

fn start(backend: Backend, workers: usize) -> (Runtime<Echo>, Arc<Echo>) {
    let config = RuntimeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        workers,
        backend,
        ..RuntimeConfig::default()
    };
    let echo = Arc::new(Echo::default());
    let rt = Runtime::launch(config, Vec::new(), echo.clone(), backend).unwrap();
    (rt, echo)
}

/// Both backends where the kernel has io_uring; epoll alone where it has not.
fn backends() -> Vec<Backend> {
    match uring::setup(1) {
        Ok(_) => vec![Backend::Epoll, Backend::Uring],
        Err(_) => vec![Backend::Epoll],
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock
}

/// Reads `n` responses with a Content-Length body; returns their bodies.
fn read_bodies(sock: &mut TcpStream, n: usize) -> Vec<String> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < n {
        if let Some(resp) = http::parse_response(&buf, &http::Limits::default()).unwrap() {
            let BodyKind::Length(len) = resp.body else {
                panic!("unexpected framing {:?}", resp.body);
            };
            if buf.len() >= resp.head_len + len {
                let body = buf[resp.head_len..resp.head_len + len].to_vec();
                out.push(String::from_utf8(body).unwrap());
                buf.drain(..resp.head_len + len);
                continue;
            }
        }
        let got = read_some(sock, &mut chunk);
        assert!(got > 0, "EOF after {} responses", out.len());
        buf.extend_from_slice(&chunk[..got]);
    }
    out
}

/// `read`, retried when a signal interrupts it.
fn read_some(sock: &mut TcpStream, buf: &mut [u8]) -> usize {
    loop {
        match sock.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => return r.unwrap(),
        }
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// A client WebSocket after a completed upgrade; returns the bytes read past the 101 head.
fn upgrade(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut sock = connect(addr);
    let mut req = Vec::new();
    http::write_upgrade_request(&mut req, "x", "/", &http::new_websocket_key([3; 16]), &[]);
    sock.write_all(&req).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(resp) = http::parse_response(&buf, &http::Limits::default()).unwrap() {
            assert_eq!(resp.status, 101);
            return (sock, buf.split_off(resp.head_len));
        }
        let n = read_some(&mut sock, &mut chunk);
        assert!(n > 0, "EOF during the upgrade");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn send_frame(sock: &mut TcpStream, opcode: OpCode, payload: &[u8]) {
    let mut out = Vec::new();
    ws::encode_masked_frame(&mut out, opcode, payload, [9, 8, 7, 6]);
    sock.write_all(&out).unwrap();
}

/// Reads one data or close message: `(opcode, payload)`; `None` at EOF.
fn read_message(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(OpCode, Vec<u8>)> {
    let mut dec = ws::Decoder::new(ws::Role::Client, usize::MAX / 2);
    let mut chunk = vec![0u8; 65536];
    loop {
        let mut tmp = std::mem::take(buf);
        let decoded = dec.decode(&mut tmp).unwrap();
        let consumed = decoded.consumed;
        let got = decoded.message.map(|m| match m {
            ws::Message::Text(t) => (OpCode::Text, t.to_vec()),
            ws::Message::Binary(b) => (OpCode::Binary, b.to_vec()),
            ws::Message::Close(c) => (
                OpCode::Close,
                c.map_or(vec![], |c| c.code.0.to_be_bytes().to_vec()),
            ),
            ws::Message::Ping(p) => (OpCode::Ping, p.to_vec()),
            ws::Message::Pong(p) => (OpCode::Pong, p.to_vec()),
        });
        tmp.drain(..consumed);
        *buf = tmp;
        if got.is_some() {
            return got;
        }
        if consumed > 0 {
            continue;
        }
        match sock.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[test]
fn uring_runs_where_the_kernel_has_it() {
    let available = uring::setup(1).is_ok();
    let (rt, _) = start(Backend::Uring, 1);
    let want = if available {
        Backend::Uring
    } else {
        Backend::Epoll
    };
    assert_eq!(rt.backend(), want);
    rt.shutdown();
}

#[test]
fn a_refused_setup_falls_back_to_epoll() {
    uring::inject_setup_error(Some(libc::EPERM));
    let (rt, _) = start(Backend::Uring, 1);
    uring::inject_setup_error(None);
    assert_eq!(rt.backend(), Backend::Epoll);
    let mut sock = connect(rt.local_addr());
    sock.write_all(get("/").as_bytes()).unwrap();
    assert_eq!(read_bodies(&mut sock, 1), ["worker 0"]);
    rt.shutdown();
}

#[test]
fn pipelined_requests_split_anywhere_are_all_answered() {
    for backend in backends() {
        let (rt, _) = start(backend, 1);
        let mut sock = connect(rt.local_addr());
        let all = get("/").repeat(50);
        // Cut mid-head so the first receive leaves a partial request in the connection's buffer.
        let (a, b) = all.as_bytes().split_at(all.len() / 2 + 3);
        sock.write_all(a).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        sock.write_all(b).unwrap();
        let bodies = read_bodies(&mut sock, 50);
        assert!(bodies.iter().all(|b| b == "worker 0"), "{backend:?}");
        rt.shutdown();
    }
}

#[test]
fn websocket_echoes_large_messages_and_many_connections_at_once() {
    for backend in backends() {
        let (rt, echo) = start(backend, 1);
        let addr = rt.local_addr();
        let (mut sock, mut buf) = upgrade(addr);
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        send_frame(&mut sock, OpCode::Binary, &big);
        send_frame(&mut sock, OpCode::Text, b"after");
        assert_eq!(
            read_message(&mut sock, &mut buf),
            Some((OpCode::Binary, big))
        );
        assert_eq!(
            read_message(&mut sock, &mut buf),
            Some((OpCode::Text, b"after".to_vec()))
        );

        // 128 connections x 64 KiB need twice the 256 receive buffers of a worker.
        let mut conns: Vec<_> = (0..128).map(|_| upgrade(addr)).collect();
        let payload = vec![5u8; 64 * 1024];
        for (s, _) in &mut conns {
            send_frame(s, OpCode::Binary, &payload);
        }
        for (s, b) in &mut conns {
            assert_eq!(
                read_message(s, b),
                Some((OpCode::Binary, payload.clone())),
                "{backend:?}"
            );
        }
        drop(conns);
        drop(sock);
        rt.shutdown();
        assert!(echo.closes.lock().unwrap().len() >= 129);
    }
}

#[test]
fn tiny_queues_and_buffers_still_carry_everything() {
    if uring::setup(1).is_err() {
        return;
    }
    // 4 receive buffers for 64 connections: receives run out (ENOBUFS) and are re-armed; an
    // 8-entry submission queue overflows into the backlog; a 16-entry completion queue
    // overflows and ends multishot operations, which are armed again.
    uring::inject_sizes(Some(uring::Sizes {
        sq: 8,
        cq: 16,
        buffers: 4,
    }));
    let (rt, _) = start(Backend::Uring, 1);
    uring::inject_sizes(None);
    assert_eq!(rt.backend(), Backend::Uring);
    let addr = rt.local_addr();
    let mut conns: Vec<_> = (0..64).map(|_| upgrade(addr)).collect();
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 13) as u8).collect();
    for (s, _) in &mut conns {
        send_frame(s, OpCode::Binary, &payload);
        send_frame(s, OpCode::Text, b"next");
    }
    for (s, b) in &mut conns {
        assert_eq!(read_message(s, b), Some((OpCode::Binary, payload.clone())));
        assert_eq!(read_message(s, b), Some((OpCode::Text, b"next".to_vec())));
    }
    drop(conns);
    rt.shutdown();
}

#[test]
fn hand_offs_move_the_connection_with_its_unparsed_input() {
    for backend in backends() {
        let (rt, _) = start(backend, 2);
        for _ in 0..8 {
            let mut sock = connect(rt.local_addr());
            sock.write_all(get("/to/0").as_bytes()).unwrap();
            assert_eq!(read_bodies(&mut sock, 1), ["worker 0"]);
            // Two requests in one write: the second travels with the connection.
            let both = format!("{}{}", get("/to/1"), get("/to/1"));
            sock.write_all(both.as_bytes()).unwrap();
            assert_eq!(
                read_bodies(&mut sock, 2),
                ["worker 1", "worker 1"],
                "{backend:?}"
            );
            sock.write_all(get("/to/0").as_bytes()).unwrap();
            assert_eq!(read_bodies(&mut sock, 1), ["worker 0"]);
        }
        rt.shutdown();
    }
}

#[test]
fn a_reset_peer_closes_only_its_connection() {
    for backend in backends() {
        let (rt, echo) = start(backend, 1);
        let addr = rt.local_addr();
        let (mut victim, _) = upgrade(addr);
        send_frame(&mut victim, OpCode::Text, b"blast");
        std::thread::sleep(Duration::from_millis(50));
        // Linger 0: close sends a reset while the server still has megabytes to send.
        socket2::SockRef::from(&victim)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(victim);
        let (mut other, mut buf) = upgrade(addr);
        send_frame(&mut other, OpCode::Text, b"still here");
        assert_eq!(
            read_message(&mut other, &mut buf),
            Some((OpCode::Text, b"still here".to_vec()))
        );
        let mut closes = Vec::new();
        for _ in 0..500 {
            closes = echo.closes.lock().unwrap().clone();
            if !closes.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            matches!(closes.first(), Some(CloseReason::Io(_) | CloseReason::Eof)),
            "{backend:?}: {closes:?}"
        );
        drop(other);
        rt.shutdown();
    }
}

#[test]
fn shutdown_sends_going_away_and_joins() {
    for backend in backends() {
        let (rt, echo) = start(backend, 2);
        let (mut sock, mut buf) = upgrade(rt.local_addr());
        rt.begin_shutdown();
        assert_eq!(
            read_message(&mut sock, &mut buf),
            Some((OpCode::Close, 1001u16.to_be_bytes().to_vec()))
        );
        drop(sock);
        rt.join();
        assert_eq!(
            *echo.closes.lock().unwrap(),
            [CloseReason::Shutdown],
            "{backend:?}"
        );
    }
}

#[test]
fn every_address_and_every_worker_serves() {
    for backend in backends() {
        for accept in [AcceptMode::ReusePort, AcceptMode::Acceptor] {
            let config = RuntimeConfig {
                listen: "127.0.0.1:0,127.0.0.1:0".parse().unwrap(),
                workers: 2,
                backend,
                accept,
                ..RuntimeConfig::default()
            };
            let echo = Arc::new(Echo::default());
            let rt = Runtime::launch(config, Vec::new(), echo, backend).unwrap();
            let addrs = rt.local_addrs().to_vec();
            assert_eq!(addrs.len(), 2);
            assert_ne!(addrs[0], addrs[1]);
            for addr in addrs {
                // Worker 1 hands `/to/0` over: both workers serve each address.
                let mut sock = connect(addr);
                sock.write_all(get("/to/1").as_bytes()).unwrap();
                assert_eq!(read_bodies(&mut sock, 1), ["worker 1"], "{backend:?}");
                let mut sock = connect(addr);
                sock.write_all(get("/to/0").as_bytes()).unwrap();
                assert_eq!(read_bodies(&mut sock, 1), ["worker 0"], "{backend:?}");
            }
            rt.shutdown();
        }
    }
}

#[test]
fn a_worker_that_cannot_start_fails_the_start_and_frees_the_port() {
    for backend in backends() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let config = RuntimeConfig {
            listen: addr.into(),
            workers: 2,
            backend,
            ..RuntimeConfig::default()
        };
        let echo = Arc::new(Echo {
            broken_worker: Some(1),
            ..Echo::default()
        });
        let Err(e) = Runtime::launch(config, Vec::new(), echo, backend) else {
            panic!("{backend:?}: started with a broken worker");
        };
        assert!(e.to_string().contains("could not start"), "{e}");
        // The worker that did start was stopped, its listener closed with it.
        TcpListener::bind(addr).unwrap();
    }
}

#[test]
fn workers_share_a_given_listener() {
    for backend in backends() {
        let config = RuntimeConfig {
            workers: 2,
            backend,
            ..RuntimeConfig::default()
        };
        let given = vec![TcpListener::bind("127.0.0.1:0").unwrap()];
        let echo = Arc::new(Echo::default());
        let rt = Runtime::launch(config, given, echo, backend).unwrap();
        let mut counts = [0usize; 2];
        // Which worker wakes first is the scheduler's choice: on a loaded machine one can take
        // a whole round, so rounds go on (up to 50) until both have served.
        for _ in 0..50 {
            if counts.iter().all(|&n| n > 0) {
                break;
            }
            let mut socks: Vec<_> = (0..20).map(|_| connect(rt.local_addr())).collect();
            for s in &mut socks {
                s.write_all(get("/").as_bytes()).unwrap();
            }
            for s in &mut socks {
                counts[usize::from(read_bodies(s, 1)[0] == "worker 1")] += 1;
            }
        }
        // Each worker accepts from the one socket (a multishot accept on io_uring once took
        // every connection on one worker).
        assert!(counts.iter().all(|&n| n > 0), "{backend:?}: {counts:?}");
        rt.shutdown();
    }
}
