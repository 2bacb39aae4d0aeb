//! Faults that must stay contained: a panicking handler ends only its own session; a client
//! that stops reading is cut as a slow consumer (bounded memory) while the others receive
//! everything.

mod common;

use std::time::Duration;

use common::{Board, Got, RawWs};
use volley::server::{Ack, Counter, Server};

fn start(board: &Board, max_buffered: usize) -> Server {
    let board = board.clone();
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.max_buffered = max_buffered;
            c.ping_interval = Duration::from_secs(30);
        })
        .namespace("/", move |ns| {
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            ns.on("boom", |_, _| panic!("a handler bug"));
            ns.on("stream", |s, _| {
                send_paced(s, 0);
                None
            });
            let b = board.clone();
            ns.on_disconnect(move |s, reason| b.set(s.id().to_string(), reason.as_str()));
        })
        .listen()
        .unwrap()
}

/// Emits chunk `n` of 40 (64 KiB each), the next one only once the client has read this one:
/// 2.5 MiB go out through a 256 KiB queue bound without the client being cut.
fn send_paced(s: &mut volley::server::Socket<'_, '_>, n: usize) {
    if n == 40 {
        let _ = s.emit("done", &[n]);
        return;
    }
    let _ = s.emit("chunk", &(n, "x".repeat(64 << 10)));
    s.on_drain(move |s| send_paced(s, n + 1));
}

fn ack_round_trip(ws: &mut RawWs) {
    ws.send_text("421[\"echo\",\"still fine\"]");
    assert_eq!(ws.next_text(), "431[\"still fine\"]");
}

#[test]
fn a_panicking_handler_ends_only_its_own_session() {
    let board = Board::default();
    let server = start(&board, 4 << 20);
    let (mut victim, victim_id) = RawWs::sio_connect(server.local_addr(), "/");
    let (mut other, _) = RawWs::sio_connect(server.local_addr(), "/");
    victim.send_text("42[\"boom\"]");
    victim.expect_closed(Duration::from_secs(3));
    assert_eq!(
        board.wait(&victim_id, Duration::from_secs(2)).as_deref(),
        Some("handler panic")
    );
    ack_round_trip(&mut other);
    let (mut fresh, _) = RawWs::sio_connect(server.local_addr(), "/");
    ack_round_trip(&mut fresh);
    assert_eq!(server.handle().stats().get(Counter::HandlerPanics), 1);
    server.shutdown();
}

#[test]
fn a_client_that_stops_reading_is_cut_and_the_others_get_everything() {
    const MESSAGES: usize = 200;
    let board = Board::default();
    let server = start(&board, 256 << 10);
    let addr = server.local_addr();
    // The slow client joins, then never reads again.
    let (_slow, slow_id) = RawWs::sio_connect(addr, "/");
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (mut ws, _) = RawWs::sio_connect(addr, "/");
            std::thread::spawn(move || {
                let mut got = 0;
                while got < MESSAGES {
                    match ws.read_within(Duration::from_secs(10)) {
                        Some(Got::Text(t)) if t == "2" => ws.send_text("3"),
                        Some(Got::Text(t)) if t.starts_with("42[\"big\"") => got += 1,
                        Some(Got::Text(_)) => {}
                        other => panic!("a fast reader lost its connection: {other:?}"),
                    }
                }
                got
            })
        })
        .collect();
    let payload = "x".repeat(64 << 10);
    let ns = server.handle().of("/");
    for _ in 0..MESSAGES {
        ns.emit("big", &[&payload]).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    for r in readers {
        assert_eq!(r.join().unwrap(), MESSAGES);
    }
    assert_eq!(
        board.wait(&slow_id, Duration::from_secs(5)).as_deref(),
        Some("slow consumer")
    );
    assert_eq!(server.handle().stats().get(Counter::SlowConsumers), 1);
    server.shutdown();
}

#[test]
fn drain_callbacks_pace_a_producer_under_the_queue_bound() {
    let board = Board::default();
    let server = start(&board, 256 << 10);
    let (mut ws, _) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text("42[\"stream\"]");
    let mut chunks = 0;
    loop {
        let t = ws.next_text();
        if t.starts_with("42[\"chunk\"") {
            assert!(
                t.starts_with(&format!("42[\"chunk\",{chunks},")),
                "out of order: {}",
                &t[..20]
            );
            chunks += 1;
        } else if t == "42[\"done\",40]" {
            break;
        }
    }
    assert_eq!(chunks, 40);
    assert_eq!(server.handle().stats().get(Counter::SlowConsumers), 0);
    ack_round_trip(&mut ws);
    server.shutdown();
}
