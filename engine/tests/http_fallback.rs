//! Plain HTTP on the Socket.IO port: requests for no endpoint reach the application's
//! fallback handler (GET, POST with both body framings, HEAD, other methods), on keep-alive
//! connections; bodies are bounded; Socket.IO and the metrics path still answer beside it.
//! The README's example (engine/examples/http_fallback.rs) is run as a program and answers
//! what its handler says.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{http_exchange, polling, RawWs};
use volley::proto::http::{self, BodyKind};
use volley::server::{Ack, HttpResponse, Server};

fn start(with_fallback: bool) -> Server {
    let builder = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.max_payload = 1000;
            c.metrics_path = Some("/metrics".into());
        })
        .namespace("/", |ns| {
            ns.on("ping", |_, _| Ack::one(&"pong").ok());
        });
    let builder = if with_fallback {
        builder.http_fallback(|req| match (req.method(), req.path()) {
            ("GET" | "HEAD", "/hello") => HttpResponse::new(200)
                .header("Content-Type", "text/plain")
                .header("X-Name", req.query_param("name").unwrap_or_default())
                .body(format!(
                    "hello {}",
                    req.query_param("name").unwrap_or_default()
                )),
            (method, "/echo") => HttpResponse::new(201)
                .header("X-Method", method)
                .header("X-Type", req.header("content-type").unwrap_or(""))
                // Volley writes these itself: the handler's are dropped.
                .header("Content-Length", "999")
                .header("Transfer-Encoding", "chunked")
                .body(req.body().to_vec()),
            (_, "/close") => HttpResponse::new(200)
                .header("Connection", "close")
                .body("bye"),
            (_, "/informational") => HttpResponse::new(101),
            (_, "/panic") => panic!("handler bug"),
            _ => HttpResponse::not_found(),
        })
    } else {
        builder
    };
    builder.listen().unwrap()
}

/// A client connection that sends requests one after another on the same socket.
struct KeepAlive {
    sock: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    fn connect(addr: SocketAddr) -> Self {
        let sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        KeepAlive {
            sock,
            buf: Vec::new(),
        }
    }

    /// Sends `method path` with `extra` header lines and `body` (a `Content-Length` is added
    /// for a non-empty body unless `extra` frames it), and reads the whole response.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        extra: &str,
        body: &[u8],
    ) -> (u16, http::Response, Vec<u8>) {
        let length = if body.is_empty() || extra.contains("chunked") {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{length}{extra}\r\n").into_bytes();
        req.extend_from_slice(body);
        self.sock.write_all(&req).unwrap();
        self.response(method == "HEAD")
    }

    /// Reads one response; after a HEAD no body follows whatever its `Content-Length`.
    fn response(&mut self, head: bool) -> (u16, http::Response, Vec<u8>) {
        let resp = loop {
            if let Some(r) = http::parse_response(&self.buf, &http::Limits::default()).unwrap() {
                break r;
            }
            self.fill();
        };
        let len = match resp.body {
            BodyKind::Length(n) if !head => n,
            _ => 0,
        };
        while self.buf.len() < resp.head_len + len {
            self.fill();
        }
        let body = self.buf[resp.head_len..resp.head_len + len].to_vec();
        self.buf.drain(..resp.head_len + len);
        (resp.status, resp, body)
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.sock.read(&mut chunk).unwrap();
        assert!(n > 0, "EOF; got {:?}", String::from_utf8_lossy(&self.buf));
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Whether the server closed the connection (EOF with nothing more sent).
    fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 64];
        matches!(self.sock.read(&mut chunk), Ok(0))
    }
}

#[test]
fn get_post_head_and_other_methods_share_one_keep_alive_connection() {
    let server = start(true);
    let mut c = KeepAlive::connect(server.local_addr());

    let (status, resp, body) = c.request("GET", "/hello?name=a%20b", "", b"");
    assert_eq!((status, body.as_slice()), (200, &b"hello a b"[..]));
    assert_eq!(resp.header("X-Name"), Some("a b"));
    assert!(resp.keep_alive);

    let (status, resp, body) = c.request("POST", "/echo", "Content-Type: text/plain\r\n", b"xyz");
    assert_eq!((status, body.as_slice()), (201, &b"xyz"[..]));
    assert_eq!(resp.header("X-Method"), Some("POST"));
    assert_eq!(resp.header("X-Type"), Some("text/plain"));
    assert_eq!(resp.body, BodyKind::Length(3));
    assert_eq!(resp.header("Transfer-Encoding"), None);

    let chunked = b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
    let (status, _, body) = c.request("POST", "/echo", "Transfer-Encoding: chunked\r\n", chunked);
    assert_eq!((status, body.as_slice()), (201, &b"abcdefg"[..]));

    // The head of the GET's answer, no body: the next response parses right after it.
    let (status, resp, _) = c.request("HEAD", "/hello?name=abc", "", b"");
    assert_eq!(status, 200);
    assert_eq!(resp.body, BodyKind::Length(9));

    let (status, resp, body) = c.request("DELETE", "/echo", "", b"");
    assert_eq!((status, body.as_slice()), (201, &b""[..]));
    assert_eq!(resp.header("X-Method"), Some("DELETE"));

    let (status, _, body) = c.request("GET", "/elsewhere", "", b"");
    assert_eq!((status, body.as_slice()), (404, &b"Not Found\n"[..]));

    // A client waiting for `100 Continue` gets it, then the answer.
    let mut req =
        b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
            .to_vec();
    c.sock.write_all(&req).unwrap();
    assert_eq!(c.response(false).0, 100);
    req.clear();
    c.sock.write_all(b"ok").unwrap();
    let (status, resp, body) = c.response(false);
    assert_eq!((status, body.as_slice()), (201, &b"ok"[..]));
    assert_eq!(resp.header("X-Method"), Some("PUT"));

    // The handler may end the connection.
    let (status, resp, body) = c.request("GET", "/close", "", b"");
    assert_eq!((status, body.as_slice()), (200, &b"bye"[..]));
    assert!(!resp.keep_alive);
    assert!(c.closed());
    drop(c);
    server.shutdown();
}

