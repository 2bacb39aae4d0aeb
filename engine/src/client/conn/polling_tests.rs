//! Polling and upgrade tests: the server side is played by hand with our HTTP and WebSocket
//! codecs, and every request is checked byte for byte where its shape matters.

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::proto::http::{parse_request, validate_upgrade, write_response, Limits, Request};
use crate::proto::ws::{encode_frame, Decoder, Message, OpCode, Role};

const OPEN_POLLING: &str = r#"0{"sid":"eio-sid","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}"#;

fn conn(kind: TransportKind, t0: Instant) -> ClientConn {
    let opts = ConnectOptions {
        transport: kind,
        query: vec![("token".to_owned(), "a b".to_owned())],
        headers: vec![("X-Test".to_owned(), "h".to_owned())],
        ..ConnectOptions::default()
    };
    ClientConn::new(&opts, t0, 3)
}

fn commands(conn: &mut ClientConn) -> Vec<LaneCommand> {
    std::iter::from_fn(|| conn.poll_lane_command()).collect()
}

fn events(conn: &mut ClientConn) -> Vec<ClientEvent> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn take(conn: &mut ClientConn, lane: Lane) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(bytes) = conn.transmit(lane) {
        let n = bytes.len().min(11);
        all.extend_from_slice(&bytes[..n]);
        conn.advance_transmit(lane, n);
    }
    all
}

/// The one request queued on `lane`, parsed, with its body.
fn request(conn: &mut ClientConn, lane: Lane) -> (Request, String) {
    let bytes = take(conn, lane);
    let req = parse_request(&bytes, &Limits::default()).unwrap().unwrap();
    let body = String::from_utf8(bytes[req.head_len..].to_vec()).unwrap();
    (req, body)
}

fn response(status: u16, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let headers = [("Content-Type", "text/plain; charset=UTF-8")];
    write_response(&mut out, status, &headers, body, keep_alive);
    out
}

/// Answers the request in flight on `lane` with 200 and `body`, fed in two pieces.
fn answer(conn: &mut ClientConn, lane: Lane, body: &[u8], now: Instant) {
    let bytes = response(200, body, true);
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut first = a.to_vec();
    let used = conn.handle_input(lane, &mut first, now).unwrap();
    let mut rest = first[used..].to_vec();
    rest.extend_from_slice(b);
    assert_eq!(conn.handle_input(lane, &mut rest, now), Ok(rest.len()));
}

/// A polling session past its handshake, with the second GET out.
fn opened(kind: TransportKind, t0: Instant) -> ClientConn {
    let mut conn = conn(kind, t0);
    assert_eq!(commands(&mut conn), [LaneCommand::Open(Lane::Poll)]);
    request(&mut conn, Lane::Poll);
    answer(&mut conn, Lane::Poll, OPEN_POLLING.as_bytes(), t0);
    assert!(
        matches!(events(&mut conn).as_slice(), [ClientEvent::Open { sid, .. }] if sid == "eio-sid")
    );
    let (get, _) = request(&mut conn, Lane::Poll);
    assert_eq!(get.query_param("sid").as_deref(), Some("eio-sid"));
    conn
}

fn event(nsp: &str, name: &str, args: &str, attachments: Vec<Bytes>) -> ClientEvent {
    ClientEvent::Event {
        nsp: nsp.into(),
        name: name.into(),
        args_json: args.as_bytes().to_vec(),
        attachments,
        ack_id: None,
    }
}

