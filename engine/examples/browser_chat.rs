//! A chat for browsers, page and Socket.IO server on one port: `/` is the page
//! (`browser_chat.html`), `/socket.io.min.js` the stock client bundle, `/socket.io/` the
//! Socket.IO endpoint; every other path is 404. The page and the bundle go through
//! [`ServerBuilder::http_fallback`](volley::server::ServerBuilder::http_fallback).
//!
//! Events (namespace `/`), each acknowledged (`{"error": "..."}` when refused):
//! - `join` `{"name", "room"}` (1 to 32 characters each): leaves the previous room (its members
//!   get `left` (name)), enters `room` (its members get `joined` (name)); ack `{"room"}`.
//! - `say` (text, at most 1000 characters): the room gets `message` `{"from", "text"}`; the
//!   ack is that message.
//! - `file` (name, bytes, at most `VOLLEY_MAX_PAYLOAD`): the room gets `file` `{"from",
//!   "name"}` (bytes); ack `{"bytes": length}`.
//!
//! The bundle is read at start from `SOCKET_IO_BUNDLE`, by default the copy npm installs in
//! the repository's `interop/` (`npm ci` there, or `./scripts/test.sh`, installs it). Every
//! option comes from the `VOLLEY_*` variables; a page served from another origin can chat here
//! when `VOLLEY_CORS_ORIGINS` lists that origin.
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 cargo run --example browser_chat`, then open
//! <http://127.0.0.1:3000/> in two browser windows.

#[path = "support/logging.rs"]
mod logging;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use volley::server::{Ack, Args, HttpRequest, HttpResponse, Server, Socket};

const PAGE: &str = include_str!("browser_chat.html");
const MAX_NAME: usize = 32;
const MAX_TEXT: usize = 1000;

/// Where a socket chats; its [`Socket::data`].
#[derive(Default, serde::Serialize)]
struct Member {
    name: String,
    room: String,
}

#[derive(Deserialize)]
struct Join {
    name: String,
    room: String,
}

fn error(message: &str) -> Option<Ack> {
    Ack::one(&json!({ "error": message })).ok()
}

/// Name and room of a socket that joined one.
fn member(s: &Socket<'_, '_>) -> Option<(String, String)> {
    s.data::<Member>()
        .filter(|m| !m.room.is_empty())
        .map(|m| (m.name.clone(), m.room.clone()))
}

fn join(s: &mut Socket<'_, '_>, args: &Args<'_>) -> Option<Ack> {
    let fits = |v: &str| (1..=MAX_NAME).contains(&v.chars().count());
    let Join { name, room } = match args.deserialize::<Join>(0) {
        Ok(j) if fits(&j.name) && fits(&j.room) => j,
        _ => return error("join needs {name, room} of 1 to 32 characters"),
    };
    if let Some((old_name, old_room)) = member(s) {
        let _ = s.to(old_room.as_str()).emit("left", &old_name);
        s.leave(old_room.as_str());
    }
    let _ = s.to(room.as_str()).emit("joined", &name);
    s.join(room.as_str());
    let ack = Ack::one(&json!({ "room": room })).ok();
    s.set_data(Member { name, room });
    ack
}

fn say(s: &mut Socket<'_, '_>, args: &Args<'_>) -> Option<Ack> {
    let Some((from, room)) = member(s) else {
        return error("join first");
    };
    let text = match args.deserialize::<String>(0) {
        Ok(t) if t.chars().count() <= MAX_TEXT => t,
        _ => return error("say needs a text of at most 1000 characters"),
    };
    let message = json!({ "from": from, "text": text });
    let _ = s.to(room.as_str()).emit("message", &message);
    Ack::one(&message).ok()
}

fn file(s: &mut Socket<'_, '_>, args: &Args<'_>) -> Option<Ack> {
    let Some((from, room)) = member(s) else {
        return error("join first");
    };
    let (Ok(name), [bytes]) = (args.deserialize::<String>(0), args.attachments()) else {
        return error("file needs a name and one binary argument");
    };
    let len = bytes.len();
    let meta = json!({ "from": from, "name": name });
    let _ = s
        .to(room.as_str())
        .emit("file", &(meta, Bytes::clone(bytes)));
    Ack::one(&json!({ "bytes": len })).ok()
}

/// The bundle's path: `SOCKET_IO_BUNDLE`, or the copy npm installs under `interop/`.
fn read_bundle() -> Result<Bytes, String> {
    let path = std::env::var("SOCKET_IO_BUNDLE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../interop/node_modules/socket.io-client/dist/socket.io.min.js"
        )
        .to_string()
    });
    std::fs::read(&path).map(Bytes::from).map_err(|e| {
        format!(
            "cannot read the socket.io client bundle {path}: {e} (run `npm ci` in interop/, \
             or set SOCKET_IO_BUNDLE to a socket.io.min.js)"
        )
    })
}

fn serve(req: &HttpRequest<'_>, bundle: &Bytes) -> HttpResponse {
    if !matches!(req.method(), "GET" | "HEAD") {
        return HttpResponse::new(405).header("Allow", "GET, HEAD");
    }
    match req.path() {
        "/" | "/index.html" => HttpResponse::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .header("Cache-Control", "no-cache")
            .body(PAGE),
        "/socket.io.min.js" => HttpResponse::new(200)
            .header("Content-Type", "application/javascript; charset=utf-8")
            .header("Cache-Control", "max-age=3600")
            // The same bytes for every request, sent without a copy.
            .body(bundle.clone()),
        _ => HttpResponse::not_found(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    let bundle = read_bundle()?;
    let server = Server::from_env()?
        .namespace("/", |ns| {
            ns.on("join", join);
            ns.on("say", say);
            ns.on("file", file);
            ns.on_disconnecting(|s, _| {
                if let Some((name, room)) = member(s) {
                    let _ = s.to(room.as_str()).emit("left", &name);
                }
            });
        })
        .http_fallback(move |req| serve(req, &bundle))
        .listen()?;
    println!("browser_chat listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
