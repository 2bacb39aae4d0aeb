//! Engine.IO heartbeats and the Socket.IO connect timeout, timed with a client on our own codec:
//! when the first ping comes, that pongs keep a session, that silence ends it with
//! `ping timeout`, that a client ping is refused, and that a client that never joins a
//! namespace is closed after connectTimeout.

mod common;

use std::time::{Duration, Instant};

use common::{Board, Got, RawWs};
use volley::server::{Ack, Server};

const INTERVAL: Duration = Duration::from_millis(300);
const TIMEOUT: Duration = Duration::from_millis(200);
/// Scheduling slack on a loaded machine; the timer wheel itself ticks every millisecond.
const SLACK: Duration = Duration::from_millis(600);

fn start(reasons: &Board, ping_interval: Duration, connect_timeout: Duration) -> Server {
    let reasons = reasons.clone();
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.ping_interval = ping_interval;
            c.ping_timeout = TIMEOUT;
            c.connect_timeout = connect_timeout;
        })
        .namespace("/", move |ns| {
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            ns.on_disconnect(move |s, reason| reasons.set(s.id(), reason.as_str()));
        })
        .listen()
        .unwrap()
}

/// One ack round trip on a joined connection.
fn ack_round_trip(ws: &mut RawWs) {
    ws.send_text(r#"4217["echo","ok"]"#);
    assert_eq!(ws.next_text(), r#"4317["ok"]"#);
}

#[test]
fn first_ping_comes_after_the_interval_and_pongs_keep_the_session() {
    let reasons = Board::default();
    let server = start(&reasons, INTERVAL, Duration::from_secs(10));
    let (mut ws, sid) = RawWs::sio_connect(server.local_addr(), "/");
    let opened = Instant::now();
    assert_eq!(
        ws.read_within(INTERVAL * 2 + SLACK),
        Some(Got::Text("2".into()))
    );
    let first = opened.elapsed();
    assert!(
        first + Duration::from_millis(30) >= INTERVAL,
        "first ping after {first:?}, before the interval"
    );
    ws.send_text("3");
    // Several more intervals, each ping answered: the session lives on.
    let mut pings = 1;
    let until = Instant::now() + INTERVAL * 4;
    while Instant::now() < until {
        match ws.read_within(INTERVAL + SLACK) {
            Some(Got::Text(t)) if t == "2" => {
                pings += 1;
                ws.send_text("3");
            }
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    assert!(pings >= 4, "only {pings} pings");
    ack_round_trip(&mut ws);
    assert_eq!(reasons.get(&sid), None);
    server.shutdown();
}

#[test]
fn an_unanswered_ping_ends_the_session_with_ping_timeout() {
    let reasons = Board::default();
    let server = start(&reasons, INTERVAL, Duration::from_secs(10));
    let (mut ws, sid) = RawWs::sio_connect(server.local_addr(), "/");
    assert_eq!(
        ws.read_within(INTERVAL * 2 + SLACK),
        Some(Got::Text("2".into()))
    );
    let pinged = Instant::now();
    ws.expect_closed(TIMEOUT + SLACK);
    assert!(
        pinged.elapsed() + Duration::from_millis(30) >= TIMEOUT,
        "closed {:?} after the ping, before pingTimeout",
        pinged.elapsed()
    );
    assert_eq!(
        reasons.wait(&sid, Duration::from_secs(2)).as_deref(),
        Some("ping timeout")
    );
    let (mut other, _) = RawWs::sio_connect(server.local_addr(), "/");
    ack_round_trip(&mut other);
    server.shutdown();
}

#[test]
fn a_ping_from_the_client_ends_the_session() {
    let reasons = Board::default();
    let server = start(&reasons, INTERVAL, Duration::from_secs(10));
    let (mut ws, sid) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text("2");
    ws.expect_closed(Duration::from_secs(2));
    // As the reference server: `transport error` ("invalid heartbeat direction").
    assert_eq!(
        reasons.wait(&sid, Duration::from_secs(2)).as_deref(),
        Some("transport error")
    );
    server.shutdown();
}

#[test]
fn a_client_that_joins_no_namespace_is_closed_after_connect_timeout() {
    let reasons = Board::default();
    let connect_timeout = Duration::from_millis(300);
    // Pings far apart, so that only the connect timeout can close anything.
    let server = start(&reasons, Duration::from_secs(30), connect_timeout);
    let addr = server.local_addr();
    let (mut idle, _) = RawWs::eio_connect(addr, "/socket.io/");
    let opened = Instant::now();
    // A client that joins in time is not affected by the timeout.
    let (mut joined, sid) = RawWs::sio_connect(addr, "/");
    let before = idle.expect_closed(connect_timeout + SLACK);
    assert!(before.is_empty(), "got {before:?}");
    assert!(
        opened.elapsed() + Duration::from_millis(30) >= connect_timeout,
        "closed after {:?}",
        opened.elapsed()
    );
    std::thread::sleep(connect_timeout);
    ack_round_trip(&mut joined);
    assert_eq!(reasons.get(&sid), None);
    // Joining and then leaving every namespace does not re-arm the timeout (as the reference).
    joined.send_text("41");
    std::thread::sleep(connect_timeout + Duration::from_millis(100));
    assert_eq!(
        reasons.get(&sid).as_deref(),
        Some("client namespace disconnect")
    );
    joined.sio_join("/");
    server.shutdown();
}
