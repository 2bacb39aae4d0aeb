//! `packages/socket.io/test/namespaces.ts`: namespaces named with or without their `/`,
//! several connection listeners, disconnection of every namespace of a connection, the
//! `disconnecting` handler seeing the rooms, unknown namespaces, sockets of a namespace and of
//! its rooms, volatile and excluding broadcasts, the connect timeout, dynamic namespaces.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use volley::server::{Ack, Args, ConnectError, NamespaceBuilder, Server, ServerHandle, Socket};

/// Facts handlers saw, keyed by `"<what> <nsp> <socket id>"`, read back through `/stats`.
type Seen = Arc<Mutex<HashMap<String, Value>>>;

const FETCH: Duration = Duration::from_secs(2);

/// Argument `i` as a string.
fn arg(args: &Args<'_>, i: usize) -> Option<String> {
    args.get(i)?.as_str().map(|s| s.into_owned())
}

fn emit_failed(e: impl std::fmt::Display) -> ConnectError {
    ConnectError::new(e.to_string())
}

/// Runs `f` with the server handle on a thread of its own (handle calls block) and sends what
/// it returns as the acknowledgement of the event being handled.
fn on_thread(
    s: &mut Socket<'_, '_>,
    f: impl FnOnce(ServerHandle) -> Ack + Send + 'static,
) -> Option<Ack> {
    let deferred = s.ack_later();
    let handle = s.server();
    std::thread::spawn(move || {
        let ack = f(handle);
        if let Some(d) = deferred {
            d.send(ack);
        }
    });
    None
}

/// `join(room)`, acknowledged once joined.
fn join_handler(ns: &mut NamespaceBuilder) {
    ns.on("join", |s, args| {
        s.join(&arg(args, 0)?);
        Some(Ack::empty())
    });
}

/// Records the reason of every disconnect of the namespace.
fn record_disconnects(ns: &mut NamespaceBuilder, seen: &Seen) {
    let seen = seen.clone();
    ns.on_disconnect(move |s, reason| {
        let key = format!("disconnect {} {}", s.nsp(), s.id());
        seen.lock().unwrap().insert(key, json!(reason.as_str()));
    });
}

/// Acknowledges `connect` being emitted through `emit` with the error it gave.
fn reserved(result: Result<(), volley::server::EmitError>) -> Ack {
    let err = result.err().map(|e| format!("{e:?}: {e}"));
    Ack::new(&err).unwrap_or_default()
}

