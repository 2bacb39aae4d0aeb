//! The README's connection state recovery example, verbatim between the `README` markers
//! (engine/tests/readme.rs checks that the two are the same text; engine/tests/sio_recovery.rs
//! runs this server with `VOLLEY_RECOVERY_MS` and drives it with the stock socket.io-client):
//! `join` joins a room, `tell` broadcasts `news` to one, `whoami` answers whether the socket
//! was recovered and its data, `poke` emits to a socket by id through the server handle.
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 VOLLEY_RECOVERY_MS=120000 cargo run --example recovery`.

#[path = "support/logging.rs"]
mod logging;

use volley::server::{Ack, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    // RUST_LOG decides what goes to stderr.
    logging::init();
    // README begin
    // VOLLEY_RECOVERY_MS=120000 turns recovery on (or `.connection_state_recovery()`).
    let server = Server::from_env()?
        .namespace("/", |ns| {
            ns.on_connect(|s, _| {
                // A recovered socket has its id, rooms and data back, and its missed
                // packets were replayed before the CONNECT reply.
                if !s.recovered() {
                    s.set_data("set at first connect".to_string());
                }
                Ok(())
            });
            ns.on("join", |s, args| {
                let room: String = args.deserialize(0).ok()?;
                s.join(room);
                Ack::one(&true).ok()
            });
            ns.on("tell", |s, args| {
                let (room, n): (String, u32) =
                    (args.deserialize(0).ok()?, args.deserialize(1).ok()?);
                s.within(&room).emit("news", &(n,)).ok()?; // kept, with its offset
                Ack::one(&true).ok()
            });
            ns.on("whoami", |s, _| {
                let v = serde_json::json!({
                    "recovered": s.recovered(),
                    "data": s.data::<String>(),
                    "rooms": s.rooms().len() > 1,
                });
                Ack::one(&v).ok()
            });
            ns.on("poke", |s, args| {
                let id: String = args.deserialize(0).ok()?;
                let sent = s.server().emit_to("/", &id, "poked", &("poke",)).ok()?;
                Ack::one(&sent).ok()
            });
        })
        .listen()?;
    // README end
    println!("recovery listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
