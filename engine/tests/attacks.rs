//! Known attack classes against the reference stack (engine.io, socket.io and ws security
//! advisories), replayed byte for byte against Volley on whichever backend `VOLLEY_BACKEND`
//! selects: hostile session ids, malformed polling bodies, protocol-revision mismatches on
//! upgrade, header floods and slow heads, bad WebSocket handshakes, crafted frames and resets.
//! Every refused request must get a complete answer (a status, a `Content-Length` and that many
//! bytes) or a close, never a hang, and the server must go on serving everyone else.
//!
//! Where the reference answers differently the comments say so; `interop/node_modules` holds the
//! versions checked (engine.io 6.6, ws 8.23).

mod common;

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::polling::{get, post, session};
use common::{Board, Got, RawWs};
use volley::config::Config;
use volley::proto::eio::{Sid, SidRng};
use volley::proto::http;
use volley::server::{Ack, Server};

const UNKNOWN_SID: &str = r#"{"code":1,"message":"Session ID unknown"}"#;
const BAD_REQUEST: &str = r#"{"code":3,"message":"Bad request"}"#;

/// The longest any single wait in this file may take before it counts as a hang.
const WAIT: Duration = Duration::from_secs(5);

/// A valid upgrade's headers (RFC 6455 §1.3's sample key).
const UPGRADE: &str = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

/// A two-worker Socket.IO server with an `echo` ack handler on `/` whose disconnect reasons
/// land in `board` (by socket id), with `tweak` applied to the test settings.
fn start(board: &Board, tweak: impl FnOnce(&mut Config)) -> Server {
    let board = board.clone();
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.max_payload = 10_000;
            c.ping_interval = Duration::from_secs(30);
            c.close_timeout = Duration::from_millis(300);
            tweak(c);
        })
        .namespace("/", move |ns| {
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            let b = board.clone();
            ns.on_disconnect(move |s, reason| b.set(s.id().to_string(), reason.as_str()));
        })
        .listen()
        .unwrap()
}

/// An existing polling session still answers an ack (`n` tells the round trips apart).
fn echoes(addr: SocketAddr, sid: &str, n: u32) {
    assert_eq!(
        post(addr, sid, &format!("42{n}[\"echo\",{n}]")),
        (200, "ok".to_string()),
        "session {sid} no longer takes packets"
    );
    assert_eq!(get(addr, sid), (200, format!("43{n}[{n}]")));
}

/// A new client connects, joins `/` and gets its ack, all within a second.
fn still_serving(addr: SocketAddr) {
    let t = Instant::now();
    let (sid, _) = session(addr);
    echoes(addr, &sid, 7);
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "a normal client took {took:?}"
    );
}

/// What came back on one connection: the bytes, and whether the server ended the connection
/// (EOF or reset) rather than the read timing out.
fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> (Vec<u8>, bool) {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(wait)).unwrap();
    // A flood may be cut off by the server's answer: what it read is what counts.
    let _ = sock.write_all(request);
    read_all(&mut sock)
}

/// Reads until EOF, a reset or the socket's read timeout; true when the server ended it.
fn read_all(sock: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match sock.read(&mut chunk) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (got, false)
            }
            Err(_) => return (got, true),
        }
    }
}