/// Whether `name` matches `^/dynamic-\d+$`.
fn dynamic_regex(name: &str) -> bool {
    name.strip_prefix("/dynamic-")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

fn server() -> Server {
    // Every name `new_namespace` was told of, in order; read back by `/created`.
    let created = Arc::new(Mutex::new(Vec::<String>::new()));
    let heard = created.clone();
    let seen: Seen = Arc::default();
    let stats = seen.clone();
    let (chat_seen, news_seen, dis_seen) = (seen.clone(), seen.clone(), seen.clone());
    super::harness::builder()
        .configure(|c| {
            // Stock clients send CONNECT as soon as the connection opens; a client that never
            // does is closed after this long (the reference test uses 10 ms on its own server).
            c.connect_timeout = Duration::from_millis(500);
        })
        // `""` is `/`.
        .namespace("", |ns| {
            ns.on_connect(|s, _| {
                let id = s.id().to_string();
                s.emit("connection", &id).map_err(emit_failed)
            });
            ns.on("except-emit", |s, args| {
                let id = arg(args, 0)?;
                on_thread(s, move |h| {
                    Ack::new(&h.of("/").except(&id).emit("a", &()).is_ok()).unwrap_or_default()
                })
            });
            ns.on("emit-reserved", |s, _| {
                on_thread(s, |h| reserved(h.of("/").emit("connect", &())))
            });
        })
        // Without its `/`: served as `/abc`.
        .namespace("abc", |ns| {
            ns.on_connect(|s, _| {
                let id = s.id().to_string();
                s.emit("connection", &id).map_err(emit_failed)
            });
        })
        .namespace("/chat", move |ns| {
            join_handler(ns);
            ns.on("all-sockets", |s, args| {
                let room = arg(args, 0);
                on_thread(s, move |h| {
                    let mut sel = h.of("/chat");
                    if let Some(room) = &room {
                        sel = sel.to(room);
                    }
                    let ids: Vec<String> = sel
                        .fetch_sockets(FETCH)
                        .unwrap()
                        .into_iter()
                        .map(|i| i.id)
                        .collect();
                    Ack::new(&ids).unwrap_or_default()
                })
            });
            // `socket.disconnect(true)`: closes the whole connection.
            ns.on("close", |s, _| {
                let id = s.id().to_string();
                on_thread(s, move |h| {
                    h.of("/chat").to(&id).disconnect_sockets(true);
                    Ack::empty()
                })
            });
            record_disconnects(ns, &chat_seen);
        })
        .namespace("/news", move |ns| {
            // Two connection listeners: both run, in order.
            ns.on_connect(|s, _| s.emit("listener", &1).map_err(emit_failed));
            ns.on_connect(|s, _| s.emit("listener", &2).map_err(emit_failed));
            record_disconnects(ns, &news_seen);
        })
        // `io.of(name, fn)` twice: the second call adds to the same namespace.
        .namespace("/news-of", |ns| {
            ns.on_connect(|s, _| s.emit("listener", &1).map_err(emit_failed));
        })
        .namespace("/news-of", |ns| {
            ns.on_connect(|s, _| s.emit("listener", &2).map_err(emit_failed));
        })
        .namespace("/other", join_handler)
        .namespace("/disconnecting", move |ns| {
            ns.on_connect(|s, _| {
                s.join("a");
                Ok(())
            });
            ns.on("disconnect-me", |s, _| {
                s.disconnect();
                None
            });
            let seen = dis_seen.clone();
            ns.on_disconnecting(move |s, _| {
                let key = format!("disconnecting {} {}", s.nsp(), s.id());
                seen.lock().unwrap().insert(key, json!(s.rooms()));
            });
            let seen = dis_seen.clone();
            ns.on_disconnect(move |s, _| {
                let key = format!("disconnect {} {}", s.nsp(), s.id());
                seen.lock().unwrap().insert(key, json!(s.rooms()));
            });
        })
        .namespace("/stats", move |ns| {
            let seen = stats.clone();
            ns.on("seen", move |_, args| {
                let fact = seen.lock().unwrap().get(&arg(args, 0)?).cloned();
                Ack::new(&fact).ok()
            });
        })
        .namespace("/compression", |ns| {
            // As in socket.rs, for a broadcast to the namespace (`nsp.compress(false).emit`).
            ns.on("compress-default", |s, _| {
                let _ = s.everyone().emit("woot", &("hi ".repeat(1365),));
                None
            });
            ns.on("compress-off", |s, _| {
                let _ = s
                    .everyone()
                    .compress(false)
                    .emit("woot", &("hi ".repeat(1365),));
                None
            });
        })
        .namespace("/volatile-after-regular", |ns| {
            ns.on("trigger", |s, _| {
                s.everyone().emit("ev", &"data").ok()?;
                s.everyone().volatile().emit("ev", &"data").ok()?;
                None
            });
        })
        .namespace("/volatile", |ns| {
            ns.on("trigger", |s, _| {
                s.everyone().volatile().emit("ev", &"data").ok()?;
                None
            });
        })
        .namespace("/nsp", |ns| {
            ns.on("except-emit", |s, args| {
                let id = arg(args, 0)?;
                on_thread(s, move |h| {
                    Ack::new(&h.of("/nsp").except(&id).emit("a", &()).is_ok()).unwrap_or_default()
                })
            });
            ns.on("broadcast", |s, _| {
                s.join("room1");
                s.everyone().except("room1").emit("a", &()).ok()?;
                None
            });
        })
        // `io.of(/^\/dynamic-\d+$/)`, with the reference's middleware and connection handler:
        // broadcasts from `on_connect` reach the connecting socket, after its CONNECT reply.
        .dynamic_namespace(dynamic_regex, |ns| {
            ns.middleware(|s, _| {
                s.set_data(true);
                Ok(())
            });
            ns.on_connect(|s, _| {
                let ran = s.data::<bool>().copied().unwrap_or(false);
                let nsp = s.nsp().to_string();
                let sent = s.emit("nsp", &(nsp, ran)).is_ok()
                    && s.everyone()
                        .emit("hello", &(1, "2", json!({"3": "4"})))
                        .is_ok();
                s.join("some-room");
                let in_room = s
                    .within("some-room")
                    .emit("hello", &(4, "3", json!({"2": "1"})))
                    .is_ok();
                if sent && in_room {
                    Ok(())
                } else {
                    Err(ConnectError::new("emit failed"))
                }
            });
        })
        // `io.of((name, query, next) => next(null, name === ...))`.
        .dynamic_namespace(|name| name == "/dynamic-fn-101", |_| {})
        .namespace("/nsp", |_| {})
        .on_new_namespace(move |name| heard.lock().unwrap().push(name.to_string()))
        // `created`: the names `new_namespace` heard; `emit-to` nsp: `io.of(nsp).emit("message")`.
        .namespace("/created", move |ns| {
            let created = created.clone();
            ns.on("created", move |_, _| {
                let names = created.lock().unwrap().clone();
                Ack::one(&names).ok()
            });
            ns.on("emit-to", |s, args| {
                let nsp: String = args.deserialize(0).ok()?;
                let sent = s.server().of(&nsp).emit("message", &()).is_ok();
                Ack::one(&sent).ok()
            });
        })
        .listen()
        .unwrap()
}

#[test]
fn namespaces() {
    super::harness::check("namespaces", server());
}
