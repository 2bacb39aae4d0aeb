//! Hostile or broken Socket.IO clients: each bad input on its own connection ends that
//! connection with the reason recorded by the disconnect handler, and a well-behaved client on
//! another connection still connects and gets its ack afterwards. The same inputs are fed to the
//! reference Node server (`interop/sio_reference_reasons.mjs`) to keep the comparison honest.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Board, RawWs};
use volley::proto::ws::{self, OpCode};
use volley::server::{Ack, Counter, Server};

const ATTACHMENT_TIMEOUT: Duration = Duration::from_millis(300);

enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

struct Case {
    name: &'static str,
    /// Sent after joining `/`, all in one write.
    frames: Vec<Frame>,
    /// The reason our disconnect handler gets, or `open` when the connection goes on.
    ours: &'static str,
    /// What the reference server does: its reason, or `open` when it keeps the connection.
    reference: &'static str,
}

fn text(s: &str) -> Frame {
    Frame::Text(s.to_string())
}

fn cases() -> Vec<Case> {
    let deep = format!(r#"42["x",{}{}]"#, "[".repeat(100_000), "]".repeat(100_000));
    let forced = "forced close";
    let case = |name, frames, ours, reference| Case {
        name,
        frames,
        ours,
        reference,
    };
    vec![
        case("abc", vec![text("abc")], "parse error", "parse error"),
        case("4abc", vec![text("4abc")], forced, forced),
        case("42{}", vec![text("42{}")], forced, forced),
        case(r#"42abc["x"]"#, vec![text(r#"42abc["x"]"#)], forced, forced),
        case(
            "event for a namespace not joined",
            vec![text(r#"42/other,["x"]"#)],
            forced,
            forced,
        ),
        case(
            "second CONNECT for the same namespace",
            vec![text("40")],
            forced,
            forced,
        ),
        case(
            "huge attachment count",
            vec![text(r#"451999999999-["x",{"_placeholder":true,"num":0}]"#)],
            forced,
            forced,
        ),
        case(
            "placeholder num out of range",
            vec![
                text(r#"451-["x",{"_placeholder":true,"num":9}]"#),
                Frame::Binary(vec![1]),
            ],
            forced,
            forced,
        ),
        case(
            "placeholder num a string",
            vec![
                text(r#"451-["x",{"_placeholder":true,"num":"0"}]"#),
                Frame::Binary(vec![1]),
            ],
            forced,
            forced,
        ),
        // The reference parses any depth; we drop a packet past max_json_depth, count it, and
        // keep the session, as the reference does.
        case(
            "JSON nested 100000 deep",
            vec![Frame::Text(deep)],
            "open",
            "open",
        ),
        // The reference waits forever; we wait VOLLEY_ATTACHMENT_TIMEOUT_MS.
        case(
            "attachment that never arrives",
            vec![text(r#"451-["x",{"_placeholder":true,"num":0}]"#)],
            forced,
            "open",
        ),
        case(
            "binary frame with no pending packet",
            vec![Frame::Binary(vec![1, 2, 3])],
            forced,
            forced,
        ),
        case(
            "CONNECT_ERROR from the client",
            vec![text(r#"44{"message":"x"}"#)],
            forced,
            forced,
        ),
        case(
            "reserved event name",
            vec![text(r#"42["disconnect"]"#)],
            forced,
            forced,
        ),
    ]
}

fn start(reasons: &Board) -> Server {
    let reasons = reasons.clone();
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.ping_interval = Duration::from_secs(30);
            c.attachment_timeout = ATTACHMENT_TIMEOUT;
        })
        .namespace("/", move |ns| {
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            ns.on_disconnect(move |s, reason| reasons.set(s.id(), reason.as_str()));
        })
        .namespace("/other", |_| {})
        .listen()
        .unwrap()
}

fn send_all(ws: &mut RawWs, frames: &[Frame]) {
    let mut out = Vec::new();
    for f in frames {
        let (op, payload) = match f {
            Frame::Text(t) => (OpCode::Text, t.as_bytes()),
            Frame::Binary(b) => (OpCode::Binary, b.as_slice()),
        };
        ws::encode_masked_frame(&mut out, op, payload, [9, 8, 7, 6]);
    }
    ws.sock.write_all(&out).unwrap();
}

#[test]
fn each_bad_input_closes_only_its_own_connection_with_the_expected_reason() {
    let reasons = Board::default();
    let server = start(&reasons);
    let addr = server.local_addr();
    for case in cases() {
        let (mut bad, sid) = RawWs::sio_connect(addr, "/");
        let sent = Instant::now();
        send_all(&mut bad, &case.frames);
        if case.ours == "open" {
            bad.send_text(r#"421["echo","still open"]"#);
            assert_eq!(
                bad.next_text(),
                r#"431["still open"]"#,
                "case {}",
                case.name
            );
            continue;
        }
        bad.expect_closed(Duration::from_secs(3));
        assert_eq!(
            reasons.wait(&sid, Duration::from_secs(2)).as_deref(),
            Some(case.ours),
            "case {}",
            case.name
        );
        if case.name == "attachment that never arrives" {
            assert!(
                sent.elapsed() + Duration::from_millis(30) >= ATTACHMENT_TIMEOUT,
                "closed after {:?}, before the attachment timeout",
                sent.elapsed()
            );
        }
        let (mut good, good_sid) = RawWs::sio_connect(addr, "/");
        good.send_text(r#"421["echo",{"after":"bad input"}]"#);
        assert_eq!(
            good.next_text(),
            r#"431[{"after":"bad input"}]"#,
            "after case {}",
            case.name
        );
        assert_eq!(reasons.get(&good_sid), None);
    }
    let stats = server.handle().stats();
    assert_eq!(stats.get(Counter::PacketsTooDeep), 1, "{stats:?}");
    server.shutdown();
}

#[test]
fn bad_input_before_joining_a_namespace_closes_the_connection() {
    let reasons = Board::default();
    let server = start(&reasons);
    let addr = server.local_addr();
    for input in ["abc", "4abc", r#"42["x"]"#, "41", r#"44{"message":"x"}"#] {
        let (mut bad, _) = RawWs::eio_connect(addr, "/socket.io/");
        bad.send_text(input);
        bad.expect_closed(Duration::from_secs(3));
    }
    let (mut bad, _) = RawWs::eio_connect(addr, "/socket.io/");
    bad.send_binary(&[1, 2, 3]);
    bad.expect_closed(Duration::from_secs(3));
    assert_eq!(reasons.len(), 0, "no socket existed to disconnect");
    let (mut good, _) = RawWs::sio_connect(addr, "/");
    good.send_text(r#"427["echo",1]"#);
    assert_eq!(good.next_text(), "437[1]");
    server.shutdown();
}

#[test]
fn the_reference_server_does_what_the_table_says() {
    let out = common::run_node("sio_reference_reasons.mjs", &[]);
    for case in cases() {
        let line = format!("case {}: {}", case.name, case.reference);
        assert!(
            out.lines().any(|l| l == line),
            "expected {line:?} from the reference; got:\n{out}"
        );
    }
    for line in [
        "case client ping: transport error",
        "case no CONNECT (connect timeout): closed",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
    }
}