/// A complete HTTP answer: status, head and body.
struct Reply {
    status: u16,
    head: http::Response,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.header(name)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Parses `bytes` as exactly one complete response: a head with `Content-Length` and that many
/// body bytes, nothing missing and nothing after.
fn parse_complete(what: &str, bytes: &[u8]) -> Reply {
    let head = http::parse_response(bytes, &http::Limits::default())
        .unwrap_or_else(|e| panic!("{what}: bad response head ({e}): {bytes:?}"))
        .unwrap_or_else(|| {
            panic!(
                "{what}: no complete response head in {:?}",
                String::from_utf8_lossy(bytes)
            )
        });
    let body = bytes[head.head_len..].to_vec();
    let length: usize = head
        .header("Content-Length")
        .unwrap_or_else(|| panic!("{what}: answer without Content-Length"))
        .parse()
        .unwrap();
    assert_eq!(
        length,
        body.len(),
        "{what}: Content-Length {length} but {} body bytes: {:?}",
        body.len(),
        String::from_utf8_lossy(&body)
    );
    Reply {
        status: head.status,
        head,
        body,
    }
}

/// Sends `request` on its own connection and returns the one complete answer; panics on a hang,
/// a close without an answer, or an incomplete answer.
fn complete(what: &str, addr: SocketAddr, request: &[u8]) -> Reply {
    let (bytes, ended) = exchange(addr, request, WAIT);
    assert!(ended, "{what}: connection still open after {WAIT:?}");
    parse_complete(what, &bytes)
}

/// A request on `/socket.io/` with `query`; POSTs get a `Content-Length` for `body`.
fn request(method: &str, query: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let length = if method == "POST" {
        format!("Content-Length: {}\r\n", body.len())
    } else {
        String::new()
    };
    let mut r = format!(
        "{method} /socket.io/?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}{length}\r\n"
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// A WebSocket upgrade on `/socket.io/?query` with `headers` (the upgrade's own included).
fn upgrade(query: &str, headers: &str) -> Vec<u8> {
    format!("GET /socket.io/?{query} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
}

/// Opens the WebSocket for polling session `sid`, probes it and completes the upgrade; the
/// session then answers an ack over it.
fn upgrade_completes(addr: SocketAddr, sid: &str) {
    let mut ws = RawWs::connect(
        addr,
        &format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"),
    );
    ws.send_text("2probe");
    assert_eq!(ws.read(), Got::Text("3probe".into()));
    ws.send_text("5");
    ws.send_text("429[\"echo\",\"upgraded\"]");
    assert_eq!(ws.next_text(), "439[\"upgraded\"]");
}

/// Prototype pollution through the session table: the reference keeps its sessions in a plain
/// object keyed by sid, where an index or `in` lookup of `__proto__` or `constructor` finds
/// `Object.prototype` members instead of nothing (engine.io guards it with
/// `hasOwn(this.clients, sid)` in `verify`).
/// With them come odd sids: empty, 10 KB, NUL, non-ASCII and invalid UTF-8, and well-formed ids
/// of no session, owned by the other worker or by a worker that does not exist. Each polling GET
/// and POST and each WebSocket upgrade naming one gets 400 and the reference's JSON, no session
/// opens, and a session that was already there goes on.
///
/// An empty `sid=` is no sid at all, as in the reference (`if (sid)`): a GET is a handshake,
/// a POST is a handshake with the wrong method (code 2).
#[test]
fn prototype_names_and_odd_sids_are_unknown_sessions() {
    let board = Board::default();
    // Node's default head limit (16 KiB), so the 10 KB sid reaches the session lookup.
    let server = start(&board, |c| c.max_header_bytes = 16 * 1024);
    let addr = server.local_addr();
    let (bystander, _) = session(addr);
    let mut rng = SidRng::new().unwrap();
    let long = "A".repeat(10 * 1024);
    let other_worker = Sid::generate(1, &mut rng).as_str().to_string();
    let own_worker = Sid::generate(0, &mut rng).as_str().to_string();
    let no_worker = Sid::generate(u16::MAX, &mut rng).as_str().to_string();
    let sids: Vec<&str> = vec![
        "__proto__",
        "constructor",
        "toString",
        "hasOwnProperty",
        "prototype",
        "valueOf",
        "__defineGetter__",
        &long,
        "%00",
        "AAAAAAAAA%00AAAAAAAAAA",
        "%C3%A9%E2%82%AC",
        "%FF%FE",
        "..%2F..%2F",
        &other_worker,
        &own_worker,
        &no_worker,
    ];
    let sessions = server.handle().stats().sessions;
    for sid in sids {
        let shown = &sid[..sid.len().min(40)];
        let q = format!("EIO=4&transport=polling&sid={sid}");
        let ws = format!("EIO=4&transport=websocket&sid={sid}");
        for (what, req) in [
            ("GET", request("GET", &q, "", b"")),
            ("POST", request("POST", &q, "", b"40")),
            ("upgrade", upgrade(&ws, UPGRADE)),
        ] {
            let is_upgrade = what == "upgrade";
            let what = format!("{what} sid={shown:?}");
            let reply = complete(&what, addr, &req);
            assert_eq!(reply.status, 400, "{what}: {}", reply.text());
            if is_upgrade {
                // The reference's `abortUpgrade`: the bare message as text/html.
                assert_eq!(reply.header("Content-Type"), Some("text/html"), "{what}");
                assert_eq!(reply.text(), "Session ID unknown", "{what}");
            } else {
                assert_eq!(
                    reply.header("Content-Type"),
                    Some("application/json"),
                    "{what}"
                );
                assert_eq!(reply.text(), UNKNOWN_SID, "{what}");
            }
        }
    }
    // An empty sid is none: the GET opens a session, the POST is a handshake by POST.
    let reply = complete(
        "GET sid=",
        addr,
        &request("GET", "EIO=4&transport=polling&sid=", "", b""),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.text().starts_with("0{"), "{}", reply.text());
    let reply = complete(
        "POST sid=",
        addr,
        &request("POST", "EIO=4&transport=polling&sid=", "", b"40"),
    );
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("\"code\":2"), "{}", reply.text());
    let sessions = sessions + 1;
    // Raw bytes the request target may not hold: refused by the HTTP parser, still answered.
    for target in [
        &b"sid=\xc3\xa9\xe2\x82\xac"[..],
        b"sid=a\x00b",
        b"sid=a\x7fb",
    ] {
        let mut req = b"GET /socket.io/?EIO=4&transport=polling&".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let reply = complete(&format!("raw {target:?}"), addr, &req);
        assert_eq!(reply.status, 400, "raw {target:?}: {}", reply.text());
    }
    assert_eq!(
        server.handle().stats().sessions,
        sessions,
        "a refused request opened a session"
    );
    echoes(addr, &bystander, 1);
    still_serving(addr);
    assert_eq!(board.len(), 0, "a session ended");
    server.shutdown();
}

/// CVE-2022-41940 (a crafted HTTP request threw an uncaught exception and killed the
/// engine.io process) and CVE-2020-36048 (polling payloads too large for memory): malformed
/// POST bodies — binary garbage sent as `application/octet-stream`, `b` with invalid base64, a
/// payload of nothing but separators, a payload cut off after its separator or inside a UTF-8
/// character, one over `maxPayload` — each get a complete 400 (413 for the size) with a
/// `Content-Length`, never a hang or a close before the answer; the session that sent it ends,
/// and a session beside it goes on.
///
/// The reference answers these bodies `200 ok` (and decodes invalid base64 leniently, keeping
/// the session); Volley refuses them with 400 as the Engine.IO compliance suite expects (see
/// `EioEndpoint::on_body`).
#[test]
fn malformed_polling_bodies_get_a_complete_400_and_end_only_their_session() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (bystander, bystander_socket) = session(addr);
    let octet = "Content-Type: application/octet-stream\r\n";
    let cases: [(&str, &str, &[u8]); 7] = [
        (
            "octet-stream garbage",
            octet,
            b"\xff\x00\x01\x02garbage\x1e\xfe",
        ),
        ("b + invalid base64", "", b"b!!!notbase64"),
        ("b + base64 with a hole", "", b"baGVs bG8="),
        ("only separators", "", b"\x1e\x1e"),
        ("a lone separator", "", b"\x1e"),
        ("cut after a separator", "", b"42[\"echo\",1]\x1e"),
        ("cut inside a UTF-8 character", "", b"42[\"echo\",\"caf\xc3"),
    ];
    for (what, extra, body) in cases {
        let (sid, socket) = session(addr);
        let q = format!("EIO=4&transport=polling&sid={sid}");
        let reply = complete(what, addr, &request("POST", &q, extra, body));
        assert_eq!(reply.status, 400, "{what}: {}", reply.text());
        assert_eq!(reply.text(), BAD_REQUEST, "{what}");
        assert!(
            board.wait(&socket, WAIT).is_some(),
            "{what}: the session did not end"
        );
        assert_eq!(get(addr, &sid), (400, UNKNOWN_SID.to_string()), "{what}");
    }
    // Over maxPayload, announced or chunked: 413 before the body is buffered.
    let (sid, _) = session(addr);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let big = vec![b'4'; 10_001];
    let reply = complete("over maxPayload", addr, &request("POST", &q, "", &big));
    assert_eq!(reply.status, 413);
    let (sid, _) = session(addr);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let mut req = format!(
        "POST /socket.io/?{q} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Transfer-Encoding: chunked\r\n\r\n2711\r\n"
    )
    .into_bytes();
    req.extend_from_slice(&big);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let reply = complete("chunked over maxPayload", addr, &req);
    assert_eq!(reply.status, 413);
    assert_eq!(board.get(&bystander_socket), None);
    echoes(addr, &bystander, 1);
    still_serving(addr);
    server.shutdown();
}

/// A client that sends a complete request and then its FIN (a half-close: `shutdown(SHUT_WR)`,
/// as `nc -N` or an HTTP/1.0-style client does) still gets the answer, then the server's FIN, as
/// from the reference (Node answers and then ends the connection): a polling handshake, with
/// and without `Connection: close`, and a POST for a session.
#[test]
fn a_request_followed_by_the_clients_fin_is_answered() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (sid, _) = session(addr);
    let handshake = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n";
    for (what, req) in [
        ("a handshake", format!("{handshake}\r\n")),
        (
            "a handshake with Connection: close",
            format!("{handshake}Connection: close\r\n\r\n"),
        ),
        (
            "a POST",
            format!(
                "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
                 Content-Length: 1\r\n\r\n6"
            ),
        ),
    ] {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        sock.write_all(req.as_bytes()).unwrap();
        sock.shutdown(std::net::Shutdown::Write).unwrap();
        let (bytes, ended) = read_all(&mut sock);
        assert!(!bytes.is_empty(), "{what}: no answer (ended: {ended})");
        assert!(ended, "{what}: no FIN from the server within 2 s");
        let reply = parse_complete(what, &bytes);
        assert_eq!(reply.status, 200, "{what}: {}", reply.text());
    }
    server.shutdown();
}

/// A client that half-closes in the middle of a request — half a head, or half a POST body (the
/// truncated payload: the head announces 100 bytes, 10 come) — sees the server close its side
/// too, promptly (with or without a 400 first), instead of waiting on a connection the server
/// has already dropped.
#[test]
fn a_client_that_half_closes_mid_request_sees_the_server_close() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (sid, _) = session(addr);
    for (what, req) in [
        (
            "half a head",
            "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-A: b".to_string(),
        ),
        (
            "half a body",
            format!(
                "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
                 Content-Length: 100\r\n\r\n42[\"echo\","
            ),
        ),
    ] {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        sock.write_all(req.as_bytes()).unwrap();
        sock.shutdown(std::net::Shutdown::Write).unwrap();
        let (bytes, ended) = read_all(&mut sock);
        assert!(ended, "{what}: no FIN from the server within 2 s");
        if !bytes.is_empty() {
            let reply = parse_complete(what, &bytes);
            assert_eq!(reply.status, 400, "{what}: {}", reply.text());
        }
    }
    server.shutdown();
}

/// The session of a POST whose body the client cut off (it half-closes after 10 of the 100
/// bytes announced) ends as in the reference, whose polling transport calls
/// `onError("data request connection closed prematurely")` when the request closes before its
/// end: `transport error`. A session beside it goes on.
#[test]
fn a_post_body_cut_off_by_the_client_ends_its_session() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (bystander, _) = session(addr);
    let (sid, socket) = session(addr);
    let mut sock = TcpStream::connect(addr).unwrap();
    write!(
        sock,
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Length: 100\r\n\r\n42[\"echo\","
    )
    .unwrap();
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        board.wait(&socket, WAIT).as_deref(),
        Some("transport error"),
        "the session of the cut-off POST did not end"
    );
    assert_eq!(get(addr, &sid), (400, UNKNOWN_SID.to_string()));
    echoes(addr, &bystander, 1);
    server.shutdown();
}

