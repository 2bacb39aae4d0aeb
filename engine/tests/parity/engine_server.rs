//! `packages/engine.io/test/server.js`: raw Engine.IO endpoints (no Socket.IO) under the
//! options the reference scenarios listen with: handshake refusals and their JSON bodies, the
//! open packet, the sticky cookie, CORS, heartbeats and ping timeouts on both ends, closes from
//! either side, payload limits, text and binary messages on every transport, the upgrade.
//!
//! One server per set of options; the script reaches the main one and asks it (`?urls`) where
//! the others are. Every server shares one [`Store`] that records, per session id, what the
//! handlers saw (open, messages received, close reason) and, per `tag` query parameter, the
//! handshake request `allow_request` saw; the script asks for those records through a control
//! session on the main server (`?sid <sid>`, `?req <tag>`), so server-side facts are checked
//! from the client.
//!
//! Messages: text starting with `!` is a command, JSON `{"send": [text | {"bin": [bytes]}],
//! "repeat": {"n", "len"}, "close": bool}` (send these, then close the session); text starting
//! with `?` is a query; anything else is recorded and answered (`test` gets `woot`, `hey` gets
//! `holà`, everything else, binary included, is echoed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use volley::config::{SameSite, Transports};
use volley::proto::http::Method;
use volley::server::{
    DisconnectReason, EioEvents, EioHandler, EioPacket, EioSocket, Inbound, SendOptions, Server,
    ServerBuilder, WsMessage,
};

/// What the handlers of every server saw, for the script to ask about.
#[derive(Default)]
struct Store {
    /// Per session id: `{"opened": bool, "received": [...], "closed": reason | null}`.
    sessions: Mutex<HashMap<String, Value>>,
    /// Per `tag` query parameter: the handshake request `allow_request` was asked about.
    requests: Mutex<HashMap<String, Value>>,
    /// The other servers' URLs by name.
    urls: OnceLock<Value>,
    /// The servers `?aux` started, by port.
    aux: Mutex<HashMap<u16, Server>>,
}

impl Store {
    /// Appends `v` to list `key` of session `sid` (at most 20 entries kept).
    fn push(&self, sid: &str, key: &str, v: Value) {
        self.update(sid, |e| {
            if !e[key].is_array() {
                e[key] = json!([]);
            }
            let list = e[key].as_array_mut().unwrap();
            if list.len() < 20 {
                list.push(v);
            }
        });
    }

    fn update(&self, sid: &str, f: impl FnOnce(&mut Value)) {
        let mut map = self.sessions.lock().unwrap();
        let entry = map
            .entry(sid.to_string())
            .or_insert_with(|| json!({"opened": false, "received": [], "closed": null}));
        f(entry);
    }

    fn answer(&self, query: &str) -> Value {
        if query == "urls" {
            return self.urls.get().cloned().unwrap_or(Value::Null);
        }
        if let Some(sid) = query.strip_prefix("sid ") {
            return self
                .sessions
                .lock()
                .unwrap()
                .get(sid)
                .cloned()
                .unwrap_or(Value::Null);
        }
        if let Some(tag) = query.strip_prefix("req ") {
            return self
                .requests
                .lock()
                .unwrap()
                .get(tag)
                .cloned()
                .unwrap_or(Value::Null);
        }
        json!({"error": format!("unknown query {query:?}")})
    }
}

/// How a received message is written down: short ones whole, long ones by length.
fn summary(msg: &WsMessage<'_>) -> Value {
    match msg {
        WsMessage::Text(t) if t.len() <= 100 => json!(t),
        WsMessage::Text(t) => json!({"len": t.len()}),
        WsMessage::Binary(b) if b.len() <= 100 => json!({"bin": b}),
        WsMessage::Binary(b) => json!({"binlen": b.len()}),
    }
}

/// How a packet event shows a packet in the records: `{"type", "data"}`.
fn packet_summary(p: &EioPacket<'_>) -> Value {
    let kind = [
        "open", "close", "ping", "pong", "message", "upgrade", "noop",
    ][(p.packet_type().as_byte() - b'0') as usize];
    let data = match p {
        EioPacket::Message(m) => summary(m),
        EioPacket::Ping(d) | EioPacket::Pong(d) => json!(String::from_utf8_lossy(d)),
        _ => Value::Null,
    };
    json!({"type": kind, "data": data})
}

