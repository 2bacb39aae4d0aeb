//! An axum app and Socket.IO on one port: requests for no endpoint hand their whole
//! connection, with the bytes Volley already read, to an axum router served by hyper on a tokio
//! runtime (ServerBuilder::http_handoff); Socket.IO keeps working beside it.

mod common;

use std::io::{self, Write};
use std::net::TcpStream;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::routing::{get, post};
use common::{http_exchange, polling, RawWs};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use volley::server::{Ack, HandedConnection, Server};

/// A handed connection as the application reads it: the bytes Volley read first, then the
/// socket's.
struct Prefixed {
    read: Vec<u8>,
    at: usize,
    stream: tokio::net::TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.read.get(this.at..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Serves one handed connection with `app`, without keep-alive so that the client's next
/// request (Socket.IO's, perhaps) comes on a connection Volley routes.
async fn serve(app: axum::Router, conn: HandedConnection) -> io::Result<()> {
    conn.stream.set_nonblocking(true)?;
    let stream = tokio::net::TcpStream::from_std(conn.stream)?;
    let io = TokioIo::new(Prefixed {
        read: conn.read,
        at: 0,
        stream,
    });
    let service = hyper_util::service::TowerToHyperService::new(app);
    hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(io, service)
        .await
        .map_err(io::Error::other)
}

fn start(rt: &tokio::runtime::Runtime) -> Server {
    let app = axum::Router::new()
        .route("/api/hello", get(|| async { "hello from axum" }))
        .route("/api/echo", post(|body: String| async move { body }));
    let handle = rt.handle().clone();
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
        })
        .namespace("/", |ns| {
            ns.on("ping", |_, _| Ack::one(&"pong").ok());
        })
        .http_handoff(move |conn| {
            let app = app.clone();
            handle.spawn(async move {
                let _ = serve(app, conn).await;
            });
        })
        .listen()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_axum_router_answers_paths_volley_does_not_serve() {
    let rt = runtime();
    let server = start(&rt);
    let addr = server.local_addr();
    // Enough connections to reach both workers.
    for _ in 0..10 {
        let (status, _, body) = http_exchange(addr, b"GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((status, body.as_slice()), (200, &b"hello from axum"[..]));
    }
    let (status, _, _) = http_exchange(addr, b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 404, "axum's own 404");

    // A body in the same packet as the head (Volley read it) and one that comes later (the
    // application reads it from the socket).
    let (status, _, body) = http_exchange(
        addr,
        b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nfirst")
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
    server.shutdown();
}

#[test]
fn socket_io_shares_the_port_with_the_axum_router() {
    let rt = runtime();
    let server = start(&rt);
    let addr = server.local_addr();
    let (mut ws, _) = RawWs::sio_connect(addr, "/");
    let (status, _, body) = http_exchange(addr, b"GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((status, body.as_slice()), (200, &b"hello from axum"[..]));
    ws.send_text("421[\"ping\"]");
    assert_eq!(ws.next_text(), "431[\"pong\"]");
    let (sid, _) = polling::session(addr);
    assert_eq!(
        polling::post(addr, &sid, "421[\"ping\"]"),
        (200, "ok".to_string())
    );
    assert_eq!(polling::get(addr, &sid), (200, "431[\"pong\"]".to_string()));
    drop(ws);
    server.shutdown();
}
