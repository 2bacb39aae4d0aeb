//! Plain WebSocket echo server on `/`: every text or binary message is sent back unchanged.
//! The floor the benchmarks measure the Socket.IO stack against.
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 cargo run --release --example ws_echo`

#[path = "support/logging.rs"]
mod logging;

use volley::server::{Server, WsConn, WsHandler, WsMessage};

struct Echo;

impl WsHandler for Echo {
    fn on_message(&self, ws: &mut WsConn<'_, '_>, msg: WsMessage<'_>) {
        match msg {
            WsMessage::Text(t) => ws.send_text(t),
            WsMessage::Binary(b) => ws.send_binary(b),
        };
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    let server = Server::from_env()?.websocket("/", Echo).listen()?;
    println!("ws_echo listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