/// The reference's polling transport refuses any `Content-Type: application/octet-stream` POST
/// of an Engine.IO v4 session (`onDataRequest`: `onError("invalid content")`, then 400), since v4
/// sends binary as `b` + base64 in text payloads: the body is not read, the session ends with
/// `transport error`. A well-formed payload sent that way must not be taken either.
#[test]
fn octet_stream_posts_are_refused_like_the_reference() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (sid, socket) = session(addr);
    let q = format!("EIO=4&transport=polling&sid={sid}");
    let reply = complete(
        "octet-stream POST",
        addr,
        &request(
            "POST",
            &q,
            "Content-Type: application/octet-stream\r\n",
            b"42[\"echo\",1]",
        ),
    );
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        board.wait(&socket, WAIT).as_deref(),
        Some("transport error")
    );
    assert_eq!(get(addr, &sid), (400, UNKNOWN_SID.to_string()));
    still_serving(addr);
    server.shutdown();
}

/// Protocol-revision confusion on upgrade (a session opened with `EIO=4` upgraded by a request
/// that says `EIO=3`, `EIO=5` or nothing): the upgrade is refused with 400 before anything
/// changes, no 101 is sent, and the session goes on polling and can still be upgraded properly.
#[test]
fn an_upgrade_naming_another_protocol_revision_is_refused_and_polling_goes_on() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (sid, socket) = session(addr);
    for (n, eio) in ["EIO=3&", "EIO=5&", "", "EIO=4x&"].into_iter().enumerate() {
        let what = format!("upgrade with {eio:?}");
        let q = format!("{eio}transport=websocket&sid={sid}");
        let reply = complete(&what, addr, &upgrade(&q, UPGRADE));
        assert_eq!(reply.status, 400, "{what}: {}", reply.text());
        // The reference's `abortUpgrade`: the bare message as text/html.
        assert_eq!(reply.header("Content-Type"), Some("text/html"), "{what}");
        assert_eq!(reply.text(), "Bad request", "{what}");
        echoes(addr, &sid, n as u32 + 1);
    }
    assert_eq!(board.get(&socket), None, "the session ended");
    upgrade_completes(addr, &sid);
    server.shutdown();
}

