//! Acknowledgements both ways and emits from other threads: the server's ack timeout, `discard`
//! (the callback never runs), a late client ack being dropped, `ack_later` sent from another
//! thread, refusal of reserved event names, `ServerHandle::emit_to` from another thread, and 50
//! clients over 4 workers all getting their acks.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Board, Got, RawWs};
use volley::server::{Ack, AckError, Args, EmitError, Server, Socket};

const ACK_TIMEOUT: Duration = Duration::from_millis(200);
const RESERVED: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// An ack callback that records the client's arguments as JSON, or the error, under `key`.
fn record_reply(
    board: &Board,
    key: String,
) -> impl FnOnce(&mut Socket<'_, '_>, Result<&Args<'_>, AckError>) {
    let board = board.clone();
    move |_, reply| {
        let value = match reply {
            Ok(args) => {
                let mut json = Vec::new();
                args.write_json(&mut json);
                String::from_utf8(json).unwrap()
            }
            Err(e) => e.to_string(),
        };
        board.set(key, value);
    }
}

fn start(board: &Board, workers: usize) -> Server {
    let board = board.clone();
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = workers;
            c.ping_interval = Duration::from_secs(30);
        })
        .namespace("/", move |ns| {
            let b = board.clone();
            ns.on_connect(move |s, _| {
                b.set(format!("worker:{}", s.id()), s.worker().to_string());
                Ok(())
            });
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            let b = board.clone();
            ns.on("ask", move |s, args| {
                let timeout_ms: u64 = args.deserialize(0).unwrap();
                let key = format!("ask:{}", s.id());
                let cb = record_reply(&b, key);
                s.emit_with_ack("q", &("hi",), Duration::from_millis(timeout_ms), cb)
                    .unwrap();
                None
            });
            let b = board.clone();
            ns.on("ask-discard", move |s, _| {
                let cb = record_reply(&b, format!("discarded:{}", s.id()));
                let id = s.emit_with_ack("q", &("never",), ACK_TIMEOUT, cb).unwrap();
                let first = s.discard(id);
                let again = s.discard(id);
                Some(Ack::new(&(first, again)).unwrap())
            });
            ns.on("later", later);
            ns.on("reserved", |s, _| {
                let refused = RESERVED.iter().all(|name| {
                    s.emit(name, &()) == Err(EmitError::ReservedEvent)
                        && s.emit_with_ack(name, &(), ACK_TIMEOUT, |_, _| {}).err()
                            == Some(EmitError::ReservedEvent)
                });
                Some(Ack::one(&refused).unwrap())
            });
        })
        .namespace("/chat", |ns| {
            ns.on("later", later);
        })
        .listen()
        .unwrap()
}

/// Acknowledges `[word, true]` 50 ms later from another thread (`true`: the ack could not be
/// taken twice).
fn later(s: &mut Socket<'_, '_>, args: &Args<'_>) -> Option<Ack> {
    let deferred = s.ack_later().expect("the client asked for an ack");
    let second_take = s.ack_later().is_none();
    let word: String = args.deserialize(0).unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        assert!(deferred.send(Ack::new(&(word, second_take)).unwrap()));
    });
    None
}

/// Reads a server emit `42<id>["q",...]` and returns its ack id.
fn read_question(ws: &mut RawWs) -> (u64, String) {
    let msg = ws.next_text();
    let rest = msg.strip_prefix("42").unwrap_or_else(|| panic!("{msg:?}"));
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    (rest[..digits].parse().unwrap(), rest[digits..].to_string())
}

