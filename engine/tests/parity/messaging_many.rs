//! `packages/socket.io/test/messaging-many.ts`: emits to a whole namespace (binary included),
//! to the others, to rooms (each socket once), broadcasts to rooms, the rooms a socket is in,
//! broadcasts leaving out sockets and rooms, and broadcasts collecting acknowledgements.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::executor::block_on;
use serde_json::{json, Value};
use volley::server::{Ack, Args, BroadcastAcks, ConnectError, NamespaceBuilder, Server, Socket};

/// Argument `i` as a string.
fn arg(args: &Args<'_>, i: usize) -> Option<String> {
    args.get(i)?.as_str().map(|s| s.into_owned())
}

fn emit_failed(e: impl std::fmt::Display) -> ConnectError {
    ConnectError::new(e.to_string())
}

/// The socket's rooms, sorted (a set, as `socket.rooms` is).
fn rooms(s: &mut Socket<'_, '_>) -> Vec<String> {
    let mut r = s.rooms();
    r.sort();
    r
}

/// `join`/`leave` one room each (acknowledged), and `rooms`: the namespace's rooms over every
/// worker as the handle lists them (`nsp.adapter.rooms`), read off the worker's thread.
fn room_index_namespace(ns: &mut NamespaceBuilder) {
    ns.on("join", |s, args| {
        s.join(arg(args, 0)?);
        Ack::one(&true).ok()
    });
    ns.on("leave", |s, args| {
        s.leave(arg(args, 0)?);
        Ack::one(&true).ok()
    });
    ns.on("rooms", |s, _| {
        let nsp = s.nsp().to_string();
        let deferred = s.ack_later()?;
        let handle = s.server();
        std::thread::spawn(move || {
            let rooms = handle.of(&nsp).rooms(Duration::from_secs(2));
            deferred.send(Ack::one(&rooms).unwrap_or_default());
        });
        None
    });
}

/// `socket.leaveAll()`: leaves every room the socket is in, its own included.
fn leave_all(s: &mut Socket<'_, '_>) {
    for room in s.rooms() {
        s.leave(&room);
    }
}

/// What a broadcast's acknowledgements were: how many sockets did not answer (the reference's
/// `err`), each reply's first argument (the reference's `responses`), how long it took.
fn acks_report(acks: &BroadcastAcks, start: Instant) -> Value {
    let responses: Vec<Value> = acks
        .replies
        .iter()
        .map(|(_, json)| {
            let args: Vec<Value> = serde_json::from_slice(json).unwrap_or_default();
            args.into_iter().next().unwrap_or(Value::Null)
        })
        .collect();
    json!({
        "noReply": acks.no_reply,
        "responses": responses,
        "elapsedMs": start.elapsed().as_millis() as u64,
    })
}

/// `start(timeout ms, room?)`: `io.of(nsp)[.to(room)].timeout(ms).emit("some event", cb)` from
/// the server handle; acknowledged with [`acks_report`] of what `cb` got.
/// `start-promise(timeout ms)`: `await io.timeout(ms).emitWithAck("some event")`, acknowledged
/// with the report and whether the future failed (the promise's rejection).
fn acks_namespace(ns: &mut NamespaceBuilder) {
    ns.on("start", |s, args| {
        let timeout = Duration::from_millis(args.get(0)?.as_u64()?);
        let room = arg(args, 1);
        let nsp = s.nsp().to_string();
        let deferred = s.ack_later()?;
        let handle = s.server();
        std::thread::spawn(move || {
            let mut sel = handle.of(&nsp);
            if let Some(room) = &room {
                sel = sel.to(room);
            }
            let start = Instant::now();
            let sent = sel.emit_with_ack("some event", &(), timeout, move |acks| {
                deferred.send(Ack::new(&acks_report(&acks, start)).unwrap_or_default());
            });
            assert!(sent.is_ok(), "{sent:?}");
        });
        None
    });
    ns.on("start-promise", |s, args| {
        let timeout = Duration::from_millis(args.get(0)?.as_u64()?);
        let start = Instant::now();
        let future = s
            .server()
            .of(s.nsp())
            .emit_with_ack_future("some event", &(), timeout);
        let deferred = s.ack_later()?;
        std::thread::spawn(move || {
            let (rejected, acks) = match block_on(future.expect("the broadcast encodes")) {
                Ok(acks) => (false, acks),
                Err(missing) => (true, missing.acks),
            };
            let mut report = acks_report(&acks, start);
            report["rejected"] = json!(rejected);
            deferred.send(Ack::new(&report).unwrap_or_default());
        });
        None
    });
}

