//! `packages/socket.io/test/connection-state-recovery.ts`: the CONNECT reply's `pid`, offsets on
//! kept packets, a lost socket restored with its id, rooms, data and missed packets (with and
//! without an offset), malformed or unknown sessions getting a fresh socket, middleware skipped
//! or run upon recovery, and recovery off by default.
//!
//! The reference's scenarios act on the server between raw polling requests (`io.emit`,
//! `io.once("connection")`, `io.use` added later, reading `socket.recovered`); here a stock
//! client on `/control` asks for each of those and reads back what `/` saw of each connection.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use volley::server::{Ack, Server, Socket};

/// What the control namespace sets and reads on one server.
#[derive(Default)]
struct Control {
    /// `io.once("connection", ...)` armed: the next connection on `/` joins `room1` and `room2`
    /// and gets `data.foo = "bar"`.
    once: AtomicBool,
    /// `io.use(...)` added: the middleware on `/` sets `data.middlewareWasCalled`.
    middleware: AtomicBool,
    /// Each connection on `/` as its `on_connect` saw it: id, recovered, rooms, data.
    connections: Mutex<Vec<Value>>,
}

/// Sets `key` in the socket's data, a JSON object made on first use.
fn set_in_data(s: &mut Socket<'_, '_>, key: &str, value: Value) {
    match s.data_mut::<Value>() {
        Some(Value::Object(map)) => {
            map.insert(key.to_string(), value);
        }
        _ => s.set_data(json!({ key: value })),
    }
}

/// A server with recovery within a few seconds (`skip_middlewares` as given), or without it.
fn listen(recovery: Option<bool>) -> Server {
    let control = Arc::new(Control::default());
    let (on_root, on_control) = (control.clone(), control);
    let mut builder = super::harness::builder();
    if let Some(skip) = recovery {
        builder = builder
            .recovery(Duration::from_secs(5))
            .recovery_skip_middlewares(skip);
    }
    builder
        .namespace("/", move |ns| {
            let c = on_root.clone();
            ns.middleware(move |s, _| {
                if c.middleware.load(Ordering::SeqCst) {
                    set_in_data(s, "middlewareWasCalled", json!(true));
                }
                Ok(())
            });
            let c = on_root.clone();
            ns.on_connect(move |s, _| {
                if c.once.swap(false, Ordering::SeqCst) {
                    s.join(["room1", "room2"]);
                    set_in_data(s, "foo", json!("bar"));
                }
                let mut rooms = s.rooms();
                rooms.sort();
                let seen = json!({
                    "id": s.id(),
                    "recovered": s.recovered(),
                    "rooms": rooms,
                    "data": s.data::<Value>(),
                });
                c.connections.lock().unwrap().push(seen);
                Ok(())
            });
        })
        .namespace("/control", move |ns| {
            let c = on_control.clone();
            ns.on("once", move |_, _| {
                c.once.store(true, Ordering::SeqCst);
                Ack::new(&true).ok()
            });
            let c = on_control.clone();
            // `use [bool]`: the middleware acts from now on (or no longer).
            ns.on("use", move |_, args| {
                let on = args.deserialize::<bool>(0).ok()?;
                c.middleware.store(on, Ordering::SeqCst);
                Ack::new(&true).ok()
            });
            let c = on_control.clone();
            ns.on("last-connection", move |_, _| {
                Ack::new(&c.connections.lock().unwrap().last()).ok()
            });
            // `emit [event, room, arg]`: `io.emit(event)`, or `io.to(room).emit(event)` when
            // `room` is a string, with `arg` as its one argument when given.
            ns.on("emit", |s, args| {
                let event: String = args.deserialize(0).ok()?;
                let everyone = s.server().of("/");
                let op = match args.deserialize::<String>(1) {
                    Ok(room) => everyone.to(room),
                    Err(_) => everyone,
                };
                let sent = match args.deserialize::<Value>(2) {
                    Ok(arg) => op.emit(&event, &(arg,)),
                    Err(_) => op.emit(&event, &[(); 0]),
                };
                Ack::new(&sent.is_ok()).ok()
            });
            // `emit-to [id, event]`: `serverSocket.emit(event)` on a socket that may be gone.
            ns.on("emit-to", |s, args| {
                let id: String = args.deserialize(0).ok()?;
                let event: String = args.deserialize(1).ok()?;
                let sent = s.server().emit_to("/", &id, &event, &[(); 0]);
                Ack::new(&sent.is_ok()).ok()
            });
        })
        .listen()
        .unwrap()
}

/// The servers of one run: recovery with middleware skipped (the reference's default), with
/// middleware run, without recovery; and a fresh one with recovery that only the scenarios of a
/// client that never got an offset use (it gets every kept packet for its rooms, so packets of
/// other scenarios must not be there).
#[test]
fn connection_state_recovery() {
    let servers = [listen(Some(true)), listen(Some(false)), listen(None)];
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("http://{}", s.local_addr()))
        .collect();
    let mut fresh = Vec::new();
    super::harness::run_each("connection-state-recovery", |_| {
        let server = listen(Some(true));
        let mut args = urls.clone();
        args.push(format!("http://{}", server.local_addr()));
        fresh.push(server);
        args
    });
    for server in servers.into_iter().chain(fresh) {
        server.shutdown();
    }
}
