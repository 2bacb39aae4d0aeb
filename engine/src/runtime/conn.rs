//! One TCP connection as a worker owns it: the socket, where it is in its life, the bytes
//! received but not yet parsed, and the bytes waiting to be written.

use std::time::{Duration, Instant};

use super::outq::{Flush, OutQueue};
use super::queue_age::{self, QueueAge};
use super::sock::Sock;
use super::timer::TimerKey;
use super::tls::Tls;
use crate::proto::http::{BodyReader, Request};
use crate::proto::ws;

/// Identifies a connection across the whole server: the worker that owns it, its slot in that
/// worker's slab and a generation, so a message for a closed connection never reaches the
/// connection that reuses its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId {
    /// Index of the owning worker.
    pub worker: u16,
    /// Slot in the worker's slab.
    pub slot: u32,
    /// Generation of the slot when the connection was accepted.
    pub gen: u32,
}

/// Where a connection is in its life.
pub(crate) enum Phase {
    /// Reading an HTTP request head.
    Http,
    /// Reading the body of a request the service asked to read.
    Body(Box<BodyState>),
    /// The request was handled and its response will come later (a long-polling GET). Input is
    /// buffered, not parsed, until the service responds.
    Parked,
    /// The connection leaves this worker (set only while parsing).
    Handoff(Handoff),
    /// An established WebSocket.
    WebSocket(Box<ws::Decoder>),
    /// Our close is queued or sent; waiting for the peer's EOF (or the close timeout) so the
    /// last frames are not lost to a reset.
    Closing,
    /// Moved out while the worker parses this connection's input.
    Busy,
}

/// Where a connection that leaves its worker goes.
#[derive(Clone, Copy)]
pub(crate) enum Handoff {
    /// To that worker, which parses the request again ([`Action::Handoff`]).
    ///
    /// [`Action::Handoff`]: super::Action::Handoff
    Worker(usize),
    /// To the application ([`Action::Detach`]).
    ///
    /// [`Action::Detach`]: super::Action::Detach
    App,
}

/// A request whose body is being read.
pub(crate) struct BodyState {
    pub req: Request,
    pub reader: BodyReader,
    pub body: Vec<u8>,
}

/// A connection as its worker owns it.
pub(crate) struct Conn {
    /// A plain descriptor (epoll registers it with mio, io_uring submits operations on it, and
    /// either can hand it to another worker) or an io_uring direct descriptor.
    pub sock: Sock,
    pub gen: u32,
    pub phase: Phase,
    /// Bytes of an incomplete head or frame. Empty (no allocation) for idle connections: reads
    /// go to the worker's shared buffer first.
    pub inbuf: Vec<u8>,
    /// Plaintext the protocol layers queued, in order.
    pub outq: OutQueue,
    /// The TLS session of an encrypted connection: `outq` is sealed into its records, which
    /// are what the socket gets.
    pub tls: Option<Box<Tls>>,
    /// The runtime's own deadline for this connection: handshake or close linger.
    pub deadline: Option<TimerKey>,
    /// Shut the write side once `outq` drains (after a close frame or a final response).
    pub close_after_flush: bool,
    /// The write side was shut; only EOF is awaited.
    pub write_shut: bool,
    /// The peer closed its side while an answer was still queued: the connection closes once
    /// it is written.
    pub peer_eof: bool,
    /// Already in the worker's list of connections to flush.
    pub dirty: bool,
    /// Waiting for a writable event (epoll: the last flush hit WouldBlock) or for the
    /// completion of the send in flight (io_uring).
    pub blocked: bool,
    /// The socket took less than it was offered since the queue last drained: the peer is
    /// behind, and only then can it be judged a slow consumer.
    pub refused: bool,
    /// What this connection's queue last added to its worker's [`Budget`] total.
    ///
    /// [`Budget`]: super::budget::Budget
    pub accounted: usize,
    /// Requests answered on this connection (keep-alive).
    pub served: u32,
    /// The service wants [`Service::on_drain`] once the write queue is empty.
    pub notify_drain: bool,
    /// io_uring: a multishot receive is armed on the socket.
    pub recv_live: bool,
    /// io_uring: a send of queued bytes is in flight; the next waits for its completion so
    /// bytes never go out of order.
    pub send_live: bool,
    /// The worker's loop turn in which the send in flight started (see [`Budget`]).
    ///
    /// [`Budget`]: super::budget::Budget
    pub send_turn: u64,
    /// Input waits in `inbuf`, unparsed, until the worker's queues are back under the level
    /// its budget keeps to.
    pub held: bool,
    /// The compressor of a WebSocket that negotiated permessage-deflate.
    pub deflate: Option<Box<ws::Deflater>>,
    /// When the bytes in `outq` were queued, for `max_queue_age`.
    pub age: QueueAge,
}

impl Conn {
    pub fn new(sock: Sock, gen: u32, tls: Option<Box<Tls>>) -> Self {
        Conn {
            sock,
            gen,
            phase: Phase::Http,
            inbuf: Vec::new(),
            outq: OutQueue::new(),
            tls,
            deadline: None,
            close_after_flush: false,
            write_shut: false,
            peer_eof: false,
            dirty: false,
            blocked: false,
            refused: false,
            accounted: 0,
            served: 0,
            notify_drain: false,
            recv_live: false,
            send_live: false,
            send_turn: 0,
            held: false,
            deflate: None,
            age: QueueAge::default(),
        }
    }

    /// Seals what `outq` holds into TLS records (nothing to do on a plain connection).
    pub fn seal(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.seal(&mut self.outq);
        }
    }

    /// The queue the socket is written from: the TLS records, or `outq` on a plain
    /// connection. Call [`Conn::seal`] first so it holds everything queued.
    pub fn wire(&mut self) -> &mut OutQueue {
        super::tls::wire(&mut self.outq, &mut self.tls)
    }

    /// Seals what is queued and writes it straight to the socket (a non-blocking one: epoll)
    /// until it is drained or the socket would block.
    pub fn write_now(&mut self) -> std::io::Result<Flush> {
        self.seal();
        super::tls::wire(&mut self.outq, &mut self.tls).flush_to(&mut &self.sock)
    }

    /// Bytes queued and not yet written: plaintext and records.
    pub fn queued_bytes(&self) -> usize {
        self.outq.queued_bytes() + self.tls.as_ref().map_or(0, |t| t.queued_bytes())
    }

    /// Memory the queues hold, plaintext and records, as the budget counts it
    /// ([`OutQueue::footprint`]).
    pub fn footprint(&self) -> usize {
        self.outq.footprint() + self.tls.as_ref().map_or(0, |t| t.footprint())
    }

    /// Stamps what `outq` holds at `now` for an age limit of `max_age` (off when zero).
    pub fn note_queued(&mut self, now: Instant, max_age: Duration) {
        if !max_age.is_zero() {
            let grain = queue_age::grain(max_age);
            self.age.note(self.outq.left(), self.outq.end(), now, grain);
        }
    }

    /// Whether nothing is left to write.
    pub fn output_is_empty(&self) -> bool {
        self.queued_bytes() == 0
    }

    /// Drops everything queued (a connection being cut).
    pub fn clear_output(&mut self) {
        self.outq.clear();
        if let Some(tls) = &mut self.tls {
            tls.out().clear();
        }
    }

    /// Whether the connection accepts application frames (not closing).
    pub fn is_open(&self) -> bool {
        !self.close_after_flush && !matches!(self.phase, Phase::Closing)
    }
}
