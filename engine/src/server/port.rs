//! The port between the session layers (Engine.IO, Socket.IO, the plain WebSocket endpoint)
//! and the runtime that drives them. Session code reaches the worker only through this trait:
//! bytes to queue, responses to write, timers to arm and cancel, messages to other workers, the
//! worker's shared tables, and the other sessions of the worker. A worker implements it over its
//! connections; nothing in the session layers names the runtime's service, so the layers point
//! one way (runtime ← sessions ← application API).

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use crate::config::RuntimeConfig;
use crate::proto::ws::{CloseCode, OpCode};
use crate::runtime::{ConnId, Peers, TimerKey};

use super::post::Post;
use super::session_key::SessionKey;
use super::timer::Timer;
use super::worker_state::WorkerState;

/// What the session layers may do on the worker that runs them. Every method acts on this
/// worker only; other workers are reached through [`Port::peers`].
pub(crate) trait Port {
    /// Index of this worker.
    fn worker(&self) -> u16;
    /// The time the worker read when this event began (virtual under the simulator).
    fn now(&self) -> Instant;
    /// Number of workers.
    fn workers(&self) -> usize;
    /// The runtime's part of the configuration.
    fn config(&self) -> &RuntimeConfig;
    /// The worker's tables the sessions share (rooms, sockets by id, statistics, ...).
    fn state(&mut self) -> &mut WorkerState;
    /// The mailboxes of all workers.
    fn peers(&self) -> &Peers<Post>;
    /// Whether this worker queues more than it keeps to, an eighth under its share of
    /// `max_buffered_total` (volatile packets are dropped then).
    fn over_budget(&self) -> bool;
    /// Whether `id` is parked waiting for its HTTP response.
    fn is_parked(&mut self, id: ConnId) -> bool;
    /// Asks to hear when `id`'s write queue is empty; false when it is empty already.
    fn notify_drain(&mut self, id: ConnId) -> bool;
    /// Whether `id` is a live connection of this worker that accepts frames.
    fn is_open(&mut self, id: ConnId) -> bool;
    /// Bytes queued for `id` and not yet written.
    fn queued_bytes(&mut self, id: ConnId) -> usize;
    /// Queues one WebSocket frame; false if the connection is gone or closing.
    fn send_frame(&mut self, id: ConnId, opcode: OpCode, payload: &[u8]) -> bool;
    /// [`Port::send_frame`], saying whether the message may be compressed (where the
    /// connection negotiated permessage-deflate).
    fn send_frame_compressible(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        payload: &[u8],
        compress: bool,
    ) -> bool;
    /// Queues one frame whose payload `write` appends in place, compressed as
    /// [`Port::send_frame_compressible`] says; `write` returns false to abandon it.
    fn send_with_compressible(
        &mut self,
        id: ConnId,
        opcode: OpCode,
        compress: bool,
        write: &mut dyn FnMut(&mut Vec<u8>) -> bool,
    ) -> bool;
    /// Queues a complete frame shared with other connections, compressed (where negotiated)
    /// unless `compress` is false.
    fn send_shared(&mut self, id: ConnId, frame: Bytes, compress: bool) -> bool;
    /// The peer address of `id`.
    fn peer_addr(&mut self, id: ConnId) -> Option<SocketAddr>;
    /// Writes a complete HTTP response.
    fn respond(
        &mut self,
        id: ConnId,
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
        keep_alive: bool,
    );
    /// Writes an HTTP response whose body is shared; `head_only` answers a `HEAD`.
    fn respond_shared(
        &mut self,
        id: ConnId,
        status: u16,
        headers: &[(&str, &str)],
        body: Bytes,
        head_only: bool,
        keep_alive: bool,
    );
    /// Writes a short error response and closes after it.
    fn respond_error(&mut self, id: ConnId, status: u16);
    /// Closes WebSocket `id` with `code`.
    fn close(&mut self, id: ConnId, code: CloseCode, reason: &str);
    /// Arms a timer that fires `t` at `deadline` on this worker.
    fn arm(&mut self, deadline: Instant, t: Timer) -> TimerKey;
    /// Cancels a timer; whether it was still armed.
    fn cancel(&mut self, key: TimerKey) -> bool;
    /// Runs `f` on session `key` of this worker, as the session table keeps it (the layer
    /// that made the session knows its type), then settles it (flushes a parked poll, removes
    /// it if it ended). False if there is no such session.
    fn with_session(
        &mut self,
        key: SessionKey,
        f: &mut dyn FnMut(&mut dyn Port, &mut dyn Any),
    ) -> bool;
}