/// The exact refusal of a request for an existing session that names another protocol
/// revision: engine.io 6.6's `verify` compares the request's revision (`EIO=4` is 4, anything
/// else 3) with the session's and answers `{"code":3,"message":"Bad request"}`
/// (`PROTOCOL_MISMATCH`) to polling requests, and `Bad request` as text/html to upgrades
/// (`abortUpgrade`); code 5 ("Unsupported protocol version") is only for handshakes, which carry
/// no sid.
#[test]
fn a_protocol_mismatch_on_an_existing_session_gets_the_reference_code() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (sid, _) = session(addr);
    for eio in ["EIO=3&", "EIO=5&", ""] {
        let ws = format!("{eio}transport=websocket&sid={sid}");
        let polling = format!("{eio}transport=polling&sid={sid}");
        for (what, req) in [
            ("upgrade", upgrade(&ws, UPGRADE)),
            ("GET", request("GET", &polling, "", b"")),
            ("POST", request("POST", &polling, "", b"6")),
        ] {
            let expected = if what == "upgrade" {
                "Bad request"
            } else {
                BAD_REQUEST
            };
            let what = format!("{what} with {eio:?}");
            let reply = complete(&what, addr, &req);
            assert_eq!(reply.status, 400, "{what}");
            assert_eq!(reply.text(), expected, "{what}");
        }
    }
    echoes(addr, &sid, 1);
    server.shutdown();
}

