//! Listeners as deployments have them, each served to the stock socket.io client (WebSocket
//! and polling with the upgrade): an already-bound `TcpListener`, a socket inherited through
//! systemd socket activation (a child process with `LISTEN_FDS`), IPv6 loopback, several
//! addresses at once; and a second process on a port already served fails with AddrInUse.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{assert_cases, example_binary, run_node, wait_until, RawWs, ServerProcess};
use volley::server::{Ack, Error, Server, ServerBuilder};

/// Peer addresses of the handshakes a server saw.
type Seen = Arc<Mutex<Vec<Option<SocketAddr>>>>;

/// Starts `builder` with two workers and a `/` namespace that answers `message-with-ack` with
/// its arguments and records each handshake's address.
fn start(builder: ServerBuilder) -> (Server, Seen) {
    let seen = Seen::default();
    let record = seen.clone();
    let server = builder
        .configure(|c| c.workers = 2)
        .namespace("/", move |ns| {
            ns.on_connect(move |socket, _| {
                record.lock().unwrap().push(socket.handshake().address);
                Ok(())
            });
            ns.on("message-with-ack", |_, args| Some(Ack::from_args(args)));
        })
        .listen()
        .unwrap();
    (server, seen)
}

/// Runs the stock client against every address (both transports each).
fn stock_clients(addrs: &[SocketAddr]) {
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
    let args: Vec<&str> = urls.iter().map(String::as_str).collect();
    let out = run_node("listeners.mjs", &args);
    let cases: Vec<String> = urls
        .iter()
        .flat_map(|u| [format!("{u} websocket"), format!("{u} polling")])
        .collect();
    assert_cases(&out, &cases.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Whether this machine has an IPv6 loopback to test on.
fn ipv6_loopback() -> bool {
    match TcpListener::bind("[::1]:0") {
        Ok(_) => true,
        Err(e) => {
            println!("note: no IPv6 loopback here ({e}); IPv6 cases skipped");
            false
        }
    }
}

#[test]
fn serves_an_already_bound_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (server, seen) = start(Server::builder().listener(listener));
    assert_eq!(server.local_addrs(), [addr]);
    stock_clients(&[addr]);
    // Several raw clients too, so both workers' duplicates of the socket get to accept.
    for _ in 0..4 {
        RawWs::sio_connect(addr, "/");
    }
    assert!(seen.lock().unwrap().len() >= 6);
    server.shutdown();
}

#[test]
fn serves_ipv6_loopback() {
    if !ipv6_loopback() {
        return;
    }
    let (server, seen) = start(Server::builder().listen_on(["[::1]:0".parse().unwrap()]));
    let addr = server.local_addr();
    assert!(addr.is_ipv6() && addr.port() != 0, "{addr}");
    stock_clients(&[addr]);
    let (mut ws, _) = RawWs::sio_connect(addr, "/");
    ws.send_text(r#"421["message-with-ack","v6"]"#);
    assert_eq!(ws.next_text(), r#"431["v6"]"#);
    let seen = seen.lock().unwrap();
    assert!(!seen.is_empty());
    for peer in seen.iter() {
        let ip = peer.expect("a handshake without its address").ip();
        assert_eq!(ip, "::1".parse::<std::net::IpAddr>().unwrap());
    }
    server.shutdown();
}

#[test]
fn serves_several_addresses_at_once() {
    let second = if ipv6_loopback() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let (server, _) = start(Server::builder().configure(|c| {
        c.listen = format!("127.0.0.1:0,{second}").parse().unwrap();
    }));
    let addrs = server.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0], addrs[1]);
    stock_clients(&addrs);
    server.shutdown();
}

#[test]
fn a_second_server_on_a_served_port_fails_with_addr_in_use() {
    let first = ServerProcess::start("conformance", &[]);
    // Another process, the same program: it must fail, not share the port.
    let mut second = Command::new(example_binary("conformance"))
        .env("VOLLEY_LISTEN", first.addr.to_string())
        .env("VOLLEY_WORKERS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = wait_until(Duration::from_secs(20), || {
        matches!(second.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = second.kill();
        panic!("a second server started on {}", first.addr);
    }
    let status = second.wait().unwrap();
    let mut stderr = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success());
    assert!(stderr.contains("AddrInUse"), "{stderr}");
    stock_clients(&[first.addr]);
    // In one process the error is typed.
    let taken = Server::builder()
        .configure(|c| c.listen = first.addr.into())
        .listen();
    match taken {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second server started on {}", first.addr),
    }
}

/// `conformance` started as systemd starts a socket-activated service: `listener` at
/// descriptor 3, `LISTEN_FDS=1`, `LISTEN_PID` its own pid (set by a shell that then execs it).
fn socket_activated(listener: &TcpListener, listen_pid: Option<&str>) -> Command {
    let binary = example_binary("conformance");
    let pid = listen_pid.unwrap_or("$$");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("LISTEN_PID={pid} exec \"$0\""))
        .arg(&binary)
        .env("VOLLEY_LISTEN", "systemd")
        .env("LISTEN_FDS", "1")
        .env("VOLLEY_WORKERS", "2");
    let fd = listener.as_raw_fd();
    // SAFETY: the closure runs in the child between fork and exec and calls only dup2 and
    // fcntl, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 leaves the copy without close-on-exec; a listener already at 3 keeps the flag.
            if fd == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

#[test]
fn serves_a_systemd_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let child = socket_activated(&listener, None)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut server = ServerProcess {
        child,
        addr,
        binary: example_binary("conformance"),
    };
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), format!("conformance listening on {addr}"));
    stock_clients(&[addr]);
    drop(server);

    // Variables meant for another process are refused by name.
    let out = socket_activated(&listener, Some("1")).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LISTEN_PID"), "{stderr}");
}
