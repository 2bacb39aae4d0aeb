//! The conformance server the interop tests drive with the official socket.io clients.
//!
//! Namespaces `/` and `/custom` (and `/private`, which requires `auth.token == "secret"`):
//! - on connect, emits `auth` with the handshake's auth payload (`{}` when none);
//! - `message` -> emits `message-back` with the same arguments, binary included;
//! - `message-with-ack` -> acknowledges with the same arguments;
//! - `ask` (q) -> emits `question` (q) with an ack; the client's answer comes back as
//!   `ack-result`, no answer within 500 ms as `ack-timeout` (q);
//! - `disconnect-me` -> the server disconnects the socket from the namespace;
//! - `join` / `leave` (room) -> joins or leaves the room, acknowledged with `true`;
//! - `within` (room, payload) -> emits `msg` (payload) to every member of the room, the sender
//!   included, acknowledged with the number delivered on the sender's worker.
//!
//! Every timing comes from the `VOLLEY_*` variables, e.g.
//! `VOLLEY_PING_INTERVAL_MS=300 VOLLEY_PING_TIMEOUT_MS=200 VOLLEY_CONNECT_TIMEOUT_MS=1000`.

#[path = "support/logging.rs"]
mod logging;

use std::time::Duration;

use volley::server::{Ack, ConnectError, NamespaceBuilder, Server};

fn conformance(ns: &mut NamespaceBuilder) {
    ns.on_connect(|socket, auth| {
        let mut json = Vec::new();
        match auth {
            Some(a) => a.write_json(&mut json),
            None => json.extend_from_slice(b"{}"),
        }
        let auth: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
        socket
            .emit("auth", &[auth])
            .map_err(|e| ConnectError::new(e.to_string()))
    });
    ns.on("message", |socket, args| {
        let _ = socket.emit_args("message-back", args);
        None
    });
    ns.on("message-with-ack", |_, args| Some(Ack::from_args(args)));
    ns.on("ask", |socket, args| {
        let question: String = args.deserialize(0).unwrap_or_default();
        let q = question.clone();
        let _ = socket.emit_with_ack(
            "question",
            &[&question],
            Duration::from_millis(500),
            move |s, reply| {
                let _ = match reply {
                    Ok(answer) => s.emit_args("ack-result", answer),
                    Err(_) => s.emit("ack-timeout", &[q]),
                };
            },
        );
        None
    });
    ns.on("disconnect-me", |socket, _| {
        socket.disconnect();
        None
    });
    ns.on("join", |socket, args| {
        let room: String = args.deserialize(0).ok()?;
        socket.join(&room);
        Ack::one(&true).ok()
    });
    ns.on("leave", |socket, args| {
        let room: String = args.deserialize(0).ok()?;
        socket.leave(&room);
        Ack::one(&true).ok()
    });
    ns.on("within", |socket, args| {
        let room: String = args.deserialize(0).ok()?;
        let payload: serde_json::Value = args.deserialize(1).ok()?;
        let delivered = socket.within(&room).emit("msg", &[payload]).ok()?;
        Ack::one(&delivered).ok()
    });
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    let server = Server::from_env()?
        .namespace("/", conformance)
        .namespace("/custom", conformance)
        .namespace("/private", |ns| {
            ns.middleware(|_, auth| {
                let token = auth.and_then(|a| a.deserialize::<serde_json::Value>().ok());
                match token
                    .as_ref()
                    .and_then(|t| t.get("token"))
                    .and_then(|t| t.as_str())
                {
                    Some("secret") => Ok(()),
                    _ => Err(ConnectError::new("not authorized")
                        .with_data(&serde_json::json!({ "code": 401 }))),
                }
            });
            conformance(ns);
        })
        .listen()?;
    println!("conformance listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
