//! The README's HTTP fallback example, verbatim between the `README` markers
//! (engine/tests/readme.rs checks that the two are the same text; engine/tests/http_fallback.rs
//! runs this server and sends it HTTP requests and a Socket.IO connect): `/` is a page,
//! `/health` answers `ok`, `POST /echo` returns its body, every other path is 404, and
//! Socket.IO is served on the same port.
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 cargo run --example http_fallback`, then
//! `curl http://127.0.0.1:3000/health`.

#[path = "support/logging.rs"]
mod logging;

use volley::server::{HttpResponse, Server};

#[rustfmt::skip] // the README's layout, comments aligned
fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    // README begin
    const PAGE: &str = "<!doctype html><title>hi</title>";
    let server = Server::from_env()?
        .namespace("/", |_ns| { /* handlers */ })
        .http_fallback(|req| match (req.method(), req.path()) {
            ("GET" | "HEAD", "/") => HttpResponse::new(200)
                .header("Content-Type", "text/html; charset=utf-8")
                .body(PAGE),                     // a &'static str or Bytes: no copy
            ("GET", "/health") => HttpResponse::new(200).body("ok"),
            ("POST", "/echo") => HttpResponse::new(200).body(req.body().to_vec()),
            _ => HttpResponse::not_found(),
        })
        .listen()?;
    // README end
    println!("http_fallback listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