#[test]
fn client_acks_reach_the_callback_and_silence_times_out() {
    let board = Board::default();
    let server = start(&board, 2);
    let (mut ws, sid) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text(r#"42["ask",5000]"#);
    let (id, body) = read_question(&mut ws);
    assert_eq!(body, r#"["q","hi"]"#);
    ws.send_text(&format!(r#"43{id}["answer",{{"n":1}}]"#));
    let key = format!("ask:{sid}");
    assert_eq!(
        board.wait(&key, Duration::from_secs(2)).as_deref(),
        Some(r#"["answer",{"n":1}]"#)
    );

    ws.send_text(r#"42["ask",200]"#);
    let (late_id, _) = read_question(&mut ws);
    assert_ne!(late_id, id, "ack ids are not reused");
    assert_eq!(
        board.wait_for_change(&key, r#"["answer",{"n":1}]"#, Duration::from_secs(2)),
        "operation has timed out"
    );
    // A late ack is dropped, as the reference does: no callback, the connection lives on.
    ws.send_text(&format!(r#"43{late_id}["too late"]"#));
    ws.send_text(r#"429["echo","alive"]"#);
    assert_eq!(ws.next_text(), r#"439["alive"]"#);
    assert_eq!(board.get(&key).as_deref(), Some("operation has timed out"));
    server.shutdown();
}

#[test]
fn a_discarded_ack_never_runs_its_callback() {
    let board = Board::default();
    let server = start(&board, 2);
    let (mut ws, sid) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text(r#"423["ask-discard"]"#);
    let (id, body) = read_question(&mut ws);
    assert_eq!(body, r#"["q","never"]"#);
    assert_eq!(ws.next_text(), "433[true,false]");
    ws.send_text(&format!(r#"43{id}["answered anyway"]"#));
    std::thread::sleep(ACK_TIMEOUT * 2);
    ws.send_text(r#"424["echo",1]"#);
    assert_eq!(ws.next_text(), "434[1]");
    assert_eq!(board.get(&format!("discarded:{sid}")), None);
    server.shutdown();
}

#[test]
fn ack_later_is_sent_from_another_thread() {
    let board = Board::default();
    let server = start(&board, 2);
    let (mut ws, _) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text(r#"4211["later","done"]"#);
    assert_eq!(ws.next_text(), r#"4311["done",true]"#);
    // On a namespace other than `/` the deferred ack carries the namespace.
    ws.sio_join("/chat");
    ws.send_text(r#"42/chat,12["later","chat"]"#);
    assert_eq!(ws.next_text(), r#"43/chat,12["chat",true]"#);
    server.shutdown();
}

#[test]
fn reserved_event_names_are_refused() {
    let board = Board::default();
    let server = start(&board, 2);
    let (mut ws, sid) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text(r#"421["reserved"]"#);
    assert_eq!(ws.next_text(), "431[true]");
    let handle = server.handle();
    for name in RESERVED {
        assert_eq!(
            handle.emit_to("/", &sid, name, &()),
            Err(EmitError::ReservedEvent)
        );
    }
    // Nothing reached the client: the next message is the echo.
    ws.send_text(r#"422["echo",2]"#);
    assert_eq!(ws.next_text(), "432[2]");
    server.shutdown();
}

#[test]
fn emit_to_from_another_thread_reaches_the_socket() {
    let board = Board::default();
    let server = start(&board, 2);
    let addr = server.local_addr();
    let (mut root, root_sid) = RawWs::sio_connect(addr, "/");
    let chat_sid = root.sio_join("/chat");
    let handle = server.handle();
    let sent = std::thread::spawn(move || {
        [
            handle.emit_to("/", &root_sid, "hello", &("from", "thread", 1)),
            handle.emit_to("/chat", &chat_sid, "hello", &[("chat",)]),
            handle.emit_to("/", "not-a-socket-id", "hello", &()),
        ]
    })
    .join()
    .unwrap();
    assert_eq!(sent, [Ok(true), Ok(true), Ok(false)]);
    assert_eq!(root.next_text(), r#"42["hello","from","thread",1]"#);
    assert_eq!(root.next_text(), r#"42/chat,["hello",["chat"]]"#);
    server.shutdown();
}

#[test]
fn fifty_clients_over_four_workers_all_get_their_acks() {
    let board = Board::default();
    let server = start(&board, 4);
    let addr = server.local_addr();
    let workers = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let board = board.clone();
            let workers = workers.clone();
            std::thread::spawn(move || {
                let (mut ws, sid) = RawWs::sio_connect(addr, "/");
                for round in 0..3 {
                    ws.send_text(&format!(r#"42{round}["echo",{i},"x"]"#));
                    assert_eq!(ws.next_text(), format!(r#"43{round}[{i},"x"]"#));
                }
                let worker = board.wait(&format!("worker:{sid}"), Duration::from_secs(2));
                workers.lock().unwrap().insert(worker.unwrap());
                ws.send_text("41");
                ws.send_text("1");
                assert!(matches!(ws.read(), Got::Close(_) | Got::Eof));
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let used = workers.lock().unwrap().len();
    assert!(used > 1, "all 50 connections landed on one worker");
    server.shutdown();
}
