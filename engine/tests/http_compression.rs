//! Compressed polling responses (the reference's `httpCompression`) for Socket.IO sessions:
//! gzip or deflate as `Accept-Encoding` asks, only at or above the threshold, and not when
//! every packet of the payload was emitted with `socket.compress(false)`. The raw Engine.IO
//! side (`SendOptions`, `http_compression` off, the threshold) is in the parity suite
//! (`parity/engine_server.rs`, "http compression").

mod common;

use std::io::Read;
use std::net::SocketAddr;
use std::time::Duration;

use common::{http_exchange, polling};
use flate2::read::{GzDecoder, ZlibDecoder};
use volley::server::Server;

fn start() -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.ping_interval = Duration::from_secs(30);
        })
        .namespace("/", |ns| {
            ns.on("big", |socket, _| {
                socket.emit("big", &"x".repeat(2000)).ok();
                None
            });
            ns.on("small", |socket, _| {
                socket.emit("small", "x").ok();
                None
            });
            ns.on("plain", |socket, _| {
                socket.compress(false).emit("plain", &"x".repeat(2000)).ok();
                None
            });
            ns.on("mixed", |socket, _| {
                socket.compress(false).emit("plain", &"x".repeat(2000)).ok();
                socket.emit("small", "x").ok();
                None
            });
        })
        .listen()
        .unwrap()
}

/// Sends event `event` on session `sid`, then polls with `accept` as `Accept-Encoding`: the
/// response's `Content-Encoding` and its body decoded.
fn poll(
    addr: SocketAddr,
    sid: &str,
    event: &str,
    accept: Option<&str>,
) -> (Option<String>, String) {
    let body = format!("42[\"{event}\"]");
    assert_eq!(polling::post(addr, sid, &body), (200, "ok".to_string()));
    let extra = accept.map_or(String::new(), |a| format!("Accept-Encoding: {a}\r\n"));
    let req = format!(
        "GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n"
    );
    let (status, resp, raw) = http_exchange(addr, req.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(resp.header("Vary"), None, "the reference sends no Vary");
    let encoding = resp.header("Content-Encoding").map(str::to_string);
    let mut text = String::new();
    match encoding.as_deref() {
        None => text = String::from_utf8(raw).unwrap(),
        Some("gzip") => {
            GzDecoder::new(&raw[..]).read_to_string(&mut text).unwrap();
        }
        Some("deflate") => {
            ZlibDecoder::new(&raw[..])
                .read_to_string(&mut text)
                .unwrap();
        }
        Some(other) => panic!("Content-Encoding: {other}"),
    }
    (encoding, text)
}

#[test]
fn polling_responses_are_compressed_as_the_client_accepts() {
    let server = start();
    let addr = server.local_addr();
    let (sid, _) = polling::session(addr);
    let big = format!("42[\"big\",\"{}\"]", "x".repeat(2000));

    let (enc, text) = poll(addr, &sid, "big", Some("gzip, deflate"));
    assert_eq!((enc.as_deref(), &*text), (Some("gzip"), &*big));
    let (enc, text) = poll(addr, &sid, "big", Some("deflate"));
    assert_eq!((enc.as_deref(), &*text), (Some("deflate"), &*big));
    let (enc, text) = poll(addr, &sid, "big", Some("gzip;q=0.5, deflate"));
    assert_eq!((enc.as_deref(), &*text), (Some("deflate"), &*big));
    // Not accepted, or below the threshold (1024 bytes by default): as it is.
    let (enc, text) = poll(addr, &sid, "big", None);
    assert_eq!((enc.as_deref(), &*text), (None, &*big));
    let (enc, _) = poll(addr, &sid, "big", Some("br, identity"));
    assert_eq!(enc, None);
    let (enc, text) = poll(addr, &sid, "small", Some("gzip"));
    assert_eq!((enc.as_deref(), &*text), (None, "42[\"small\",\"x\"]"));
    server.shutdown();
}

#[test]
fn compress_false_keeps_a_payload_plain_unless_another_packet_allows_it() {
    let server = start();
    let addr = server.local_addr();
    let (sid, _) = polling::session(addr);
    let plain = format!("42[\"plain\",\"{}\"]", "x".repeat(2000));

    let (enc, text) = poll(addr, &sid, "plain", Some("gzip"));
    assert_eq!((enc.as_deref(), &*text), (None, &*plain));
    // One packet of the payload allows compression: the whole payload is compressed, as the
    // reference's `packets.some(p => p.options.compress)` decides.
    let (enc, text) = poll(addr, &sid, "mixed", Some("gzip"));
    assert_eq!(enc.as_deref(), Some("gzip"));
    assert_eq!(text, format!("{plain}\u{1e}42[\"small\",\"x\"]"));
    server.shutdown();
}
