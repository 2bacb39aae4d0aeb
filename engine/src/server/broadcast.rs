//! Broadcast fan-out: a packet is encoded once into a complete WebSocket frame (polling receivers
//! take the Engine.IO packet inside it), delivered at once to the members on the sending worker
//! and sent as one message to every other worker, which writes the same shared bytes to its own
//! members. Channels are FIFO per sender, so each receiver gets one sender's emits in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::proto::sio::{self, Args};
use crate::proto::ws::{self, OpCode};
use crate::runtime::{Cx, Peers};

use super::eio_session::{Link, Out, Tx};
use super::rooms::Target;
use super::service::{Post, Router, Timer};
use super::sessions::{with_session, SessionKey};
use super::sio::{AckError, EmitError, Socket, SocketState};
use super::stats::Counter;

/// One Engine.IO packet encoded once for every receiver.
#[derive(Clone, Debug)]
pub(crate) struct Shared {
    /// A complete WebSocket frame.
    frame: Bytes,
    /// Where the Engine.IO packet starts inside `frame` (after the frame header).
    payload_at: usize,
    binary: bool,
}

impl Shared {
    /// A text packet that `write` appends (its type digit first).
    pub fn text(
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), EmitError>,
    ) -> Result<Shared, EmitError> {
        let mut v = vec![0u8; ws::MAX_SERVER_HEADER];
        write(&mut v)?;
        let start = ws::frame_in_place(&mut v, OpCode::Text);
        Ok(Shared {
            frame: Bytes::from(v).slice(start..),
            payload_at: ws::MAX_SERVER_HEADER - start,
            binary: false,
        })
    }

    /// A binary attachment.
    pub fn binary(data: &[u8]) -> Shared {
        let mut v = Vec::with_capacity(data.len() + ws::MAX_SERVER_HEADER);
        ws::encode_frame(&mut v, OpCode::Binary, data);
        let payload_at = ws::frame_header_len(data.len(), false);
        Shared {
            frame: Bytes::from(v),
            payload_at,
            binary: true,
        }
    }

    /// The Engine.IO packet alone (for polling), sharing the frame's memory.
    pub fn out(&self) -> Out {
        let payload = self.frame.slice(self.payload_at..);
        if self.binary {
            Out::Binary(payload)
        } else {
            Out::Text(payload)
        }
    }

    /// The whole frame (for WebSocket).
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// The Engine.IO packet's bytes (for an adapter re-encoding it for other servers).
    pub fn eio_payload(&self) -> &[u8] {
        self.frame.get(self.payload_at..).unwrap_or_default()
    }
}

/// Encodes an EVENT (with attachments) for `nsp` once. `id` is set for broadcasts with acks.
pub(crate) fn encode_event<T: Serialize + ?Sized>(
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &T,
    attachments: &[Bytes],
) -> Result<Vec<Shared>, EmitError> {
    if sio::is_reserved_event(event) {
        return Err(EmitError::ReservedEvent);
    }
    let mut binary = attachments.to_vec();
    let text = Shared::text(|b| {
        b.push(b'4');
        sio::encode_event_ser(b, nsp, id, event, args, &mut binary)
            .map_err(|e| EmitError::Serialize(e.to_string()))
    })?;
    let mut packets = Vec::with_capacity(1 + binary.len());
    packets.push(text);
    packets.extend(binary.iter().map(|a| Shared::binary(a)));
    Ok(packets)
}

/// Collects the replies of a broadcast with acknowledgements from every worker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BroadcastAcks {
    /// `(socket id, ack arguments as a JSON array)` for each socket that answered in time. A
    /// socket on another server (through the Redis adapter) has an empty id and only its
    /// first argument, as `@socket.io/redis-adapter` forwards no more.
    pub replies: Vec<(String, Vec<u8>)>,
    /// Sockets that did not answer in time (or disconnected first).
    pub no_reply: usize,
}

type AcksCallback = Box<dyn FnOnce(BroadcastAcks) + Send>;

/// Receives the acks of another server's broadcast as they come, so the adapter can answer
/// that server without waiting for the slowest receiver.
pub(crate) trait AckStream: Send {
    /// Every part is done: `receivers` sockets got the broadcast.
    fn count(&mut self, receivers: usize);
    /// One receiver answered (its arguments as a JSON array).
    fn reply(&mut self, args_json: &[u8]);
}

enum Sink {
    /// Everything at once, to the user's callback.
    Callback(Option<AcksCallback>),
    Stream {
        stream: Box<dyn AckStream>,
        counted: bool,
    },
}

struct CollectorState {
    /// Parts still delivering: workers, plus the adapter's part for the other servers.
    workers_left: usize,
    expected: usize,
    acks: BroadcastAcks,
    sink: Sink,
}

