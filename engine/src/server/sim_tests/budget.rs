//! The global budget on virtual time, with `max_buffered` 64 KiB and `max_buffered_total`
//! 128 KiB (one worker: its share is all of it): readers that stop reading keep their sessions
//! while all their queues together fit; once they pass it, volatile packets are dropped for
//! everyone, then the reader holding the most bytes (of equals, the newest) is cut as a slow
//! consumer (counted in `volley_budget_cuts_total`) and the others get everything, in order.
//! A healthy reader is judged after the turn's writes, so a burst larger than the budget
//! reaches it; a turn far past the budget cuts at once, readers known to be behind first.

use std::sync::{Arc, Mutex};

use super::{Router, WsPeer};
use crate::runtime::Sim;
use crate::server::{Counter, Server, ServerHandle};

const MAX_BUFFERED: usize = 64 * 1024;
const MAX_BUFFERED_TOTAL: usize = 128 * 1024;

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

    // 48 + 32 + 48 KiB: exactly the budget, and each reader within max_buffered.
    queue(&mut sim, &handle, &sa, 0..3);
    queue(&mut sim, &handle, &sb, 0..2);
    queue(&mut sim, &handle, &sc, 0..3);
    assert!(gone.lock().unwrap().is_empty(), "exactly the budget fits");
    assert_eq!(sim.queued_total(), MAX_BUFFERED_TOTAL);
    assert_eq!(handle.stats().budget_cuts, 0);

    // 16 KiB more for `b` (still the smallest): a largest queue goes, `c` (48 KiB, the newer
    // of the two largest), which leaves 96 KiB.
    queue(&mut sim, &handle, &sb, 2..3);
    assert_eq!(
        *gone.lock().unwrap(),
        [(sc.clone(), "slow consumer".to_string())]
    );
    assert_eq!(handle.stats().budget_cuts, 1);
    assert_eq!(sim.queued_total(), 96 * 1024);
    assert_eq!(handle.stats().get(Counter::SlowConsumers), 1);
    assert!(handle
        .prometheus()
        .contains("\nvolley_budget_cuts_total 1\n"));

    // `c` finds only the end of its stream; the others everything, in order.
    sim.window(c.conn, None);
    assert!(c.texts(&mut sim).is_empty());
    assert!(sim.write_shut(c.conn));
    for peer in [&mut a, &mut b] {
        sim.window(peer.conn, None);
        assert_eq!(
            peer.texts(&mut sim),
            (0..3).map(chunk_packet).collect::<Vec<_>>()
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
fn a_turn_far_past_the_budget_cuts_at_once() {
    let (mut sim, handle, gone, emitted) = server();
    let (a, sa) = stalled(&mut sim);
    let (mut b, sb) = stalled(&mut sim);
    queue(&mut sim, &handle, &sb, 0..4);

    // `a` emits sixteen chunks to itself in one handler call (each reader within four times
    // max_buffered, so no per-client bound applies). The thirteenth takes the worker past
    // twice the budget (64 + 13 × 16 = 272 KiB against 256), and connections are cut then,
    // not at the end of the turn: first `b`, known to be behind (its socket refused bytes),
    // which leaves 208 KiB, still over; then `a`, the largest queue. The three emits after
    // it fail.
    a.send(&mut sim, r#"42["burst",16]"#);
    let ok = emitted.lock().unwrap().iter().filter(|e| **e).count();
    assert_eq!(ok, 13, "{:?}", emitted.lock().unwrap());
    // Both go (cutting `a` alone would have left 64 KiB: `b` went first). Their disconnect
    // handlers run in either order.
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
