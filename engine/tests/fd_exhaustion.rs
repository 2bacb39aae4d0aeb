//! Running out of file descriptors on accept: the server backs off instead of spinning on a
//! readiness it cannot act on, keeps serving the sessions it has, and serves new clients once
//! descriptors free up. Runs on whichever backend the suite's pass selects (`VOLLEY_BACKEND`,
//! `VOLLEY_URING_DIRECT`, `VOLLEY_ACCEPT`).

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Got, RawWs, ServerProcess};

/// CPU seconds (user + system) the process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Reads `ws` for `wait`, answering Engine.IO pings; returns how many it answered. Panics if
/// the session ends.
fn keep_alive(ws: &mut RawWs, wait: Duration) -> usize {
    let until = Instant::now() + wait;
    let mut pings = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match ws.read_within(left) {
            None => break,
            Some(Got::Text(t)) if t == "2" => {
                ws.send_text("3");
                pings += 1;
            }
            Some(Got::Text(_)) => {}
            Some(other) => panic!("the established session ended: {other:?}"),
        }
    }
    pings
}

/// An acknowledged round trip on an established Socket.IO session.
fn ack_round_trip(ws: &mut RawWs, id: u32) {
    ws.send_text(&format!("42{id}[\"message-with-ack\",\"still here\"]"));
    loop {
        let t = ws.next_text();
        if t.starts_with(&format!("43{id}")) {
            assert_eq!(t, format!("43{id}[\"still here\"]"));
            return;
        }
    }
}

#[test]
fn accept_backs_off_when_descriptors_run_out_and_recovers() {
    // Two workers (each with its listener, or one acceptor dealing to both) and 48 descriptors.
    let server = ServerProcess::start_limited(
        "conformance",
        &[
            ("VOLLEY_WORKERS", "2".into()),
            ("VOLLEY_METRICS_PATH", "/metrics".into()),
        ],
        48,
    );
    let (addr, pid) = (server.addr, server.pid());
    let (mut session, _) = RawWs::sio_connect(addr, "/");
    ack_round_trip(&mut session, 1);

    // Far more connections than the server has descriptors: the rest wait in the backlog.
    let held: Vec<TcpStream> = (0..120)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    assert!(held.len() >= 100, "the backlog should take the connections");
    keep_alive(&mut session, Duration::from_millis(300));

    // Out of descriptors for a second: the server neither spins nor drops the session, whose
    // heartbeat (300 ms interval, 200 ms timeout) and acks go on.
    let before = cpu_seconds(pid);
    let pings = keep_alive(&mut session, Duration::from_secs(1));
    let spent = cpu_seconds(pid) - before;
    assert!(
        spent < 0.5,
        "the server spun while out of descriptors: {spent:.2} CPU s in 1 s"
    );
    assert!(pings >= 2, "the heartbeat stopped: {pings} pings in 1 s");
    ack_round_trip(&mut session, 2);

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Recovered: a new client gets a full Socket.IO connection and an ack.
        let ok = std::panic::catch_unwind(|| {
            let (mut ws, _) = RawWs::sio_connect(addr, "/");
            ack_round_trip(&mut ws, 3);
        });
        if ok.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the server never recovered");
        keep_alive(&mut session, Duration::from_millis(100));
    }
    ack_round_trip(&mut session, 4);

    // Every back-off is counted (direct descriptors wait for a table slot instead: no pause).
    let body = common::metrics(addr);
    let pauses = common::metric(&body, "volley_accept_pauses_total");
    let direct = std::env::var("VOLLEY_URING_DIRECT").is_ok_and(|v| v == "1");
    assert!(direct || pauses > 0, "no accept pause counted: {body}");
    drop(server);
}
