use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::proto::http::{parse_request, validate_upgrade, write_switching_protocols, Limits};
use crate::proto::ws::{encode_frame, Decoder, Message, OpCode, Role};

const OPEN: &str =
    r#"0{"sid":"eio-sid","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}"#;

/// What the client sent, as the server decodes it.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Text(String),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

/// The server side of a test: validates the request and decodes the client's frames.
struct Server {
    dec: Decoder,
    got: Vec<u8>,
}

impl Server {
    fn new() -> Self {
        Self {
            dec: Decoder::new(Role::Server, 1 << 20),
            got: Vec::new(),
        }
    }

    /// Takes the upgrade request from `conn` and returns the 101 answer.
    fn accept(&mut self, conn: &mut ClientConn) -> Vec<u8> {
        let bytes = drain(conn);
        let req = parse_request(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!(req.head_len, bytes.len(), "only the request before the 101");
        let accept = validate_upgrade(&req).unwrap();
        let mut answer = Vec::new();
        write_switching_protocols(&mut answer, &accept);
        answer
    }

    /// Every frame the client has sent since the last call, unmasked.
    fn frames(&mut self, conn: &mut ClientConn) -> Vec<Sent> {
        self.got.extend_from_slice(&drain(conn));
        let mut out = Vec::new();
        loop {
            let d = self.dec.decode(&mut self.got).unwrap();
            if d.consumed == 0 {
                break;
            }
            let consumed = d.consumed;
            match d.message {
                Some(Message::Text(t)) => {
                    out.push(Sent::Text(String::from_utf8(t.to_vec()).unwrap()))
                }
                Some(Message::Binary(b)) => out.push(Sent::Binary(b.to_vec())),
                Some(Message::Pong(p)) => out.push(Sent::Pong(p.to_vec())),
                Some(Message::Close(c)) => out.push(Sent::Close(c.map(|c| c.code.0))),
                Some(Message::Ping(_)) => panic!("client pinged"),
                None => {}
            }
            self.got.drain(..consumed);
        }
        out
    }
}

fn drain(conn: &mut ClientConn) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(bytes) = conn.transmit(Lane::WebSocket) {
        // Write in small pieces to exercise partial writes.
        let n = bytes.len().min(7);
        all.extend_from_slice(&bytes[..n]);
        conn.advance_transmit(Lane::WebSocket, n);
    }
    all
}

fn text(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, OpCode::Text, s.as_bytes());
    out
}

fn binary(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, OpCode::Binary, b);
    out
}

/// Feeds all of `bytes`, asserting it was consumed.
fn feed(conn: &mut ClientConn, bytes: &[u8], now: Instant) {
    let mut buf = bytes.to_vec();
    assert_eq!(
        conn.handle_input(Lane::WebSocket, &mut buf, now),
        Ok(bytes.len())
    );
}

fn events(conn: &mut ClientConn) -> Vec<ClientEvent> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// A connection past the 101 and the open packet, with its server.
fn opened(t0: Instant) -> (ClientConn, Server) {
    let mut conn = ClientConn::new(&ConnectOptions::default(), t0, 7);
    let mut server = Server::new();
    let mut input = server.accept(&mut conn);
    input.extend_from_slice(&text(OPEN));
    feed(&mut conn, &input, t0);
    assert_eq!(
        events(&mut conn),
        vec![ClientEvent::Open {
            sid: "eio-sid".into(),
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            max_payload: 1000,
        }]
    );
    (conn, server)
}

fn event(nsp: &str, name: &str, args: &str, ack_id: Option<u64>) -> ClientEvent {
    ClientEvent::Event {
        nsp: nsp.into(),
        name: name.into(),
        args_json: args.as_bytes().to_vec(),
        attachments: Vec::new(),
        ack_id,
    }
}

#[test]
fn request_is_an_engine_io_websocket_upgrade() {
    let conn = ClientConn::new(&ConnectOptions::default(), Instant::now(), 1);
    let request = std::str::from_utf8(conn.transmit(Lane::WebSocket).unwrap()).unwrap();
    assert!(request.starts_with("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"));
    assert!(request.contains("Host: 127.0.0.1:3000\r\n"));
    assert!(!conn.is_open() && !conn.is_closed());
}

