//! Raw Engine.IO echo server on `/engine.io/` (no Socket.IO): every message, text or binary, is
//! sent back unchanged. Heartbeats and limits come from the `VOLLEY_*` variables.
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 cargo run --example eio_echo`

#[path = "support/logging.rs"]
mod logging;

use volley::server::{EioHandler, EioSocket, Server, WsMessage};

struct Echo;

impl EioHandler for Echo {
    fn on_message(&self, s: &mut EioSocket<'_, '_>, msg: WsMessage<'_>) {
        match msg {
            WsMessage::Text(t) => s.send_text(t),
            WsMessage::Binary(b) => s.send_binary(b),
        };
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    let server = Server::from_env()?.engine_io(Echo).listen()?;
    println!("eio_echo listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