/// The answer to a flood: the status if a response head came, after the server ended the
/// connection (a flood may be cut off by a close, or its answer lost to a reset when the server
/// closes with bytes of it unread). Panics if the connection is still open after `WAIT`.
fn flood_status(what: &str, addr: SocketAddr, request: &[u8]) -> Option<u16> {
    let (bytes, ended) = exchange(addr, request, WAIT);
    assert!(ended, "{what}: still open after {WAIT:?}");
    match http::parse_response(&bytes, &http::Limits::default()) {
        Ok(Some(resp)) => Some(resp.status),
        _ => {
            assert!(
                bytes.is_empty(),
                "{what}: a partial answer: {:?}",
                String::from_utf8_lossy(&bytes)
            );
            None
        }
    }
}

/// CVE-2024-37890 (ws: an upgrade with more headers than `server.maxHeadersCount` lost its
/// `Sec-WebSocket-Key` and crashed the server) and header floods in general: one header past
/// `max_headers` gets a complete 431; 10,000 header lines (on an upgrade with the key last, and
/// on a polling handshake) and a 1 MB header value get 431 or a close, never a 101 or a session;
/// a normal client is served promptly after each.
#[test]
fn header_floods_get_431_and_open_nothing() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let sessions = server.handle().stats().sessions;
    let mut over: String = (0..33).map(|i| format!("X-H{i}: v\r\n")).collect();
    over.push_str(UPGRADE);
    let reply = complete(
        "33 headers",
        addr,
        &upgrade("EIO=4&transport=websocket", &over),
    );
    assert_eq!(reply.status, 431);
    let lines: String = (0..10_000).map(|i| format!("X-Flood-{i}: v\r\n")).collect();
    let cases = [
        (
            "10,000 header lines before the key",
            upgrade("EIO=4&transport=websocket", &format!("{lines}{UPGRADE}")),
        ),
        (
            "10,000 header lines on a polling handshake",
            request("GET", "EIO=4&transport=polling", &lines, b""),
        ),
        (
            "a 1 MB header value",
            request(
                "GET",
                "EIO=4&transport=polling",
                &format!("X-Big: {}\r\n", "a".repeat(1 << 20)),
                b"",
            ),
        ),
        (
            "a 1 MB request line",
            request(
                "GET",
                &format!("EIO=4&transport=polling&x={}", "a".repeat(1 << 20)),
                "",
                b"",
            ),
        ),
    ];
    for (what, req) in cases {
        let status = flood_status(what, addr, &req);
        assert!(matches!(status, None | Some(431)), "{what}: got {status:?}");
        still_serving(addr);
    }
    // Only the sessions `still_serving` opened.
    assert_eq!(server.handle().stats().sessions, sessions + 4);
    server.shutdown();
}

/// Writes `bytes` one at a time, `gap` apart, until the peer closes or `stop` is set.
fn dribble(mut sock: TcpStream, bytes: Vec<u8>, gap: Duration, stop: Arc<AtomicBool>) {
    for b in bytes {
        if stop.load(Ordering::Relaxed) || sock.write_all(&[b]).is_err() {
            return;
        }
        std::thread::sleep(gap);
    }
}

