//! `ws-echo` against the engine's WebSocket echo server, started in this process.

mod common;

use std::time::Duration;

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

#[test]
fn ws_echo_against_the_engine_echo_server() {
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 1;
        })
        .websocket("/", Echo)
        .listen()
        .unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let plot = common::temp_path("svg");
    let (out, doc) = common::run_loadgen(
        &[
            "ws-echo",
            "--url",
            &url,
            "-c",
            "8",
            "-k",
            "2",
            "--duration",
            "2",
            "--warmup",
            "0.3",
            "--drain",
            "0.3",
            "--threads",
            "1",
            "--payload",
            "100",
            "--server-pid",
            &std::process::id().to_string(),
            "--plot",
            plot.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    server.shutdown();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = &doc["summary"];
    let c = &s["counters"];
    assert_eq!(c["connected"], 8, "{s}");
    assert!(c["completed"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["errors_total"], 0, "{s}");
    assert!(s["errors"].as_object().unwrap().is_empty(), "{s}");
    assert!(s["latency"]["p50_us"].as_u64().unwrap() > 0);
    assert!(s["latency"]["max_us"].as_u64() >= s["latency"]["p99_us"].as_u64());
    assert!(s["completed_per_s"].as_f64().unwrap() > 0.0);
    assert!(s["server"]["cpu_s"].as_f64().unwrap() > 0.0, "{s}");
    assert_eq!(doc["result"]["window_s"], 2.0);
    assert!(stdout.contains("echoes"), "{stdout}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    let _ = std::fs::remove_file(&plot);
    assert!(svg.starts_with("<svg") && svg.contains("<polyline"));
}

#[test]
fn ws_echo_reports_refused_connections() {
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/");
    let (out, doc) = common::run_loadgen(
        &[
            "ws-echo",
            "--url",
            &url,
            "-c",
            "3",
            "--duration",
            "0.2",
            "--warmup",
            "0",
            "--drain",
            "0",
            "--threads",
            "1",
            "-q",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(2), "errors make the exit status 2");
    let s = &doc["summary"];
    assert_eq!(s["counters"]["connect_failed"], 3, "{s}");
    assert_eq!(s["errors_total"], 3);
    assert_eq!(
        s["errors"]["connect: Connection refused (os error 111)"], 3,
        "{s}"
    );
}
