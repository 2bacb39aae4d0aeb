//! permessage-deflate on a plain WebSocket endpoint, byte for byte: the negotiation in the 101
//! response, compressed messages both ways, the threshold, context takeover, shared (broadcast)
//! frames, and the errors (a compression bomb gets 1009, RSV1 without the extension 1002).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use volley::proto::http;
use volley::proto::ws::{
    apply_mask, parse_frame_header, write_frame_header, Deflater, Inflater, OpCode, RSV1,
};
use volley::server::{encode_ws_frame, Server, WsConn, WsHandler, WsMessage};

/// Echoes text as a message of its own, binary as a frame encoded once for sharing (the
/// broadcast path).
struct Echo;

impl WsHandler for Echo {
    fn on_message(&self, ws: &mut WsConn<'_, '_>, msg: WsMessage<'_>) {
        match msg {
            WsMessage::Text(t) => ws.send_text(t),
            WsMessage::Binary(b) => ws.send_shared(encode_ws_frame(OpCode::Binary, b)),
        };
    }
}

fn start(deflate: bool) -> Server {
    let mut b = Server::builder().configure(|c| {
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.workers = 1;
        c.max_payload = 100_000;
    });
    if deflate {
        b = b.per_message_deflate(1024);
    }
    b.websocket("/", Echo).listen().unwrap()
}

/// A client speaking frames by hand: what it reads is checked before any inflating.
struct Client {
    sock: TcpStream,
    buf: Vec<u8>,
}

/// One frame as it came: RSV1 and the payload on the wire.
#[derive(Debug)]
struct Frame {
    rsv1: bool,
    opcode: OpCode,
    payload: Vec<u8>,
}

impl Client {
    /// Upgrades with `extensions` as the offer; returns the client and the response head.
    fn connect(addr: SocketAddr, extensions: Option<&str>) -> (Client, String) {
        Self::connect_to(addr, "/", extensions)
    }

