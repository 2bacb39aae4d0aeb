//! `packages/socket.io/test/socket.ts`: events both ways (plain, utf-8, binary, mixed), volatile
//! emits, acknowledgements both ways (binary included), the handshake's request, very large
//! payloads, a server closed and restarted on its port, malformed packets, reserved names,
//! rooms after a refusal or a disconnect, catch-alls and outgoing listeners, and
//! `disconnect(true)` closing every namespace of a connection.
//!
//! Each scenario has its own namespace. What the server saw comes back to the client as an
//! event (or an acknowledgement) with the arguments described by [`describe`], so the script
//! asserts it. `/stats` counts sockets and rooms, `/aux` starts and stops extra servers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};
use volley::server::{Ack, Args, ConnectError, Server};

/// The servers `/aux` started, by port.
type AuxServers = Arc<Mutex<HashMap<u16, Server>>>;

/// What socket ids the outgoing listeners saw: (event, described arguments) per socket.
type OutgoingLog = Arc<Mutex<HashMap<String, Vec<Value>>>>;

/// `byte[i]`, also computed by the script: a stand-in for the reference's image fixtures.
fn image(len: usize) -> Bytes {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

/// The reference's `doge.jpg` (a small image).
fn doge() -> &'static Bytes {
    static DOGE: OnceLock<Bytes> = OnceLock::new();
    DOGE.get_or_init(|| image(60_000))
}

/// The reference's `big.jpg` (a large image, under the default 1 MB payload limit).
fn big_jpg() -> &'static Bytes {
    static BIG: OnceLock<Bytes> = OnceLock::new();
    BIG.get_or_init(|| image(600_000))
}

/// The reference's `big.json`: about 450 kB of nested JSON.
fn big_json() -> &'static Value {
    static BIG: OnceLock<Value> = OnceLock::new();
    BIG.get_or_init(|| {
        let items: Vec<Value> = (0..4000)
            .map(|i| {
                json!({
                    "id": i,
                    "name": format!("item number {i}"),
                    "tags": ["alpha", "beta", i % 7],
                    "nested": {"even": i % 2 == 0, "ratio": f64::from(i) / 8.0, "none": null},
                })
            })
            .collect();
        json!({"items": items, "total": 4000})
    })
}

/// An argument as the server decoded it: JSON, with every placeholder that points at an
/// attachment replaced by `{"$binary": <length>}` (a Buffer on the client's side).
fn resolve(v: Value, args: &Args<'_>) -> Value {
    match v {
        Value::Object(m) => {
            let bin = (m.get("_placeholder") == Some(&Value::Bool(true)))
                .then(|| m.get("num").and_then(Value::as_u64))
                .flatten()
                .and_then(|n| args.binary(n as usize));
            match bin {
                Some(b) => json!({ "$binary": b.len() }),
                None => Value::Object(m.into_iter().map(|(k, v)| (k, resolve(v, args))).collect()),
            }
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|v| resolve(v, args)).collect()),
        other => other,
    }
}

/// Every argument of an event or an ack, as [`resolve`] shows it.
fn describe(args: &Args<'_>) -> Vec<Value> {
    args.iter()
        .map(|a| resolve(serde_json::from_str(a.json()).unwrap_or(Value::Null), args))
        .collect()
}

/// The bytes of argument `i`'s field `field` if it is a binary attachment.
fn binary_field<'a>(args: &'a Args<'_>, i: usize, field: &str) -> Option<&'a [u8]> {
    let v: Value = args.deserialize(i).ok()?;
    let num = v.get(field)?.get("num")?.as_u64()?;
    args.binary(num as usize)
}

#[derive(Serialize)]
struct BigImage {
    hello: &'static str,
    image: Bytes,
}

/// Starts a one-worker server for `/aux` on `port` (0: any): `/` echoes `ev` as `ev-got`.
fn aux_server(port: u16) -> std::io::Result<Server> {
    Server::builder()
        .configure(|c| {
            c.listen = format!("127.0.0.1:{port}").parse().unwrap();
            c.workers = 1;
            c.shutdown_timeout = Duration::from_secs(1);
            super::harness::compression_from_env(c);
        })
        .namespace("/", |ns| {
            ns.on("ev", |s, args| {
                let _ = s.emit("ev-got", &describe(args));
                None
            });
        })
        .listen()
        .map_err(|e| std::io::Error::other(e.to_string()))
}