#[test]
fn bodies_past_max_payload_get_413() {
    let server = start(true);
    let mut c = KeepAlive::connect(server.local_addr());
    // At the limit: served.
    let (status, _, body) = c.request("POST", "/echo", "", &[b'a'; 1000]);
    assert_eq!((status, body.len()), (201, 1000));
    // Announced too large: refused before any byte of the body is read.
    let (status, _, _) = c.request("POST", "/echo", "", &[b'a'; 1001]);
    assert_eq!(status, 413);
    assert!(c.closed());

    // Chunked, found too large while reading.
    let mut body = Vec::new();
    for _ in 0..3 {
        body.extend_from_slice(b"190\r\n");
        body.extend_from_slice(&[b'b'; 400]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let mut req = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(&body);
    let (status, _, _) = http_exchange(server.local_addr(), &req);
    assert_eq!(status, 413);
    drop(c);
    server.shutdown();
}

#[test]
fn a_panicking_handler_or_an_informational_status_answers_500() {
    let server = start(true);
    let addr = server.local_addr();
    let get = |path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        http_exchange(addr, req.as_bytes()).0
    };
    assert_eq!(get("/panic"), 500);
    assert_eq!(get("/informational"), 500);
    assert_eq!(get("/hello"), 200);
    server.shutdown();
}

#[test]
fn without_a_fallback_other_paths_get_404() {
    let server = start(false);
    let req = b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(http_exchange(server.local_addr(), req).0, 404);
    let req = b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(http_exchange(server.local_addr(), req).0, 404);
    server.shutdown();
}

#[test]
fn socket_io_and_metrics_are_served_beside_the_fallback() {
    let server = start(true);
    let addr = server.local_addr();

    // WebSocket, with an acknowledgement.
    let (mut ws, _) = RawWs::sio_connect(addr, "/");
    ws.send_text("421[\"ping\"]");
    assert_eq!(ws.next_text(), "431[\"pong\"]");

    // Long-polling, on connections that also carried fallback requests.
    let (sid, _) = polling::session(addr);
    let (status, body) = polling::post(addr, &sid, "421[\"ping\"]");
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, body) = polling::get(addr, &sid);
    assert_eq!((status, body.as_str()), (200, "431[\"pong\"]"));

    let mut c = KeepAlive::connect(addr);
    let (status, _, body) = c.request("GET", "/hello?name=x", "", b"");
    assert_eq!((status, body.as_slice()), (200, &b"hello x"[..]));
    let (status, _, body) = c.request("GET", "/metrics", "", b"");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("volley_"));
    let (status, _, body) = c.request("GET", "/socket.io/?EIO=4&transport=polling", "", b"");
    assert_eq!(status, 200);
    assert!(body.starts_with(b"0{\"sid\":"));
    drop((c, ws));
    server.shutdown();
}

/// A request on its own connection (`Connection: close`): status, head and body.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, http::Response, Vec<u8>) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    http_exchange(addr, &req)
}

#[test]
fn the_readme_example_serves_its_page_health_echo_and_socket_io() {
    let server = common::ServerProcess::start("http_fallback", &[]);
    let addr = server.addr;
    const PAGE: &[u8] = b"<!doctype html><title>hi</title>";

    let (status, head, body) = exchange(addr, "GET", "/", b"");
    assert_eq!((status, body.as_slice()), (200, PAGE));
    assert_eq!(
        head.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let (status, head, body) = exchange(addr, "HEAD", "/", b"");
    assert_eq!((status, body.as_slice()), (200, &b""[..]));
    assert_eq!(head.header("content-length"), Some("32"));
    let (status, _, body) = exchange(addr, "GET", "/health", b"");
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let (status, _, body) = exchange(addr, "POST", "/echo", b"hello volley");
    assert_eq!((status, body.as_slice()), (200, &b"hello volley"[..]));
    for (method, path) in [("GET", "/nowhere"), ("POST", "/health"), ("GET", "/echo")] {
        assert_eq!(exchange(addr, method, path, b"").0, 404, "{method} {path}");
    }

    // Requests one after another on a keep-alive connection.
    let mut c = KeepAlive::connect(addr);
    let (status, _, body) = c.request("GET", "/health", "", b"");
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let (status, _, body) = c.request("POST", "/echo", "", b"again");
    assert_eq!((status, body.as_slice()), (200, &b"again"[..]));

    // Socket.IO on the same port, over WebSocket and long-polling.
    let (mut ws, sid) = RawWs::sio_connect(addr, "/");
    assert!(!sid.is_empty());
    let (status, _, body) = exchange(addr, "GET", "/health", b"");
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    let (eio_sid, _) = polling::session(addr);
    assert_eq!(polling::post(addr, &eio_sid, "41"), (200, "ok".to_string()));
    ws.send_text("41");
    drop((c, ws));
}
