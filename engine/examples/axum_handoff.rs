//! An axum app and Socket.IO on one port, the README's hand-off example: requests for none of
//! Volley's endpoints hand their whole connection, with the bytes Volley already read, to an
//! axum router served by hyper on a tokio runtime ([`ServerBuilder::http_handoff`]), read and
//! written through [`HandedStream`] (the `tokio` feature); the README's snippet is the text
//! between the `README` markers (engine/tests/readme.rs checks that the two are the same;
//! engine/tests/http_handoff.rs runs this server).
//!
//! - `GET /hello` answers `hello from axum`, `POST /echo` returns its body; other paths get
//!   axum's 404.
//! - Socket.IO on `/socket.io/`, namespace `/`: the event `echo` is acknowledged with its own
//!   arguments.
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 cargo run --features tokio --example axum_handoff`, then
//! `curl http://127.0.0.1:3000/hello`.
//!
//! [`ServerBuilder::http_handoff`]: volley::server::ServerBuilder::http_handoff
//! [`HandedStream`]: volley::server::HandedStream

#[path = "support/logging.rs"]
mod logging;

use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use volley::server::{Ack, Server};

#[rustfmt::skip] // the README's layout, comments aligned
fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    // The application's runtime (its threads start after the signals are blocked, so SIGTERM
    // and SIGINT reach run_until_signal) and its router.
    let runtime = tokio::runtime::Runtime::new()?;
    let tokio_handle = runtime.handle().clone();
    let app = axum::Router::new()
        .route("/hello", get(|| async { "hello from axum" }))
        .route("/echo", post(|body: String| async move { body }));
    let server = Server::from_env()?
        .namespace("/", |ns| {
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
        })
        // README begin
        .http_handoff(move |conn| {
            let app = app.clone();                               // an axum::Router
            tokio_handle.spawn(async move {
                let io = TokioIo::new(conn.into_stream()?);      // `read` first, then the socket
                hyper::server::conn::http1::Builder::new()
                    .keep_alive(false)
                    .serve_connection(io, TowerToHyperService::new(app))
                    .await
                    .map_err(std::io::Error::other)
            });
        })
        // README end
        .listen()?;
    println!("axum_handoff listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