/// What a server's handler does besides recording and echoing (the reference's per-test
/// `connection` handlers).
#[derive(Clone, Copy, Default)]
struct Behaviour {
    /// Sent as soon as a session opens (the reference's `initialPacket`).
    greeting: Option<&'static str>,
    /// A binary message of this many bytes (`i % 0xff`) sent as soon as a session opens, and
    /// whether it allows compression (the reference's `conn.send(buf, { compress })` in its
    /// `connection` handler).
    greet_binary: Option<(usize, bool)>,
    /// Closes every session as soon as it opens (the reference's `conn.close()` in its
    /// `connection` handler).
    close_on_open: bool,
    /// The per-packet events recorded (`packets`, `created`, `flushes`, `drains`).
    events: EioEvents,
    /// Closes the session in the first `packet`/`packetCreate` event.
    close_on_packet: bool,
    /// After the first heartbeat, ignores every packet (the reference's `conn.onPacket`
    /// replaced by a no-op in its `heartbeat` handler).
    ignore_after_heartbeat: bool,
    /// Closes the session in its `heartbeat` event.
    close_on_heartbeat: bool,
    /// Closes the session in its `upgrading` event.
    close_on_upgrading: bool,
    /// Sends `a` with a send callback in its `upgrading` event.
    send_on_upgrading: bool,
}

struct Probe {
    store: Arc<Store>,
    b: Behaviour,
}

/// Sends `text` with a callback that records it in the session's `sent` once written.
fn send_recorded(store: &Arc<Store>, s: &mut EioSocket<'_, '_>, text: &str) {
    let store = store.clone();
    let text_owned = text.to_string();
    s.send_text_then(text, move |s| {
        store.push(s.sid(), "sent", json!(text_owned))
    });
}

impl Probe {
    fn command(&self, s: &mut EioSocket<'_, '_>, cmd: &str) {
        let Ok(cmd) = serde_json::from_str::<Value>(cmd) else {
            s.send_text("bad command");
            return;
        };
        for item in cmd["send"].as_array().into_iter().flatten() {
            match item {
                Value::String(t) => {
                    s.send_text(t);
                }
                // `{"text": t, "cb": true}`: sent with a callback recording it in `sent`.
                Value::Object(o) if o.contains_key("text") => {
                    send_recorded(&self.store, s, o["text"].as_str().unwrap_or(""));
                }
                other => {
                    let bytes: Vec<u8> = other["bin"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|b| b.as_u64().map(|b| b as u8))
                        .collect();
                    s.send_binary(&bytes);
                }
            }
        }
        if let (Some(n), Some(len)) = (cmd["repeat"]["n"].as_u64(), cmd["repeat"]["len"].as_u64()) {
            let payload = "a".repeat(len as usize);
            for i in 0..n {
                s.send_text(&format!("{payload}|message: {i}"));
            }
        }
        if cmd["close"].as_bool() == Some(true) {
            s.close();
        }
    }
}

impl Probe {
    /// `?aux start`: a new server on any port; `?aux restart <port>`: that server shut down and
    /// a new one listening on its port; `?aux close <port>`: that server shut down. Answers
    /// `{"port"}` (or `{"error"}`), or whether a server was closed. Runs on the control
    /// session's worker, which waits meanwhile (the aux servers hold no session then).
    fn aux(&self, cmd: &str) -> Value {
        let mut words = cmd.split(' ');
        let verb = words.next().unwrap_or_default();
        let port = words.next().and_then(|p| p.parse::<u16>().ok());
        let mut servers = self.store.aux.lock().unwrap();
        let closed = port
            .and_then(|p| servers.remove(&p))
            .map(Server::shutdown)
            .is_some();
        let start = match (verb, port) {
            ("start", None) => 0,
            ("restart", Some(p)) if closed => p,
            ("close", Some(_)) => return json!(closed),
            _ => return json!({"error": format!("bad aux command {cmd:?}")}),
        };
        match aux_server(&self.store, start) {
            Ok(server) => {
                let port = server.local_addr().port();
                servers.insert(port, server);
                json!({"port": port})
            }
            Err(e) => json!({"error": e.to_string()}),
        }
    }
}

