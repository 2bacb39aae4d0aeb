//! The threaded Rust client against two servers, over every transport: the reference Node
//! `socket.io` 4.x server (`interop/ref_server.mjs`) and Volley's own conformance example.
//! Each feature test runs for every (server, transport) pair through `matrix!`; checks that
//! only the Node server can answer (the query and headers it echoes) have Node-only tests.
//! Faults (connection resets, malformed packets) are played by fake servers in
//! `client_faults.rs`. Every wait is bounded; servers are stopped by guards, also on panic.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    client_options as options, expect, expect_none, expect_one_of, free_port, interop_dir, record,
    ServerProcess,
};
use serde_json::{json, Value};
use volley::client::{AckError, Client, ClientBuilder, EmitError, Payload, TransportKind};
use volley::proto::eio::Transport;

const WAIT: Duration = common::CLIENT_WAIT;

/// Which server a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Srv {
    /// `node interop/ref_server.mjs`.
    Node,
    /// `engine/examples/conformance.rs`.
    Volley,
}

/// A running server of either kind, stopped on drop.
struct Running {
    _node: Option<NodeServer>,
    _volley: Option<ServerProcess>,
}

impl Srv {
    /// Starts the server on `port`.
    fn start(self, port: u16) -> Running {
        match self {
            Srv::Node => Running {
                _node: Some(NodeServer::start(port, false)),
                _volley: None,
            },
            Srv::Volley => Running {
                _node: None,
                _volley: Some(ServerProcess::start(
                    "conformance",
                    &[("VOLLEY_LISTEN", &format!("127.0.0.1:{port}"))],
                )),
            },
        }
    }
}

/// A running `node ref_server.mjs PORT`; killed on drop.
struct NodeServer {
    child: Child,
}

impl NodeServer {
    /// Starts the reference on `port`, offering permessage-deflate if `deflate`.
    fn start(port: u16, deflate: bool) -> Self {
        assert!(
            interop_dir().join("node_modules/socket.io").exists(),
            "interop/node_modules missing: run npm ci in interop/"
        );
        let mut child = Command::new("node")
            .arg("ref_server.mjs")
            .arg(port.to_string())
            .args(deflate.then_some("deflate"))
            .current_dir(interop_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed");
        let stdout = child.stdout.take().unwrap();
        let server = NodeServer { child };
        let (tx, rx) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let line = rx.recv_timeout(WAIT).expect("ref_server did not start");
        assert_eq!(line, format!("listening {port}"));
        server
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs each named `fn(Srv, TransportKind)` against both servers over every transport.
macro_rules! matrix {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::{Srv, TransportKind};

            #[test]
            fn node_websocket() {
                super::$name(Srv::Node, TransportKind::WebSocket);
            }

            #[test]
            fn node_polling() {
                super::$name(Srv::Node, TransportKind::Polling);
            }

            #[test]
            fn node_polling_then_upgrade() {
                super::$name(Srv::Node, TransportKind::PollingThenUpgrade);
            }

            #[test]
            fn volley_websocket() {
                super::$name(Srv::Volley, TransportKind::WebSocket);
            }

            #[test]
            fn volley_polling() {
                super::$name(Srv::Volley, TransportKind::Polling);
            }

            #[test]
            fn volley_polling_then_upgrade() {
                super::$name(Srv::Volley, TransportKind::PollingThenUpgrade);
            }
        }
    )*};
}

matrix!(
    connect_with_auth_events_and_acks,
    binary_both_ways,
    two_namespaces_share_one_connection,
    server_disconnect_is_not_reconnected,
    reconnects_after_restart_and_flushes_buffered_emits,
);

