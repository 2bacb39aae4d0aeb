//! io_uring direct descriptors (`VOLLEY_URING_DIRECT=1`): connections live in the workers'
//! registered file tables, not in the process's, so a server holds more connections than its
//! open-file limit; they report their peer address; polling requests that reach the wrong
//! worker are still handed to their session's owner. Where the kernel has no io_uring (the
//! server says so on stderr and runs epoll) there is nothing to prove and the tests say so.

mod common;

use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use common::polling::{get, post, session};
use common::{Got, RawWs, ServerProcess};
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

/// The `ws_echo` example on io_uring with direct descriptors, `workers` workers and an
/// open-file limit of `limit`; `None` (after saying why) where the kernel has no io_uring.
fn limited_echo_server(limit: usize, workers: usize) -> Option<ServerProcess> {
    let env = [
        ("VOLLEY_WORKERS", workers.to_string()),
        ("VOLLEY_BACKEND", "uring".to_string()),
        ("VOLLEY_URING_DIRECT", "1".to_string()),
    ];
    let server = ServerProcess::start_limited("ws_echo", &env, limit);
    if !has_uring(&server.pid().to_string()) {
        eprintln!("no io_uring on this kernel: direct descriptors cannot be shown here");
        return None;
    }
    Some(server)
}

#[test]
fn more_connections_than_the_open_file_limit() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const LIMIT: usize = 64;
    const CLIENTS: usize = 150;
    // Four workers, each with a 64-slot table: the 150 connections spread over them leave
    // every table far from full, while the process may open only 64 descriptors.
    let Some(server) = limited_echo_server(LIMIT, 4) else {
        return;
    };
    let (addr, pid) = (server.addr, server.pid().to_string());

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
    drop(server);
}

#[test]
fn a_full_table_leaves_connections_waiting_in_the_backlog() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const SLOTS: usize = 64;
    // One worker: its table has exactly 64 slots.
    let Some(server) = limited_echo_server(SLOTS, 1) else {
        return;
    };
    let addr = server.addr;
    let mut first: Vec<RawWs> = (0..SLOTS).map(|_| RawWs::connect(addr, "/")).collect();
    // These connect (the kernel's backlog takes them) but are not accepted until slots free
    // up; accepting them into a full table would have closed them.
    let waiting = thread::spawn(move || {
        let mut late: Vec<RawWs> = (0..6).map(|_| RawWs::connect(addr, "/")).collect();
        for (i, ws) in late.iter_mut().enumerate() {
            ws.send_text(&format!("late {i}"));
            assert_eq!(ws.read(), Got::Text(format!("late {i}")));
        }
    });
    thread::sleep(Duration::from_millis(500));
    assert!(!waiting.is_finished(), "a 65th connection was served");
    for ws in first.iter_mut().take(5) {
        ws.send_text("still here");
        assert_eq!(ws.read(), Got::Text("still here".into()));
    }
    first.truncate(SLOTS - 10);
    waiting
        .join()
        .expect("the waiting connections were served once slots freed");
    drop(first);
    drop(server);
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

/// Status and body of a polling response read from `sock`, `None` if it has not come within
/// the socket's read timeout. Panics if the server closed the connection instead.
fn polling_answer(sock: &mut std::net::TcpStream, got: &mut Vec<u8>) -> Option<(u16, String)> {
    use std::io::Read;
    use volley::proto::http::{self, BodyKind};
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(resp) = http::parse_response(got, &http::Limits::default()).unwrap() {
            let BodyKind::Length(len) = resp.body else {
                panic!("a polling response without a length: {:?}", resp.body);
            };
            if let Some(body) = got.get(resp.head_len..resp.head_len + len) {
                return Some((resp.status, String::from_utf8_lossy(body).into_owned()));
            }
        }
        match sock.read(&mut chunk) {
            Ok(0) => panic!("the server closed a connection waiting to reach its session"),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(e) => panic!("a connection waiting to reach its session failed: {e}"),
        }
    }
}

#[test]
fn a_hand_off_waits_for_a_descriptor_instead_of_closing() {
    use std::io::Write;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    const SESSIONS: usize = 40;
    let env = [
        ("VOLLEY_BACKEND", "uring"),
        ("VOLLEY_URING_DIRECT", "1"),
        ("VOLLEY_METRICS_PATH", "/metrics"),
        // A ping a second gives each long poll its answer; the sessions outlive the test.
        ("VOLLEY_PING_INTERVAL_MS", "1000"),
        ("VOLLEY_PING_TIMEOUT_MS", "30000"),
    ];
    let server = ServerProcess::start("conformance", &env);
    let pid = server.pid();
    if !has_uring(&pid.to_string()) {
        eprintln!("no io_uring on this kernel: direct descriptors cannot be shown here");
        return;
    }
    let addr = server.addr;
    // Sessions opened on whichever of the two workers accepted their handshake.
    let sids: Vec<String> = (0..SESSIONS)
        .map(|_| {
            let (status, body) = common::polling::request(addr, "GET", "", "", b"");
            assert_eq!(status, 200, "{body}");
            let open: serde_json::Value = serde_json::from_str(&body[1..]).unwrap();
            open["sid"].as_str().unwrap().to_string()
        })
        .collect();
    // Direct connections take no descriptor, but one moving to its session's worker needs a
    // plain one: leave the process a handful, so most such moves find none.
    let limit = (open_fds(&pid.to_string()) + 4) as libc::rlim_t;
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    // SAFETY: prlimit reads `rlimit` and writes nothing (null old limit).
    let set = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &rlimit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());

    // A long poll per session, each on its own kept-alive connection.
    let mut polls: Vec<(std::net::TcpStream, Vec<u8>)> = sids
        .iter()
        .map(|sid| {
            let mut sock = std::net::TcpStream::connect(addr).unwrap();
            let req = format!(
                "GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\r\n"
            );
            sock.write_all(req.as_bytes()).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            (sock, Vec::new())
        })
        .collect();
    thread::sleep(Duration::from_millis(1500));
    let text = common::metrics(addr);
    let waits = common::metric(&text, "volley_handoff_waits_total");
    assert!(
        waits > 0,
        "no hand-off had to wait for a descriptor:\n{text}"
    );

    // Each answered poll's connection is closed, which frees a descriptor for a waiting one;
    // none of them may be lost on the way.
    let until = std::time::Instant::now() + Duration::from_secs(8);
    let mut answered = 0;
    while !polls.is_empty() && std::time::Instant::now() < until {
        polls.retain_mut(|(sock, got)| match polling_answer(sock, got) {
            Some((status, body)) => {
                assert_eq!(status, 200, "{body}");
                assert!(
                    body.starts_with('2'),
                    "a long poll answered {body:?}, not the ping"
                );
                answered += 1;
                false
            }
            None => true,
        });
    }
    assert_eq!(
        answered,
        SESSIONS,
        "{} long polls never reached their session",
        polls.len()
    );
    let text = common::metrics(addr);
    assert_eq!(
        common::metric(&text, "volley_handoff_failures_total"),
        0,
        "{text}"
    );
}