#[test]
fn handshake_and_next_get_are_golden() {
    let t0 = Instant::now();
    let mut conn = conn(TransportKind::Polling, t0);
    assert_eq!(commands(&mut conn), [LaneCommand::Open(Lane::Poll)]);
    assert_eq!(conn.transport(), Transport::Polling);
    assert_eq!(
        std::str::from_utf8(&take(&mut conn, Lane::Poll)).unwrap(),
        "GET /socket.io/?EIO=4&transport=polling&token=a%20b HTTP/1.1\r\n\
         Host: 127.0.0.1:3000\r\nX-Test: h\r\n\r\n"
    );
    answer(&mut conn, Lane::Poll, OPEN_POLLING.as_bytes(), t0);
    assert!(conn.is_open());
    events(&mut conn);
    // Plain polling never probes, and the kept-alive GET connection is reused.
    assert!(commands(&mut conn).is_empty());
    assert_eq!(
        std::str::from_utf8(&take(&mut conn, Lane::Poll)).unwrap(),
        "GET /socket.io/?EIO=4&transport=polling&sid=eio-sid&token=a%20b HTTP/1.1\r\n\
         Host: 127.0.0.1:3000\r\nX-Test: h\r\n\r\n"
    );
    assert_eq!(conn.transmit(Lane::WebSocket), None);
}

