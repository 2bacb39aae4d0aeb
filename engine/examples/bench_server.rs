//! The Socket.IO server the benchmarks drive (`scripts/bench.sh`, `scripts/bench-peers.sh`),
//! with the same events as the Node and socketioxide peers in `benches/peers/`:
//!
//! - `echo` -> acknowledges with the same arguments, binary included;
//! - `echo-async` -> the same from an asynchronous handler (`on_async`, on a tokio runtime with
//!   as many threads as workers), to measure what a future costs against a plain handler;
//! - `join` (room) -> joins the room, acknowledges with no arguments;
//! - `broadcast` (room, payload) -> emits `broadcast` (payload, any JSON value) to every member
//!   of the room, the sender included.
//!
//! Namespace `/` has those events; `/auth-async` has an asynchronous connect middleware that
//! waits 50 ms (a token looked up in a database, say), for `scripts/bench-async-middleware.sh`.
//! Every setting comes from the `VOLLEY_*` variables (`Config::from_env`).
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 VOLLEY_WORKERS=1 cargo run --release --example bench_server`

#[path = "support/logging.rs"]
mod logging;

use volley::config::Config;
use volley::server::{Ack, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(Config::from_env()?.workers.max(1))
        .thread_name("bench-async")
        .enable_time()
        .build()?;
    let spawn = runtime.handle().clone();
    let server = Server::from_env()?
        .spawner(move |f| {
            spawn.spawn(f);
        })
        .namespace("/auth-async", |ns| {
            ns.middleware_async(|_| async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Ok(())
            });
        })
        .namespace("/", |ns| {
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            ns.on_async("echo-async", |_, args| async move { Some(Ack::from(args)) });
            ns.on("join", |socket, args| {
                if let Some(room) = args.get(0).and_then(|r| r.as_str()) {
                    socket.join(&room);
                }
                Some(Ack::empty())
            });
            ns.on("broadcast", |socket, args| {
                let room = args.get(0).and_then(|r| r.as_str())?;
                // The payload is relayed as the bytes received, whatever JSON it is.
                let payload = args.get(1)?;
                let _ = socket.within(&room).emit("broadcast", &payload);
                None
            });
        })
        .listen()?;
    println!("bench_server listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
