//! The threaded Rust client against the reference Node `socket.io` 4.x server
//! (`interop/ref_server.mjs`), plus a fault test against a silent fake server.
//! Every wait is bounded; servers are stopped by guards, also on panic.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value};
use volley::client::{AckError, Client, ClientBuilder, ClientOptions, EmitError, Payload, Socket};
use volley::proto::{http, ws};

const WAIT: Duration = Duration::from_secs(10);

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `node ref_server.mjs PORT`; killed on drop.
struct NodeServer {
    child: Child,
}

impl NodeServer {
    fn start(port: u16) -> Self {
        assert!(
            interop_dir().join("node_modules/socket.io").exists(),
            "interop/node_modules missing: run npm ci in interop/"
        );
        let mut child = Command::new("node")
            .arg("ref_server.mjs")
            .arg(port.to_string())
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

/// What the handlers saw: events by name, lifecycle notes as `#connect` / `#disconnect:<reason>`.
type Log = Receiver<(String, Payload)>;

fn record(socket: &Socket) -> Log {
    let (tx, rx) = channel();
    let any = tx.clone();
    socket.on_any(move |ev| {
        let _ = any.send((ev.name().to_owned(), ev.args().clone()));
    });
    let connect = tx.clone();
    socket.on_connect(move |s| {
        let _ = connect.send((format!("#connect {}", s.nsp()), Payload::new()));
    });
    socket.on_disconnect(move |_, reason| {
        let _ = tx.send((format!("#disconnect:{reason}"), Payload::new()));
    });
    rx
}

/// Waits for the next entry named `name`, skipping others.
fn expect(log: &Log, name: &str) -> Payload {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match log.recv_timeout(left) {
            Ok((got, payload)) if got == name => return payload,
            Ok((got, _)) => seen.push(got),
            Err(_) => break,
        }
    }
    panic!("no {name:?} within {WAIT:?}; saw {seen:?}");
}

/// Asserts nothing named `name` arrives within `wait`.
fn expect_none(log: &Log, name: &str, wait: Duration) {
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok((got, _)) = log.recv_timeout(left) {
            assert_ne!(got, name, "unexpected {name}");
        }
    }
}

fn options(port: u16) -> ClientOptions {
    let mut o = ClientOptions::new(format!("http://127.0.0.1:{port}"));
    o.reconnection_delay = Duration::from_millis(100);
    o.reconnection_delay_max = Duration::from_millis(400);
    o
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

#[test]
fn connect_with_auth_events_and_acks() {
    let port = free_port();
    let _server = NodeServer::start(port);
    let mut opts = options(port);
    opts.query.push(("token".into(), "q 1".into()));
    opts.headers.push(("X-Test".into(), "h1".into()));
    let client = Client::builder(opts).connect().unwrap();
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
    assert_eq!(values(&auth)[1]["query"], json!("q 1"));
    assert_eq!(values(&auth)[1]["header"], json!("h1"));

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
    let discarded = socket
        .emit_with_ack(
            "message-with-ack",
            Payload::new().arg(1),
            Some(WAIT),
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
    // The discarded answer came first on the wire; only the later callback runs.
    assert_eq!(values(&expect_ack(&acks, "after").unwrap()), vec![json!(2)]);

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

#[test]
fn binary_both_ways() {
    let port = free_port();
    let _server = NodeServer::start(port);
    let client = Client::builder(options(port)).connect().unwrap();
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

#[test]
fn two_namespaces_share_one_connection() {
    let port = free_port();
    let _server = NodeServer::start(port);
    let opens = Arc::new(AtomicU32::new(0));
    let counter = opens.clone();
    let client = Client::builder(options(port))
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
    assert_eq!(custom_auth[1]["nsp"], json!("/custom"));
    assert_eq!(main_auth[1]["engine"], custom_auth[1]["engine"]);
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

#[test]
fn server_disconnect_is_not_reconnected() {
    let port = free_port();
    let _server = NodeServer::start(port);
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let client = Client::builder(options(port))
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
    expect_none(&log, "#connect /", Duration::from_millis(1500));
    assert!(!socket.is_connected());
    assert_eq!(attempts.load(Ordering::SeqCst), 0);

    // Connecting again by hand works.
    socket.connect().unwrap();
    expect(&log, "#connect /");
}

#[test]
fn reconnects_after_restart_and_flushes_buffered_emits() {
    let port = free_port();
    let mut server = NodeServer::start(port);
    let (events_tx, manager) = channel();
    let (a, b) = (events_tx.clone(), events_tx.clone());
    let mut opts = options(port);
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
    expect(&log, "#disconnect:transport close");
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

    server = NodeServer::start(port);
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

/// A fake server that completes the handshake and connects `/`, then goes silent. Returns the
/// port and a channel that gets one message per accepted connection.
fn silent_server() -> (u16, Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = channel();
    thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(5) {
            let Ok(mut stream) = stream else { continue };
            if handshake(&mut stream).is_some() {
                held.push(stream);
                let _ = tx.send(());
            }
        }
    });
    (port, rx)
}

fn handshake(stream: &mut TcpStream) -> Option<()> {
    stream.set_read_timeout(Some(WAIT)).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let req = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(req) = http::parse_request(&buf, &http::Limits::default()).ok()? {
            break req;
        }
    };
    let accept = http::validate_upgrade(&req).ok()?;
    let mut out = Vec::new();
    http::write_switching_protocols(&mut out, &accept);
    let open = br#"0{"sid":"fake","upgrades":[],"pingInterval":200,"pingTimeout":100}"#;
    ws::encode_frame(&mut out, ws::OpCode::Text, open);
    ws::encode_frame(&mut out, ws::OpCode::Text, br#"40{"sid":"fake-socket"}"#);
    stream.write_all(&out).ok()
}

#[test]
fn silent_server_times_out_and_is_reconnected() {
    let (port, accepted) = silent_server();
    let (tx, closes) = channel();
    let client = Client::builder(options(port))
        .on_close(move |reason| {
            let _ = tx.send(reason.to_string());
        })
        .connect()
        .unwrap();
    let socket = client.socket("/");
    let log = record(&socket);
    socket.connect().unwrap();
    accepted.recv_timeout(WAIT).unwrap();
    expect(&log, "#connect /");
    let started = Instant::now();
    expect(&log, "#disconnect:ping timeout");
    // pingInterval + pingTimeout = 300 ms of silence.
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(closes.recv_timeout(WAIT).unwrap(), "ping timeout");
    accepted.recv_timeout(WAIT).expect("no reconnection");
    expect(&log, "#connect /");
}

#[test]
fn gives_up_after_the_configured_attempts() {
    let port = free_port();
    let (tx, notes) = channel();
    let (a, e, f) = (tx.clone(), tx.clone(), tx);
    let mut opts = options(port);
    opts.reconnection_attempts = Some(2);
    opts.reconnection_delay = Duration::from_millis(20);
    let client = Client::builder(opts)
        .on_reconnect_attempt(move |n| {
            let _ = a.send(format!("attempt {n}"));
        })
        .on_reconnect_error(move |reason| {
            let _ = e.send(format!("error {reason}"));
        })
        .on_reconnect_failed(move || {
            let _ = f.send("failed".to_owned());
        })
        .connect()
        .unwrap();
    client.socket("/").connect().unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("failed") {
        seen.push(notes.recv_timeout(WAIT).expect("no reconnect_failed"));
    }
    assert_eq!(
        seen,
        [
            "attempt 1",
            "error transport error",
            "attempt 2",
            "error transport error",
            "failed"
        ]
    );
}
