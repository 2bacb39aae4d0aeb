//! Connection state recovery with the stock socket.io-client (interop/sio_recovery.mjs): a
//! client whose connection drops for about a second comes back with `socket.recovered`, the
//! same id, its rooms and data, and the broadcasts it missed in order; past the window it gets
//! a fresh session.

mod common;

use std::time::Duration;

use volley::server::{Ack, Server};

/// A server keeping sessions for `window`, on two workers so a client may come back on the
/// other one.
fn start(window: Duration) -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
        })
        .recovery(window)
        .namespace("/", |ns| {
            ns.on_connect(|s, _| {
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
                let room: String = args.deserialize(0).ok()?;
                let n: u32 = args.deserialize(1).ok()?;
                s.within(&room).emit("news", &(n,)).ok()?;
                Ack::one(&true).ok()
            });
            ns.on("whoami", |s, _| {
                let rooms = s.rooms().len() > 1;
                let v = serde_json::json!({
                    "recovered": s.recovered(),
                    "data": s.data::<String>(),
                    "rooms": rooms,
                });
                Ack::one(&v).ok()
            });
            // Through the handle, as another thread would: reaches the socket by its id even
            // when it came back on another worker than the id names.
            ns.on("poke", |s, args| {
                let id: String = args.deserialize(0).ok()?;
                let sent = s.server().emit_to("/", &id, "poked", &("poke",)).ok()?;
                Ack::one(&sent).ok()
            });
        })
        .listen()
        .expect("server starts")
}

#[test]
fn the_stock_client_recovers_its_session_within_the_window() {
    let long = start(Duration::from_secs(60));
    let short = start(Duration::from_millis(300));
    let out = common::run_node(
        "sio_recovery.mjs",
        &[
            &format!("http://{}", long.local_addr()),
            &format!("http://{}", short.local_addr()),
        ],
    );
    common::assert_cases(
        &out,
        &[
            "within the window the socket is recovered with its missed broadcasts in order (polling,websocket)",
            "within the window the socket is recovered with its missed broadcasts in order (websocket)",
            "after the window the client gets a fresh session",
        ],
    );
    long.shutdown();
    short.shutdown();
}
