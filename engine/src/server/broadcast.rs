//! Broadcast fan-out: a packet is encoded once into a complete WebSocket frame (polling receivers
//! take the Engine.IO packet inside it), delivered at once to the members on the sending worker
//! and sent as one message to every other worker, which writes the same shared bytes to its own
//! members. Channels are FIFO per sender, so each receiver gets one sender's emits in order.

use bytes::Bytes;

use crate::proto::sio::Args;

use super::broadcast_msg::{BroadcastMsg, Shared};
use super::eio_session::EioSession;
use super::link::Link;
use super::link::Tx;
use super::port::Port;
use super::sio::client::SioClient;

use super::session_key::SessionKey;
use super::sio::{AckError, Socket, SocketState};
use super::stats::Counter;
use super::timer::Timer;

/// The socket whose handler is sending (its session is out of the worker's table while the
/// handler runs, so it is reached through here).
pub(crate) struct Current<'x, 'c, 'a> {
    pub key: SessionKey,
    pub tx: &'x mut Tx<'c, 'a>,
    pub state: &'x mut SocketState,
}

/// Delivers `msg` to this worker's members; returns how many got it.
pub(crate) fn deliver_local(cx_current: DeliverFrom<'_, '_, '_, '_>, msg: &BroadcastMsg) -> usize {
    let (cx, mut current) = match cx_current {
        DeliverFrom::Worker(cx) => (cx, None),
        DeliverFrom::Handler(c) => {
            let Current { key, tx, state } = c;
            let cx: &mut dyn Port = &mut *tx.cx;
            let link: &mut Link = &mut *tx.link;
            (cx, Some((key, link, state)))
        }
    };
    let mut targets = std::mem::take(&mut cx.state().scratch_sids);
    targets.clear();
    cx.state().rooms.select(&msg.nsp, &msg.target, &mut targets);
    let mut delivered = 0;
    for sid in &targets {
        let Some(&key) = cx.state().sockets.get(sid) else {
            // The sender itself, still in its connect hooks: what it broadcasts to a room it is
            // in waits with its other emits for the CONNECT reply (the reference's `connection`
            // handler runs once connected, so such a broadcast reaches it).
            if let Some((_, _, state)) = current.as_mut().filter(|(_, _, st)| st.sid == *sid) {
                if !msg.volatile && msg.acks.is_none() {
                    state
                        .pre_connect
                        .extend(msg.packets.iter().map(Shared::out));
                    delivered += 1;
                }
            }
            continue;
        };
        let sent = match current.as_mut() {
            Some((ck, link, state)) if *ck == key => {
                let mut tx = Tx { cx: &mut *cx, link };
                deliver_one(&mut tx, key, Some(&mut **state), msg)
            }
            _ => {
                let mut sent = false;
                cx.with_session(key, &mut |cx, s| {
                    let client = s.downcast_mut::<EioSession>().and_then(SioClient::of);
                    if let Some((client, link)) = client {
                        let state = client.socket_mut(sid);
                        sent = deliver_one(&mut Tx { cx, link }, key, state, msg);
                    }
                });
                sent
            }
        };
        delivered += usize::from(sent);
    }
    cx.state().scratch_sids = targets;
    let worker = cx.worker();
    cx.state()
        .stats
        .add(worker, Counter::Deliveries, delivered as u64);
    if let Some((_, _, collector)) = &msg.acks {
        collector.worker_done(delivered);
    }
    delivered
}

/// Where a delivery starts: a worker event (mailbox) or a handler sending from its socket.
pub(crate) enum DeliverFrom<'x, 'c, 'a, 'w> {
    Worker(&'w mut (dyn Port + 'a)),
    Handler(Current<'x, 'c, 'a>),
}

fn deliver_one(
    tx: &mut Tx<'_, '_>,
    session: SessionKey,
    mut state: Option<&mut SocketState>,
    msg: &BroadcastMsg,
) -> bool {
    // A socket still in its connect hook has its CONNECT reply to write: not writable.
    let connecting = state.as_deref().is_some_and(|s| !s.connected);
    // Dropped while the client is behind, or while this worker is over its share of
    // `max_buffered_total` (volatile packets go before any client is cut).
    if msg.volatile && (connecting || tx.queued_bytes() > 0 || tx.cx.over_budget()) {
        let worker = tx.cx.worker();
        tx.cx.state().stats.add(worker, Counter::VolatileDrops, 1);
        return false;
    }
    if let Some((id, timeout, collector)) = &msg.acks {
        let Some(state) = state.as_deref_mut() else {
            return false;
        };
        let collector = collector.clone();
        let sid = state.sid.as_str().to_string();
        let deadline = tx.cx.now() + *timeout;
        let timer = tx.cx.arm(
            deadline,
            Timer::Ack {
                session,
                socket: state.key,
                id: *id,
            },
        );
        state.acks.insert(
            *id,
            super::sio::ack_pending(
                timer,
                deadline,
                move |_: &mut Socket<'_, '_>, reply: Result<&Args<'_>, AckError>| match reply {
                    Ok(args) => {
                        let mut json = Vec::new();
                        args.write_json(&mut json);
                        collector.reply(sid, json);
                    }
                    Err(_) => collector.no_reply(),
                },
            ),
        );
    }
    if let Some(st) = &state {
        let outgoing = &st.app.namespaces[st.ns].outgoing;
        let own = st.outgoing_run();
        if !outgoing.is_empty() || own.is_some() {
            notify_broadcast(outgoing, own, st.sid.as_str(), msg);
        }
    }
    for p in &msg.packets {
        tx.shared_with(p, msg.compress);
    }
    true
}

/// Shows a broadcast to a socket's outgoing listeners (only namespaces that have some pay).
fn notify_broadcast(
    outgoing: &[Box<super::sio::OutgoingFn>],
    own: Option<super::sio::OutgoingRun>,
    sid: &str,
    msg: &BroadcastMsg,
) {
    let Some((text, rest)) = msg.packets.split_first() else {
        return;
    };
    let attachments: Vec<Bytes> = rest.iter().map(|p| p.out().bytes().clone()).collect();
    super::sio::notify_outgoing(outgoing, own, sid, text.eio_payload(), &attachments);
}