    fn connect_to(addr: SocketAddr, path: &str, extensions: Option<&str>) -> (Client, String) {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut req = Vec::new();
        let key = http::new_websocket_key([3; 16]);
        let headers: Vec<(&str, &str)> = extensions
            .map(|e| ("Sec-WebSocket-Extensions", e))
            .into_iter()
            .collect();
        http::write_upgrade_request(&mut req, &addr.to_string(), path, &key, &headers);
        sock.write_all(&req).unwrap();
        let mut buf = Vec::new();
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..end].to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        buf.drain(..end);
        (Client { sock, buf }, head)
    }

    fn send(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8]) {
        let key = [5, 6, 7, 8];
        let mut out = Vec::new();
        write_frame_header(&mut out, opcode, fin, payload.len(), Some(key));
        if rsv1 {
            out[0] |= RSV1;
        }
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], key, 0);
        self.sock.write_all(&out).unwrap();
    }

    fn read(&mut self) -> Frame {
        loop {
            if let Some(h) = parse_frame_header(&self.buf).unwrap() {
                let end = h.header_len + h.payload_len as usize;
                if self.buf.len() >= end {
                    let payload = self.buf[h.header_len..end].to_vec();
                    self.buf.drain(..end);
                    return Frame {
                        rsv1: h.rsv1,
                        opcode: h.opcode,
                        payload,
                    };
                }
            }
            let mut chunk = [0u8; 65536];
            let n = self.sock.read(&mut chunk).unwrap();
            assert!(n > 0, "server closed without a close frame");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn expect_close(&mut self, code: u16) {
        let f = self.read();
        assert_eq!(f.opcode, OpCode::Close);
        assert_eq!(f.payload[..2], code.to_be_bytes(), "{f:?}");
    }
}

fn compress(d: &mut Deflater, m: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    d.deflate(m, &mut out);
    out
}

fn inflate(i: &mut Inflater, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    i.inflate(payload, &mut out, 1 << 20).unwrap();
    i.finish(&mut out, 1 << 20).unwrap();
    out
}

fn json(n: usize) -> String {
    (0..n)
        .map(|i| format!("{{\"id\":{i},\"user\":\"u{}\",\"text\":\"hello\"}}", i % 7))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn negotiated_messages_are_compressed_both_ways_above_the_threshold() {
    let server = start(true);
    let offer = "permessage-deflate; client_max_window_bits";
    let (mut c, head) = Client::connect(server.local_addr(), Some(offer));
    assert!(
        head.contains("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
        "{head}"
    );
    let mut d = Deflater::new(15, false);
    let mut i = Inflater::new(15, false);
    let big = json(200);
    for _ in 0..2 {
        let payload = compress(&mut d, big.as_bytes());
        c.send(OpCode::Text, true, true, &payload);
        let f = c.read();
        assert!(f.rsv1 && f.opcode == OpCode::Text, "{f:?}");
        assert!(f.payload.len() < big.len() / 3, "{}", f.payload.len());
        assert_eq!(inflate(&mut i, &f.payload), big.as_bytes());
    }
    // Below the threshold: sent plain, whichever way it came.
    c.send(OpCode::Binary, true, false, b"small");
    let f = c.read();
    assert!(!f.rsv1 && f.payload == b"small", "{f:?}");
    c.send(OpCode::Text, true, true, &compress(&mut d, b"tiny"));
    let f = c.read();
    assert!(!f.rsv1 && f.payload == b"tiny", "{f:?}");
    // A shared frame goes compressed too (made without context); what follows it still
    // inflates in the context this side keeps.
    c.send(OpCode::Binary, true, false, big.as_bytes());
    let f = c.read();
    assert!(f.rsv1 && f.opcode == OpCode::Binary, "{f:?}");
    assert_eq!(inflate(&mut i, &f.payload), big.as_bytes());
    // A compressed message in three fragments, a ping between two of them.
    let payload = compress(&mut d, big.as_bytes());
    let third = payload.len() / 3;
    c.send(OpCode::Text, false, true, &payload[..third]);
    c.send(OpCode::Ping, true, false, b"p");
    c.send(
        OpCode::Continuation,
        false,
        false,
        &payload[third..2 * third],
    );
    c.send(OpCode::Continuation, true, false, &payload[2 * third..]);
    let pong = c.read();
    assert!(pong.opcode == OpCode::Pong && !pong.rsv1 && pong.payload == b"p");
    let f = c.read();
    assert!(f.rsv1, "{f:?}");
    assert_eq!(inflate(&mut i, &f.payload), big.as_bytes());
    server.shutdown();
}

#[test]
fn no_context_takeover_and_window_bits_are_honoured() {
    let server = start(true);
    let offer = "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; \
                 client_no_context_takeover; client_max_window_bits=10";
    let (mut c, head) = Client::connect(server.local_addr(), Some(offer));
    assert!(head.contains(
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
         client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10\r\n"
    ));
    let big = json(100);
    let mut d = Deflater::new(10, true);
    let mut frames = Vec::new();
    for _ in 0..2 {
        c.send(OpCode::Text, true, true, &compress(&mut d, big.as_bytes()));
        frames.push(c.read().payload);
    }
    // Each message compressed afresh: the same bytes twice, each readable alone.
    assert_eq!(frames[0], frames[1]);
    assert_eq!(
        inflate(&mut Inflater::new(9, true), &frames[1]),
        big.as_bytes()
    );
    server.shutdown();
}

#[test]
fn a_compression_bomb_gets_1009() {
    let server = start(true);
    let (mut c, _) = Client::connect(server.local_addr(), Some("permessage-deflate"));
    let bomb = compress(&mut Deflater::new(15, true), &vec![0u8; 50 << 20]);
    assert!(bomb.len() < 100_000);
    c.send(OpCode::Binary, true, true, &bomb);
    c.expect_close(1009);
    server.shutdown();
}

#[test]
fn rsv1_without_the_extension_gets_1002() {
    for (deflate, offer) in [(true, None), (false, Some("permessage-deflate"))] {
        let server = start(deflate);
        let (mut c, head) = Client::connect(server.local_addr(), offer);
        assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
        c.send(
            OpCode::Text,
            true,
            true,
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        );
        c.expect_close(1002);
        server.shutdown();
    }
}

#[test]
fn corrupt_compressed_data_gets_1007() {
    let server = start(true);
    let (mut c, _) = Client::connect(server.local_addr(), Some("permessage-deflate"));
    c.send(OpCode::Binary, true, true, &[0xff, 0xff, 0xff, 0xff]);
    c.expect_close(1007);
    server.shutdown();
}

/// A Socket.IO client on raw frames, connected to "/" with `server_no_context_takeover`.
fn sio_client(addr: SocketAddr) -> Client {
    let offer = "permessage-deflate; server_no_context_takeover";
    let (mut c, head) =
        Client::connect_to(addr, "/socket.io/?EIO=4&transport=websocket", Some(offer));
    assert!(head.contains("server_no_context_takeover"), "{head}");
    assert!(
        c.read().payload.starts_with(b"0{"),
        "the open packet, plain"
    );
    c.send(OpCode::Text, true, false, b"40");
    assert!(c.read().payload.starts_with(b"40{"), "the CONNECT reply");
    c
}

#[test]
fn socket_io_emits_and_broadcasts_are_compressed_unless_told_not_to() {
    let big = json(100);
    let sent = big.clone();
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 1;
        })
        .per_message_deflate(1024)
        .namespace("/", move |ns| {
            ns.on_connect(|socket, _| {
                socket.join("r");
                Ok(())
            });
            let big = sent.clone();
            ns.on("big", move |socket, _| {
                socket.emit("big", &big).ok();
                None
            });
            let big = sent.clone();
            ns.on("plain", move |socket, _| {
                socket.compress(false).emit("plain", &big).ok();
                None
            });
            let big = sent.clone();
            ns.on("bcast", move |socket, _| {
                socket.to("r").emit("b", &big).ok();
                None
            });
        })
        .listen()
        .unwrap();
    let mut a = sio_client(server.local_addr());
    let mut b = sio_client(server.local_addr());
    let expected =
        |event: &str| format!("42[\"{event}\",{}]", serde_json::to_string(&big).unwrap());
    a.send(OpCode::Text, true, false, b"42[\"big\"]");
    let f = a.read();
    assert!(f.rsv1, "{f:?}");
    assert_eq!(
        inflate(&mut Inflater::new(15, true), &f.payload),
        expected("big").as_bytes()
    );
    a.send(OpCode::Text, true, false, b"42[\"plain\"]");
    let f = a.read();
    assert!(
        !f.rsv1 && f.payload == expected("plain").as_bytes(),
        "{f:?}"
    );
    a.send(OpCode::Text, true, false, b"42[\"bcast\"]");
    let f = b.read();
    assert!(f.rsv1, "{f:?}");
    assert_eq!(
        inflate(&mut Inflater::new(15, true), &f.payload),
        expected("b").as_bytes()
    );
    server.shutdown();
}
