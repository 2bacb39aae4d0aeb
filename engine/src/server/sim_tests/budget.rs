//! The global budget on virtual time, with `max_buffered` 64 KiB and `max_buffered_total`
//! 128 KiB (one worker: its share is all of it; it keeps to 112 KiB, an eighth under). Queues
//! count their bytes and their entries. Readers that stop reading keep their sessions while all
//! their queues together fit; once they pass the level kept to, volatile packets are dropped for
//! everyone, then the reader holding the most (of equals, the newest) is cut as a slow consumer
//! (counted in `volley_budget_cuts_total`) and the others get everything, in order. A healthy
//! reader is judged after the turn's writes, so a burst larger than the budget reaches it; a
//! reader behind is cut at once when the share is reached, and anyone at twice it.

use std::sync::{Arc, Mutex};

use crate::proto::ws::{self, OpCode};

use super::{Router, WsPeer};
use crate::runtime::Sim;
use crate::server::{Counter, Server, ServerHandle};

const MAX_BUFFERED: usize = 64 * 1024;
const MAX_BUFFERED_TOTAL: usize = 128 * 1024;
/// The level the worker keeps to: an eighth under its share.
const KEPT: usize = MAX_BUFFERED_TOTAL - MAX_BUFFERED_TOTAL / 8;

/// Chunk `i`'s argument, so that its frame is exactly 16 KiB (as in `slow_consumer`).
fn chunk(i: usize) -> String {
    format!("{i:02}{}", "x".repeat(16_364))
}

