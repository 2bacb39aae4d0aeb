//! Running out of file descriptors on accept: the server backs off instead of spinning on a
//! readiness it cannot act on, and serves again once descriptors free up.

mod common;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Got, RawWs, ServerProcess};
use volley::proto::ws::OpCode;

/// CPU seconds (user + system) the process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn accept_backs_off_when_descriptors_run_out_and_recovers() {
    let server = ServerProcess::start_limited("ws_echo", &[("VOLLEY_WORKERS", "1".into())], 40);
    let (addr, pid) = (server.addr, server.pid());

    // Far more connections than the server has descriptors: the rest wait in the backlog.
    let held: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    assert!(held.len() >= 60, "the backlog should take the connections");
    std::thread::sleep(Duration::from_millis(300));
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_seconds(pid) - before;
    assert!(
        spent < 0.5,
        "the server spun while out of descriptors: {spent:.2} CPU s in 1 s"
    );

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // Recovered: a full handshake and an echo work again.
        let ok = std::panic::catch_unwind(|| {
            let mut ws = RawWs::connect(addr, "/");
            ws.send(OpCode::Text, b"back");
            ws.read() == Got::Text("back".into())
        });
        if ok.unwrap_or(false) {
            break;
        }
        assert!(Instant::now() < deadline, "the server never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
}