/// A server for `?aux` on `port` (0: any), with the reference's `{ transports: ["websocket"] }`:
/// one worker, recording and echoing like the others.
fn aux_server(store: &Arc<Store>, port: u16) -> Result<Server, String> {
    Server::builder()
        .configure(|c| {
            c.listen = format!("127.0.0.1:{port}").parse().unwrap();
            c.workers = 1;
            c.shutdown_timeout = Duration::from_secs(1);
            websocket_only(c);
            super::harness::compression_from_env(c);
        })
        .engine_io(Probe {
            store: store.clone(),
            b: Behaviour::default(),
        })
        .listen()
        .map_err(|e| e.to_string())
}

impl EioHandler for Probe {
    fn on_open(&self, s: &mut EioSocket<'_, '_>) {
        let transport = s.transport().as_str();
        let remote = s.remote_addr().map(|a| a.ip().to_string());
        self.store.update(s.sid(), |e| {
            e["opened"] = json!(true);
            e["transport"] = json!(transport);
            e["remote"] = json!(remote);
        });
        if let Some(g) = self.b.greeting {
            s.send_text(g);
        }
        if let Some((len, compress)) = self.b.greet_binary {
            let buf: Vec<u8> = (0..len).map(|i| (i % 0xff) as u8).collect();
            s.send_binary_with(&buf, SendOptions { compress });
        }
        if self.b.close_on_open {
            s.close();
        }
    }

    fn events(&self) -> EioEvents {
        self.b.events
    }

    fn on_packet(&self, s: &mut EioSocket<'_, '_>, packet: &EioPacket<'_>) -> Inbound {
        let sid = s.sid().to_string();
        let ignoring = self.b.ignore_after_heartbeat
            && self.store.sessions.lock().unwrap()[&sid]["heartbeats"]
                .as_u64()
                .is_some_and(|n| n > 0);
        if ignoring {
            self.store.push(&sid, "ignored", packet_summary(packet));
            return Inbound::Ignore;
        }
        self.store.push(&sid, "packets", packet_summary(packet));
        if self.b.close_on_packet {
            s.close();
        }
        Inbound::Process
    }

    fn on_packet_create(&self, s: &mut EioSocket<'_, '_>, packet: &EioPacket<'_>) {
        self.store.push(s.sid(), "created", packet_summary(packet));
        if self.b.close_on_packet {
            s.close();
        }
    }

