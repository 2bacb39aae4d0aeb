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
use volley::server::{DisconnectReason, EioHandler, EioSocket, Server, ServerBuilder, WsMessage};

/// What the handlers of every server saw, for the script to ask about.
#[derive(Default)]
struct Store {
    /// Per session id: `{"opened": bool, "received": [...], "closed": reason | null}`.
    sessions: Mutex<HashMap<String, Value>>,
    /// Per `tag` query parameter: the handshake request `allow_request` was asked about.
    requests: Mutex<HashMap<String, Value>>,
    /// The other servers' URLs by name.
    urls: OnceLock<Value>,
}

impl Store {
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

struct Probe {
    store: Arc<Store>,
    /// Sent as soon as a session opens (the reference's `initialPacket`).
    greeting: Option<&'static str>,
    /// Closes every session as soon as it opens (the reference's `conn.close()` in its
    /// `connection` handler).
    close_on_open: bool,
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

impl EioHandler for Probe {
    fn on_open(&self, s: &mut EioSocket<'_, '_>) {
        let transport = s.transport().as_str();
        let remote = s.remote_addr().map(|a| a.ip().to_string());
        self.store.update(s.sid(), |e| {
            e["opened"] = json!(true);
            e["transport"] = json!(transport);
            e["remote"] = json!(remote);
        });
        if let Some(g) = self.greeting {
            s.send_text(g);
        }
        if self.close_on_open {
            s.close();
        }
    }

    fn on_message(&self, s: &mut EioSocket<'_, '_>, msg: WsMessage<'_>) {
        if let WsMessage::Text(t) = msg {
            if let Some(cmd) = t.strip_prefix('!') {
                return self.command(s, cmd);
            }
            if let Some(query) = t.strip_prefix('?') {
                s.send_text(&self.store.answer(query).to_string());
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
    super::harness::builder().engine_io(Probe {
        store: store.clone(),
        greeting,
        close_on_open: false,
    })
}

/// A server whose handler closes every session as soon as it opens.
fn closing_builder(store: &Arc<Store>) -> ServerBuilder {
    super::harness::builder().engine_io(Probe {
        store: store.clone(),
        greeting: None,
        close_on_open: true,
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
            "ping200",
            start(builder(store, None).configure(pings(200, 20))),
        ),
        (
            // Many 64 KiB messages queued at once: more than the default `max_buffered`.
            "burst",
            start(builder(store, None).configure(|c| {
                pings(200, 100)(c);
                websocket_only(c);
                c.max_buffered = 16 << 20;
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
    ]
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
}
