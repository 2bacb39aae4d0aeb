//! Raw Engine.IO echo server on `/engine.io/` (no Socket.IO): every message, text or binary, is
//! sent back unchanged. Heartbeats and limits come from the `VOLLEY_*` variables.
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 cargo run --example eio_echo`

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
    // Logs go to stderr, filtered by RUST_LOG (`RUST_LOG=volley=debug` shows every connect and
    // disconnect with its reason); warnings and errors when it is unset.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let server = Server::from_env()?.engine_io(Echo).listen()?;
    println!("eio_echo listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