    fn on_flush(&self, sid: &str, packets: &[EioPacket<'_>]) {
        let list: Vec<Value> = packets.iter().map(packet_summary).collect();
        self.store.push(sid, "flushes", json!(list));
    }

    fn on_drain(&self, s: &mut EioSocket<'_, '_>) {
        let queued = s.queued_bytes();
        self.store.push(s.sid(), "drains", json!(queued));
    }

    fn on_heartbeat(&self, s: &mut EioSocket<'_, '_>) {
        self.store.update(s.sid(), |e| {
            e["heartbeats"] = json!(e["heartbeats"].as_u64().unwrap_or(0) + 1);
        });
        if self.b.close_on_heartbeat {
            s.close();
        }
    }

    fn on_upgrading(&self, s: &mut EioSocket<'_, '_>) {
        self.store.update(s.sid(), |e| e["upgrading"] = json!(true));
        if self.b.send_on_upgrading {
            send_recorded(&self.store, s, "a");
        }
        if self.b.close_on_upgrading {
            s.close();
        }
    }

    fn on_upgrade(&self, s: &mut EioSocket<'_, '_>) {
        let transport = s.transport().as_str();
        self.store
            .update(s.sid(), |e| e["upgraded"] = json!(transport));
    }

    fn on_message(&self, s: &mut EioSocket<'_, '_>, msg: WsMessage<'_>) {
        if let WsMessage::Text(t) = msg {
            if let Some(cmd) = t.strip_prefix('!') {
                return self.command(s, cmd);
            }
            if let Some(query) = t.strip_prefix('?') {
                let reply = match query.strip_prefix("aux ") {
                    Some(aux) => self.aux(aux),
                    None => self.store.answer(query),
                };
                s.send_text(&reply.to_string());
                return;
            }
        }
        let sid = s.sid().to_string();
        self.store.update(&sid, |e| {
            if let Some(r) = e["received"].as_array_mut() {
                r.push(summary(&msg));
            }
        });
        match msg {
            WsMessage::Text("test") => s.send_text("woot"),
            WsMessage::Text("hey") => s.send_text("holà"),
            WsMessage::Text(t) => s.send_text(t),
            WsMessage::Binary(b) => s.send_binary(b),
        };
    }

    fn on_close(&self, sid: &str, reason: DisconnectReason) {
        self.store
            .update(sid, |e| e["closed"] = json!(reason.as_str()));
    }
}

fn builder(store: &Arc<Store>, greeting: Option<&'static str>) -> ServerBuilder {
    behaving(
        store,
        Behaviour {
            greeting,
            ..Behaviour::default()
        },
    )
}

fn behaving(store: &Arc<Store>, b: Behaviour) -> ServerBuilder {
    super::harness::builder().engine_io(Probe {
        store: store.clone(),
        b,
    })
}

/// A server whose handler closes every session as soon as it opens.
fn closing_builder(store: &Arc<Store>) -> ServerBuilder {
    behaving(
        store,
        Behaviour {
            close_on_open: true,
            ..Behaviour::default()
        },
    )
}

/// The `headers` hook of the `headers` server: records each call under `hdr <tag>` and, as
/// the reference's handlers do, adds `test: 123` and a second `Set-Cookie` to the handshake's
/// answer (`add=initial`, its `initial_headers` handler) or to every answer (`add=all`, its
/// `headers` handler).
fn headers_server(store: &Arc<Store>) -> ServerBuilder {
    let records = store.clone();
    builder(store, None)
        .configure(|c| c.cookie = Some("io".into()))
        .on_headers(move |req, h| {
            let Some(tag) = req.query_param("tag") else {
                return;
            };
            let method = match req.method {
                Method::Get => "GET",
                Method::Post => "POST",
                _ => "other",
            };
            let entry = json!({"initial": h.initial(), "method": method,
                "transport": req.query_param("transport")});
            let mut map = records.requests.lock().unwrap();
            let list = map.entry(format!("hdr {tag}")).or_insert_with(|| json!([]));
            list.as_array_mut().unwrap().push(entry);
            let add = match req.query_param("add").as_deref() {
                Some("initial") => h.initial(),
                Some("all") => true,
                _ => false,
            };
            if add {
                h.set("test", "123");
                h.append("set-cookie", "mycookie=456");
            }
        })
}

/// The session cookie `io` with `f` applied to the other cookie options.
fn cookie(f: impl FnOnce(&mut volley::config::Config)) -> impl FnOnce(&mut volley::config::Config) {
    move |c| {
        c.cookie = Some("io".into());
        f(c);
    }
}

fn polling_only(c: &mut volley::config::Config) {
    c.transports = Transports {
        polling: true,
        websocket: false,
    };
}

fn websocket_only(c: &mut volley::config::Config) {
    c.transports = Transports {
        polling: false,
        websocket: true,
    };
}

fn pings(interval: u64, timeout: u64) -> impl FnOnce(&mut volley::config::Config) {
    move |c| {
        c.ping_interval = Duration::from_millis(interval);
        c.ping_timeout = Duration::from_millis(timeout);
    }
}

/// The `ping-long` server's ping interval and timeout (ms); the script knows them from the
/// handshake.
const PING_LONG: (u64, u64) = (600, 400);

/// The servers besides the main one, by the name the script knows them by.
fn others(store: &Arc<Store>) -> Vec<(&'static str, Server)> {
    let start = |b: ServerBuilder| b.listen().unwrap();
    vec![
        (
            "cookie",
            start(builder(store, None).configure(|c| c.cookie = Some("io".into()))),
        ),
        (
            "woot",
            start(builder(store, None).configure(|c| c.cookie = Some("woot".into()))),
        ),
        (
            // `cookie: { path: "/custom" }`
            "cookie-path",
            start(builder(store, None).configure(cookie(|c| {
                c.cookie_path = Some("/custom".into());
            }))),
        ),
        (
            // `cookie: { path: false }`
            "cookie-no-path",
            start(builder(store, None).configure(cookie(|c| c.cookie_path = None))),
        ),
        (
            // `cookie: { httpOnly: true }`
            "cookie-http-only",
            start(builder(store, None).configure(cookie(|c| c.cookie_http_only = Some(true)))),
        ),
        (
            // `cookie: { httpOnly: false }`
            "cookie-not-http-only",
            start(builder(store, None).configure(cookie(|c| c.cookie_http_only = Some(false)))),
        ),
        (
            // `cookie: { sameSite: "strict" }`
            "cookie-strict",
            start(builder(store, None).configure(cookie(|c| {
                c.cookie_same_site = Some(SameSite::Strict);
            }))),
        ),
        (
            // `cors: { origin: "http://good-domain.com", methods: ["GET", "PUT", "POST"],
            // allowedHeaders: ["my-header"], exposedHeaders: ["my-exposed-header"],
            // credentials: true, maxAge: 123, optionsSuccessStatus: 200 }`
            "cors-full",
            start(builder(store, None).configure(|c| {
                c.cors_origins = vec!["http://good-domain.com".into()];
                c.cors_methods = vec!["GET".into(), "PUT".into(), "POST".into()];
                c.cors_allowed_headers = vec!["my-header".into()];
                c.cors_exposed_headers = vec!["my-exposed-header".into()];
                c.cors_credentials = true;
                c.cors_max_age = Some(123);
                c.cors_options_status = 200;
            })),
        ),
        (
            // `{ allowUpgrades: false, pingInterval: 500, pingTimeout: 500 }`, and the
            // `connection` handler closes the session at once.
            "gh198",
            start(closing_builder(store).configure(|c| {
                pings(500, 500)(c);
                polling_only(c);
            })),
        ),
        (
            // `engine.generateId = (req) => "CustomId" + Date.now()`, and clients counted.
            "custom-id",
            start(
                builder(store, None)
                    .configure(|c| c.metrics_path = Some("/metrics".into()))
                    .generate_id(|_| {
                        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                        Ok(format!("CustomId{}", now.as_millis()))
                    }),
            ),
        ),
        (
            // `engine.generateId = () => Promise.reject(new Error("nope"))`
            "custom-id-deny",
            start(builder(store, None).generate_id(|_| Err("nope".into()))),
        ),
        (
            // `cors: { origin: true, headers: ["my-header"], credentials: true }`
            "cors",
            start(builder(store, None).configure(|c| {
                c.cors_origins = vec!["*".into()];
                c.cors_credentials = true;
                c.cors_allowed_headers = vec!["my-header".into()];
            })),
        ),
        (
            // `cors: { origin: ["http://good-domain.com"] }`
            "cors-strict",
            start(builder(store, None).configure(|c| {
                c.cors_origins = vec!["http://good-domain.com".into()];
            })),
        ),
        (
            "deny",
            start(builder(store, None).allow_request(|_| Err("Thou shall not pass".into()))),
        ),
        (
            "count",
            start(builder(store, None).configure(|c| c.metrics_path = Some("/metrics".into()))),
        ),
        (
            "small",
            start(builder(store, None).configure(|c| c.max_payload = 5)),
        ),
        (
            "big",
            start(builder(store, None).configure(|c| c.max_payload = 10_000_000)),
        ),
        (
            "ping50",
            start(builder(store, None).configure(pings(50, 30))),
        ),
        (
            "ping300",
            start(builder(store, None).configure(pings(300, 123))),
        ),
        (
            // `pingInterval: 300, pingTimeout: 100` scaled up, so that every bound of the
            // client's ping timeout is hundreds of ms from the next.
            "ping-long",
            start(builder(store, None).configure(pings(PING_LONG.0, PING_LONG.1))),
        ),
        (
            "ping200",
            start(builder(store, None).configure(pings(200, 20))),
        ),
        (
            // Many 64 KiB messages queued at once: more than the default `max_buffered`.
            // Never compressed: its `a`s would shrink to a few KiB queued, and the Node client,
            // inflating each message in the background, would answer the ping queued behind
            // them past this server's 100 ms ping timeout on a loaded machine.
            "burst",
            start(builder(store, None).configure(|c| {
                pings(200, 100)(c);
                websocket_only(c);
                c.max_buffered = 16 << 20;
                c.per_message_deflate = false;
            })),
        ),
        (
            "polling",
            start(builder(store, None).configure(polling_only)),
        ),
        (
            "websocket",
            start(builder(store, None).configure(websocket_only)),
        ),
        (
            "upgrade100",
            start(
                builder(store, None).configure(|c| c.upgrade_timeout = Duration::from_millis(100)),
            ),
        ),
        ("initial", start(builder(store, Some("faster!")))),
        (
            // Every packet event recorded.
            "events",
            start(behaving(
                store,
                Behaviour {
                    events: EioEvents::PACKET | EioEvents::PACKET_CREATE | EioEvents::FLUSH,
                    ..Behaviour::default()
                },
            )),
        ),
        (
            // `pingInterval: 4`, and the first `packet` event closes the session.
            "ping4-packet",
            start(
                behaving(
                    store,
                    Behaviour {
                        events: EioEvents::PACKET,
                        close_on_packet: true,
                        ..Behaviour::default()
                    },
                )
                .configure(pings(4, 20_000)),
            ),
        ),
        (
            // `pingInterval: 4`, and the first `packetCreate` event closes the session.
            "ping4-create",
            start(
                behaving(
                    store,
                    Behaviour {
                        events: EioEvents::PACKET_CREATE,
                        close_on_packet: true,
                        ..Behaviour::default()
                    },
                )
                .configure(pings(4, 20_000)),
            ),
        ),
        (
            // `pingInterval: 80, pingTimeout: 50`; after a heartbeat, packets are ignored.
            "heartbeat-ignore",
            start(
                behaving(
                    store,
                    Behaviour {
                        events: EioEvents::PACKET,
                        ignore_after_heartbeat: true,
                        ..Behaviour::default()
                    },
                )
                .configure(pings(80, 50)),
            ),
        ),
        (
            // `pingInterval: 80, pingTimeout: 50`; a heartbeat closes the session.
            "heartbeat-close",
            start(
                behaving(
                    store,
                    Behaviour {
                        close_on_heartbeat: true,
                        ..Behaviour::default()
                    },
                )
                .configure(pings(80, 50)),
            ),
        ),
        (
            "upgrading-close",
            start(behaving(
                store,
                Behaviour {
                    close_on_upgrading: true,
                    ..Behaviour::default()
                },
            )),
        ),
        (
            "upgrading-send",
            start(behaving(
                store,
                Behaviour {
                    send_on_upgrading: true,
                    ..Behaviour::default()
                },
            )),
        ),
        ("headers", start(headers_server(store))),
        // `http compression`: `cookie: true, transports: ["polling"]` and the options of each
        // scenario; the `connection` handler sends a buffer of the given size.
        ("compress", start(compressing(store, 1024, true, |_| {}))),
        (
            // `httpCompression: { threshold: 0 }`
            "compress-threshold0",
            start(compressing(store, 10, true, |c| {
                c.http_compression_threshold = 0;
            })),
        ),
        (
            // `httpCompression: false`
            "compress-off",
            start(compressing(store, 1024, true, |c| {
                c.http_compression = false
            })),
        ),
        (
            // `conn.send(buf, { compress: false })`
            "compress-per-message",
            start(compressing(store, 1024, false, |_| {})),
        ),
        (
            "compress-small",
            start(compressing(store, 100, true, |_| {})),
        ),
    ]
}

/// A polling-only server with the session cookie `io` that sends each new session a binary
/// message of `len` bytes (allowing compression or not), under the options `f` sets.
fn compressing(
    store: &Arc<Store>,
    len: usize,
    compress: bool,
    f: impl FnOnce(&mut volley::config::Config),
) -> ServerBuilder {
    behaving(
        store,
        Behaviour {
            greet_binary: Some((len, compress)),
            ..Behaviour::default()
        },
    )
    .configure(|c| {
        cookie(|_| {})(c);
        polling_only(c);
        f(c);
    })
}

fn main_server(store: &Arc<Store>) -> Server {
    let requests = store.clone();
    builder(store, None)
        .allow_request(move |req| {
            // Writes down handshakes that carry a `tag`, for the script to ask about.
            if let Some(tag) = req.query_param("tag") {
                let headers: Vec<(String, String)> = req
                    .headers()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                    .collect();
                let record = json!({"query": req.query, "headers": headers});
                requests
                    .requests
                    .lock()
                    .unwrap()
                    .insert(tag.into_owned(), record);
            }
            Ok(())
        })
        .listen()
        .unwrap()
}

#[test]
fn engine_server() {
    let store = Arc::new(Store::default());
    let others = others(&store);
    let urls: serde_json::Map<String, Value> = others
        .iter()
        .map(|(name, s)| {
            (
                name.to_string(),
                json!(format!("http://{}", s.local_addr())),
            )
        })
        .collect();
    store.urls.set(Value::Object(urls)).unwrap();
    let server = main_server(&store);
    super::harness::run("engine-server", &format!("http://{}", server.local_addr()));
    server.shutdown();
    for (_, s) in others {
        s.shutdown();
    }
    let left: Vec<Server> = store.aux.lock().unwrap().drain().map(|(_, s)| s).collect();
    left.into_iter().for_each(Server::shutdown);
}
