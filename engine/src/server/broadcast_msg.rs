//! A broadcast as it travels: its packets encoded once into frames every receiver shares, and
//! the collector of its acknowledgements.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::config::Parser;
use crate::proto::sio;
use crate::proto::ws::{self, OpCode};

use super::out::Out;
use super::rooms::Target;
use super::sio::EmitError;

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

    /// Whether the packet is a binary message.
    pub fn is_binary(&self) -> bool {
        self.binary
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

/// One Socket.IO packet as the messages `parser` sends, encoded once for every receiver.
/// `write` appends the packet in the default parser's form (the text after the Engine.IO `4`)
/// and pushes the binary values it finds onto the attachments, which start as `attachments`.
/// JSON: the text, then one binary message per attachment. Msgpack: one binary message.
pub(crate) fn encode_shared(
    parser: Parser,
    attachments: &[Bytes],
    write: impl FnOnce(&mut Vec<u8>, &mut Vec<Bytes>) -> Result<(), EmitError>,
) -> Result<Vec<Shared>, EmitError> {
    let mut binary = attachments.to_vec();
    match parser {
        Parser::Json => {
            let text = Shared::text(|b| {
                b.push(b'4');
                write(b, &mut binary)
            })?;
            let mut packets = Vec::with_capacity(1 + binary.len());
            packets.push(text);
            packets.extend(binary.iter().map(|a| Shared::binary(a)));
            Ok(packets)
        }
        Parser::Msgpack => {
            let mut text = Vec::new();
            write(&mut text, &mut binary)?;
            Ok(vec![Shared::binary(&msgpack_packet(&text, &binary)?)])
        }
    }
}

/// A packet in the default parser's form (`text` after the Engine.IO `4`, its `attachments`)
/// as one msgpack message.
pub(crate) fn msgpack_packet(text: &[u8], attachments: &[Bytes]) -> Result<Vec<u8>, EmitError> {
    let mut wire = Vec::with_capacity(text.len() + 16);
    sio::encode_msgpack(text, attachments, &mut wire)
        .map_err(|e| EmitError::Serialize(e.to_string()))?;
    Ok(wire)
}

/// Encodes an EVENT (with attachments) for `nsp` once. `id` is set for broadcasts with acks.
pub(crate) fn encode_event<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &T,
    attachments: &[Bytes],
) -> Result<Vec<Shared>, EmitError> {
    encode_event_at(parser, nsp, id, event, args, attachments, None)
}

/// [`encode_event`] with a recovery offset as the last argument, when given.
pub(crate) fn encode_event_at<T: Serialize + ?Sized>(
    parser: Parser,
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &T,
    attachments: &[Bytes],
    offset: Option<&str>,
) -> Result<Vec<Shared>, EmitError> {
    if sio::is_reserved_event(event) {
        return Err(EmitError::ReservedEvent);
    }
    encode_shared(parser, attachments, |b, binary| {
        sio::encode_event_ser(b, nsp, id, event, args, binary)
            .map_err(|e| EmitError::Serialize(e.to_string()))?;
        if let Some(offset) = offset {
            sio::push_offset(b, offset);
        }
        Ok(())
    })
}

/// `packets` (an EVENT as the default parser sends it, then its attachments) with `offset`
/// appended as the event's last argument.
pub(crate) fn with_offset(packets: &[Shared], offset: &str) -> Result<Vec<Shared>, EmitError> {
    let (text, attachments) = packets.split_first().ok_or(EmitError::Closed)?;
    let mut out = Vec::with_capacity(packets.len());
    out.push(Shared::text(|b| {
        b.extend_from_slice(text.eio_payload());
        sio::push_offset(b, offset);
        Ok(())
    })?);
    out.extend(attachments.iter().cloned());
    Ok(out)
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
    /// Other servers of a cluster that never said how many sockets they reached (no answer
    /// in time, or Redis unreachable): their sockets are in neither `replies` nor `no_reply`.
    /// Node's broadcast then times out too.
    pub missing_servers: usize,
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
                acks: BroadcastAcks::default(),
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
                    let acks = std::mem::take(&mut s.acks);
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
            s.acks.missing_servers += parts;
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

    /// A receiver did not answer in time.
    pub fn no_reply(&self) {
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
    /// Whether the packets may go compressed (`compress(false)` on the broadcast says not).
    pub compress: bool,
    pub packets: Vec<Shared>,
    /// For broadcasts with acks: the shared ack id, timeout and collector.
    pub acks: Option<(u64, Duration, Arc<AckCollector>)>,
}

/// How many parts a collector for a broadcast from this server waits for: the workers, plus
/// the adapter's part when other servers may answer too.
pub(crate) fn ack_parts(workers: usize, local: bool, remote: bool) -> usize {
    workers + usize::from(remote && !local)
}