/// Slowloris: a request head dribbled one byte every 10 ms never completes within the
/// handshake timeout, so it gets 408 (or a close) when the timeout passes, counted from the
/// connection's start, not reset by each byte. R.U.D.Y., the same with a POST body: the head
/// completes, the body never does, and the connection is cut the same way. A normal client is
/// served meanwhile.
#[test]
fn heads_and_bodies_dribbled_byte_by_byte_time_out() {
    let timeout = Duration::from_millis(400);
    let board = Board::default();
    let server = start(&board, |c| c.handshake_timeout = timeout);
    let addr = server.local_addr();
    let (bystander, _) = session(addr);
    let (sid, _) = session(addr);
    let head = format!(
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(400)
    );
    let mut body_head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Length: 1000\r\n\r\n"
    )
    .into_bytes();
    for (what, preface, slow) in [
        ("a dribbled head", Vec::new(), head.into_bytes()),
        (
            "a dribbled body",
            std::mem::take(&mut body_head),
            vec![b'6'; 1000],
        ),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let started = Instant::now();
        sock.write_all(&preface).unwrap();
        let writer = {
            let (sock, stop) = (sock.try_clone().unwrap(), stop.clone());
            std::thread::spawn(move || dribble(sock, slow, Duration::from_millis(10), stop))
        };
        // Served while the dribble goes on.
        std::thread::sleep(Duration::from_millis(100));
        still_serving(addr);
        let (bytes, ended) = read_all(&mut sock);
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(ended, "{what}: still open after {took:?}");
        assert!(
            took >= timeout - Duration::from_millis(50) && took < timeout * 4,
            "{what}: cut after {took:?} (handshake timeout {timeout:?})"
        );
        if !bytes.is_empty() {
            let reply = parse_complete(what, &bytes);
            assert_eq!(reply.status, 408, "{what}: {}", reply.text());
        }
    }
    echoes(addr, &bystander, 1);
    server.shutdown();
}

/// Threads of this process named `volley-worker-*`.
fn worker_threads() -> HashSet<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|tid| {
            std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                .is_ok_and(|c| c.starts_with("volley-worker"))
        })
        .collect()
}

/// CPU time (user + system) the threads `tids` have used.
fn cpu_time(tids: &HashSet<String>) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks: u64 = tids
        .iter()
        .filter_map(|tid| std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok())
        .map(|stat| {
            // Fields after the command name (which may hold spaces): state is the 3rd field,
            // utime the 14th, stime the 15th.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
        })
        .sum();
    Duration::from_millis(ticks * 1000 / hz)
}

/// Resident memory of this process.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Many connections each sending part of a head (just short of `max_header_bytes`) and then
/// nothing: while they are held the server's workers stay idle and its memory bounded, a normal
/// client is served promptly, and when the handshake timeout passes every one of them gets 408
/// or a close and the connection count goes back down.
#[test]
fn many_partial_heads_are_shed_and_others_still_served() {
    const CONNS: usize = 300;
    let timeout = Duration::from_millis(1500);
    let board = Board::default();
    let before = worker_threads();
    let server = start(&board, |c| c.handshake_timeout = timeout);
    // This server's workers (and any other test's started at the same moment: idle ones only
    // make the bound looser).
    let workers: HashSet<String> = worker_threads().difference(&before).cloned().collect();
    assert!(!workers.is_empty(), "no volley-worker threads found");
    let addr = server.local_addr();
    let (sid, _) = session(addr);
    let rss = rss_bytes();
    let partial = format!(
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Pad: {}",
        "a".repeat(7000)
    );
    let started = Instant::now();
    let mut held: Vec<TcpStream> = (0..CONNS)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(partial.as_bytes()).unwrap();
            s
        })
        .collect();
    let stats = server.handle();
    assert!(
        common::wait_until(WAIT, || stats.stats().connections >= CONNS),
        "only {} of {CONNS} connections counted",
        stats.stats().connections
    );
    let cpu = cpu_time(&workers);
    let window = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    still_serving(addr);
    echoes(addr, &sid, 1);
    std::thread::sleep(Duration::from_millis(300));
    let used = cpu_time(&workers).saturating_sub(cpu);
    let spent = window.elapsed();
    assert!(
        used < spent / 2,
        "workers used {used:?} of CPU in {spent:?} with {CONNS} idle partial heads"
    );
    let grown = rss_bytes().saturating_sub(rss);
    assert!(
        grown < 64 << 20,
        "memory grew by {} MiB for {CONNS} partial heads of 7 KB",
        grown >> 20
    );
    assert!(
        started.elapsed() < timeout,
        "setting up took past the handshake timeout; the test proves nothing"
    );
    for (i, sock) in held.iter_mut().enumerate() {
        sock.set_read_timeout(Some(WAIT)).unwrap();
        let (bytes, ended) = read_all(sock);
        assert!(
            ended,
            "partial head {i} still open after the handshake timeout"
        );
        if !bytes.is_empty() {
            let reply = parse_complete("partial head", &bytes);
            assert_eq!(reply.status, 408, "partial head {i}: {}", reply.text());
        }
    }
    let took = started.elapsed();
    assert!(
        took < timeout * 3,
        "the partial heads were cut after {took:?}"
    );
    drop(held);
    assert!(
        common::wait_until(WAIT, || stats.stats().connections == 0),
        "{} connections left",
        stats.stats().connections
    );
    still_serving(addr);
    server.shutdown();
}

