//! The benchmark server on socketioxide, with the events of Volley's `bench_server` example:
//! `echo` acks with its argument, `join` (room) joins and acks, `broadcast` (room, payload)
//! emits `broadcast` (payload) to every member of the room, the sender included.
//!
//! Usage: `volley-peer-socketioxide [PORT]` (0 or absent: any free port); prints
//! `listening PORT` once ready. Worker threads: `TOKIO_WORKER_THREADS` (default: the cores).

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;
use tokio::net::TcpListener;

async fn echo(ack: AckSender, Data(data): Data<Value>) {
    let _ = ack.send(&data);
}

async fn join(s: SocketRef, ack: AckSender, Data(room): Data<String>) {
    s.join(room);
    let _ = ack.send(&());
}

async fn broadcast(s: SocketRef, Data((room, payload)): Data<(String, Value)>) {
    let _ = s.within(room).emit("broadcast", &payload).await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse()?,
        None => 0,
    };
    let (svc, io) = SocketIo::builder().max_payload(16_000_000).build_svc();
    io.ns("/", async |s: SocketRef| {
        s.on("echo", echo);
        s.on("join", join);
        s.on("broadcast", broadcast);
    });
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening {}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let svc = svc.clone();
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            let _ = conn.await;
        });
    }
}
