//! Producer backpressure on the simulated worker, with `mailbox_capacity` 2: a handle's
//! `try_emit` (and `try_emit_to`) reports a full mailbox instead of queueing without bound, `emit_blocking` waits
//! until the worker drains it (`emit_async` too, without blocking its executor's thread), and
//! the plain `emit` is never refused. What was accepted
//! arrives, in order; what was refused never does.

use std::time::Duration;

use super::{ms, Router, WsPeer};
use crate::runtime::Sim;
use crate::server::{Server, ServerHandle, TryEmitError};

fn server() -> (Sim<Router>, ServerHandle, WsPeer, String) {
    let (mut sim, handle) = Server::builder()
        .configure(|c| c.mailbox_capacity = 2)
        .namespace("/", |_| {})
        .simulate();
    let mut peer = WsPeer::open(&mut sim, "");
    let sid = peer.connect_sio(&mut sim);
    (sim, handle, peer, sid)
}

#[test]
fn try_emit_reports_a_full_mailbox_until_the_worker_drains_it() {
    let (mut sim, handle, mut peer, sid) = server();
    let ns = handle.of("/");
    assert_eq!(ns.try_emit("n", &(1,)), Ok(()));
    assert_eq!(handle.try_emit_to("/", &sid, "n", &(2,)), Ok(true));
    assert_eq!(ns.try_emit("n", &(3,)), Err(TryEmitError::Full));
    assert_eq!(
        handle.try_emit_to("/", &sid, "n", &(3,)),
        Err(TryEmitError::Full)
    );
    // The plain form still goes (it is what workers and old callers use).
    assert_eq!(ns.emit("n", &(4,)), Ok(()));
    assert_eq!(ns.try_emit("n", &(5,)), Err(TryEmitError::Full));

    sim.settle();
    assert_eq!(ns.try_emit("n", &(6,)), Ok(()));
    sim.settle();
    assert_eq!(
        peer.texts(&mut sim),
        [1, 2, 4, 6].map(|i| format!(r#"42["n",{i}]"#))
    );
    // An encoding error is still an encoding error.
    assert!(matches!(
        ns.try_emit("connect", &()),
        Err(TryEmitError::Emit(_))
    ));
}

#[test]
fn emit_blocking_waits_for_room_and_gives_up_at_its_timeout() {
    let (mut sim, handle, mut peer, _) = server();
    let ns = handle.of("/");
    ns.emit("n", &(1,)).unwrap();
    ns.emit("n", &(2,)).unwrap();

    // Nobody drains: it gives up.
    assert_eq!(
        ns.emit_blocking("n", &(0,), ms(20)),
        Err(TryEmitError::Full)
    );

    // A producer thread waits while the mailbox is full, and sends once the worker drained.
    let producer = {
        let ns = ns.clone();
        std::thread::spawn(move || ns.emit_blocking("n", &(3,), Duration::from_secs(30)))
    };
    std::thread::sleep(ms(50));
    assert!(
        !producer.is_finished(),
        "it waits while the mailbox is full"
    );
    sim.settle();
    assert_eq!(producer.join().unwrap(), Ok(()));
    sim.settle();
    assert_eq!(
        peer.texts(&mut sim),
        [1, 2, 3].map(|i| format!(r#"42["n",{i}]"#))
    );
}

#[cfg(feature = "tokio")]
#[test]
fn emit_async_waits_for_room_without_blocking_its_executor() {
    let (mut sim, handle, mut peer, _) = server();
    let ns = handle.of("/");
    ns.emit("n", &(1,)).unwrap();
    ns.emit("n", &(2,)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(ns.emit_async("n", &(0,), ms(20))),
        Err(TryEmitError::Full)
    );
    assert!(matches!(
        rt.block_on(ns.emit_async("connect", &(), ms(20))),
        Err(TryEmitError::Emit(_))
    ));

    // One executor thread: the emit waits while another task on that thread keeps ticking.
    let (ticks_tx, ticks) = crossbeam_channel::unbounded();
    let emit = ns.emit_async("n", &(3,), Duration::from_secs(30));
    let executor = std::thread::spawn(move || {
        rt.block_on(async move {
            let emit = tokio::spawn(emit);
            while !emit.is_finished() {
                tokio::time::sleep(ms(1)).await;
                let _ = ticks_tx.send(());
            }
            emit.await.unwrap()
        })
    });
    for _ in 0..5 {
        ticks
            .recv_timeout(Duration::from_secs(10))
            .expect("the executor's other task ran while the emit waited");
    }
    assert!(
        !executor.is_finished(),
        "it waits while the mailbox is full"
    );
    sim.settle();
    assert_eq!(executor.join().unwrap(), Ok(()));
    sim.settle();
    assert_eq!(
        peer.texts(&mut sim),
        [1, 2, 3].map(|i| format!(r#"42["n",{i}]"#))
    );
}