fn chunk_packet(i: usize) -> String {
    format!(r#"42["chunk","{}"]"#, chunk(i))
}

/// Who was disconnected, and why.
type Gone = Arc<Mutex<Vec<(String, String)>>>;

/// Whether each emit of a `burst` was accepted.
type Emitted = Arc<Mutex<Vec<bool>>>;

/// A server with the budget above; `burst` (n) emits n chunks to the sender in one call.
fn server() -> (Sim<Router>, ServerHandle, Gone, Emitted) {
    let gone: Gone = Arc::default();
    let emitted: Emitted = Arc::default();
    let (g, e) = (gone.clone(), emitted.clone());
    let (sim, handle) = Server::builder()
        .configure(|c| {
            c.max_buffered = MAX_BUFFERED;
            c.max_buffered_total = MAX_BUFFERED_TOTAL;
        })
        .namespace("/", move |ns| {
            let g = g.clone();
            ns.on_disconnect(move |s, r| {
                g.lock()
                    .unwrap()
                    .push((s.id().to_string(), r.as_str().into()))
            });
            ns.on("fan", |s, args| {
                let i: usize = args.deserialize(0).unwrap();
                s.broadcast().emit("chunk", &(chunk(i),)).unwrap();
                None
            });
            let e = e.clone();
            ns.on("burst", move |s, args| {
                let n: usize = args.deserialize(0).unwrap();
                for i in 0..n {
                    let ok = s.emit("chunk", &(chunk(i),)).is_ok();
                    e.lock().unwrap().push(ok);
                }
                None
            });
        })
        .simulate();
    (sim, handle, gone, emitted)
}

/// A connected reader that reads nothing.
fn stalled(sim: &mut Sim<Router>) -> (WsPeer, String) {
    let mut peer = WsPeer::open(sim, "");
    let sid = peer.connect_sio(sim);
    sim.window(peer.conn, Some(0));
    (peer, sid)
}

/// Queues chunks `range` for `sid`, all in one worker turn.
fn queue(sim: &mut Sim<Router>, handle: &ServerHandle, sid: &str, range: std::ops::Range<usize>) {
    for i in range {
        assert_eq!(handle.emit_to("/", sid, "chunk", &(chunk(i),)), Ok(true));
    }
    sim.settle();
}

#[test]
fn past_the_budget_the_largest_queue_is_cut_and_the_rest_get_everything() {
    let (mut sim, handle, gone, _) = server();
    let (mut a, sa) = stalled(&mut sim);
    let (mut b, sb) = stalled(&mut sim);
    let (mut c, sc) = stalled(&mut sim);

    // 48 + 16 + 32 KiB and their entries: under the 112 KiB kept to.
    queue(&mut sim, &handle, &sa, 0..3);
    queue(&mut sim, &handle, &sb, 0..1);
    queue(&mut sim, &handle, &sc, 0..2);
    assert!(gone.lock().unwrap().is_empty(), "under the level kept to");
    let queued = sim.queued_total();
    assert!(queued > 96 * 1024 && queued < KEPT, "{queued}");
    assert_eq!(handle.stats().budget_cuts, 0);

    // 16 KiB more for `b`: 112 KiB and the entries, past the level. At the end of the turn
    // the largest queue goes, `a`'s, which leaves `b` and `c` with 32 KiB each.
    queue(&mut sim, &handle, &sb, 1..2);
    assert_eq!(
        *gone.lock().unwrap(),
        [(sa.clone(), "slow consumer".to_string())]
    );
    assert_eq!(handle.stats().budget_cuts, 1);
    let queued = sim.queued_total();
    assert!(queued > 64 * 1024 && queued < 65 * 1024, "{queued}");
    assert_eq!(handle.stats().get(Counter::SlowConsumers), 1);
    assert!(handle
        .prometheus()
        .contains("\nvolley_budget_cuts_total 1\n"));

    // `a` finds only the end of its stream; the others everything, in order.
    sim.window(a.conn, None);
    assert!(a.texts(&mut sim).is_empty());
    assert!(sim.write_shut(a.conn));
    for peer in [&mut b, &mut c] {
        sim.window(peer.conn, None);
        assert_eq!(
            peer.texts(&mut sim),
            (0..2).map(chunk_packet).collect::<Vec<_>>()
        );
        assert!(!sim.write_shut(peer.conn));
    }
    assert_eq!(gone.lock().unwrap().len(), 1);
}

#[test]
fn volatile_packets_are_dropped_for_everyone_before_anyone_is_cut() {
    let (mut sim, handle, gone, _) = server();
    let (_a, sa) = stalled(&mut sim);
    let mut reader = WsPeer::open(&mut sim, "");
    reader.connect_sio(&mut sim);

    // One turn: `a` passes the budget (144 KiB against 128), then a volatile broadcast. The
    // reader has nothing queued, yet its tick is dropped: the budget goes first to what may
    // be lost. At the end of the turn `a` is cut.
    for i in 0..9 {
        handle.emit_to("/", &sa, "chunk", &(chunk(i),)).unwrap();
    }
    handle.of("/").volatile().emit("tick", &(1,)).unwrap();
    sim.settle();
    assert!(reader.texts(&mut sim).is_empty(), "the tick was dropped");
    // Dropped twice: for `a`, which is behind, and for the reader, over the budget.
    assert_eq!(handle.stats().get(Counter::VolatileDrops), 2);
    assert_eq!(
        *gone.lock().unwrap(),
        [(sa.clone(), "slow consumer".to_string())]
    );

    // Back within the budget, volatile packets flow again.
    handle.of("/").volatile().emit("tick", &(2,)).unwrap();
    sim.settle();
    assert_eq!(reader.texts(&mut sim), [r#"42["tick",2]"#]);
    assert_eq!(sim.queued_total(), 0);
}

#[test]
fn a_burst_larger_than_the_budget_reaches_a_healthy_reader() {
    let (mut sim, handle, gone, emitted) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);

    // 12 chunks, 192 KiB in one handler call: over the budget until the turn's write, which
    // the reader takes whole; nothing is left to cut.
    peer.send(&mut sim, r#"42["burst",12]"#);
    assert_eq!(
        peer.texts(&mut sim),
        (0..12).map(chunk_packet).collect::<Vec<_>>()
    );
    assert_eq!(*emitted.lock().unwrap(), [true; 12]);
    assert!(gone.lock().unwrap().is_empty());
    assert_eq!(handle.stats().budget_cuts, 0);
}

#[test]
fn a_reader_behind_is_cut_at_the_share_and_a_burst_at_twice_it() {
    let (mut sim, handle, gone, emitted) = server();
    let (a, sa) = stalled(&mut sim);
    let (mut b, sb) = stalled(&mut sim);
    queue(&mut sim, &handle, &sb, 0..4);

    // `a` emits eighteen chunks to itself in one handler call (each reader within four times
    // max_buffered, so no per-client bound applies). The fourth takes the worker past its
    // share (64 + 4 × 16 KiB and the entries): `b`, known to be behind (its socket refused
    // bytes), is cut then, within the turn. `a`'s socket has refused nothing yet, so its burst
    // goes on until twice the share: the sixteenth chunk (256 KiB and the entries) cuts it,
    // and the two emits after it fail. Had `b` stayed, the twelfth would have.
    a.send(&mut sim, r#"42["burst",18]"#);
    let ok = emitted.lock().unwrap().iter().filter(|e| **e).count();
    assert_eq!(ok, 16, "{:?}", emitted.lock().unwrap());
    let mut gone = gone.lock().unwrap().clone();
    gone.sort();
    let mut expected = [sa, sb].map(|sid| (sid, "slow consumer".to_string()));
    expected.sort();
    assert_eq!(gone, expected);
    assert_eq!(handle.stats().budget_cuts, 2);
    assert_eq!(sim.queued_total(), 0);
    sim.window(b.conn, None);
    assert!(b.texts(&mut sim).is_empty());
}

/// `n` `fan` events in one read: each broadcasts a 16 KiB chunk to everyone else.
fn fans(sim: &mut Sim<Router>, sender: &WsPeer, n: usize) {
    let mut input = Vec::new();
    for i in 0..n {
        let text = format!(r#"42["fan",{i}]"#);
        ws::encode_masked_frame(&mut input, OpCode::Text, text.as_bytes(), [1, 2, 3, 4]);
    }
    sim.send(sender.conn, &input);
}

#[test]
fn input_waits_while_the_queues_are_past_the_level_so_a_flood_fits_and_arrives() {
    let (mut sim, handle, gone, _) = server();
    let mut readers: Vec<WsPeer> = (0..4).map(|_| WsPeer::open(&mut sim, "")).collect();
    for r in &mut readers {
        r.connect_sio(&mut sim);
    }
    let mut sender = WsPeer::open(&mut sim, "");
    sender.connect_sio(&mut sim);

    // Thirty broadcasts of 64 KiB each (four readers) in one read: 1.9 MiB, fifteen times the
    // budget. Past the 112 KiB kept to, the rest of the read waits for the turn's writes; the
    // readers keep up, so nobody is cut, and the queues pass the level by one broadcast at most.
    fans(&mut sim, &sender, 30);
    for r in &mut readers {
        assert_eq!(
            r.texts(&mut sim),
            (0..30).map(chunk_packet).collect::<Vec<_>>()
        );
    }
    assert!(gone.lock().unwrap().is_empty());
    assert_eq!(handle.stats().budget_cuts, 0);
    let peak = sim.peak_queued();
    assert!(peak <= KEPT + 4 * (16 * 1024 + 256), "peak {peak}");
    assert_eq!(sim.queued_total(), 0);
}

#[test]
fn readers_behind_are_cut_within_the_turn_and_the_flood_reaches_the_rest() {
    let (mut sim, handle, gone, _) = server();
    let (a, sa) = stalled(&mut sim);
    let (b, sb) = stalled(&mut sim);
    queue(&mut sim, &handle, &sa, 0..3);
    queue(&mut sim, &handle, &sb, 0..3);
    let mut healthy = WsPeer::open(&mut sim, "");
    healthy.connect_sio(&mut sim);
    let mut sender = WsPeer::open(&mut sim, "");
    sender.connect_sio(&mut sim);

    // The first broadcast takes the worker past its share (2 × 64 + 16 KiB): the budget cuts
    // `b` (of the two equal readers behind, the newer) at once; the second takes `a` past
    // max_buffered, which cuts it too. The healthy reader gets all thirty.
    fans(&mut sim, &sender, 30);
    assert_eq!(
        healthy.texts(&mut sim),
        (0..30).map(chunk_packet).collect::<Vec<_>>()
    );
    let mut gone = gone.lock().unwrap().clone();
    gone.sort();
    let mut expected = [sa, sb].map(|sid| (sid, "slow consumer".to_string()));
    expected.sort();
    assert_eq!(gone, expected);
    assert_eq!(handle.stats().budget_cuts, 1);
    assert!(sim.write_shut(a.conn) && sim.write_shut(b.conn));
    let peak = sim.peak_queued();
    assert!(peak <= MAX_BUFFERED_TOTAL + 24 * 1024, "peak {peak}");
}
