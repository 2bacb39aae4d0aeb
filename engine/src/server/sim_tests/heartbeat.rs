//! Heartbeats on virtual time: the first ping exactly one interval after the open packet, the
//! next one interval after each pong, and a client that stops answering is cut exactly one ping
//! timeout after the unanswered ping, with `ping timeout` for the application; over WebSocket
//! and over polling.

use std::sync::{Arc, Mutex};

use super::{exchange, ms, WsPeer};
use crate::server::Server;

/// A server with the reference's heartbeat (25 s, 20 s) whose `/` namespace records each
/// disconnect reason.
fn server() -> (crate::runtime::Sim<super::Router>, Arc<Mutex<Vec<String>>>) {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let seen = reasons.clone();
    let (sim, _handle) = Server::builder()
        .configure(|c| {
            c.ping_interval = ms(25_000);
            c.ping_timeout = ms(20_000);
        })
        .namespace("/", move |ns| {
            let seen = seen.clone();
            ns.on_disconnect(move |_, reason| seen.lock().unwrap().push(reason.as_str().into()));
        })
        .simulate();
    (sim, reasons)
}

#[test]
fn websocket_pings_on_time_and_cuts_a_silent_client_at_the_timeout() {
    let (mut sim, reasons) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);

    sim.advance(ms(24_999));
    assert_eq!(
        peer.texts(&mut sim),
        Vec::<String>::new(),
        "no ping before 25 s"
    );
    sim.advance(ms(1));
    assert_eq!(
        peer.texts(&mut sim),
        ["2"],
        "the first ping at exactly 25 s"
    );

    // A pong 5 s later: the next ping is one interval after it, at 55 s.
    sim.advance(ms(5_000));
    peer.send(&mut sim, "3");
    sim.advance(ms(24_999));
    assert_eq!(peer.texts(&mut sim), Vec::<String>::new());
    sim.advance(ms(1));
    assert_eq!(peer.texts(&mut sim), ["2"], "the second ping at 55 s");
    assert_eq!(sim.elapsed(), ms(55_000));

    // No pong now: cut 20 s after that ping, not a millisecond before.
    sim.advance(ms(19_999));
    assert!(sim.is_open(peer.conn));
    assert!(reasons.lock().unwrap().is_empty());
    sim.advance(ms(1));
    assert_eq!(*reasons.lock().unwrap(), ["ping timeout"]);
    assert!(sim.write_shut(peer.conn), "the connection is being closed");
}

#[test]
fn polling_pings_through_the_parked_get_and_cuts_a_silent_client() {
    let (mut sim, reasons) = server();
    let conn = sim.connect();
    let (status, open) = exchange(
        &mut sim,
        conn,
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: sim\r\n\r\n",
    );
    assert_eq!(status, 200);
    let open: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap().to_string();
    let post = |body: &str| {
        format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let get =
        format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: sim\r\n\r\n");
    assert_eq!(exchange(&mut sim, conn, &post("40")), (200, "ok".into()));
    let (_, connected) = exchange(&mut sim, conn, &get);
    assert!(connected.starts_with("40{"), "{connected}");

    // A GET parks until the ping, which answers it at exactly 25 s.
    sim.send(conn, get.as_bytes());
    assert_eq!(super::response(&mut sim, conn), None, "the GET waits");
    sim.advance(ms(24_999));
    assert_eq!(super::response(&mut sim, conn), None);
    sim.advance(ms(1));
    assert_eq!(super::response(&mut sim, conn), Some((200, "2".into())));

    // The pong comes by POST 1 s later; the next ping is due 25 s after it.
    sim.advance(ms(1_000));
    assert_eq!(exchange(&mut sim, conn, &post("3")), (200, "ok".into()));
    sim.send(conn, get.as_bytes());
    sim.advance(ms(24_999));
    assert_eq!(super::response(&mut sim, conn), None);
    sim.advance(ms(1));
    assert_eq!(super::response(&mut sim, conn), Some((200, "2".into())));

    // No pong and no GET: cut at the ping timeout.
    sim.advance(ms(19_999));
    assert!(reasons.lock().unwrap().is_empty());
    sim.advance(ms(1));
    assert_eq!(*reasons.lock().unwrap(), ["ping timeout"]);
}