fn server() -> Server {
    super::harness::builder()
        .namespace("/", |ns| {
            ns.on("join", |s, args| {
                s.join(&arg(args, 0)?);
                Some(Ack::empty())
            });
            // `socket.broadcast.emit("a", "b")`.
            ns.on("broadcast", |s, _| {
                s.broadcast().emit("a", &"b").ok()?;
                None
            });
            // `io.in(room).emit("a")`.
            ns.on("emit", |s, args| {
                s.within(&arg(args, 0)?).emit("a", &()).ok()?;
                None
            });
            ns.on("emit-dupes", |s, _| {
                s.within("woot").to("test").emit("a", &()).ok()?;
                s.within("third").emit("b", &()).ok()?;
                None
            });
            ns.on("broadcast-to-test", |s, _| {
                s.broadcast().to("test").emit("a", &()).ok()?;
                s.emit("b", &()).ok()?;
                None
            });
            ns.on("broadcast-bin", |s, _| {
                s.broadcast()
                    .to("test")
                    .emit("bin", &Bytes::from(vec![0u8; 5]))
                    .ok()?;
                s.emit("bin2", &Bytes::from(vec![0u8; 5])).ok()?;
                None
            });
            ns.on("exclude", |s, args| {
                s.broadcast().except(&arg(args, 0)?).emit("a", &()).ok()?;
                None
            });
            ns.on("broadcast-except-room1", |s, _| {
                s.broadcast().except("room1").emit("a", &()).ok()?;
                None
            });
        })
        .namespace("/test", |ns| {
            // `io.emit("a", "b")` and `io.emit("bin", Buffer.alloc(10))`, on the main namespace.
            ns.on("io-emit", |s, _| {
                let handle = s.server();
                std::thread::spawn(move || handle.of("/").emit("a", &"b").unwrap());
                None
            });
            ns.on("io-emit-bin", |s, _| {
                let handle = s.server();
                std::thread::spawn(move || {
                    handle
                        .of("/")
                        .emit("bin", &Bytes::from(vec![0u8; 10]))
                        .unwrap()
                });
                None
            });
        })
        .namespace("/track-rooms", |ns| {
            ns.on_connect(|s, _| {
                let mut steps = Vec::new();
                s.join("a");
                steps.push(rooms(s));
                s.join("b");
                steps.push(rooms(s));
                s.join("c");
                steps.push(rooms(s));
                s.leave("b");
                steps.push(rooms(s));
                leave_all(s);
                steps.push(rooms(s));
                let id = s.id().to_string();
                s.emit("rooms", &(id, steps)).map_err(emit_failed)
            });
        })
        .namespace("/cleanup-rooms", |ns| {
            ns.on_connect(|s, _| {
                let mut steps = Vec::new();
                s.join("a");
                steps.push(rooms(s));
                s.join("b");
                steps.push(rooms(s));
                s.leave("unknown");
                steps.push(rooms(s));
                leave_all(s);
                steps.push(rooms(s));
                let id = s.id().to_string();
                s.emit("rooms", &(id, steps)).map_err(emit_failed)
            });
        })
        .namespace("/empty-rooms", room_index_namespace)
        .namespace("/join-several", |ns| {
            ns.on_connect(|s, _| {
                s.join(["a", "b", "c"]);
                let id = s.id().to_string();
                let now = rooms(s);
                s.emit("rooms", &(id, now)).map_err(emit_failed)
            });
        })
        .namespace("/acks", acks_namespace)
        .namespace("/acks-timeout", acks_namespace)
        .namespace("/acks-none", acks_namespace)
        .listen()
        .unwrap()
}

#[test]
fn messaging_many() {
    super::harness::check("messaging-many", server());
}
