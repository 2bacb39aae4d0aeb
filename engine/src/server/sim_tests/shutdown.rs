//! Graceful shutdown and hang-ups on virtual time: `Sim::shutdown` (what `Server::shutdown`
//! starts on each worker) closes every WebSocket with 1001 after what was already queued, and
//! every socket hears `server shutting down` (the reason the reference's `io.close()` gives);
//! the connections go when the peers hang up, or at `close_timeout`; idle HTTP connections
//! are closed at once. A client that hangs up gives `transport close`.

use std::sync::{Arc, Mutex};

use super::{exchange, response, Got, WsPeer};
use crate::proto::ws::{self, CloseCode};
use crate::runtime::{Sim, SimConn};
use crate::server::{Server, ServerHandle};

/// A server whose `/` namespace records each disconnect reason.
fn server() -> (Sim<super::Router>, ServerHandle, Arc<Mutex<Vec<String>>>) {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    let (sim, handle) = Server::builder()
        .configure(|c| {
            c.close_timeout = super::ms(1_000);
            c.shutdown_timeout = super::ms(5_000);
        })
        .namespace("/", move |ns| {
            let seen = seen.clone();
            ns.on_disconnect(move |_, reason| seen.lock().unwrap().push(reason.as_str().into()));
        })
        .simulate();
    (sim, handle, reasons)
}

/// The close frame a shutdown sends: 1001 going away, with the reason.
fn going_away() -> Vec<u8> {
    let mut frame = Vec::new();
    ws::encode_close(&mut frame, CloseCode::GOING_AWAY, "server shutting down");
    frame
}

/// Every WebSocket session gets a close frame 1001 (`server shutting down`), after what was
/// already queued for it (a client that was not reading gets its message first, then the
/// close), and every socket's disconnect handler runs at once with `server shutting down`.
#[test]
fn shutdown_closes_every_websocket_with_1001_and_server_shutting_down() {
    let (mut sim, handle, reasons) = server();
    let mut idle = WsPeer::open(&mut sim, "");
    idle.connect_sio(&mut sim);
    let mut behind = WsPeer::open(&mut sim, "");
    let sid = behind.connect_sio(&mut sim);
    sim.window(behind.conn, Some(0));
    assert_eq!(handle.emit_to("/", &sid, "news", &("late",)), Ok(true));
    sim.settle();

    sim.shutdown();
    assert_eq!(
        *reasons.lock().unwrap(),
        ["server shutting down", "server shutting down"]
    );
    assert!(sim.take(idle.conn) == going_away(), "1001 with the reason");
    assert!(sim.write_shut(idle.conn), "the FIN follows the close frame");

    assert!(!sim.write_shut(behind.conn), "its bytes still wait");
    sim.window(behind.conn, None);
    assert_eq!(
        behind.read(&mut sim),
        [
            Got::Text(r#"42["news","late"]"#.into()),
            Got::Close(Some(1001))
        ]
    );
    assert!(sim.write_shut(behind.conn));
}

/// After the close frames the worker waits for the peers: one that hangs up leaves at once
/// (its socket already heard `server shutting down`, not `transport close`), one that does not
/// is dropped at `close_timeout` (1 s), before `shutdown_timeout` (5 s); then no connection is
/// left, which is when `Worker::wait` ends the worker's loop.
#[test]
fn the_connections_go_when_the_peers_hang_up_or_at_close_timeout() {
    let (mut sim, _handle, reasons) = server();
    let mut polite = WsPeer::open(&mut sim, "");
    polite.connect_sio(&mut sim);
    let mut silent = WsPeer::open(&mut sim, "");
    silent.connect_sio(&mut sim);
    sim.advance(super::ms(3_000));

    sim.shutdown();
    sim.advance(super::ms(200));
    sim.hang_up(polite.conn);
    assert!(sim.is_closed(polite.conn));
    assert_eq!(sim.open_connections(), 1);

    sim.advance(super::ms(799));
    assert!(sim.is_open(silent.conn));
    sim.advance(super::ms(1));
    assert!(sim.is_closed(silent.conn), "dropped at close_timeout");
    assert_eq!(sim.open_connections(), 0);
    assert_eq!(
        *reasons.lock().unwrap(),
        ["server shutting down", "server shutting down"]
    );
}

/// An idle keep-alive HTTP connection (here one whose polling handshake was answered) is
/// closed at once by the shutdown: it serves no further request.
#[test]
fn an_idle_http_connection_is_closed_at_shutdown() {
    let (mut sim, _handle, _) = server();
    let conn = sim.connect();
    let (status, _) = exchange(&mut sim, conn, &handshake());
    assert_eq!(status, 200);

    sim.shutdown();
    assert!(sim.is_closed(conn));
    assert_eq!(sim.open_connections(), 0);
    sim.send(conn, handshake().as_bytes());
    assert_eq!(response(&mut sim, conn), None, "nothing served");
}

/// A polling session at shutdown, as the reference's `io.close()` ends it: its socket hears
/// `server shutting down`, and the GET it has parked is answered at once with the close packet
/// `1` (engine.io's polling `doClose` when the transport is writable), through the service's
/// `on_shutdown`, since the runtime sees only connections.
#[test]
fn a_polling_session_is_closed_at_shutdown() {
    let (mut sim, _handle, reasons) = server();
    let (conn, sid) = polling_sio(&mut sim);
    let get =
        format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\r\n");
    sim.send(conn, get.as_bytes());
    assert_eq!(response(&mut sim, conn), None, "the GET is parked");

    sim.shutdown();
    assert_eq!(response(&mut sim, conn), Some((200, "1".into())));
    assert_eq!(*reasons.lock().unwrap(), ["server shutting down"]);
}

/// A client that hangs up gives `transport close`, and so does one that sends the Engine.IO
/// close packet `1`; the connection is gone.
#[test]
fn a_client_hang_up_gives_transport_close() {
    let (mut sim, _handle, reasons) = server();
    let mut gone = WsPeer::open(&mut sim, "");
    gone.connect_sio(&mut sim);
    let mut closing = WsPeer::open(&mut sim, "");
    closing.connect_sio(&mut sim);

    sim.hang_up(gone.conn);
    assert_eq!(*reasons.lock().unwrap(), ["transport close"]);
    assert!(sim.is_closed(gone.conn));
    assert!(!sim.is_open(gone.conn));

    closing.send(&mut sim, "1");
    assert_eq!(
        *reasons.lock().unwrap(),
        ["transport close", "transport close"]
    );
    assert_eq!(closing.read(&mut sim), [Got::Close(Some(1000))]);
    sim.hang_up(closing.conn);
    assert_eq!(sim.open_connections(), 0);
}

/// The polling handshake request.
fn handshake() -> String {
    "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: sim\r\n\r\n".into()
}

/// A polling client joined to `/`: its connection and session id.
fn polling_sio(sim: &mut Sim<super::Router>) -> (SimConn, String) {
    let conn = sim.connect();
    let (status, open) = exchange(sim, conn, &handshake());
    assert_eq!(status, 200);
    let open: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap().to_string();
    let post = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\
         Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n40"
    );
    assert_eq!(exchange(sim, conn, &post), (200, "ok".into()));
    let get =
        format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\r\n");
    let (_, connected) = exchange(sim, conn, &get);
    assert!(connected.starts_with("40{"), "{connected}");
    (conn, sid)
}