fn server(aux: AuxServers) -> Server {
    let outgoing: OutgoingLog = Arc::default();
    let log = |outgoing: &OutgoingLog| {
        let outgoing = outgoing.clone();
        move |sid: &str, event: &str, args: &Args<'_>| {
            let entry = json!([event, describe(args)]);
            outgoing
                .lock()
                .unwrap()
                .entry(sid.to_string())
                .or_default()
                .push(entry);
        }
    };
    let read_log = |outgoing: &OutgoingLog| {
        let outgoing = outgoing.clone();
        move |s: &mut volley::server::Socket<'_, '_>, _: &Args<'_>| {
            let seen = outgoing.lock().unwrap().remove(s.id()).unwrap_or_default();
            Ack::one(&seen).ok()
        }
    };
    let emit_on_connect = |event: &'static str, args: Value| {
        move |s: &mut volley::server::Socket<'_, '_>, _: Option<volley::server::ValueRef<'_>>| {
            s.emit(event, &args)
                .map_err(|e| ConnectError::new(e.to_string()))
        }
    };
    // The server emits `hi` with `args` and an ack callback, and reports the ack as `acked`.
    fn emit_hi_with_ack<T: Serialize + Send + Sync + 'static>(
        args: T,
    ) -> impl Fn(
        &mut volley::server::Socket<'_, '_>,
        Option<volley::server::ValueRef<'_>>,
    ) -> Result<(), ConnectError>
           + Send
           + Sync
           + 'static {
        move |s, _| {
            s.emit_with_ack("hi", &args, Duration::from_secs(5), |s, reply| {
                let report = match reply {
                    Ok(args) => json!({ "args": describe(args) }),
                    Err(e) => json!({ "error": e.to_string() }),
                };
                let _ = s.emit("acked", &report);
            })
            .map(|_| ())
            .map_err(|e| ConnectError::new(e.to_string()))
        }
    }

    // What `on_error` heard, per socket id, read back by the `errors` event.
    let errors: OutgoingLog = Arc::default();
    let heard = errors.clone();
    super::harness::builder()
        .namespace("/", |_| {})
        .namespace("/raw-error", move |ns| {
            let heard = heard.clone();
            ns.on_error(move |s, message| {
                let mut log = heard.lock().unwrap();
                log.entry(s.id().to_string())
                    .or_default()
                    .push(json!(message));
            });
            let errors = errors.clone();
            ns.on("errors", move |_, args| {
                let sid: String = args.deserialize(0).ok()?;
                let seen = errors.lock().unwrap().remove(&sid).unwrap_or_default();
                Ack::one(&seen).ok()
            });
        })
        .namespace("/recv", |ns| {
            ns.on_any(|s, name, args| {
                let _ = s.emit("got", &(name, describe(args)));
                None
            });
        })
        .namespace("/woot", |ns| {
            ns.on_connect(emit_on_connect("woot", json!("tobi")));
        })
        .namespace("/hoot", |ns| {
            for _ in 0..3 {
                ns.on_connect(emit_on_connect("hoot", json!("utf8 — string")));
            }
        })
        .namespace("/doge", |ns| {
            ns.on_connect(|s, _| {
                s.emit("doge", doge())
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/multiple", |ns| {
            ns.on_connect(|s, _| {
                let buf = Bytes::from_static(b"asdfasdf");
                let args = (1, doge(), "3", [4], &buf, (doge(), "swag", &buf));
                s.emit("multiple", &args)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/volatile-go", |ns| {
            // The reference emits from a timer once the connection is idle; here the client
            // says when, after the same wait.
            ns.on("one", |s, _| {
                let _ = s.volatile_emit("ev", "data");
                None
            });
            ns.on("two", |s, _| {
                let _ = s.volatile_emit("ev", "data");
                let _ = s.volatile_emit("ev", "data");
                None
            });
            ns.on("two-binary", |s, _| {
                let _ = s.volatile_emit("ev", &Bytes::from_static(&[1, 2, 3]));
                let _ = s.volatile_emit("ev", &Bytes::from_static(&[4, 5, 6]));
                None
            });
            ns.on("regular-volatile-regular", |s, _| {
                let _ = s.emit("ev", "data");
                let _ = s.volatile_emit("ev", "data");
                let _ = s.emit("ev", "data");
                None
            });
        })
        .namespace("/volatile-after-regular", |ns| {
            ns.on_connect(|s, _| {
                let _ = s.emit("ev", "data");
                let _ = s.volatile_emit("ev", "data");
                Ok(())
            });
        })
        .namespace("/volatile-broadcast", |ns| {
            ns.on("two-binary", |s, _| {
                let _ = s
                    .everyone()
                    .volatile()
                    .emit("ev", &Bytes::from_static(&[1, 2, 3]));
                let _ = s
                    .everyone()
                    .volatile()
                    .emit("ev", &Bytes::from_static(&[4, 5, 6]));
                None
            });
        })
        .namespace("/send", |ns| {
            // `socket.send(x)` is `socket.emit("message", x)`.
            ns.on_connect(emit_on_connect("message", json!("a")));
        })
        .namespace("/ack-12", |ns| {
            ns.on("woot", |_, args| {
                if args.is_empty() {
                    Ack::new(&(1, 2)).ok()
                } else {
                    Ack::one(&describe(args)).ok()
                }
            });
        })
        .namespace("/ack-args", |ns| {
            ns.on("woot", |_, args| {
                if describe(args) == vec![json!(1), json!(2)] {
                    Ack::new(&()).ok()
                } else {
                    Ack::one(&describe(args)).ok()
                }
            });
        })
        .namespace("/ack-binary-args", |ns| {
            ns.on("woot", |_, args| {
                if describe(args) == vec![json!({"$binary": 3})] {
                    Ack::new(&(1, 2)).ok()
                } else {
                    Ack::one(&describe(args)).ok()
                }
            });
        })
        .namespace("/compression", |ns| {
            // The reference checks each packet's `compress` option on the Engine.IO socket;
            // here the client sees it: a `woot` of 4 KiB in a polling response compressed, or
            // plain for `socket.compress(false)`.
            ns.on("compress-default", |s, _| {
                let _ = s.emit("woot", &("hi ".repeat(1365),));
                None
            });
            ns.on("compress-off", |s, _| {
                let _ = s.compress(false).emit("woot", &("hi ".repeat(1365),));
                None
            });
        })
        .namespace("/ack-with-binary", |ns| {
            ns.on("woot", |_, _| Ack::new(&Bytes::from(vec![0u8; 2])).ok());
        })
        .namespace("/chat", |ns| {
            ns.on_connect(|s, _| {
                s.set_data(Vec::<String>::new());
                Ok(())
            });
            ns.on("hi", |s, args| {
                let letter = args.deserialize::<String>(0).unwrap_or_default();
                let letters = s.data_mut::<Vec<String>>()?;
                letters.push(letter);
                if letters.len() == 2 {
                    let letters = letters.clone();
                    let _ = s.emit("order", &letters);
                }
                None
            });
        })
        .namespace("/emit-ack", |ns| {
            ns.on_connect(emit_hi_with_ack(()));
        })
        .namespace("/emit-ack-args", |ns| {
            ns.on_connect(emit_hi_with_ack((1, 2)));
        })
        .namespace("/emit-ack-binary", |ns| {
            ns.on_connect(emit_hi_with_ack(Bytes::from(vec![0u8; 4])));
        })
        .namespace("/request", |ns| {
            ns.on_connect(|s, _| {
                let h = s.handshake();
                let report = json!({
                    "headers": h.headers.len(),
                    "host": h.header("host"),
                });
                s.emit("request", &report)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/query", |ns| {
            ns.on_connect(|s, _| {
                let h = s.handshake();
                let report = json!({
                    "key1": h.query_param("key1"),
                    "key2": h.query_param("key2"),
                });
                s.emit("query", &report)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/connection2", |ns| {
            ns.on_connect(|s, auth| {
                let h = s.handshake();
                let auth: Value = auth
                    .and_then(|a| a.deserialize().ok())
                    .unwrap_or(Value::Null);
                let report = json!({
                    "hasKey1": h.query_param("key1").is_some(),
                    "EIO": h.query_param("EIO"),
                    "auth": auth,
                });
                s.emit("handshake", &report)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/big-json", |ns| {
            ns.on_connect(|s, _| {
                s.emit("big", &json!({"hello": "friend", "json": big_json()}))
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
            ns.on("big", |s, args| {
                let _ = s.emit_args("big", args);
                None
            });
        })
        .namespace("/big-binary", |ns| {
            ns.on_connect(|s, _| {
                let big = BigImage {
                    hello: "friend",
                    image: big_jpg().clone(),
                };
                s.emit("big", &big)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
            ns.on("big", |s, args| {
                if binary_field(args, 0, "image").is_some() {
                    let _ = s.emit_args("big", args);
                } else {
                    let _ = s.emit("not-binary", &describe(args));
                }
                None
            });
        })
        .namespace("/reserved", |ns| {
            ns.on_connect(|s, _| {
                let report = match s.emit("connect_error", &()) {
                    Ok(()) => json!({"ok": true}),
                    Err(e) => json!({"error": format!("{e:?}"), "message": e.to_string()}),
                };
                s.emit("reserved", &report)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/middleware-room", |ns| {
            ns.middleware(|s, _| {
                s.join("room1");
                Err(ConnectError::new("nope"))
            });
        })
        .namespace("/join-after-disconnect", |ns| {
            ns.on_connect(|s, _| {
                s.disconnect();
                s.join("room1");
                Ok(())
            });
        })
        .namespace("/leave-multiple", |ns| {
            ns.on_connect(|s, _| {
                s.join(["room1", "room2"]);
                s.leave(["room1", "room2"]);
                Ok(())
            });
            // The namespace's rooms as the handle lists them (`io.of("/").adapter.rooms`).
            ns.on("rooms", |s, _| {
                let nsp = s.nsp().to_string();
                let deferred = s.ack_later()?;
                let handle = s.server();
                thread::spawn(move || {
                    let rooms = handle.of(&nsp).rooms(Duration::from_secs(2));
                    deferred.send(Ack::one(&rooms).unwrap_or_default());
                });
                None
            });
        })
        .namespace("/any", |ns| {
            ns.on_any(|s, name, args| {
                let _ = s.emit("any", &(name, describe(args)));
                None
            });
        })
        .namespace("/any-prepend", |ns| {
            ns.on_connect(|s, _| {
                s.set_data(Vec::<String>::new());
                Ok(())
            });
            ns.on_any(|s, _, _| {
                let ran = s.data::<Vec<String>>().cloned().unwrap_or_default();
                let _ = s.emit("ran", &ran);
                None
            });
            ns.prepend_any(|s, _, _| {
                s.data_mut::<Vec<String>>()?.push("prepended first".into());
                None
            });
            ns.prepend_any(|s, _, _| {
                s.data_mut::<Vec<String>>()?.push("prepended second".into());
                None
            });
        })
        .namespace("/any-remove", |ns| {
            // `socket.onAny(fail); socket.offAny(fail)`, then a listener that reports.
            ns.on_connect(|s, _| {
                let fail = s.on_any(|s, _, _| {
                    let _ = s.emit("failed", "a removed listener ran");
                });
                s.off_any(fail);
                let left = s.any_listeners();
                s.on_any(move |s, name, _| {
                    let _ = s.emit("any-ok", &(name, left));
                });
                Ok(())
            });
        })
        .namespace("/outgoing-prepend", |ns| {
            ns.on_connect(|s, _| {
                let order = Rc::new(RefCell::new(Vec::<String>::new()));
                let o = order.clone();
                s.on_any_outgoing(move |name, _| o.borrow_mut().push(format!("added {name}")));
                let o = order.clone();
                s.prepend_any_outgoing(move |_, _| o.borrow_mut().push("prepended first".into()));
                let o = order.clone();
                s.prepend_any_outgoing(move |_, _| o.borrow_mut().push("prepended second".into()));
                s.emit("my-event", "123")
                    .map_err(|e| ConnectError::new(e.to_string()))?;
                let ran = order.borrow().clone();
                s.emit("ran", &ran)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/outgoing-remove", |ns| {
            ns.on_connect(|s, _| {
                let seen = Rc::new(RefCell::new(Vec::<String>::new()));
                let o = seen.clone();
                let fail = s.on_any_outgoing(move |_, _| o.borrow_mut().push("failed".into()));
                s.off_any_outgoing(fail);
                let left = s.any_outgoing_listeners();
                let o = seen.clone();
                s.on_any_outgoing(move |name, args| {
                    let first = args
                        .get(0)
                        .map(|a| a.json().to_string())
                        .unwrap_or_default();
                    o.borrow_mut().push(format!("{name} {first}"));
                });
                s.emit("my-event", "123")
                    .map_err(|e| ConnectError::new(e.to_string()))?;
                let ran = seen.borrow().clone();
                s.emit("ran", &(ran, left))
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/outgoing", |ns| {
            ns.on_any_outgoing(log(&outgoing));
            ns.on_connect(emit_on_connect("my-event", json!("123")));
            ns.on("seen", read_log(&outgoing));
        })
        .namespace("/outgoing-broadcast", |ns| {
            ns.on_any_outgoing(log(&outgoing));
            ns.on("go", |s, _| {
                let _ = s.everyone().emit("my-event", "123");
                None
            });
            ns.on("go-binary", |s, _| {
                let _ = s
                    .everyone()
                    .emit("my-event", &Bytes::from_static(&[1, 2, 3]));
                None
            });
            ns.on("seen", read_log(&outgoing));
        })
        .namespace("/foo", |_| {})
        .namespace("/bar", |ns| {
            ns.on_connect(|s, _| {
                // `socket.disconnect(true)`: leave and close the whole connection.
                let id = s.id().to_string();
                s.server().of("/bar").to(&id).disconnect_sockets(true);
                Ok(())
            });
        })
        .namespace("/stats", |ns| {
            // Sockets of a namespace (or a room of it): the whole namespace counts every
            // socket's own room, so 0 is the reference's `adapter.rooms.size == 0`.
            ns.on("count", |s, args| {
                let nsp = args.deserialize::<String>(0).ok()?;
                let room = args.deserialize::<Option<String>>(1).ok().flatten();
                let ack = s.ack_later()?;
                let handle = s.server();
                thread::spawn(move || {
                    let mut sel = handle.of(&nsp);
                    if let Some(room) = &room {
                        sel = sel.to(room);
                    }
                    let n = sel.count(Duration::from_secs(2));
                    ack.send(Ack::new(&n).unwrap());
                });
                None
            });
        })
        .namespace("/aux", move |ns| {
            // `start` [port]: a new server (on `port`, or any), acked with its port or an
            // error; `close` port: shuts it down, acked when it is closed.
            let servers = aux.clone();
            ns.on("start", move |s, args| {
                let port = args.deserialize::<u16>(0).unwrap_or(0);
                let ack = s.ack_later()?;
                let servers = servers.clone();
                thread::spawn(move || {
                    let reply = match aux_server(port) {
                        Ok(server) => {
                            let port = server.local_addr().port();
                            servers.lock().unwrap().insert(port, server);
                            json!({ "port": port })
                        }
                        Err(e) => json!({ "error": e.to_string() }),
                    };
                    ack.send(Ack::new(&reply).unwrap());
                });
                None
            });
            let servers = aux.clone();
            ns.on("close", move |s, args| {
                let port = args.deserialize::<u16>(0).ok()?;
                let ack = s.ack_later()?;
                let server = servers.lock().unwrap().remove(&port);
                thread::spawn(move || {
                    let closed = server.map(Server::shutdown).is_some();
                    ack.send(Ack::new(&closed).unwrap());
                });
                None
            });
        })
        .listen()
        .unwrap()
}

#[test]
fn socket() {
    let aux = AuxServers::default();
    super::harness::check("socket", server(aux.clone()));
    let left: Vec<Server> = aux.lock().unwrap().drain().map(|(_, s)| s).collect();
    left.into_iter().for_each(Server::shutdown);
}
