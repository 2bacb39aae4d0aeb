//! The README's first example, verbatim between the `README` markers (engine/tests/readme.rs
//! checks that the two are the same text and drives this server with the stock client).
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 cargo run --example readme`

#[path = "support/logging.rs"]
mod logging;

use std::time::Duration;
use volley::server::{Ack, ConnectError, Server};

#[rustfmt::skip] // the README's layout, comments aligned
fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    // README begin
    let server = Server::from_env()?                      // every option also from VOLLEY_* variables
        .namespace("/", |ns| {
            ns.on_connect(|socket, auth| {                // Err(..) = connect_error for the client
                let Some(auth) = auth else {
                    return Err(ConnectError::new("auth required"));
                };
                let user: String = auth.deserialize::<serde_json::Value>().ok()
                    .and_then(|a| a["user"].as_str().map(String::from)).unwrap_or_default();
                socket.set_data(user);                    // socket.data, read in any handler
                socket.join("lobby");                     // rooms() is [own id, "lobby"]
                Ok(())
            });
            ns.on("chat", |socket, args| {
                let text: String = args.deserialize(0).ok()?;
                let from = socket.data::<String>().cloned().unwrap_or_default();
                socket.to("lobby").emit("chat", &(from, text)).ok(); // a tuple: two arguments
                None                                             // no acknowledgement
            });
            ns.on("getData", |_, _| Ack::one(&serde_json::json!({"name": "John"})).ok()); // the ack
            ns.on("ask", |socket, _| {
                socket.timeout(Duration::from_secs(5)).emit("question", "?", |socket, reply| {
                    let _ = socket.emit("answered", &reply.is_ok()); // one value: one argument
                }).ok();
                None
            });
            ns.on_disconnecting(|socket, reason| {        // its rooms are still readable here
                let id = socket.id().to_string();
                let _ = socket.to("lobby").emit("left", &(id, reason.as_str()));
            });
        })
        .namespace("/tenant-{id}", |_ns| { /* dynamic namespaces: handlers as above */ })
        .listen()?;
    let handle = server.handle();                         // Send + Clone: use it from any thread
    handle.of("/").to("lobby").emit("news", "hello")?;
    // README end
    println!("readme listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
