//! `max_queue_age` on virtual time, 800 ms (stamps and sweeps every 100 ms): a client that
//! reads nothing is cut as a slow consumer once its oldest queued byte waited the age plus a
//! grain, however little is queued (one small message here, far below `max_buffered`), and
//! counted in `volley_queue_age_cuts_total`; a client that always has a backlog but reads at
//! the rate it is sent to stays, since its oldest byte is always young.

use std::sync::{Arc, Mutex};

use super::{ms, Router, WsPeer};
use crate::runtime::Sim;
use crate::server::{Server, ServerHandle};

/// Who was disconnected, and why.
type Gone = Arc<Mutex<Vec<(String, String)>>>;

fn server() -> (Sim<Router>, ServerHandle, Gone) {
    let gone: Gone = Arc::default();
    let g = gone.clone();
    let (sim, handle) = Server::builder()
        .configure(|c| c.max_queue_age = ms(800))
        .namespace("/", move |ns| {
            let g = g.clone();
            ns.on_disconnect(move |s, r| {
                g.lock()
                    .unwrap()
                    .push((s.id().to_string(), r.as_str().into()))
            });
        })
        .simulate();
    (sim, handle, gone)
}

/// The text `tick` carries, so that each of its frames has the same size.
fn tick(i: usize) -> String {
    format!("{i:04}{}", "y".repeat(996))
}

/// The size of one `tick` frame on the wire: the packet and a 4-byte header.
fn tick_frame() -> usize {
    format!(r#"42["tick","{}"]"#, tick(0)).len() + 4
}

#[test]
fn a_reader_that_takes_nothing_is_cut_once_its_oldest_byte_is_too_old() {
    let (mut sim, handle, gone) = server();
    let mut stalled = WsPeer::open(&mut sim, "");
    let sid = stalled.connect_sio(&mut sim);
    let mut reader = WsPeer::open(&mut sim, "");
    let other = reader.connect_sio(&mut sim);
    sim.window(stalled.conn, Some(0));

    assert_eq!(handle.emit_to("/", &sid, "tick", &(tick(0),)), Ok(true));
    assert_eq!(handle.emit_to("/", &other, "tick", &(tick(0),)), Ok(true));
    sim.settle();
    assert_eq!(reader.texts(&mut sim).len(), 1);

    // 850 ms: past the limit, but within the grain the stamps may be off by.
    sim.advance(ms(850));
    assert!(
        gone.lock().unwrap().is_empty(),
        "cut before its byte waited 800 ms"
    );
    sim.advance(ms(150));
    assert_eq!(*gone.lock().unwrap(), [(sid, "slow consumer".to_string())]);
    assert_eq!(handle.stats().queue_age_cuts, 1);
    assert!(handle
        .prometheus()
        .contains("\nvolley_queue_age_cuts_total 1\n"));
    // It finds the end of its stream, not the stale message; the other reader stays.
    sim.window(stalled.conn, None);
    assert!(stalled.texts(&mut sim).is_empty());
    assert!(sim.write_shut(stalled.conn));
    assert!(!sim.write_shut(reader.conn));
}

#[test]
fn a_reader_with_a_steady_backlog_stays() {
    let (mut sim, handle, gone) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    let sid = peer.connect_sio(&mut sim);
    sim.window(peer.conn, Some(0));
    // Three messages behind from the start, then one sent and one read every 50 ms for 3 s:
    // the queue never empties, but nothing in it is older than 200 ms.
    for i in 0..3 {
        assert_eq!(handle.emit_to("/", &sid, "tick", &(tick(i),)), Ok(true));
    }
    sim.settle();
    for i in 3..63 {
        sim.advance(ms(50));
        assert_eq!(handle.emit_to("/", &sid, "tick", &(tick(i),)), Ok(true));
        sim.settle();
        sim.window(peer.conn, Some(tick_frame()));
    }
    assert!(
        gone.lock().unwrap().is_empty(),
        "{:?}",
        gone.lock().unwrap()
    );
    assert_eq!(handle.stats().queue_age_cuts, 0);
    sim.window(peer.conn, None);
    let got = peer.texts(&mut sim);
    assert_eq!(got.len(), 63);
    assert_eq!(got[62], format!(r#"42["tick","{}"]"#, tick(62)));
}