/// Waits until the session runs on the transport `kind` ends on: polling stays polling, the
/// upgrade reaches WebSocket.
fn expect_transport(client: &Client, kind: TransportKind) {
    let want = match kind {
        TransportKind::Polling => Transport::Polling,
        _ => Transport::WebSocket,
    };
    let deadline = Instant::now() + WAIT;
    while client.handle().transport() != Some(want) {
        assert!(
            Instant::now() < deadline,
            "transport {:?}, want {want:?}",
            client.handle().transport()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// An ack callback's result, tagged by the test.
type AckNote = (&'static str, Result<Payload, AckError>);
type AckLog = Receiver<AckNote>;

fn ack_sink() -> (Sender<AckNote>, AckLog) {
    channel()
}

/// The next ack result, which must carry `tag` (callbacks run in a known order here).
fn expect_ack(log: &AckLog, tag: &str) -> Result<Payload, AckError> {
    match log.recv_timeout(WAIT) {
        Ok((got, result)) if got == tag => result,
        Ok((got, _)) => panic!("ack {got:?} arrived while waiting for {tag:?}"),
        Err(_) => panic!("no ack {tag:?} within {WAIT:?}"),
    }
}

fn values(p: &Payload) -> Vec<Value> {
    p.values()
}

fn connect_with_auth_events_and_acks(srv: Srv, transport: TransportKind) {
    let port = free_port();
    let _server = srv.start(port);
    let client = Client::builder(options(port, transport)).connect().unwrap();
    let socket = client.socket("/");
    let log = record(&socket);
    let answer = Arc::new(AtomicBool::new(true));
    let answer_in_handler = answer.clone();
    socket.on("question", move |ev| {
        assert!(ev.wants_ack());
        if answer_in_handler.load(Ordering::SeqCst) {
            assert!(ev.ack(Payload::new().arg("answer").arg(42)));
            assert!(!ev.ack(Payload::new()), "only one answer");
        }
    });
    assert_eq!(
        socket.volatile_emit("message", Payload::new().arg("lost")),
        Ok(false)
    );
    assert_eq!(
        socket.emit("connect", Payload::new()),
        Err(EmitError::ReservedEvent)
    );
    socket.connect_with_auth(&json!({"token": "abc"})).unwrap();

    expect(&log, "#connect /");
    assert!(socket.is_connected() && socket.id().is_some());
    let auth = expect(&log, "auth");
    assert_eq!(values(&auth)[0], json!({"token": "abc"}));
    expect_transport(&client, transport);

    // Events both ways.
    socket
        .emit(
            "message",
            Payload::new().arg(1).arg("two").arg(json!({"x": [true]})),
        )
        .unwrap();
    let back = expect(&log, "message-back");
    assert_eq!(
        values(&back),
        vec![json!(1), json!("two"), json!({"x": [true]})]
    );
    assert_eq!(
        socket.volatile_emit("message", Payload::new().arg("v")),
        Ok(true)
    );
    assert_eq!(values(&expect(&log, "message-back")), vec![json!("v")]);

    // Acks from the server, a timeout, and a discarded ack.
    let (tx, acks) = ack_sink();
    let t = tx.clone();
    socket
        .emit_with_ack(
            "message-with-ack",
            Payload::from_args(&(42, "x")).unwrap(),
            Some(WAIT),
            move |r| t.send(("echo", r)).unwrap(),
        )
        .unwrap();
    assert_eq!(
        values(&expect_ack(&acks, "echo").unwrap()),
        vec![json!(42), json!("x")]
    );
    let t = tx.clone();
    let started = Instant::now();
    socket
        .emit_with_ack(
            "nobody-answers",
            Payload::new(),
            Some(Duration::from_millis(300)),
            move |r| t.send(("timeout", r)).unwrap(),
        )
        .unwrap();
    assert_eq!(expect_ack(&acks, "timeout"), Err(AckError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(300));
    let t = tx.clone();
    // An emit the server never answers, so the discard cannot race the reply: without the
    // discard its timeout would report within 300 ms.
    let discarded = socket
        .emit_with_ack(
            "nobody-answers",
            Payload::new().arg(1),
            Some(Duration::from_millis(300)),
            move |r| t.send(("discarded", r)).unwrap(),
        )
        .unwrap();
    assert!(socket.discard(discarded));
    assert!(!socket.discard(discarded));
    let t = tx.clone();
    socket
        .emit_with_ack(
            "message-with-ack",
            Payload::new().arg(2),
            Some(WAIT),
            move |r| t.send(("after", r)).unwrap(),
        )
        .unwrap();
    assert_eq!(values(&expect_ack(&acks, "after").unwrap()), vec![json!(2)]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(acks.try_recv().is_err(), "a discarded ack's callback ran");

    // Acks to the server: answered, then left to time out on the server side.
    socket.emit("ask", Payload::new().arg(2000)).unwrap();
    assert_eq!(
        values(&expect(&log, "ack-result")),
        vec![json!("answer"), json!(42)]
    );
    answer.store(false, Ordering::SeqCst);
    socket.emit("ask", Payload::new().arg(200)).unwrap();
    expect(&log, "ack-timeout");
    client.close();
    assert!(matches!(
        socket.emit("message", Payload::new()),
        Err(EmitError::Closed)
    ));
}

fn binary_both_ways(srv: Srv, transport: TransportKind) {
    let port = free_port();
    let _server = srv.start(port);
    let client = Client::builder(options(port, transport)).connect().unwrap();
    let socket = client.socket("/");
    let log = record(&socket);
    socket.connect().unwrap();
    expect(&log, "#connect /");

    let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    socket
        .emit(
            "message",
            Payload::new()
                .arg("bin")
                .binary(vec![1u8, 2, 3])
                .binary(big.clone()),
        )
        .unwrap();
    let back = expect(&log, "message-back");
    assert_eq!(back.get::<String>(0).as_deref(), Some("bin"));
    assert_eq!(back.binary_at(1).map(|b| b.to_vec()), Some(vec![1, 2, 3]));
    assert_eq!(back.binary_at(2).map(|b| b.to_vec()), Some(big));
    assert_eq!(back.attachments().len(), 2);

    let (tx, acks) = ack_sink();
    socket
        .emit_with_ack(
            "message-with-ack",
            Payload::new()
                .binary(Bytes::from_static(b"\x00\xffbin"))
                .arg(7),
            Some(WAIT),
            move |r| tx.send(("bin", r)).unwrap(),
        )
        .unwrap();
    let answer = expect_ack(&acks, "bin").unwrap();
    assert_eq!(
        answer.binary_at(0).map(|b| b.to_vec()),
        Some(b"\x00\xffbin".to_vec())
    );
    assert_eq!(answer.get::<u32>(1), Some(7));
}

fn two_namespaces_share_one_connection(srv: Srv, transport: TransportKind) {
    let port = free_port();
    let _server = srv.start(port);
    let opens = Arc::new(AtomicU32::new(0));
    let counter = opens.clone();
    let client = Client::builder(options(port, transport))
        .on_open(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .unwrap();
    let main = client.socket("/");
    let custom = client.socket("custom");
    assert_eq!(custom.nsp(), "/custom");
    let main_log = record(&main);
    let custom_log = record(&custom);
    main.connect_with_auth(&json!({"who": "main"})).unwrap();
    custom.connect_with_auth(&json!({"who": "custom"})).unwrap();
    let main_auth = values(&expect(&main_log, "auth"));
    let custom_auth = values(&expect(&custom_log, "auth"));
    assert_eq!(main_auth[0], json!({"who": "main"}));
    assert_eq!(custom_auth[0], json!({"who": "custom"}));
    if srv == Srv::Node {
        // Only the Node server says which Engine.IO session a namespace is on.
        assert_eq!(custom_auth[1]["nsp"], json!("/custom"));
        assert_eq!(main_auth[1]["engine"], custom_auth[1]["engine"]);
    }
    assert_eq!(opens.load(Ordering::SeqCst), 1);

    custom.emit("message", Payload::new().arg("c")).unwrap();
    assert_eq!(
        values(&expect(&custom_log, "message-back")),
        vec![json!("c")]
    );
    expect_none(&main_log, "message-back", Duration::from_millis(200));

    // Leaving one namespace keeps the other on the same connection.
    custom.disconnect();
    expect(&custom_log, "#disconnect:io client disconnect");
    main.emit("message", Payload::new().arg("m")).unwrap();
    assert_eq!(values(&expect(&main_log, "message-back")), vec![json!("m")]);
    assert_eq!(opens.load(Ordering::SeqCst), 1);
}

fn server_disconnect_is_not_reconnected(srv: Srv, transport: TransportKind) {
    let port = free_port();
    let _server = srv.start(port);
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let client = Client::builder(options(port, transport))
        .on_reconnect_attempt(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .unwrap();
    let socket = client.socket("/");
    let log = record(&socket);
    socket.connect().unwrap();
    expect(&log, "#connect /");
    socket.emit("disconnect-me", Payload::new()).unwrap();
    expect(&log, "#disconnect:io server disconnect");
    expect_none(&log, "#connect /", Duration::from_millis(600));
    assert!(!socket.is_connected());
    assert_eq!(attempts.load(Ordering::SeqCst), 0);

    // Connecting again by hand works.
    socket.connect().unwrap();
    expect(&log, "#connect /");
}

fn reconnects_after_restart_and_flushes_buffered_emits(srv: Srv, transport: TransportKind) {
    let port = free_port();
    let mut server = srv.start(port);
    let (events_tx, manager) = channel();
    let (a, b) = (events_tx.clone(), events_tx.clone());
    let mut opts = options(port, transport);
    opts.max_buffered_emits = 3;
    let builder: ClientBuilder = Client::builder(opts)
        .on_reconnect_attempt(move |n| {
            let _ = a.send(format!("attempt {n}"));
        })
        .on_reconnect(move |n| {
            let _ = b.send(format!("reconnect after {n}"));
        });
    let client = builder.connect().unwrap();
    let socket = client.socket("/");
    let log = record(&socket);
    socket
        .connect_with_auth(&json!({"token": "again"}))
        .unwrap();
    expect(&log, "#connect /");
    expect(&log, "auth");

    drop(server);
    // A killed server's sockets end with FIN, or RST when it had unread bytes.
    expect_one_of(
        &log,
        &["#disconnect:transport close", "#disconnect:transport error"],
    );
    // While down: buffered emits (bounded), volatile ones dropped.
    socket
        .emit("message", Payload::new().arg("buffered").arg(1))
        .unwrap();
    let (tx, acks) = ack_sink();
    socket
        .emit_with_ack(
            "message-with-ack",
            Payload::new().arg("acked"),
            Some(WAIT),
            move |r| tx.send(("buffered", r)).unwrap(),
        )
        .unwrap();
    socket.emit("message", Payload::new().arg("third")).unwrap();
    assert_eq!(
        socket.emit("message", Payload::new().arg("fourth")),
        Err(EmitError::BufferFull)
    );
    assert_eq!(socket.volatile_emit("message", Payload::new()), Ok(false));
    // Let at least one reconnection attempt fail against the closed port.
    thread::sleep(Duration::from_millis(600));

    server = srv.start(port);
    expect(&log, "#connect /");
    assert_eq!(values(&expect(&log, "auth"))[0], json!({"token": "again"}));
    assert_eq!(
        values(&expect(&log, "message-back")),
        vec![json!("buffered"), json!(1)]
    );
    assert_eq!(
        values(&expect_ack(&acks, "buffered").unwrap()),
        vec![json!("acked")]
    );
    assert_eq!(values(&expect(&log, "message-back")), vec![json!("third")]);
    let notes: Vec<String> = manager.try_iter().collect();
    assert!(notes.iter().any(|n| n == "attempt 1"), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.starts_with("reconnect after")),
        "{notes:?}"
    );
    // The buffer is free again.
    socket.emit("message", Payload::new().arg("after")).unwrap();
    expect(&log, "message-back");
    drop(server);
}

/// The Node server echoes the handshake's query and headers (Volley's conformance example does
/// not), sent on every request of every transport.
fn query_and_headers_reach_the_server(transport: TransportKind) {
    let port = free_port();
    let _server = Srv::Node.start(port);
    let mut opts = options(port, transport);
    opts.query.push(("token".into(), "q 1".into()));
    opts.headers.push(("X-Test".into(), "h1".into()));
    let client = Client::builder(opts).connect().unwrap();
    let socket = client.socket("/");
    let log = record(&socket);
    socket.connect().unwrap();
    let auth = values(&expect(&log, "auth"));
    assert_eq!(auth[1]["query"], json!("q 1"));
    assert_eq!(auth[1]["header"], json!("h1"));
    expect_transport(&client, transport);
    socket.emit("message", Payload::new().arg("after")).unwrap();
    assert_eq!(values(&expect(&log, "message-back")), vec![json!("after")]);
}

#[test]
fn node_query_and_headers_websocket() {
    query_and_headers_reach_the_server(TransportKind::WebSocket);
}

#[test]
fn node_query_and_headers_polling() {
    query_and_headers_reach_the_server(TransportKind::Polling);
}

#[test]
fn node_query_and_headers_polling_then_upgrade() {
    query_and_headers_reach_the_server(TransportKind::PollingThenUpgrade);
}

/// The client offers permessage-deflate as the JS client does: the reference server with
/// `perMessageDeflate` accepts it (it says so), and messages large enough to go compressed
/// both ways (the client's threshold and the server's are 1024 bytes) round-trip intact, as do
/// small ones; with `per_message_deflate` off, nothing is negotiated.
#[test]
fn node_permessage_deflate_both_ways() {
    for offer in [true, false] {
        let port = free_port();
        let _server = NodeServer::start(port, true);
        let mut opts = options(port, TransportKind::WebSocket);
        opts.per_message_deflate = offer;
        let client = Client::builder(opts).connect().unwrap();
        let socket = client.socket("/");
        let log = record(&socket);
        socket.connect().unwrap();
        expect(&log, "#connect /");
        let (tx, acks) = ack_sink();
        socket
            .emit_with_ack("extensions", Payload::new(), Some(WAIT), move |r| {
                drop(tx.send(("extensions", r)))
            })
            .unwrap();
        let negotiated = values(&expect_ack(&acks, "extensions").unwrap());
        assert_eq!(
            negotiated[0]
                .as_str()
                .unwrap()
                .contains("permessage-deflate"),
            offer,
            "{negotiated:?}"
        );
        let big: String = (0..20_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        for text in [big.as_str(), "small"] {
            socket.emit("message", Payload::new().arg(text)).unwrap();
            assert_eq!(values(&expect(&log, "message-back")), vec![json!(text)]);
        }
    }
}