#[test]
fn packets_written_before_open_are_sent_after_it() {
    let t0 = Instant::now();
    let mut conn = ClientConn::new(&ConnectOptions::default(), t0, 7);
    let mut server = Server::new();
    conn.connect_namespace("/", None);
    conn.connect_namespace("/chat", Some(br#"{"token":"abc"}"#));
    let answer = server.accept(&mut conn);
    // The 101 alone opens nothing yet.
    feed(&mut conn, &answer, t0);
    assert!(server.frames(&mut conn).is_empty());
    feed(&mut conn, &text(OPEN), t0);
    assert!(conn.is_open());
    assert_eq!(
        server.frames(&mut conn),
        vec![
            Sent::Text("40".into()),
            Sent::Text(r#"40/chat,{"token":"abc"}"#.into())
        ]
    );
}

#[test]
fn namespace_connect_and_connect_error() {
    let t0 = Instant::now();
    let (mut conn, _) = opened(t0);
    let mut input = text(r#"40{"sid":"s1"}"#);
    input.extend(text(r#"40/chat,{"sid":"s2"}"#));
    input.extend(text(
        r#"44/admin,{"message":"not authorized","data":{"code":7}}"#,
    ));
    input.extend(text(r#"44/x,"bad""#));
    input.extend(text("41/chat,"));
    feed(&mut conn, &input, t0);
    assert_eq!(
        events(&mut conn),
        vec![
            ClientEvent::Connected {
                nsp: "/".into(),
                sid: "s1".into()
            },
            ClientEvent::Connected {
                nsp: "/chat".into(),
                sid: "s2".into()
            },
            ClientEvent::ConnectError {
                nsp: "/admin".into(),
                message: "not authorized".into(),
                data_json: Some(br#"{"code":7}"#.to_vec()),
            },
            ClientEvent::ConnectError {
                nsp: "/x".into(),
                message: "bad".into(),
                data_json: None,
            },
            ClientEvent::Disconnected {
                nsp: "/chat".into()
            },
        ]
    );
}

#[test]
fn events_acks_and_replies() {
    let t0 = Instant::now();
    let (mut conn, mut server) = opened(t0);
    let mut input = text(r#"42["hello",1,{"a":"b"}]"#);
    input.extend(text(r#"42/chat,7["question"]"#));
    input.extend(text(r#"430["ok",2]"#));
    input.extend(text(r#"42["empty"]"#));
    feed(&mut conn, &input, t0);
    assert_eq!(
        events(&mut conn),
        vec![
            event("/", "hello", r#"[1,{"a":"b"}]"#, None),
            event("/chat", "question", "[]", Some(7)),
            ClientEvent::Ack {
                nsp: "/".into(),
                id: 0,
                args_json: br#"["ok",2]"#.to_vec(),
                attachments: Vec::new()
            },
            event("/", "empty", "[]", None),
        ]
    );

    conn.ack("/chat", 7, br#"["answer"]"#, &[]);
    assert_eq!(
        conn.emit("/", "message", br#"[1, "two"]"#, &[], false),
        None
    );
    assert_eq!(conn.emit("/", "ask", b"[]", &[], true), Some(0));
    assert_eq!(conn.emit("/chat", "ask", b"", &[], true), Some(1));
    assert_eq!(conn.emit("/", "one", b" 5 ", &[], false), None);
    assert_eq!(
        server.frames(&mut conn),
        vec![
            Sent::Text(r#"43/chat,7["answer"]"#.into()),
            Sent::Text(r#"42["message",1, "two"]"#.into()),
            Sent::Text(r#"420["ask"]"#.into()),
            Sent::Text(r#"42/chat,1["ask"]"#.into()),
            Sent::Text(r#"42["one",5]"#.into()),
        ]
    );
}

#[test]
fn binary_both_ways() {
    let t0 = Instant::now();
    let (mut conn, mut server) = opened(t0);
    let mut input = text(r#"451-["bin",{"_placeholder":true,"num":0},"x"]"#);
    input.extend(binary(&[1, 2, 3]));
    input.extend(text(
        r#"462-/chat,3[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#,
    ));
    input.extend(binary(b"a"));
    input.extend(binary(b""));
    feed(&mut conn, &input, t0);
    assert_eq!(
        events(&mut conn),
        vec![
            ClientEvent::Event {
                nsp: "/".into(),
                name: "bin".into(),
                args_json: br#"[{"_placeholder":true,"num":0},"x"]"#.to_vec(),
                attachments: vec![Bytes::from_static(&[1, 2, 3])],
                ack_id: None,
            },
            ClientEvent::Ack {
                nsp: "/chat".into(),
                id: 3,
                args_json: br#"[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#
                    .to_vec(),
                attachments: vec![Bytes::from_static(b"a"), Bytes::new()],
            },
        ]
    );

    let blob = Bytes::from_static(&[0xde, 0xad]);
    let id = conn.emit(
        "/",
        "up",
        br#"[{"_placeholder":true,"num":0}]"#,
        std::slice::from_ref(&blob),
        true,
    );
    assert_eq!(id, Some(0));
    conn.ack("/", 9, br#"[{"_placeholder":true,"num":0}]"#, &[blob]);
    assert_eq!(
        server.frames(&mut conn),
        vec![
            Sent::Text(r#"451-0["up",{"_placeholder":true,"num":0}]"#.into()),
            Sent::Binary(vec![0xde, 0xad]),
            Sent::Text(r#"461-9[{"_placeholder":true,"num":0}]"#.into()),
            Sent::Binary(vec![0xde, 0xad]),
        ]
    );
}

#[test]
fn pings_get_pongs_and_silence_times_out() {
    let t0 = Instant::now();
    let (mut conn, mut server) = opened(t0);
    let ms = Duration::from_millis;
    assert_eq!(conn.next_deadline(), Some(t0 + ms(500)));
    conn.handle_timeout(t0 + ms(499));
    assert!(conn.is_open());

    feed(&mut conn, &text("2"), t0 + ms(300));
    let mut ws_ping = Vec::new();
    encode_frame(&mut ws_ping, OpCode::Ping, b"hb");
    feed(&mut conn, &ws_ping, t0 + ms(300));
    assert_eq!(
        server.frames(&mut conn),
        vec![Sent::Text("3".into()), Sent::Pong(b"hb".to_vec())]
    );
    assert_eq!(conn.next_deadline(), Some(t0 + ms(800)));
    conn.handle_timeout(t0 + ms(799));
    assert!(events(&mut conn).is_empty());
    conn.handle_timeout(t0 + ms(800));
    assert_eq!(
        events(&mut conn),
        vec![ClientEvent::Closed {
            reason: DisconnectReason::PingTimeout
        }]
    );
    assert!(conn.is_closed());
    assert_eq!(conn.next_deadline(), None);
    // Input after close is swallowed, not parsed.
    feed(&mut conn, b"\xff\xff garbage", t0 + ms(900));
    assert!(events(&mut conn).is_empty());
}

#[test]
fn connect_timeout_before_open() {
    let t0 = Instant::now();
    let opts = ConnectOptions {
        connect_timeout: Duration::from_secs(1),
        ..ConnectOptions::default()
    };
    let mut conn = ClientConn::new(&opts, t0, 1);
    assert_eq!(conn.next_deadline(), Some(t0 + Duration::from_secs(1)));
    conn.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(
        events(&mut conn),
        vec![ClientEvent::Closed {
            reason: DisconnectReason::ConnectTimeout
        }]
    );
}

#[test]
fn close_from_either_side() {
    let t0 = Instant::now();
    let (mut conn, mut server) = opened(t0);
    conn.close();
    conn.emit("/", "late", b"[]", &[], false);
    assert_eq!(server.frames(&mut conn), vec![Sent::Close(Some(1000))]);
    assert_eq!(
        events(&mut conn),
        vec![ClientEvent::Closed {
            reason: DisconnectReason::IoClientDisconnect
        }]
    );

    let (mut conn, mut server) = opened(t0);
    let mut close = Vec::new();
    crate::proto::ws::encode_close(&mut close, crate::proto::ws::CloseCode::GOING_AWAY, "bye");
    feed(&mut conn, &close, t0);
    assert_eq!(server.frames(&mut conn), vec![Sent::Close(Some(1001))]);
    assert_eq!(
        events(&mut conn),
        vec![ClientEvent::Closed {
            reason: DisconnectReason::TransportClose
        }]
    );

    let (mut conn, _) = opened(t0);
    feed(&mut conn, &text("1"), t0);
    let (mut eof, _) = opened(t0);
    eof.handle_transport_closed(Lane::WebSocket, true, t0);
    assert_eq!(
        (events(&mut conn), events(&mut eof)),
        (
            vec![ClientEvent::Closed {
                reason: DisconnectReason::TransportClose
            }],
            vec![ClientEvent::Closed {
                reason: DisconnectReason::TransportError
            }]
        )
    );
}

#[test]
fn refused_or_forged_upgrades_fail() {
    let t0 = Instant::now();
    let mut conn = ClientConn::new(&ConnectOptions::default(), t0, 3);
    let mut wrong = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n"
        .to_vec();
    assert!(matches!(
        conn.handle_input(Lane::WebSocket, &mut wrong, t0),
        Err(ClientError::Http(_))
    ));
    assert_eq!(
        events(&mut conn),
        vec![ClientEvent::Closed {
            reason: DisconnectReason::TransportError
        }]
    );
    let mut conn = ClientConn::new(&ConnectOptions::default(), t0, 3);
    let mut partial = b"HTTP/1.1 101 Swi".to_vec();
    assert_eq!(conn.handle_input(Lane::WebSocket, &mut partial, t0), Ok(0));
}

#[test]
fn protocol_errors_are_typed_and_close() {
    let t0 = Instant::now();
    type Case = (Vec<u8>, fn(&ClientError) -> bool, DisconnectReason);
    let cases: Vec<Case> = vec![
        (
            text("49"),
            |e| matches!(e, ClientError::Sio(_)),
            DisconnectReason::ParseError,
        ),
        (
            text("7"),
            |e| matches!(e, ClientError::Eio(_)),
            DisconnectReason::ParseError,
        ),
        (
            binary(b"x"),
            |e| matches!(e, ClientError::Sio(_)),
            DisconnectReason::ParseError,
        ),
        (
            text(OPEN),
            |e| matches!(e, ClientError::Unexpected(_)),
            DisconnectReason::ParseError,
        ),
        (
            text(r#"40{"nosid":1}"#),
            |e| matches!(e, ClientError::Sio(_)),
            DisconnectReason::ParseError,
        ),
        (
            vec![0x81, 0x80, 0, 0, 0, 0],
            |e| matches!(e, ClientError::Ws(_)),
            DisconnectReason::TransportError,
        ),
        (
            [
                text(r#"451-["b",{"_placeholder":true,"num":0}]"#),
                text("42[\"x\"]"),
            ]
            .concat(),
            |e| matches!(e, ClientError::Unexpected(_)),
            DisconnectReason::ParseError,
        ),
    ];
    for (input, is_expected, reason) in cases {
        let (mut conn, mut server) = opened(t0);
        let err = conn
            .handle_input(Lane::WebSocket, &mut input.clone(), t0)
            .unwrap_err();
        assert!(is_expected(&err), "{err:?}");
        assert_eq!(events(&mut conn), vec![ClientEvent::Closed { reason }]);
        assert_eq!(server.frames(&mut conn), vec![Sent::Close(Some(1002))]);
    }
}

#[test]
fn masks_differ_per_frame() {
    let t0 = Instant::now();
    let (mut conn, _) = opened(t0);
    conn.emit("/", "a", b"[]", &[], false);
    conn.emit("/", "a", b"[]", &[], false);
    let bytes = drain(&mut conn);
    let half = bytes.len() / 2;
    assert_eq!(bytes[1] & 0x80, 0x80, "masked");
    assert_ne!(bytes[2..6], bytes[half + 2..half + 6]);
}

/// The server's side of a whole session: 101, open, then a mix of packets.
fn session_stream(conn: &mut ClientConn) -> Vec<u8> {
    let mut input = Server::new().accept(conn);
    input.extend(text(OPEN));
    input.extend(text(r#"40{"sid":"s1"}"#));
    input.extend(text(r#"42["hello","wörld"]"#));
    input.extend(text("2"));
    input.extend(text(r#"451-["bin",{"_placeholder":true,"num":0}]"#));
    input.extend(binary(&[9; 300]));
    input.extend(text(r#"43/chat,5[]"#));
    input
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same_events(cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let t0 = Instant::now();
        let mut whole = ClientConn::new(&ConnectOptions::default(), t0, 5);
        let stream = session_stream(&mut whole);
        feed(&mut whole, &stream, t0);
        let expected = events(&mut whole);
        prop_assert_eq!(expected.len(), 5);

        let mut split = ClientConn::new(&ConnectOptions::default(), t0, 5);
        prop_assert_eq!(session_stream(&mut split), stream.clone());
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len())).collect();
        points.push(stream.len());
        points.sort_unstable();
        let mut buf = Vec::new();
        let mut at = 0;
        for p in points {
            buf.extend_from_slice(&stream[at..p]);
            at = p;
            let used = split.handle_input(Lane::WebSocket, &mut buf, t0).unwrap();
            buf.drain(..used);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(events(&mut split), expected);
    }

    #[test]
    fn arbitrary_server_bytes_never_panic(frames in prop::collection::vec(
        prop_oneof![
            "[0-6][0-9/,\\-\\[\\]{}\"a-z:_]{0,40}".prop_map(|s| text(&s)),
            prop::collection::vec(any::<u8>(), 0..20).prop_map(|b| binary(&b)),
            prop::collection::vec(any::<u8>(), 0..20),
        ], 0..10)) {
        let t0 = Instant::now();
        let (mut conn, _) = opened(t0);
        for frame in frames {
            let mut buf = frame;
            if conn.handle_input(Lane::WebSocket, &mut buf, t0).is_err() {
                prop_assert!(conn.is_closed());
            }
        }
        while let Some(event) = conn.poll_event() {
            if let ClientEvent::Closed { .. } = event {
                prop_assert!(conn.poll_event().is_none());
            }
        }
    }
}

/// The client's frames in `raw`, each as (RSV1 set, message as the server reads it).
fn frames_with_rsv1(raw: &mut [u8], server: &mut Decoder) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < raw.len() {
        let rsv1 = crate::proto::ws::parse_frame_header(&raw[pos..])
            .unwrap()
            .unwrap()
            .rsv1;
        let d = server.decode(&mut raw[pos..]).unwrap();
        pos += d.consumed;
        match d.message {
            Some(Message::Text(t)) => out.push((rsv1, String::from_utf8(t.to_vec()).unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

/// As the JS client, the upgrade offers permessage-deflate; once the server accepts, messages
/// of 1024 bytes or more go compressed (RSV1), shorter ones as they are, and the server's
/// compressed messages inflate.
#[test]
fn permessage_deflate_once_the_server_accepts() {
    let t0 = Instant::now();
    let mut conn = ClientConn::new(&ConnectOptions::default(), t0, 1);
    let bytes = drain(&mut conn);
    let req = parse_request(&bytes, &Limits::default()).unwrap().unwrap();
    let offer = req
        .headers()
        .find(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, v)| v.to_owned());
    assert_eq!(
        offer.as_deref(),
        Some("permessage-deflate; client_max_window_bits")
    );
    let accepted = ws::negotiate(offer.as_deref()).unwrap();
    let mut answer = Vec::new();
    crate::proto::http::write_switching_protocols_with(
        &mut answer,
        &validate_upgrade(&req).unwrap(),
        &[("Sec-WebSocket-Extensions", &accepted.response)],
    );
    answer.extend(text(OPEN));
    feed(&mut conn, &answer, t0);

    let p = accepted.params;
    let mut server = Decoder::new(Role::Server, 1 << 20).with_inflater(ws::Inflater::new(
        p.client_max_window_bits,
        p.client_no_context_takeover,
    ));
    conn.connect_namespace("/", None);
    let big = "x".repeat(2000);
    conn.emit("/", "big", format!(r#"["{big}"]"#).as_bytes(), &[], false);
    let mut raw = drain(&mut conn);
    assert!(raw.len() < 200, "compressed: {} bytes", raw.len());
    assert_eq!(
        frames_with_rsv1(&mut raw, &mut server),
        [
            (false, "40".to_owned()),
            (true, format!(r#"42["big","{big}"]"#))
        ]
    );

    let mut deflater = ws::Deflater::new(p.server_max_window_bits, p.server_no_context_takeover);
    let news = format!(r#"42["news","{big}"]"#);
    let mut compressed = Vec::new();
    deflater.deflate(news.as_bytes(), &mut compressed);
    let mut frame = Vec::new();
    encode_frame(&mut frame, OpCode::Text, &compressed);
    frame[0] |= ws::RSV1;
    let mut input = text(r#"40{"sid":"s1"}"#);
    input.extend(frame);
    feed(&mut conn, &input, t0);
    let got: Vec<_> = events(&mut conn)
        .into_iter()
        .filter_map(|e| match e {
            ClientEvent::Event {
                name, args_json, ..
            } => Some((name, String::from_utf8(args_json).unwrap())),
            _ => None,
        })
        .collect();
    assert_eq!(got, [("news".to_owned(), format!(r#"["{big}"]"#))]);
}

/// Without an offer, a server that answers with permessage-deflate anyway fails the connection
/// (RFC 7692 §5), as does an answer our offer does not allow.
#[test]
fn an_extension_the_client_did_not_offer_fails_the_upgrade() {
    for (offer, answer) in [
        (false, "permessage-deflate"),
        (true, "permessage-deflate; server_max_window_bits=7"),
        (true, "x-webkit-deflate-frame"),
    ] {
        let t0 = Instant::now();
        let opts = ConnectOptions {
            per_message_deflate: offer,
            ..ConnectOptions::default()
        };
        let mut conn = ClientConn::new(&opts, t0, 1);
        let bytes = drain(&mut conn);
        let req = parse_request(&bytes, &Limits::default()).unwrap().unwrap();
        let mut input = Vec::new();
        crate::proto::http::write_switching_protocols_with(
            &mut input,
            &validate_upgrade(&req).unwrap(),
            &[("Sec-WebSocket-Extensions", answer)],
        );
        let got = conn.handle_input(Lane::WebSocket, &mut input, t0);
        assert!(
            matches!(got, Err(ClientError::Ws(ws::WsError::Protocol(_)))),
            "{offer} {answer}: {got:?}"
        );
    }
}