#[test]
fn packets_are_held_then_posted_in_batches() {
    let t0 = Instant::now();
    let mut conn = conn(TransportKind::Polling, t0);
    conn.connect_namespace("/", Some(br#"{"t":1}"#));
    commands(&mut conn);
    request(&mut conn, Lane::Poll);
    assert_eq!(
        conn.transmit(Lane::Post),
        None,
        "nothing before the open packet"
    );
    answer(&mut conn, Lane::Poll, OPEN_POLLING.as_bytes(), t0);
    assert_eq!(commands(&mut conn), [LaneCommand::Open(Lane::Post)]);
    assert_eq!(
        std::str::from_utf8(&take(&mut conn, Lane::Post)).unwrap(),
        "POST /socket.io/?EIO=4&transport=polling&sid=eio-sid&token=a%20b HTTP/1.1\r\n\
         Host: 127.0.0.1:3000\r\nX-Test: h\r\nContent-Type: text/plain;charset=UTF-8\r\n\
         Content-Length: 9\r\n\r\n40{\"t\":1}"
    );
    // While that POST is out, packets wait, then leave together in one payload.
    conn.emit("/", "a", b"[1]", &[], false);
    conn.emit(
        "/",
        "b",
        br#"[{"_placeholder":true,"num":0}]"#,
        &[Bytes::from_static(&[1, 2, 3])],
        true,
    );
    assert_eq!(conn.transmit(Lane::Post), None);
    answer(&mut conn, Lane::Post, b"ok", t0);
    let (post, body) = request(&mut conn, Lane::Post);
    assert_eq!(post.method, http::Method::Post);
    assert_eq!(
        body,
        "42[\"a\",1]\u{1e}451-0[\"b\",{\"_placeholder\":true,\"num\":0}]\u{1e}bAQID"
    );
    assert!(
        commands(&mut conn).is_empty(),
        "the POST connection is reused"
    );
}

#[test]
fn get_payloads_give_events_and_pings_get_pongs() {
    let t0 = Instant::now();
    let mut conn = opened(TransportKind::Polling, t0);
    let t1 = t0 + Duration::from_millis(400);
    answer(
        &mut conn,
        Lane::Poll,
        b"2\x1e40{\"sid\":\"s1\"}\x1e42[\"hi\",1]\x1e451-[\"bin\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID\x1e6",
        t1,
    );
    assert_eq!(
        events(&mut conn),
        vec![
            ClientEvent::Connected {
                nsp: "/".into(),
                sid: "s1".into()
            },
            event("/", "hi", "[1]", Vec::new()),
            event(
                "/",
                "bin",
                r#"[{"_placeholder":true,"num":0}]"#,
                vec![Bytes::from_static(&[1, 2, 3])]
            ),
        ]
    );
    commands(&mut conn);
    assert_eq!(request(&mut conn, Lane::Post).1, "3");
    request(&mut conn, Lane::Poll);
    // The ping at t1 pushed the heartbeat deadline past pingInterval + pingTimeout from t0.
    conn.handle_timeout(t0 + Duration::from_millis(600));
    assert!(conn.is_open());
    conn.handle_timeout(t1 + Duration::from_millis(500));
    assert_eq!(
        events(&mut conn),
        [ClientEvent::Closed {
            reason: DisconnectReason::PingTimeout
        }]
    );
}

#[test]
fn connections_are_replaced_when_not_kept_alive_or_lost_while_idle() {
    let t0 = Instant::now();
    let mut conn = opened(TransportKind::Polling, t0);
    let mut input = response(200, b"6", false);
    // Bytes after a `Connection: close` response belong to no request: ignored.
    input.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    assert_eq!(
        conn.handle_input(Lane::Poll, &mut input, t0),
        Ok(input.len())
    );
    assert_eq!(
        commands(&mut conn),
        [
            LaneCommand::Close(Lane::Poll),
            LaneCommand::Open(Lane::Poll)
        ]
    );
    request(&mut conn, Lane::Poll);

    conn.emit("/", "x", b"[]", &[], false);
    commands(&mut conn);
    request(&mut conn, Lane::Post);
    answer(&mut conn, Lane::Post, b"ok", t0);
    // The server dropped the idle POST connection: the next POST opens a new one.
    conn.handle_transport_closed(Lane::Post, false, t0);
    assert!(conn.is_open());
    conn.emit("/", "y", b"[]", &[], false);
    assert_eq!(commands(&mut conn), [LaneCommand::Open(Lane::Post)]);
    assert_eq!(request(&mut conn, Lane::Post).1, r#"42["y"]"#);

    // Losing the GET while it waits ends the session.
    conn.handle_transport_closed(Lane::Poll, true, t0);
    assert_eq!(
        events(&mut conn),
        [ClientEvent::Closed {
            reason: DisconnectReason::TransportError
        }]
    );
}

#[test]
fn a_body_until_close_completes_at_eof() {
    let t0 = Instant::now();
    let mut conn = conn(TransportKind::Polling, t0);
    request(&mut conn, Lane::Poll);
    let mut input = format!("HTTP/1.0 200 OK\r\n\r\n{OPEN_POLLING}").into_bytes();
    assert_eq!(
        conn.handle_input(Lane::Poll, &mut input, t0),
        Ok(input.len())
    );
    assert!(!conn.is_open());
    conn.handle_transport_closed(Lane::Poll, false, t0);
    assert!(conn.is_open());
    assert_eq!(
        commands(&mut conn)[..2],
        [
            LaneCommand::Open(Lane::Poll),
            LaneCommand::Close(Lane::Poll)
        ]
    );
}

#[test]
fn bad_responses_fail_with_typed_errors() {
    let t0 = Instant::now();
    let cases: [(&[u8], ClientError, DisconnectReason); 4] = [
        (
            &response(400, br#"{"code":1,"message":"Session ID unknown"}"#, true),
            ClientError::Status(400),
            DisconnectReason::TransportError,
        ),
        (
            &response(200, b"9oops", true),
            ClientError::Eio(eio::EioError::UnknownType(b'9')),
            DisconnectReason::ParseError,
        ),
        (
            &response(200, b"42[\"a\"", true),
            ClientError::Sio(sio::SioError::Json),
            DisconnectReason::ParseError,
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\n",
            ClientError::Http(http::HttpError::BadContentLength),
            DisconnectReason::TransportError,
        ),
    ];
    for (input, error, reason) in cases {
        let mut conn = opened(TransportKind::Polling, t0);
        let mut input = input.to_vec();
        assert_eq!(conn.handle_input(Lane::Poll, &mut input, t0), Err(error));
        assert_eq!(events(&mut conn), [ClientEvent::Closed { reason }]);
        assert!(conn.is_closed());
        assert_eq!(
            conn.handle_input(Lane::Poll, &mut input, t0),
            Ok(input.len())
        );
    }
}

/// The server side of the probing WebSocket.
struct WsServer {
    dec: Decoder,
    got: Vec<u8>,
}

impl WsServer {
    /// Checks the upgrade request on the WebSocket lane and answers 101.
    fn accept(conn: &mut ClientConn, t0: Instant) -> Self {
        let bytes = take(conn, Lane::WebSocket);
        let req = parse_request(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!(
            (req.path.as_str(), req.query.as_str()),
            (
                "/socket.io/",
                "EIO=4&transport=websocket&sid=eio-sid&token=a%20b"
            )
        );
        assert_eq!(req.header("X-Test"), Some("h"));
        let mut answer = Vec::new();
        http::write_switching_protocols(&mut answer, &validate_upgrade(&req).unwrap());
        assert_eq!(
            conn.handle_input(Lane::WebSocket, &mut answer, t0),
            Ok(answer.len())
        );
        Self {
            dec: Decoder::new(Role::Server, 1 << 20),
            got: Vec::new(),
        }
    }

    /// Text frames the client sent since the last call (binary ones as `<bin:N>`).
    fn texts(&mut self, conn: &mut ClientConn) -> Vec<String> {
        self.got.extend_from_slice(&take(conn, Lane::WebSocket));
        let mut out = Vec::new();
        loop {
            let d = self.dec.decode(&mut self.got).unwrap();
            if d.consumed == 0 {
                break;
            }
            let consumed = d.consumed;
            match d.message {
                Some(Message::Text(t)) => out.push(String::from_utf8(t.to_vec()).unwrap()),
                Some(Message::Binary(b)) => out.push(format!("<bin:{}>", b.len())),
                _ => {}
            }
            self.got.drain(..consumed);
        }
        out
    }
}

fn frame(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, OpCode::Text, s.as_bytes());
    out
}

#[test]
fn upgrade_probes_pauses_polling_and_switches() {
    let t0 = Instant::now();
    let mut conn = opened(TransportKind::PollingThenUpgrade, t0);
    assert_eq!(commands(&mut conn), [LaneCommand::Open(Lane::WebSocket)]);
    let mut ws = WsServer::accept(&mut conn, t0);
    assert_eq!(ws.texts(&mut conn), ["2probe"]);

    // Still polling while the probe is out: this emit is POSTed.
    conn.emit("/", "early", b"[]", &[], false);
    commands(&mut conn);
    assert_eq!(request(&mut conn, Lane::Post).1, r#"42["early"]"#);
    feed_ws(&mut conn, &frame("3probe"), t0);
    // Paused: the POST and the GET still out must come back before `5`.
    let placeholder = br#"[{"_placeholder":true,"num":0}]"#;
    conn.emit(
        "/",
        "held",
        placeholder,
        &[Bytes::from_static(b"xy")],
        false,
    );
    assert_eq!(conn.transmit(Lane::Post), None);
    answer(&mut conn, Lane::Post, b"ok", t0);
    assert_eq!(conn.transmit(Lane::Post), None);
    assert!(ws.texts(&mut conn).is_empty());
    answer(&mut conn, Lane::Poll, b"6", t0);
    assert_eq!(conn.transmit(Lane::Poll), None, "no GET after the pause");
    assert_eq!(
        ws.texts(&mut conn),
        [
            "5",
            r#"451-["held",{"_placeholder":true,"num":0}]"#,
            "<bin:2>"
        ]
    );
    assert_eq!(
        commands(&mut conn),
        [
            LaneCommand::Close(Lane::Poll),
            LaneCommand::Close(Lane::Post)
        ]
    );
    assert_eq!(events(&mut conn), [ClientEvent::Upgraded]);
    assert_eq!(conn.transport(), Transport::WebSocket);

    // From now on everything is WebSocket.
    feed_ws(&mut conn, &frame("2"), t0);
    conn.emit("/", "late", b"[]", &[], false);
    assert_eq!(ws.texts(&mut conn), ["3", r#"42["late"]"#]);
    feed_ws(&mut conn, &frame(r#"42["hi"]"#), t0);
    assert_eq!(events(&mut conn), [event("/", "hi", "[]", Vec::new())]);
    conn.handle_transport_closed(Lane::WebSocket, false, t0);
    assert_eq!(
        events(&mut conn),
        [ClientEvent::Closed {
            reason: DisconnectReason::TransportClose
        }]
    );
}

fn feed_ws(conn: &mut ClientConn, bytes: &[u8], now: Instant) {
    let mut buf = bytes.to_vec();
    assert_eq!(
        conn.handle_input(Lane::WebSocket, &mut buf, now),
        Ok(bytes.len())
    );
}

#[test]
fn failed_probes_leave_the_session_on_polling() {
    let t0 = Instant::now();
    // A refused upgrade.
    let mut conn = opened(TransportKind::PollingThenUpgrade, t0);
    commands(&mut conn);
    take(&mut conn, Lane::WebSocket);
    let mut refused = response(400, b"", true);
    assert_eq!(
        conn.handle_input(Lane::WebSocket, &mut refused, t0),
        Ok(refused.len())
    );
    assert_eq!(commands(&mut conn), [LaneCommand::Close(Lane::WebSocket)]);
    assert!(conn.is_open() && events(&mut conn).is_empty());
    conn.emit("/", "still", b"[]", &[], false);
    commands(&mut conn);
    assert_eq!(request(&mut conn, Lane::Post).1, r#"42["still"]"#);

    // A WebSocket lost after `3probe`, while a POST holds the pause: polling resumes.
    let mut conn = opened(TransportKind::PollingThenUpgrade, t0);
    commands(&mut conn);
    let _ws = WsServer::accept(&mut conn, t0);
    conn.emit("/", "a", b"[]", &[], false);
    commands(&mut conn);
    request(&mut conn, Lane::Post);
    feed_ws(&mut conn, &frame("3probe"), t0);
    answer(&mut conn, Lane::Poll, b"6", t0);
    assert_eq!(conn.transmit(Lane::Poll), None);
    conn.handle_transport_closed(Lane::WebSocket, true, t0);
    assert_eq!(commands(&mut conn), [LaneCommand::Close(Lane::WebSocket)]);
    assert_eq!(request(&mut conn, Lane::Poll).0.method, http::Method::Get);
    answer(&mut conn, Lane::Post, b"ok", t0);
    assert!(commands(&mut conn).is_empty());
    assert_eq!(conn.transport(), Transport::Polling);
    assert!(events(&mut conn).is_empty());
}

#[test]
fn close_posts_a_close_packet_on_an_open_connection() {
    let t0 = Instant::now();
    let mut conn = opened(TransportKind::Polling, t0);
    conn.emit("/", "bye", b"[]", &[], false);
    assert_eq!(commands(&mut conn), [LaneCommand::Open(Lane::Post)]);
    request(&mut conn, Lane::Post);
    answer(&mut conn, Lane::Post, b"ok", t0);
    conn.close();
    assert!(commands(&mut conn).is_empty());
    assert_eq!(request(&mut conn, Lane::Post).1, "1");
    assert_eq!(
        events(&mut conn),
        [ClientEvent::Closed {
            reason: DisconnectReason::IoClientDisconnect
        }]
    );
    // Without a POST connection there is none opened just for that.
    let mut conn = opened(TransportKind::Polling, t0);
    conn.close();
    assert!(commands(&mut conn).is_empty());
    assert!(conn.is_closed() && conn.transmit(Lane::Post).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_poll_responses_never_panic(
        body in prop::collection::vec(prop_oneof![Just(0x1e_u8), Just(b'4'), Just(b'b'), any::<u8>()], 0..60),
        status in prop_oneof![Just(200_u16), 100_u16..600],
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let t0 = Instant::now();
        let mut conn = opened(TransportKind::PollingThenUpgrade, t0);
        let input = response(status, &body, true);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        at.push(input.len());
        at.sort_unstable();
        let mut buf = Vec::new();
        let mut start = 0;
        for end in at {
            buf.extend_from_slice(&input[start..end]);
            start = end;
            match conn.handle_input(Lane::Poll, &mut buf, t0) {
                Ok(used) => { buf.drain(..used); }
                Err(_) => {
                    prop_assert!(conn.is_closed());
                    break;
                }
            }
        }
        while conn.poll_event().is_some() {}
        while conn.poll_lane_command().is_some() {}
    }
}
