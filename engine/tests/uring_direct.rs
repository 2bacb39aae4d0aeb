//! io_uring direct descriptors (`VOLLEY_URING_DIRECT=1`): connections live in the workers'
//! registered file tables, not in the process's, so a server holds more connections than its
//! open-file limit; they report their peer address; polling requests that reach the wrong
//! worker are still handed to their session's owner. Where the kernel has no io_uring (the
//! server says so on stderr and runs epoll) there is nothing to prove and the tests say so.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use common::polling::{get, post, session};
use common::{Got, RawWs};
use volley::config::Backend;
use volley::server::{Ack, Server};

/// Held by each test: they count this process's descriptors, so none may open sockets while
/// another counts.
static SERIAL: Mutex<()> = Mutex::new(());

/// Descriptors process `pid` (or `self`) has open.
fn open_fds(pid: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Whether process `pid` holds an io_uring.
fn has_uring(pid: &str) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|target| target.to_string_lossy().contains("io_uring"))
}

fn direct_server() -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.backend = Backend::Uring;
            c.uring_direct = true;
            c.ping_interval = Duration::from_secs(30);
        })
        .namespace("/", |ns| {
            ns.on("address", |s, _| {
                let address = s.handshake().address.map(|a| a.to_string());
                Some(Ack::new(&[address]).unwrap())
            });
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
        })
        .listen()
        .unwrap()
}

#[test]
fn more_connections_than_the_open_file_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const LIMIT: usize = 64;
    const CLIENTS: usize = 150;
    // Four workers, each with a 64-slot table: the 150 connections spread over them leave
    // every table far from full, while the process may open only 64 descriptors.
    let binary = common::example_binary("ws_echo");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {LIMIT} && exec {}", binary.display()))
        .env("VOLLEY_LISTEN", "127.0.0.1:0")
        .env("VOLLEY_WORKERS", "4")
        .env("VOLLEY_BACKEND", "uring")
        .env("VOLLEY_URING_DIRECT", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line.trim().rsplit(' ').next().unwrap().parse().unwrap();
    let pid = child.id().to_string();
    if !has_uring(&pid) {
        eprintln!("no io_uring on this kernel: direct descriptors cannot be shown here");
        let _ = child.kill();
        let _ = child.wait();
        return;
    }

    let mut clients: Vec<RawWs> = (0..CLIENTS).map(|_| RawWs::connect(addr, "/")).collect();
    for (i, ws) in clients.iter_mut().enumerate() {
        ws.send_text(&format!("hello {i}"));
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(ws.read(), Got::Text(format!("hello {i}")), "client {i}");
    }
    let server_fds = open_fds(&pid);
    assert!(
        server_fds < LIMIT,
        "{CLIENTS} connections served with {server_fds} descriptors open (limit {LIMIT})"
    );
    drop(clients);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn direct_connections_take_no_descriptor_and_know_their_peer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = direct_server();
    let addr = server.local_addr();
    if !has_uring("self") {
        eprintln!("no io_uring on this kernel: direct descriptors cannot be shown here");
        return;
    }
    const CLIENTS: usize = 40;
    let before = open_fds("self");
    let mut clients: Vec<(RawWs, String)> = (0..CLIENTS)
        .map(|_| RawWs::sio_connect(addr, "/"))
        .collect();
    // Each client adds its own descriptor; a server holding plain descriptors would add one
    // more per client.
    let added = open_fds("self") - before;
    assert!(
        added < CLIENTS + CLIENTS / 2,
        "{CLIENTS} connections added {added} descriptors to the process"
    );
    for (ws, _) in clients.iter_mut() {
        let local = ws.sock.local_addr().unwrap().to_string();
        ws.send_text("421[\"address\"]");
        assert_eq!(ws.next_text(), format!("431[\"{local}\"]"));
    }
    server.shutdown();
}

#[test]
fn polling_requests_reach_their_session_across_workers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = direct_server();
    let addr = server.local_addr();
    // Every request is a new connection, which either worker may accept: about half reach
    // the worker that does not own the session and move to the owner, as a plain descriptor
    // installed from the direct one.
    let (sid, _) = session(addr);
    for i in 0..40 {
        let body = format!("42{i}[\"echo\",{i}]");
        assert_eq!(
            post(addr, &sid, &body),
            (200, "ok".to_string()),
            "round {i}"
        );
        assert_eq!(get(addr, &sid), (200, format!("43{i}[{i}]")), "round {i}");
    }
    server.shutdown();
}
