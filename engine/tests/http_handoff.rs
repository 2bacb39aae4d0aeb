//! An axum app and Socket.IO on one port: engine/examples/axum_handoff.rs (the README's
//! hand-off example) is run as a program; requests for no endpoint hand their whole connection,
//! with the bytes Volley already read, to its axum router served by hyper on a tokio runtime
//! (ServerBuilder::http_handoff), and Socket.IO keeps working beside it.

mod common;

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{http_exchange, polling, RawWs, ServerProcess};

fn start() -> ServerProcess {
    ServerProcess::start("axum_handoff", &[])
}

#[test]
fn an_axum_router_answers_paths_volley_does_not_serve() {
    let server = start();
    let addr = server.addr;
    // Enough connections to reach both workers.
    for _ in 0..10 {
        let (status, _, body) = http_exchange(addr, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((status, body.as_slice()), (200, &b"hello from axum"[..]));
    }
    let (status, head, _) = http_exchange(addr, b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 404, "axum's own 404");
    assert!(head.header("date").is_some(), "hyper answered it");

    // A body in the same packet as the head (Volley read it) and one that comes later (the
    // application reads it from the socket).
    let (status, _, body) = http_exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfirst")
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    sock.write_all(b"-last").unwrap();
    let mut all = Vec::new();
    io::Read::read_to_end(&mut sock, &mut all).unwrap();
    assert!(
        all.ends_with(b"first-last"),
        "{}",
        String::from_utf8_lossy(&all)
    );
}

#[test]
fn socket_io_shares_the_port_with_the_axum_router() {
    let server = start();
    let addr = server.addr;
    let (mut ws, _) = RawWs::sio_connect(addr, "/");
    let (status, _, body) = http_exchange(addr, b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((status, body.as_slice()), (200, &b"hello from axum"[..]));
    ws.send_text("421[\"echo\",\"hi\",2]");
    assert_eq!(ws.next_text(), "431[\"hi\",2]");
    let (sid, _) = polling::session(addr);
    assert_eq!(
        polling::post(addr, &sid, "427[\"echo\",{\"a\":1}]"),
        (200, "ok".to_string())
    );
    assert_eq!(
        polling::get(addr, &sid),
        (200, "437[{\"a\":1}]".to_string())
    );
    drop(ws);
}