/// An upgrade request on `query` with the upgrade's own headers, then `key_and_version`.
fn upgrade_with(query: &str, key_and_version: &str) -> Vec<u8> {
    upgrade(
        query,
        &format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{key_and_version}"),
    )
}

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
const V13: &str = "Sec-WebSocket-Version: 13\r\n";

/// `Sec-WebSocket-Key` lines the handshake must refuse with 400, after `ws`'s `handleUpgrade`
/// (the reference's WebSocket server): Node joins repeated headers with ", ", which never
/// matches ws's key pattern (`/^[+/0-9A-Za-z]{22}==$/`), so two keys are refused whether they
/// differ or not; a missing key, and keys that are not 16 bytes in base64, are refused too.
fn bad_keys() -> Vec<(&'static str, String)> {
    vec![
        (
            "two different keys",
            format!("{KEY}Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n"),
        ),
        ("the same key twice", format!("{KEY}{KEY}")),
        ("no key", String::new()),
        ("an empty key", "Sec-WebSocket-Key: \r\n".into()),
        ("a 3-byte key", "Sec-WebSocket-Key: AQID\r\n".into()),
        (
            "a 15-byte key",
            "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4P\r\n".into(),
        ),
        (
            "an 18-byte key",
            "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEBES\r\n".into(),
        ),
        (
            "a key without its padding",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n".into(),
        ),
        (
            "a key with a character outside base64",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==\r\n".into(),
        ),
    ]
}

/// Refuses each bad key with a complete 400 on a new WebSocket session, and a version other
/// than 13 (8, 7, none) with 426 and `Sec-WebSocket-Version: 13`, as RFC 6455 §4.2.2 and §4.4
/// require. No session opens. (`ws` answers a bad version with 400 and `Sec-WebSocket-Version:
/// 13, 8`, and takes version 8, the hybi-08 draft; Volley speaks only RFC 6455.)
#[test]
fn websocket_handshakes_with_bad_keys_or_versions_are_refused() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let sessions = server.handle().stats().sessions;
    let q = "EIO=4&transport=websocket";
    for (what, keys) in bad_keys() {
        let reply = complete(what, addr, &upgrade_with(q, &format!("{keys}{V13}")));
        assert_eq!(reply.status, 400, "{what}: {}", reply.text());
    }
    for (what, version) in [
        ("version 8", "Sec-WebSocket-Version: 8\r\n"),
        ("version 7", "Sec-WebSocket-Version: 7\r\n"),
        (
            "versions 13 and 8 in one header",
            "Sec-WebSocket-Version: 13, 8\r\n",
        ),
        ("no version", ""),
    ] {
        let reply = complete(what, addr, &upgrade_with(q, &format!("{KEY}{version}")));
        assert_eq!(reply.status, 426, "{what}: {}", reply.text());
        assert_eq!(reply.header("Sec-WebSocket-Version"), Some("13"), "{what}");
    }
    assert_eq!(
        server.handle().stats().sessions,
        sessions,
        "a session opened"
    );
    still_serving(addr);
    server.shutdown();
}

/// The same keys on the upgrade of an existing polling session: each is refused with 400 and
/// changes nothing, so the session goes on polling and a proper upgrade still completes.
#[test]
fn upgrades_of_a_session_with_bad_keys_are_refused_and_polling_goes_on() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (sid, socket) = session(addr);
    let q = format!("EIO=4&transport=websocket&sid={sid}");
    for (n, (what, keys)) in bad_keys().into_iter().enumerate() {
        let reply = complete(what, addr, &upgrade_with(&q, &format!("{keys}{V13}")));
        assert_eq!(reply.status, 400, "{what}: {}", reply.text());
        echoes(addr, &sid, n as u32 + 1);
    }
    assert_eq!(board.get(&socket), None, "the session ended");
    upgrade_completes(addr, &sid);
    server.shutdown();
}

