//! The interface between the runtime and the protocol stacks above it. A [`Service`] sees
//! request heads, WebSocket messages, timers and cross-worker messages, always on the worker that
//! owns the connection, and acts through a [`Cx`].

use std::time::Instant;

use bytes::Bytes;
use slab::Slab;

use super::budget::Budget;
use super::conn::{Conn, ConnId, Phase};
use super::mailbox::Peers;
use super::timer::{TimerKey, TimerWheel};
use crate::config::RuntimeConfig;
use crate::proto::http::{self, HttpError, Request};
use crate::proto::ws::{self, CloseCode, OpCode, WsError};

/// Why a connection's session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer sent a close frame (with its code, if any).
    PeerClose(Option<CloseCode>),
    /// The peer closed the TCP connection without a close frame.
    Eof,
    /// A read or write failed (connection reset, broken pipe...).
    Io(std::io::ErrorKind),
    /// The peer broke the WebSocket protocol; the close frame carried `err.close_code()`.
    Protocol(WsError),
    /// The server closed the connection with this code.
    Local(CloseCode),
    /// The connection's write queue passed `max_buffered`, or held the most bytes when its
    /// worker passed its share of `max_buffered_total`.
    SlowConsumer,
    /// The server is shutting down.
    Shutdown,
}

/// What to do with a request head, decided by the service.
pub enum Action<S> {
    /// Answer 101 and speak WebSocket; `accept` is the `Sec-WebSocket-Accept` value.
    Upgrade {
        /// Value of the `Sec-WebSocket-Accept` header.
        accept: String,
        /// The session that receives this connection's messages.
        session: S,
    },
    /// [`Action::Upgrade`], with `headers` added to the 101 response (e.g. `Set-Cookie`).
    UpgradeWith {
        /// Value of the `Sec-WebSocket-Accept` header.
        accept: String,
        /// The session that receives this connection's messages.
        session: S,
        /// More response headers, names and values.
        headers: Vec<(String, String)>,
    },
    /// The service wrote a complete response with [`Cx::respond`]. Unread body bytes of the
    /// request make the connection close after the response.
    Responded,
    /// Read the request body (Content-Length or chunked, at most `max` bytes), then call
    /// [`Service::on_body`].
    ReadBody {
        /// Largest body accepted; larger gets 413 and [`Service::on_body_error`].
        max: usize,
    },
    /// The response comes later, through [`Cx::respond`] (a long-polling GET); input on the
    /// connection waits until then.
    Park,
    /// Move the connection, this request included, to worker `0`, which parses the request
    /// again (the session it names lives there).
    Handoff(usize),
    /// Give the whole connection, this request included, to the application: the runtime
    /// stops every operation on it and calls [`Service::on_detach`] with its socket and the
    /// bytes read from it. Only for a request head.
    Detach,
}

