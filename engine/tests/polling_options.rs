//! Engine.IO options on the HTTP side: CORS (allowed origins, credentials, preflight), the
//! sticky-session cookie, the `allow_request` hook, and which transports are allowed.

mod common;

use std::time::Duration;

use common::{http_exchange, RawWs};
use volley::config::{Config, Transports};
use volley::server::Server;

fn start(f: impl FnOnce(&mut Config)) -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.ping_interval = Duration::from_secs(30);
            f(c);
        })
        .allow_request(|req| match req.header("X-Token") {
            Some("bad") => Err("bad token".to_string()),
            _ => Ok(()),
        })
        .namespace("/", |_| {})
        .listen()
        .unwrap()
}

const HANDSHAKE: &str = "/socket.io/?EIO=4&transport=polling";

fn request(
    server: &Server,
    method: &str,
    headers: &str,
) -> (u16, volley::proto::http::Response, String) {
    let req =
        format!("{method} {HANDSHAKE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
    let (status, resp, body) = http_exchange(server.local_addr(), req.as_bytes());
    (status, resp, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn cors_preflight_allowed_and_refused_origins() {
    let server = start(|c| {
        c.cors_origins = vec!["https://app.example".into()];
        c.cors_credentials = true;
    });
    let (status, resp, _) = request(
        &server,
        "OPTIONS",
        "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n",
    );
    assert_eq!(status, 204);
    assert_eq!(
        resp.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert_eq!(
        resp.header("Access-Control-Allow-Credentials"),
        Some("true")
    );
    assert_eq!(
        resp.header("Access-Control-Allow-Headers"),
        Some("content-type")
    );
    assert!(resp
        .header("Access-Control-Allow-Methods")
        .unwrap()
        .contains("POST"));

    let (status, resp, body) = request(&server, "GET", "Origin: https://app.example\r\n");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        resp.header("Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert!(body.starts_with("0{\"sid\":"));

    let (status, resp, _) = request(&server, "GET", "Origin: https://evil.example\r\n");
    assert_eq!(status, 200);
    assert_eq!(
        resp.header("Access-Control-Allow-Origin"),
        None,
        "no CORS for other origins"
    );
    server.shutdown();
}

#[test]
fn the_session_cookie_carries_the_sid() {
    let server = start(|c| c.cookie = Some("io".into()));
    let (status, resp, body) = request(&server, "GET", "");
    assert_eq!(status, 200);
    let open: serde_json::Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap();
    assert_eq!(
        resp.header("Set-Cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
    server.shutdown();
}

#[test]
fn allow_request_refuses_with_403_and_its_message() {
    let server = start(|_| {});
    let (status, _, body) = request(&server, "GET", "X-Token: bad\r\n");
    assert_eq!(
        (status, body.as_str()),
        (403, "{\"code\":4,\"message\":\"bad token\"}")
    );
    let (status, _, _) = request(&server, "GET", "X-Token: good\r\n");
    assert_eq!(status, 200);
    server.shutdown();
}

#[test]
fn allowed_transports_shape_the_handshake() {
    let ws_only = start(|c| {
        c.transports = Transports {
            polling: false,
            websocket: true,
        }
    });
    let (status, _, body) = request(&ws_only, "GET", "");
    assert_eq!(
        (status, body.as_str()),
        (400, "{\"code\":0,\"message\":\"Transport unknown\"}")
    );
    let (_, open) = RawWs::eio_connect(ws_only.local_addr(), "/socket.io/");
    assert_eq!(open["upgrades"], serde_json::json!([]));
    ws_only.shutdown();

    let polling_only = start(|c| {
        c.transports = Transports {
            polling: true,
            websocket: false,
        }
    });
    let (status, _, body) = request(&polling_only, "GET", "");
    assert_eq!(status, 200);
    let open: serde_json::Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    assert_eq!(
        open["upgrades"],
        serde_json::json!([]),
        "no upgrade offered without websocket"
    );
    let req = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    // An upgrade is refused as engine.io's `abortUpgrade` refuses it: the bare message.
    let (status, _, body) = http_exchange(polling_only.local_addr(), req.as_bytes());
    assert_eq!(
        (status, String::from_utf8_lossy(&body).as_ref()),
        (400, "Transport unknown")
    );
    polling_only.shutdown();
}
