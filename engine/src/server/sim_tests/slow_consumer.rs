//! Slow consumers on virtual time, with `max_buffered` at 64 KiB: a WebSocket client that reads
//! nothing is cut as a slow consumer as soon as more than 64 KiB wait for it (exactly 64 KiB
//! is still allowed), with `slow consumer` for the application; one that reads again in time
//! gets everything, in order; volatile emits are dropped, not queued, while the client is
//! behind. The reference buffers without bound and has no such reason; the limit is Volley's.

use std::sync::{Arc, Mutex};

use super::{ms, WsPeer};
use crate::proto::ws::{self, OpCode};
use crate::runtime::Sim;
use crate::server::{Server, ServerHandle};

/// `max_buffered` of these tests.
const MAX_BUFFERED: usize = 64 * 1024;

/// Chunk `i`'s only argument: 16,366 characters, so that its packet `42["chunk","..."]` is
/// 16,380 bytes and its frame (4-byte header) exactly 16 KiB; four fill `MAX_BUFFERED`.
fn chunk(i: usize) -> String {
    format!("{i:02}{}", "x".repeat(16_364))
}

/// The packet of chunk `i` as the client reads it.
fn chunk_packet(i: usize) -> String {
    format!(r#"42["chunk","{}"]"#, chunk(i))
}

/// What the `/` namespace of [`server`] saw.
#[derive(Default)]
struct Seen {
    reasons: Vec<String>,
    /// Whether each emit of a `burst` was accepted (`Ok`).
    emitted: Vec<bool>,
    /// What each `Socket::volatile_emit` returned (`false`: dropped).
    volatile: Vec<bool>,
}

/// A server with `max_buffered` 64 KiB: `burst` emits that many chunks in one handler call,
/// `v` emits `tick` volatile once, `v2` twice.
fn server() -> (Sim<super::Router>, ServerHandle, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
    let (sim, handle) = Server::builder()
        .configure(|c| c.max_buffered = MAX_BUFFERED)
        .namespace("/", move |ns| {
            let seen = s1.clone();
            ns.on_disconnect(move |_, r| seen.lock().unwrap().reasons.push(r.as_str().into()));
            let seen = s2.clone();
            ns.on("burst", move |s, args| {
                let n: usize = args.deserialize(0).unwrap();
                for i in 0..n {
                    let ok = s.emit("chunk", &(chunk(i),)).is_ok();
                    seen.lock().unwrap().emitted.push(ok);
                }
                None
            });
            let seen = s3.clone();
            ns.on("v", move |s, args| {
                let i: u32 = args.deserialize(0).unwrap();
                let sent = s.volatile_emit("tick", &(i,)).unwrap();
                seen.lock().unwrap().volatile.push(sent);
                None
            });
            let seen = s3.clone();
            ns.on("v2", move |s, args| {
                let i: u32 = args.deserialize(0).unwrap();
                for i in [i, i + 1] {
                    let sent = s.volatile_emit("tick", &(i,)).unwrap();
                    seen.lock().unwrap().volatile.push(sent);
                }
                None
            });
        })
        .simulate();
    (sim, handle, seen)
}

/// Emits chunk `i` to `sid` from the handle, in a worker turn of its own.
fn emit_chunk(sim: &mut Sim<super::Router>, handle: &ServerHandle, sid: &str, i: usize) {
    assert_eq!(handle.emit_to("/", sid, "chunk", &(chunk(i),)), Ok(true));
    sim.settle();
}

/// A client that stops reading (window 0) keeps its session while up to 64 KiB wait for it;
/// the emit that takes the queue past 64 KiB cuts it: `slow consumer` for the application at
/// once, what was queued is dropped (the client never gets it, nor a close frame: once it
/// reads again it finds only the end of the stream), and the connection goes at
/// `close_timeout` (1 s) unless the client hangs up first.
#[test]
fn a_reader_that_stops_reading_is_cut_once_over_max_buffered() {
    let (mut sim, handle, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    let sid = peer.connect_sio(&mut sim);
    sim.window(peer.conn, Some(0));

    for i in 0..4 {
        emit_chunk(&mut sim, &handle, &sid, i);
    }
    assert!(
        seen.lock().unwrap().reasons.is_empty(),
        "exactly 64 KiB wait"
    );
    assert!(!sim.write_shut(peer.conn));

    emit_chunk(&mut sim, &handle, &sid, 4);
    assert_eq!(seen.lock().unwrap().reasons, ["slow consumer"]);
    assert!(
        sim.is_open(peer.conn),
        "the connection lingers for close_timeout"
    );
    emit_chunk(&mut sim, &handle, &sid, 5);

    sim.advance(ms(500));
    sim.window(peer.conn, None);
    assert_eq!(
        sim.take(peer.conn),
        b"",
        "the queue was dropped, no close frame"
    );
    assert!(sim.write_shut(peer.conn), "only the FIN");
    sim.advance(ms(499));
    assert!(sim.is_open(peer.conn));
    sim.advance(ms(1));
    assert!(sim.is_closed(peer.conn), "gone at close_timeout");
    assert_eq!(seen.lock().unwrap().reasons.len(), 1);
}

/// A client that reads again before the limit loses nothing: what is judged is what it has
/// not read yet. 64 KiB queued; it reads 20,000 bytes (the first chunk and part of the
/// second), so one more chunk fits (61,920 bytes unread); then it reads everything, in order,
/// and later chunks flow at once.
#[test]
fn a_reader_that_reads_again_in_time_gets_everything_in_order() {
    let (mut sim, handle, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    let sid = peer.connect_sio(&mut sim);
    sim.window(peer.conn, Some(0));
    for i in 0..4 {
        emit_chunk(&mut sim, &handle, &sid, i);
    }

    sim.window(peer.conn, Some(20_000));
    assert_eq!(peer.texts(&mut sim), [chunk_packet(0)]);
    emit_chunk(&mut sim, &handle, &sid, 4);
    assert!(seen.lock().unwrap().reasons.is_empty());

    sim.window(peer.conn, None);
    assert_eq!(
        peer.texts(&mut sim),
        (1..5).map(chunk_packet).collect::<Vec<_>>()
    );
    for i in 5..13 {
        emit_chunk(&mut sim, &handle, &sid, i);
        assert_eq!(peer.texts(&mut sim), [chunk_packet(i)]);
    }
    assert!(seen.lock().unwrap().reasons.is_empty());
    assert!(!sim.write_shut(peer.conn));
}

/// Volatile emits, from a socket (`volatile_emit`) or a broadcast (`volatile()`), go out only
/// when nothing waits for the client: while it is behind they are dropped, not queued
/// (`volatile_emit` returns `false`), so it gets the first tick and the ones after it caught
/// up. Within one handler call a second volatile emit is dropped even for a client that reads
/// everything, since the first still waits for the end of the turn to be written, as the
/// reference's WebSocket transport is not writable until its send completes.
#[test]
fn volatile_emits_are_dropped_while_the_reader_is_behind() {
    let (mut sim, handle, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);
    sim.window(peer.conn, Some(0));

    peer.send(&mut sim, r#"42["v",1]"#);
    peer.send(&mut sim, r#"42["v",2]"#);
    handle.of("/").volatile().emit("tick", &(3,)).unwrap();
    sim.settle();
    peer.send(&mut sim, r#"42["v",4]"#);
    assert_eq!(seen.lock().unwrap().volatile, [true, false, false]);

    sim.window(peer.conn, None);
    assert_eq!(peer.texts(&mut sim), [r#"42["tick",1]"#]);
    peer.send(&mut sim, r#"42["v",5]"#);
    handle.of("/").volatile().emit("tick", &(6,)).unwrap();
    sim.settle();
    assert_eq!(peer.texts(&mut sim), [r#"42["tick",5]"#, r#"42["tick",6]"#]);

    peer.send(&mut sim, r#"42["v2",7]"#);
    assert_eq!(peer.texts(&mut sim), [r#"42["tick",7]"#]);
    assert_eq!(
        seen.lock().unwrap().volatile,
        [true, false, false, true, true, false]
    );
    assert!(seen.lock().unwrap().reasons.is_empty());
}

/// A handler that emits exactly `max_buffered` (four 16 KiB chunks) in one call to a client
/// that reads everything: all of it arrives, in order, and nobody is cut. (This also checks
/// the arithmetic of the other tests: each chunk's frame is exactly 16 KiB.)
#[test]
fn a_burst_of_max_buffered_reaches_a_healthy_reader() {
    let (mut sim, _handle, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);

    peer.send(&mut sim, r#"42["burst",4]"#);
    // Byte for byte: four frames of exactly 16 KiB each, in order.
    let mut frames = Vec::new();
    for i in 0..4 {
        ws::encode_frame(&mut frames, OpCode::Text, chunk_packet(i).as_bytes());
    }
    assert_eq!(frames.len(), MAX_BUFFERED);
    assert!(
        sim.take(peer.conn) == frames,
        "the four chunks, whole and in order"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.emitted, [true; 4]);
    assert!(seen.reasons.is_empty());
}

/// A handler that emits more than `max_buffered` (eight 16 KiB chunks) in one call to a client
/// that reads everything (window unlimited) does not cut it: the client is not slow, the burst
/// was just queued within one turn, and writes are deferred to the end of the turn (io_uring,
/// and this simulation). A client is judged only once its socket refused bytes.
#[test]
fn a_burst_over_max_buffered_to_a_healthy_reader_is_not_cut() {
    let (mut sim, _handle, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);

    peer.send(&mut sim, r#"42["burst",8]"#);
    assert_eq!(
        peer.texts(&mut sim),
        (0..8).map(chunk_packet).collect::<Vec<_>>()
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.emitted, [true; 8]);
    assert!(seen.reasons.is_empty(), "{:?}", seen.reasons);
    assert!(!sim.write_shut(peer.conn));
}

/// A burst is not judged, but it is bounded: a handler that queues more than four times
/// `max_buffered` before the socket could take any of it (twenty 16 KiB chunks against 64 KiB)
/// is cut as a slow consumer, so a handler sending in a loop cannot grow memory without limit.
#[test]
fn a_burst_past_four_times_max_buffered_is_cut() {
    let (mut sim, _handle, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);

    peer.send(&mut sim, r#"42["burst",20]"#);
    let seen = seen.lock().unwrap();
    // Sixteen chunks are exactly the bound; the seventeenth passes it, is queued, and cuts the
    // session, so the three after it fail.
    assert_eq!(
        seen.emitted.iter().filter(|e| **e).count(),
        17,
        "{:?}",
        seen.emitted
    );
    assert_eq!(seen.reasons, ["slow consumer"]);
    drop(seen);
    assert!(sim.write_shut(peer.conn));
}