/// A protocol stack driven by the runtime. One value is shared by all workers; per-worker state
/// lives in `WorkerState` and per-connection state in `Session`, so nothing is locked on the
/// hot path.
pub trait Service: Send + Sync + Sized + 'static {
    /// State of one WebSocket connection.
    type Session: 'static;
    /// State each worker keeps for the service (room indexes, counters).
    type WorkerState: 'static;
    /// Messages sent between workers (and from other threads) for the service.
    type Message: Send + 'static;
    /// What a service timer carries back when it fires.
    type Timer: Copy + 'static;

    /// Creates the state of worker `worker`.
    fn worker_state(&self, worker: usize) -> Self::WorkerState;
    /// A complete request head arrived on `id`.
    fn on_request(&self, cx: &mut Cx<'_, Self>, id: ConnId, req: &Request)
        -> Action<Self::Session>;
    /// The body asked for with [`Action::ReadBody`] arrived. Upgrades are not allowed here.
    fn on_body(
        &self,
        cx: &mut Cx<'_, Self>,
        id: ConnId,
        req: &Request,
        body: &mut Vec<u8>,
    ) -> Action<Self::Session>;
    /// The body could not be read (too large, malformed); the runtime answers with the error's
    /// status and closes the connection after this returns. Also called, with no answer
    /// possible, when the peer hangs up or the handshake timeout passes before the body ended.
    fn on_body_error(&self, cx: &mut Cx<'_, Self>, id: ConnId, req: &Request, err: &HttpError);
    /// The 101 response is queued; the session may send its first frames.
    fn on_open(&self, cx: &mut Cx<'_, Self>, id: ConnId, session: &mut Self::Session);
    /// A complete text or binary message arrived. Control frames are handled by the runtime.
    fn on_message(
        &self,
        cx: &mut Cx<'_, Self>,
        id: ConnId,
        session: &mut Self::Session,
        msg: ws::Message<'_>,
    );
    /// Connection `id`'s write queue drained after [`Cx::notify_drain`] asked to hear of it.
    fn on_drain(&self, _cx: &mut Cx<'_, Self>, _id: ConnId, _session: &mut Self::Session) {}
    /// A timer armed with [`Cx::arm`] fired.
    fn on_timer(&self, cx: &mut Cx<'_, Self>, t: Self::Timer);
    /// Connection `id`, parked by [`Action::Park`] and not yet answered, closed (the peer hung
    /// up, a read or write failed, or its deadline passed): the response it waited for can
    /// never be delivered. Default: nothing.
    fn on_parked_close(&self, _cx: &mut Cx<'_, Self>, _id: ConnId, _reason: &CloseReason) {}
    /// The session ended; called exactly once per session.
    fn on_close(
        &self,
        cx: &mut Cx<'_, Self>,
        id: ConnId,
        session: Self::Session,
        reason: &CloseReason,
    );
    /// A message from another worker or thread arrived.
    fn on_post(&self, cx: &mut Cx<'_, Self>, msg: Self::Message);
    /// The server begins a graceful shutdown: the service ends what the runtime cannot see
    /// (sessions between requests, parked requests) before every WebSocket gets its close
    /// frame. Default: nothing.
    fn on_shutdown(&self, _cx: &mut Cx<'_, Self>) {}
    /// Shutdown began and `id` is an open WebSocket: whether the runtime closes it now with
    /// 1001 (the default, true). A service that answers false closes it itself, or the
    /// shutdown deadline drops it.
    fn closes_at_shutdown(
        &self,
        _cx: &mut Cx<'_, Self>,
        _id: ConnId,
        _session: &Self::Session,
    ) -> bool {
        true
    }
    /// A connection given up with [`Action::Detach`] left the runtime and is the service's.
    /// Runs on the worker; must not block. Default: the connection closes.
    fn on_detach(&self, _conn: Detached) {}
}

/// A connection that left the runtime ([`Action::Detach`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Detached {
    /// The socket: a plain, blocking descriptor, even where the worker used an io_uring
    /// direct one.
    pub sock: std::net::TcpStream,
    /// The bytes received and not consumed, from the detaching request's head on (plaintext,
    /// on a TLS connection).
    pub read: Vec<u8>,
    /// The TLS session of a connection that came in over TLS (its handshake done, everything
    /// it received decrypted into `read`, everything it owed the peer written).
    #[cfg(feature = "tls")]
    pub tls: Option<rustls::ServerConnection>,
}

impl Detached {
    pub(crate) fn new(
        sock: std::net::TcpStream,
        read: Vec<u8>,
        tls: Option<Box<super::tls::Tls>>,
    ) -> Self {
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        Detached {
            sock,
            read,
            #[cfg(feature = "tls")]
            tls: tls.map(|t| t.into_connection()),
        }
    }
}

/// A timer's payload in the worker's wheel.
pub(crate) enum TimerKind<T> {
    /// The runtime's own deadline for a connection (handshake, close linger).
    Deadline,
    /// A service timer.
    Service(T),
    /// Retry accepting after running out of descriptors.
    AcceptRetry,
    /// Retry the hand-offs that waited for a descriptor.
    HandoffRetry,
    /// Look for connections whose oldest queued byte passed `max_queue_age`.
    QueueAgeSweep,
}

pub(crate) struct TimerEntry<T> {
    pub slot: usize,
    pub gen: u32,
    pub kind: TimerKind<T>,
}

/// The worker, as a service sees it while handling an event.
pub struct Cx<'a, S: Service> {
    pub(crate) worker: u16,
    pub(crate) now: Instant,
    pub(crate) config: &'a RuntimeConfig,
    pub(crate) conns: &'a mut Slab<Conn>,
    pub(crate) timers: &'a mut TimerWheel<TimerEntry<S::Timer>>,
    pub(crate) dirty: &'a mut Vec<usize>,
    pub(crate) closing: &'a mut Vec<(usize, CloseReason)>,
    pub(crate) reparse: &'a mut Vec<usize>,
    pub(crate) state: &'a mut S::WorkerState,
    pub(crate) peers: &'a Peers<S::Message>,
    pub(crate) scratch: &'a mut Vec<u8>,
    /// The worker's queued bytes against its share of `max_buffered_total`.
    pub(crate) budget: &'a mut Budget,
    pub(crate) shared_deflate: &'a mut super::deflate::SharedDeflate,
    /// Sockets are non-blocking and may be written inline (epoll).
    pub(crate) inline_writes: bool,
}

impl<'a, S: Service> Cx<'a, S> {
    /// Index of this worker.
    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// The time the worker read when this event began.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The server's configuration.
    pub fn config(&self) -> &RuntimeConfig {
        self.config
    }

    /// This worker's service state.
    pub fn state(&mut self) -> &mut S::WorkerState {
        self.state
    }

    /// The mailboxes of all workers.
    pub fn peers(&self) -> &Peers<S::Message> {
        self.peers
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.peers.len()
    }

    fn conn(&mut self, id: ConnId) -> Option<&mut Conn> {
        live(self.conns, self.worker, id)
    }

    /// A parked connection got its response: it reads requests again.
    fn unpark(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot) {
            if matches!(c.phase, Phase::Parked) {
                c.phase = Phase::Http;
                self.reparse.push(slot);
            }
        }
    }

    /// Whether `id` is a live connection parked by [`Action::Park`], waiting for its response.
    pub fn is_parked(&mut self, id: ConnId) -> bool {
        self.conn(id)
            .is_some_and(|c| matches!(c.phase, Phase::Parked) && !c.close_after_flush)
    }

    /// Schedules a flush of `slot`, and cuts it as a slow consumer when its queue passed
    /// `max_buffered` while its socket refuses bytes: a client is judged by what it did not
    /// read, not by what a handler produced in one burst. A burst may queue up to
    /// [`BURST_FACTOR`] times `max_buffered` before its first write, so memory stays bounded
    /// even when a handler sends in a loop.
    fn mark_dirty(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot) {
            let limit = self.config.max_buffered;
            if c.queued_bytes() > limit && self.inline_writes && c.is_open() && !c.blocked {
                // Offer the burst to the socket before judging.
                if let Ok(super::outq::Flush::Blocked) = c.write_now() {
                    c.blocked = true;
                    c.refused = true;
                }
            }
            let queued = c.queued_bytes();
            let slow = queued > limit && c.refused;
            if (slow || queued > limit.saturating_mul(BURST_FACTOR)) && c.is_open() {
                c.clear_output();
                c.close_after_flush = true;
                self.closing.push((slot, CloseReason::SlowConsumer));
            }
            self.budget.account(c);
            c.note_queued(self.now, self.config.max_queue_age);
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(slot);
            }
        }
        // Over the worker's share readers behind are cut at the end of the turn, after its
        // writes; past the ceiling, now (see `Budget`).
        if let Some(who) = self.budget.ceiling() {
            self.budget.shed(who, self.conns, self.closing, self.dirty);
        }
    }

    /// Whether this worker's connections queue more than it keeps to (an eighth under its share
    /// of `max_buffered_total`): volatile packets are dropped then, whoever they are for.
    pub fn over_budget(&self) -> bool {
        self.budget.over()
    }

    /// Asks for [`Service::on_drain`] once `id`'s write queue is empty. False (and no call) when
    /// it is empty already or the connection is gone.
    pub fn notify_drain(&mut self, id: ConnId) -> bool {
        match self.conn(id) {
            Some(c) if !c.output_is_empty() => {
                c.notify_drain = true;
                true
            }
            _ => false,
        }
    }

    /// Whether `id` is a live connection of this worker that accepts frames.
    pub fn is_open(&mut self, id: ConnId) -> bool {
        self.conn(id).is_some_and(|c| c.is_open())
    }

    /// Bytes queued for `id` and not yet written (0 for unknown connections).
    pub fn queued_bytes(&mut self, id: ConnId) -> usize {
        self.conn(id).map_or(0, |c| c.queued_bytes())
    }

    /// Queues one WebSocket frame for `id`; returns false if the connection is gone or closing.
    /// A data frame of `deflate_threshold` bytes or more goes compressed where the connection
    /// negotiated permessage-deflate.
    pub fn send_frame(&mut self, id: ConnId, opcode: OpCode, payload: &[u8]) -> bool {
        self.send_frame_compressible(id, opcode, payload, true)
    }

    /// [`Cx::send_frame`], saying whether the message may be compressed (`false`: data the
    /// application compressed itself, as `socket.compress(false)` says).
    pub fn send_frame_compressible(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        payload: &[u8],
        compress: bool,
    ) -> bool {
        let scratch = &mut *self.scratch;
        let threshold = self.config.deflate_threshold;
        let Some(c) = live(self.conns, self.worker, id).filter(|c| c.is_open()) else {
            return false;
        };
        if !(compress && super::deflate::push_compressed(c, opcode, payload, threshold)) {
            if payload.len() > LARGE_FRAME {
                let mut v = Vec::with_capacity(payload.len() + 10);
                ws::encode_frame(&mut v, opcode, payload);
                c.outq.push_shared(Bytes::from(v));
            } else {
                scratch.clear();
                ws::encode_frame(scratch, opcode, payload);
                c.outq.push_copy(scratch);
            }
        }
        self.mark_dirty(id.slot as usize);
        true
    }

    /// Queues one frame whose payload `write` appends straight into the frame buffer (no
    /// intermediate copy); false if the connection is gone or closing.
    /// `write` returns false to abandon the frame (nothing is queued). Compressed as
    /// [`Cx::send_frame`] says.
    pub fn send_with(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        self.send_with_compressible(id, opcode, true, write)
    }

    /// [`Cx::send_with`], saying whether the message may be compressed.
    pub fn send_with_compressible(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        compress: bool,
        write: impl FnOnce(&mut Vec<u8>) -> bool,
    ) -> bool {
        let threshold = self.config.deflate_threshold;
        let Some(c) = live(self.conns, self.worker, id).filter(|c| c.is_open()) else {
            return false;
        };
        let buf = &mut *self.scratch;
        buf.clear();
        buf.resize(ws::MAX_SERVER_HEADER, 0);
        if !write(buf) {
            return false;
        }
        let payload = &buf[ws::MAX_SERVER_HEADER..];
        if compress && super::deflate::push_compressed(c, opcode, payload, threshold) {
            self.mark_dirty(id.slot as usize);
            return true;
        }
        let start = ws::frame_in_place(buf, opcode);
        if buf.len() > LARGE_FRAME {
            c.outq
                .push_shared(Bytes::from(std::mem::take(buf)).slice(start..));
        } else {
            c.outq.push_copy(&buf[start..]);
        }
        self.mark_dirty(id.slot as usize);
        true
    }

    /// The peer address of connection `id`.
    pub fn peer_addr(&mut self, id: ConnId) -> Option<std::net::SocketAddr> {
        self.conn(id).and_then(|c| c.sock.peer_addr())
    }

    /// Queues a complete, already framed message shared with other connections (no copy).
    /// Where the connection negotiated permessage-deflate and the payload reaches
    /// `deflate_threshold`, it goes compressed instead: compressed once per window size and
    /// shared by every such connection (see `runtime/deflate.rs`).
    pub fn send_shared(&mut self, id: ConnId, frame: Bytes) -> bool {
        self.send_shared_compressible(id, frame, true)
    }

    /// [`Cx::send_shared`], saying whether the message may be compressed (`false`: the
    /// application asked for it plain, as `compress(false)` on a broadcast does).
    pub fn send_shared_compressible(&mut self, id: ConnId, frame: Bytes, compress: bool) -> bool {
        let threshold = self.config.deflate_threshold;
        let cache = &mut *self.shared_deflate;
        match live(self.conns, self.worker, id) {
            Some(c) if c.is_open() => {
                if !(compress
                    && super::deflate::push_shared_compressed(c, &frame, threshold, cache))
                {
                    c.outq.push_shared(frame);
                }
            }
            _ => return false,
        }
        self.mark_dirty(id.slot as usize);
        true
    }

    /// Writes a complete HTTP response on a connection still in its HTTP phase. Without
    /// keep-alive the connection closes once it is written.
    pub fn respond(
        &mut self,
        id: ConnId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_alive: bool,
    ) {
        let scratch = &mut *self.scratch;
        scratch.clear();
        http::write_response(scratch, status, headers, body, keep_alive);
        if let Some(c) = live(self.conns, self.worker, id) {
            c.outq.push_copy(scratch);
            if !keep_alive {
                c.close_after_flush = true;
            }
            self.unpark(id.slot as usize);
            self.mark_dirty(id.slot as usize);
        }
    }

    /// Like [`Cx::respond`] with a shared body, queued without a copy (a file served to many
    /// clients); `head_only` writes the head alone, with the `Content-Length` of `body` (the
    /// answer to `HEAD`).
    pub fn respond_shared(
        &mut self,
        id: ConnId,
        status: u16,
        headers: &[(&str, &str)],
        body: Bytes,
        head_only: bool,
        keep_alive: bool,
    ) {
        let scratch = &mut *self.scratch;
        scratch.clear();
        let with_body = http::write_response_head(scratch, status, headers, body.len(), keep_alive);
        if let Some(c) = live(self.conns, self.worker, id) {
            c.outq.push_copy(scratch);
            if with_body && !head_only {
                c.outq.push_shared(body);
            }
            if !keep_alive {
                c.close_after_flush = true;
            }
            self.unpark(id.slot as usize);
            self.mark_dirty(id.slot as usize);
        }
    }

    /// Writes a short error response (`status` with its reason phrase) and closes after it.
    pub fn respond_error(&mut self, id: ConnId, status: u16) {
        let scratch = &mut *self.scratch;
        scratch.clear();
        http::write_error(scratch, status, false);
        if let Some(c) = live(self.conns, self.worker, id) {
            c.outq.push_copy(scratch);
            c.close_after_flush = true;
            self.unpark(id.slot as usize);
            self.mark_dirty(id.slot as usize);
        }
    }

    /// Closes WebSocket `id` with `code`: the close frame is queued after everything already
    /// queued, the session ends (its `on_close` runs after the current handler returns), and
    /// the socket closes once the peer answers or the close timeout passes.
    pub fn close(&mut self, id: ConnId, code: CloseCode, reason: &str) {
        let scratch = &mut *self.scratch;
        scratch.clear();
        ws::encode_close(scratch, code, reason);
        let Some(c) = live(self.conns, self.worker, id).filter(|c| c.is_open()) else {
            return;
        };
        c.outq.push_copy(scratch);
        c.close_after_flush = true;
        self.closing
            .push((id.slot as usize, CloseReason::Local(code)));
        self.mark_dirty(id.slot as usize);
    }

    /// Arms a service timer: [`Service::on_timer`] gets `t` at `deadline` on this worker.
    pub fn arm(&mut self, deadline: Instant, t: S::Timer) -> TimerKey {
        self.timers.arm(
            deadline,
            TimerEntry {
                slot: usize::MAX,
                gen: 0,
                kind: TimerKind::Service(t),
            },
        )
    }

    /// Cancels a timer; returns whether it was still armed.
    pub fn cancel(&mut self, key: TimerKey) -> bool {
        self.timers.cancel(key).is_some()
    }

    /// Sends `msg` to worker `worker` (possibly this one: it is handled on a later loop turn).
    pub fn post(&self, worker: usize, msg: S::Message) -> bool {
        self.peers.post(worker, msg)
    }
}

/// The live connection `id` if this worker owns it and its slot still holds that generation.
pub(crate) fn live(conns: &mut Slab<Conn>, worker: u16, id: ConnId) -> Option<&mut Conn> {
    if id.worker != worker {
        return None;
    }
    conns.get_mut(id.slot as usize).filter(|c| c.gen == id.gen)
}

/// How many times `max_buffered` a connection may queue before its socket had a chance to take
/// any of it (a handler's burst, written at the end of the turn on io_uring).
const BURST_FACTOR: usize = 4;

/// Frames above this size are encoded into their own shared buffer instead of being copied into
/// the connection's coalescing tail.
pub(crate) const LARGE_FRAME: usize = 16 * 1024;