/// Shared by the workers taking part in one broadcast with acks; the last event to arrive runs
/// the user's callback (on that worker's thread).
pub(crate) struct AckCollector {
    state: Mutex<CollectorState>,
}

impl AckCollector {
    pub fn new(workers: usize, callback: AcksCallback) -> Arc<Self> {
        Self::with_sink(workers, Sink::Callback(Some(callback)))
    }

    /// A collector that streams to `stream` instead of collecting.
    pub fn streaming(workers: usize, stream: Box<dyn AckStream>) -> Arc<Self> {
        Self::with_sink(
            workers,
            Sink::Stream {
                stream,
                counted: false,
            },
        )
    }

    fn with_sink(workers: usize, sink: Sink) -> Arc<Self> {
        Arc::new(AckCollector {
            state: Mutex::new(CollectorState {
                workers_left: workers,
                expected: 0,
                acks: BroadcastAcks {
                    replies: Vec::new(),
                    no_reply: 0,
                },
                sink,
            }),
        })
    }

    fn update(&self, f: impl FnOnce(&mut CollectorState)) {
        let done = {
            let Ok(mut s) = self.state.lock() else { return };
            f(&mut s);
            let s = &mut *s;
            match &mut s.sink {
                Sink::Stream { stream, counted } => {
                    if s.workers_left == 0 && !*counted {
                        *counted = true;
                        stream.count(s.expected);
                    }
                    None
                }
                Sink::Callback(callback)
                    if s.workers_left == 0
                        && s.acks.replies.len() + s.acks.no_reply >= s.expected =>
                {
                    let acks = std::mem::replace(
                        &mut s.acks,
                        BroadcastAcks {
                            replies: Vec::new(),
                            no_reply: 0,
                        },
                    );
                    callback.take().map(|cb| (cb, acks))
                }
                Sink::Callback(_) => None,
            }
        };
        if let Some((cb, acks)) = done {
            cb(acks);
        }
    }

    /// A worker (or another server) emitted to `targets` sockets.
    pub fn worker_done(&self, targets: usize) {
        self.update(|s| {
            s.workers_left = s.workers_left.saturating_sub(1);
            s.expected += targets;
        });
    }

    /// `n` more parts will report (the other servers, once the adapter knows how many).
    pub fn add_parts(&self, n: usize) {
        self.update(|s| s.workers_left += n);
    }

    /// The other servers' time is up: `parts` never reported and `acks` of their receivers
    /// never answered.
    pub fn give_up(&self, parts: usize, acks: usize) {
        self.update(|s| {
            s.workers_left = s.workers_left.saturating_sub(parts);
            s.acks.no_reply += acks;
        });
    }

    /// A receiver answered (`sid` is empty for receivers on other servers).
    pub fn reply(&self, sid: String, json: Vec<u8>) {
        self.update(|s| match &mut s.sink {
            Sink::Stream { stream, .. } => stream.reply(&json),
            Sink::Callback(_) => s.acks.replies.push((sid, json)),
        });
    }

    fn no_reply(&self) {
        self.update(|s| s.acks.no_reply += 1);
    }
}

/// The ack ids of broadcasts with acks: one id per broadcast, shared by all its receivers, from
/// a range far above the ids sockets use for their own emits.
static BROADCAST_ACK_IDS: AtomicU64 = AtomicU64::new(1 << 48);

pub(crate) fn next_broadcast_ack_id() -> u64 {
    BROADCAST_ACK_IDS.fetch_add(1, Ordering::Relaxed)
}

/// A broadcast as it travels to the workers.
pub(crate) struct BroadcastMsg {
    pub nsp: String,
    pub target: Target,
    pub volatile: bool,
    pub packets: Vec<Shared>,
    /// For broadcasts with acks: the shared ack id, timeout and collector.
    pub acks: Option<(u64, Duration, Arc<AckCollector>)>,
}

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
            let cx: &mut Cx<'_, Router> = &mut *tx.cx;
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
            _ => with_session(cx, key, |cx, s| {
                let (link, state) = s.link_and_socket(sid);
                deliver_one(&mut Tx { cx, link }, key, state, msg)
            })
            .unwrap_or(false),
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
    Worker(&'w mut Cx<'a, Router>),
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
        tx.shared(p);
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

/// Sends `msg` to every worker but `skip` (the sender's own, already delivered).
pub(crate) fn post_remote(peers: &Peers<Post>, skip: Option<usize>, msg: Arc<BroadcastMsg>) {
    for w in 0..peers.len() {
        if Some(w) != skip {
            peers.post(w, Post::Broadcast(msg.clone()));
        }
    }
}

/// How many parts a collector for a broadcast from this server waits for: the workers, plus
/// the adapter's part when other servers may answer too.
pub(crate) fn ack_parts(workers: usize, local: bool, remote: bool) -> usize {
    workers + usize::from(remote && !local)
}