/// RFC 6455 §4.2.2 / §4.4 on the upgrade of an existing session: a version the server does not
/// speak is refused with 426 and `Sec-WebSocket-Version: 13` (ws sends its
/// `Sec-WebSocket-Version: 13, 8` there too), as for a new WebSocket session; the polling session
/// goes on.
#[test]
fn upgrades_of_a_session_with_a_bad_version_get_426() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (sid, _) = session(addr);
    let q = format!("EIO=4&transport=websocket&sid={sid}");
    for (n, (what, version)) in [
        ("version 8", "Sec-WebSocket-Version: 8\r\n"),
        ("no version", ""),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = complete(what, addr, &upgrade_with(&q, &format!("{KEY}{version}")));
        assert_eq!(reply.status, 426, "{what}: {}", reply.text());
        assert_eq!(reply.header("Sec-WebSocket-Version"), Some("13"), "{what}");
        echoes(addr, &sid, n as u32 + 1);
    }
    upgrade_completes(addr, &sid);
    server.shutdown();
}

/// Sends one masked frame whose first byte is `first` (FIN, RSV bits, opcode) and `payload`.
fn raw_frame(ws: &mut RawWs, first: u8, payload: &[u8]) {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    ws.sock.write_all(&frame).unwrap();
}

/// Closes `sock` with a reset (SO_LINGER 0) instead of a FIN.
fn reset(sock: TcpStream) {
    socket2::SockRef::from(&sock)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(sock);
}

/// CVE-2022-21676 (engine.io crashed on a WebSocket frame with RSV2/RSV3 set, thrown by ws's
/// receiver) and CVE-2022-41940 (engine.io crashed on an ECONNRESET from a socket whose upgrade
/// it refused or did not serve): frames with a reserved bit (RSV1 without permessage-deflate,
/// RSV2, RSV3) close their connection with 1002 and end its session; connections reset right
/// after a refused upgrade, an upgrade for no endpoint, mid-head, mid-body and right after a 101
/// change nothing for anyone else.
#[test]
fn reserved_bits_and_resets_do_not_hurt_the_server() {
    let board = Board::default();
    let server = start(&board, |_| {});
    let addr = server.local_addr();
    let (bystander, bystander_socket) = session(addr);
    for (what, first) in [("RSV1", 0xC1u8), ("RSV2", 0xA1), ("RSV3", 0x91)] {
        let (mut ws, socket) = RawWs::sio_connect(addr, "/");
        raw_frame(&mut ws, first, b"42[\"echo\"]");
        let mut code = None;
        let deadline = Instant::now() + WAIT;
        while let Some(got) = ws.read_within(deadline.saturating_duration_since(Instant::now())) {
            match got {
                Got::Close(c) => {
                    code = c;
                    break;
                }
                Got::Eof => break,
                Got::Text(t) if t == "2" => {}
                other => panic!("{what}: got {other:?}"),
            }
        }
        assert_eq!(code, Some(1002), "{what}: closed without 1002");
        assert!(board.wait(&socket, WAIT).is_some(), "{what}: session lives");
    }
    let unknown = upgrade("EIO=4&transport=websocket&sid=__proto__", UPGRADE);
    let (sid, _) = session(addr);
    let cut_body = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\n\
         Content-Length: 50\r\n\r\n42"
    );
    for (what, bytes) in [
        ("a refused upgrade", unknown),
        (
            "an upgrade for no endpoint",
            format!("GET /elsewhere HTTP/1.1\r\nHost: x\r\n{UPGRADE}\r\n").into_bytes(),
        ),
        (
            "half a head",
            b"GET /socket.io/?EIO=4&transport=pol".to_vec(),
        ),
        ("half a body", cut_body.into_bytes()),
        (
            "a new WebSocket session",
            upgrade("EIO=4&transport=websocket", UPGRADE),
        ),
    ] {
        for wait_for_answer in [false, true] {
            let mut sock = TcpStream::connect(addr).unwrap();
            assert!(sock.write_all(&bytes).is_ok(), "{what}: not sent");
            if wait_for_answer {
                sock.set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let _ = sock.read(&mut [0u8; 64]);
            }
            reset(sock);
            still_serving(addr);
        }
    }
    assert_eq!(board.get(&bystander_socket), None);
    echoes(addr, &bystander, 1);
    server.shutdown();
}
