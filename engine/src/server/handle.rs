//! Reaching a running server from any thread: send to connections and sockets, broadcast to
//! namespaces and rooms (with acks), operate on the sockets a selection matches (join, leave,
//! disconnect, fetch, count), and read statistics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::proto::eio::Sid;
use crate::proto::sio as sioproto;
use crate::proto::ws::{CloseCode, OpCode};
use crate::runtime::{ConnId, Peers};

use super::broadcast::{
    encode_event, next_broadcast_ack_id, post_remote, AckCollector, BroadcastAcks, BroadcastMsg,
};
use super::engine::Out;
use super::rooms::Target;
use super::router::{Post, SelectOp};
use super::sio::{EmitError, Handshake};
use super::stats::{Counter, Stats, StatsSnapshot};

/// Reaches a running server from any thread. `Send + Clone`, cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) peers: Peers<Post>,
    pub(crate) stats: Arc<Stats>,
}

/// A socket as [`HandleBroadcast::fetch_sockets`] reports it.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket id.
    pub id: String,
    /// Its namespace.
    pub nsp: String,
    /// Its rooms (its own id first).
    pub rooms: Vec<String>,
    /// The request that opened its connection.
    pub handshake: Handshake,
}

impl ServerHandle {
    /// Queues a text message on WebSocket `id`; false if its worker is gone.
    pub fn ws_send_text(&self, id: ConnId, text: &str) -> bool {
        self.ws_send(id, super::encode_ws_frame(OpCode::Text, text.as_bytes()))
    }

    /// Queues a frame made by [`super::encode_ws_frame`] on WebSocket `id`.
    pub fn ws_send(&self, id: ConnId, frame: Bytes) -> bool {
        self.peers.post(id.worker as usize, Post::Send(id, frame))
    }

    /// Closes WebSocket `id` with `code`.
    pub fn ws_close(&self, id: ConnId, code: CloseCode, reason: &str) -> bool {
        self.peers.post(
            id.worker as usize,
            Post::Close(id, code, reason.to_string()),
        )
    }

    /// Emits `event` with `args` (serialised as the argument list) to the Socket.IO socket
    /// `socket_id` of namespace `nsp`. `Ok(false)` if the id is malformed or its worker is
    /// gone; an emit to a socket that has left is dropped.
    pub fn emit_to<T: Serialize + ?Sized>(
        &self,
        nsp: &str,
        socket_id: &str,
        event: &str,
        args: &T,
    ) -> Result<bool, EmitError> {
        if sioproto::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent);
        }
        let Some(sid) = Sid::parse(socket_id) else {
            return Ok(false);
        };
        let mut packet = vec![b'4'];
        sioproto::encode_event_ser(&mut packet, nsp, None, event, args, 0)
            .map_err(|e| EmitError::Serialize(e.to_string()))?;
        let outs = vec![Out::Text(Bytes::from(packet))];
        Ok(self
            .peers
            .post(sid.worker() as usize, Post::ToSocket(sid, outs)))
    }

    /// Everything in namespace `nsp`; narrow it with [`HandleBroadcast::to`] and
    /// [`HandleBroadcast::except`].
    pub fn of(&self, nsp: &str) -> HandleBroadcast {
        HandleBroadcast {
            handle: self.clone(),
            nsp: nsp.to_string(),
            target: Target::default(),
            volatile: false,
        }
    }

    /// The server's counters summed over workers.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// The counters in Prometheus text format (also served on `VOLLEY_METRICS_PATH`).
    pub fn prometheus(&self) -> String {
        self.stats.prometheus()
    }
}

/// A selection of sockets in one namespace, from any thread.
#[derive(Clone)]
pub struct HandleBroadcast {
    handle: ServerHandle,
    nsp: String,
    target: Target,
    volatile: bool,
}

impl HandleBroadcast {
    /// Narrows to the members of `room` (several calls: the union, each socket once).
    pub fn to(mut self, room: &str) -> Self {
        self.target.rooms.push(room.to_string());
        self
    }

    /// Leaves out the members of `room`.
    pub fn except(mut self, room: &str) -> Self {
        self.target.except.push(room.to_string());
        self
    }

    /// Drops the packet for receivers that are behind.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Emits `event` with `args` to every selected socket on every worker.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.emit_binary(event, args, &[])
    }

    /// Like [`HandleBroadcast::emit`] with binary attachments (referenced by placeholders).
    pub fn emit_binary<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        attachments: &[Bytes],
    ) -> Result<(), EmitError> {
        let packets = encode_event(&self.nsp, None, event, args, attachments)?;
        self.post(packets, None);
        Ok(())
    }

    /// Emits and collects every receiver's acknowledgement for up to `timeout`; `callback` runs
    /// once, on a worker thread, with the replies and the count of sockets that did not answer.
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        timeout: Duration,
        callback: impl FnOnce(BroadcastAcks) + Send + 'static,
    ) -> Result<(), EmitError> {
        let id = next_broadcast_ack_id();
        let packets = encode_event(&self.nsp, Some(id), event, args, &[])?;
        let collector = AckCollector::new(self.handle.peers.len(), Box::new(callback));
        self.post(packets, Some((id, timeout, collector)));
        Ok(())
    }

    fn post(
        &self,
        packets: Vec<super::broadcast::Shared>,
        acks: Option<(u64, Duration, Arc<AckCollector>)>,
    ) {
        self.handle.stats.add(0, Counter::Broadcasts, 1);
        let msg = BroadcastMsg {
            nsp: self.nsp.clone(),
            target: self.target.clone(),
            volatile: self.volatile,
            packets,
            acks,
        };
        post_remote(&self.handle.peers, None, Arc::new(msg));
    }

    fn select(&self, op: impl Fn() -> SelectOp) {
        for w in 0..self.handle.peers.len() {
            self.handle.peers.post(
                w,
                Post::Select {
                    nsp: self.nsp.clone(),
                    target: self.target.clone(),
                    op: op(),
                },
            );
        }
    }

    /// Makes every selected socket join `rooms`.
    pub fn sockets_join(&self, rooms: &[&str]) {
        let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
        self.select(|| SelectOp::Join(rooms.clone()));
    }

    /// Makes every selected socket leave `rooms`.
    pub fn sockets_leave(&self, rooms: &[&str]) {
        let rooms: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
        self.select(|| SelectOp::Leave(rooms.clone()));
    }

    /// Disconnects every selected socket from the namespace (`close`: closes their whole
    /// connections).
    pub fn disconnect_sockets(&self, close: bool) {
        self.select(|| SelectOp::Disconnect(close));
    }

    /// Asks every worker for its selected sockets and waits up to `timeout` for the answers.
    /// Blocks: call it from your own threads, never from a handler (its worker could not answer).
    pub fn fetch_sockets(&self, timeout: Duration) -> Vec<SocketInfo> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.select(|| SelectOp::Fetch(tx.clone()));
        drop(tx);
        gather(&rx, self.handle.peers.len(), timeout)
            .into_iter()
            .flatten()
            .collect()
    }

    /// Counts the selected sockets over all workers, waiting up to `timeout`. Blocks like
    /// [`HandleBroadcast::fetch_sockets`].
    pub fn count(&self, timeout: Duration) -> usize {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.select(|| SelectOp::Count(tx.clone()));
        drop(tx);
        gather(&rx, self.handle.peers.len(), timeout)
            .into_iter()
            .sum()
    }
}

fn gather<T>(rx: &crossbeam_channel::Receiver<T>, n: usize, timeout: Duration) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match rx.recv_deadline(deadline) {
            Ok(v) => out.push(v),
            Err(_) => break,
        }
    }
    out
}
