//! Reaching a running server from any thread: send to connections and sockets, broadcast to
//! namespaces and rooms (with acks), operate on the sockets a selection matches (join, leave,
//! disconnect, fetch, count), and read statistics.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::proto::eio::Sid;
use crate::proto::sio as sioproto;
use crate::proto::ws::{CloseCode, OpCode};
use crate::runtime::{ConnId, Peers};

use super::ack_futures::BroadcastAckFuture;
use super::adapter::{Adapter, RemoteOp};
use super::broadcast_msg::ack_parts;
use super::broadcast_msg::next_broadcast_ack_id;
use super::broadcast_msg::AckCollector;
use super::broadcast_msg::BroadcastAcks;
use super::broadcast_msg::BroadcastMsg;
use super::broadcast_msg::{encode_event, encode_event_at};
use super::cluster::RequestError;
use super::oneshot;
use super::post::gather;
use super::post::post_remote;
use super::post::Post;
use super::post::SelectOp;
use super::rooms::{RoomNames, Target};
use super::sio::{encode_for, EmitError, Keeping, Recovery, ToKeep};
use super::socket_info::SocketInfo;
use super::stats::{Counter, Stats, StatsSnapshot};
use crate::config::Parser;

/// Reaches a running server from any thread. `Send + Clone`, cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    pub(crate) peers: Peers<Post>,
    pub(crate) stats: Arc<Stats>,
    pub(crate) adapter: Arc<dyn Adapter>,
    pub(crate) recovery: Option<Arc<Recovery>>,
    /// How this server's Socket.IO packets are encoded.
    pub(crate) parser: Parser,
}

impl ServerHandle {
    /// Queues a text message on WebSocket `id`; false if its worker is gone.
    pub fn ws_send_text(&self, id: ConnId, text: &str) -> bool {
        self.ws_send(
            id,
            super::ws::encode_ws_frame(OpCode::Text, text.as_bytes()),
        )
    }

    /// Queues a frame made by [`super::ws::encode_ws_frame`] on WebSocket `id`.
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
    /// `socket_id` of namespace `nsp`. `Ok(false)` if the id is malformed (with recovery on,
    /// an id of another server, which a restored socket keeps, is well-formed) or its worker
    /// is gone; an emit to a socket that has left is dropped.
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
        // With recovery on, a socket may have come back with an id another server made.
        let adopted = || self.recovery.as_ref().and_then(|_| Sid::adopt(socket_id));
        let Some(sid) = Sid::parse(socket_id).or_else(adopted) else {
            return Ok(false);
        };
        self.emit_to_sid(nsp, sid, event, args)
    }

    /// [`ServerHandle::emit_to`] unless a worker's mailbox is full (see
    /// [`HandleBroadcast::try_emit`]): then [`TryEmitError::Full`] and nothing is sent.
    pub fn try_emit_to<T: Serialize + ?Sized>(
        &self,
        nsp: &str,
        socket_id: &str,
        event: &str,
        args: &T,
    ) -> Result<bool, TryEmitError> {
        if !self.peers.has_room() {
            return Err(TryEmitError::Full);
        }
        Ok(self.emit_to(nsp, socket_id, event, args)?)
    }

    /// [`ServerHandle::emit_to`] for a parsed socket id (reserved names already refused).
    pub(crate) fn emit_to_sid<T: Serialize + ?Sized>(
        &self,
        nsp: &str,
        sid: Sid,
        event: &str,
        args: &T,
    ) -> Result<bool, EmitError> {
        // Kept as the reference keeps `socket.emit` with recovery on: a packet to the
        // socket's own room.
        let target = Target {
            rooms: vec![sid.as_str().to_string()],
            ..Target::default()
        };
        let packet = ToKeep {
            nsp,
            target: &target,
            compress: true,
            local: false,
        };
        let packets = match encode_for(
            self.recovery.as_deref(),
            true,
            packet,
            Instant::now(),
            &mut |offset| encode_event_at(self.parser, nsp, None, event, args, &[], offset),
        )? {
            Keeping::Send(packets) => packets,
            // The cluster delivers it once it has its offset.
            Keeping::Published => return Ok(true),
        };
        let outs = packets.iter().map(|p| p.out()).collect();
        Ok(self
            .peers
            .post(sid.home(self.peers.len()), Post::ToSocket(sid, outs)))
    }

    /// Everything in namespace `nsp`; narrow it with [`HandleBroadcast::to`] and
    /// [`HandleBroadcast::except`].
    pub fn of(&self, nsp: &str) -> HandleBroadcast {
        HandleBroadcast {
            handle: self.clone(),
            nsp: nsp.to_string(),
            target: Target::default(),
            volatile: false,
            local: false,
            compress: true,
        }
    }

    /// Emits `event` with `args` (serialised as the argument list) to the other servers of the
    /// cluster, whose server-side emit handlers run with them
    /// ([`super::ServerBuilder::on_server_side_emit`]; Node: `io.on("event")` through
    /// `serverSideEmit`). Nothing happens without a cluster adapter.
    pub fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        nsp: &str,
        event: &str,
        args: &T,
    ) -> Result<(), EmitError> {
        let data = server_side_data(event, args)?;
        self.adapter.server_side_emit(nsp, data, None);
        Ok(())
    }

    /// Like [`ServerHandle::server_side_emit`], and waits for every other server's answer,
    /// up to `timeout` and at most the requests timeout (`requests_timeout`, default 5 s, as
    /// Node's `requestsTimeout`). `Ok`: every server answered (none without a cluster).
    /// [`RequestError::Timeout`] holds the answers that came and the servers that did not
    /// answer (Node passes its callback an error and the responses); [`RequestError::Unavailable`]:
    /// Redis is unreachable, nobody was asked. Blocks: call it from your own threads.
    pub fn server_side_emit_with_ack<T: Serialize + ?Sized>(
        &self,
        nsp: &str,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<Vec<serde_json::Value>, RequestError<Vec<serde_json::Value>>> {
        let data = server_side_data(event, args)?;
        let Some(rx) = self.adapter.server_side_emit(nsp, data, Some(timeout)) else {
            return Ok(Vec::new());
        };
        // The adapter answers by the deadline itself; the slack covers its sweep interval.
        rx.recv_timeout(timeout + REMOTE_SLACK)
            .unwrap_or_else(|_| self.adapter_silent())
    }

    /// The answer when the adapter gave none in time (stopping, or stuck connecting).
    fn adapter_silent<T: Default>(&self) -> Result<T, RequestError<T>> {
        Err(RequestError::Unavailable {
            got: T::default(),
            missing_nodes: Vec::new(),
        })
    }

    /// This server's id in its cluster (the `uid` of the Redis adapter's messages, which
    /// [`RequestError`] names servers by); `None` without a cluster adapter.
    pub fn cluster_uid(&self) -> Option<String> {
        self.adapter.uid()
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

/// Why [`HandleBroadcast::try_emit`] or [`HandleBroadcast::emit_blocking`] sent nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryEmitError {
    /// A worker's mailbox holds `mailbox_capacity` messages: the workers are behind this
    /// producer. Nothing was sent; send again once they caught up.
    Full,
    /// The event could not be encoded.
    Emit(EmitError),
}

impl std::fmt::Display for TryEmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryEmitError::Full => f.write_str("a worker's mailbox is full"),
            TryEmitError::Emit(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TryEmitError {}

impl From<EmitError> for TryEmitError {
    fn from(e: EmitError) -> Self {
        TryEmitError::Emit(e)
    }
}

/// A selection of sockets in one namespace, from any thread.
#[derive(Clone)]
pub struct HandleBroadcast {
    handle: ServerHandle,
    nsp: String,
    target: Target,
    volatile: bool,
    local: bool,
    compress: bool,
}

/// Time allowed past a caller's timeout for the adapter to hand over what other servers sent.
const REMOTE_SLACK: Duration = Duration::from_millis(200);

/// `[event, ...args]` for a server-side emit, with the arguments of any `Serialize` as `emit`
/// takes them (one value is one argument, a tuple several, `()` none).
fn server_side_data<T: Serialize + ?Sized>(
    event: &str,
    args: &T,
) -> Result<serde_json::Value, EmitError> {
    let mut json = Vec::new();
    sioproto::write_json_str(&mut json, event);
    let mut attachments = Vec::new();
    let mut list = Vec::new();
    let n = sioproto::write_args(&mut list, &mut attachments, args)
        .map_err(|e| EmitError::Serialize(e.to_string()))?;
    if !attachments.is_empty() {
        return Err(EmitError::Serialize(
            "binary arguments cannot go to other servers in a server-side emit".into(),
        ));
    }
    if n > 0 {
        json.push(b',');
        json.extend_from_slice(&list);
    }
    json.insert(0, b'[');
    json.push(b']');
    serde_json::from_slice(&json).map_err(|e| EmitError::Serialize(e.to_string()))
}

impl HandleBroadcast {
    /// Narrows to the members of `room` (several calls: the union, each socket once).
    pub fn to(mut self, rooms: impl RoomNames) -> Self {
        rooms.each_room(&mut |r| self.target.rooms.push(r.to_string()));
        self
    }

    /// Leaves out the members of `rooms` (one name or several).
    pub fn except(mut self, rooms: impl RoomNames) -> Self {
        rooms.each_room(&mut |r| self.target.except.push(r.to_string()));
        self
    }

    /// Drops the packet for receivers that are behind.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Only this server's sockets: nothing goes to the other servers of a cluster.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Whether the packets may go compressed, where a receiver negotiated permessage-deflate
    /// or a polling response is compressed (the reference's `io.compress(flag)`); default true.
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    fn remote(&self) -> Option<&dyn Adapter> {
        (!self.local).then_some(&*self.handle.adapter)
    }

    /// Emits `event` with `args` to every selected socket on every worker.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        self.emit_binary(event, args, &[])
    }

    /// [`HandleBroadcast::emit`] unless a worker's mailbox is full (`mailbox_capacity`
    /// messages wait in it): then nothing is sent and the producer learns it is ahead of the
    /// workers, which `emit` never tells it. Checked before sending, so producers racing each
    /// other may pass the capacity by the few messages they send at the same moment.
    pub fn try_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
    ) -> Result<(), TryEmitError> {
        if !self.handle.peers.has_room() {
            return Err(TryEmitError::Full);
        }
        Ok(self.emit(event, args)?)
    }

    /// [`HandleBroadcast::emit`] once every worker's mailbox has room, waiting up to `timeout`
    /// for it ([`TryEmitError::Full`] after that: the workers stay behind, or have stopped).
    /// It sleeps while it waits, so it must not run on a worker (in a handler): that worker
    /// would wait for itself.
    pub fn emit_blocking<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<(), TryEmitError> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(50);
        while !self.handle.peers.has_room() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TryEmitError::Full);
            }
            std::thread::sleep(pause.min(left));
            pause = (pause * 2).min(Duration::from_millis(1));
        }
        Ok(self.emit(event, args)?)
    }

    /// [`HandleBroadcast::emit_blocking`] as a future, for tokio code: it waits for room in
    /// every worker's mailbox on tokio's timer, so no thread blocks while the workers catch up
    /// (the executor runs its other tasks meanwhile). [`TryEmitError::Full`] once `timeout`
    /// passed without room. The event is encoded at once, so an encoding error is the
    /// future's answer as soon as it is polled. Await it inside a tokio runtime with its timer
    /// enabled (the server's, [`super::ServerBuilder::tokio`], or the application's).
    #[cfg(feature = "tokio")]
    pub fn emit_async<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> impl Future<Output = Result<(), TryEmitError>> + Send + 'static {
        // Encoded (and, with recovery on, kept) at once: `args` is borrowed only for this call.
        let encoded = self.encode(event, args, &[]);
        let this = self.clone();
        async move {
            // Published: the cluster delivers it once it has its offset.
            let Keeping::Send(packets) = encoded? else {
                return Ok(());
            };
            let deadline = tokio::time::Instant::now() + timeout;
            // Workers do not signal producers: a short poll, as `emit_blocking`.
            let mut pause = Duration::from_micros(50);
            while !this.handle.peers.has_room() {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Err(TryEmitError::Full);
                }
                tokio::time::sleep_until((now + pause).min(deadline)).await;
                pause = (pause * 2).min(Duration::from_millis(1));
            }
            this.post(packets, None);
            Ok(())
        }
    }

    /// Like [`HandleBroadcast::emit`] with binary attachments (referenced by placeholders).
    pub fn emit_binary<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        attachments: &[Bytes],
    ) -> Result<(), EmitError> {
        if let Keeping::Send(packets) = self.encode(event, args, attachments)? {
            self.post(packets, None);
        }
        Ok(())
    }

    /// The packets of an emit without an ack, kept for recovery (with their offset) when it
    /// is on and the emit is not volatile; [`Keeping::Published`] when the cluster delivers
    /// them once it has their offset.
    fn encode<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        attachments: &[Bytes],
    ) -> Result<Keeping, EmitError> {
        let packet = ToKeep {
            nsp: &self.nsp,
            target: &self.target,
            compress: self.compress,
            local: self.local,
        };
        encode_for(
            self.handle.recovery.as_deref(),
            !self.volatile,
            packet,
            Instant::now(),
            &mut |offset| {
                encode_event_at(
                    self.handle.parser,
                    &self.nsp,
                    None,
                    event,
                    args,
                    attachments,
                    offset,
                )
            },
        )
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
        let packets = encode_event(self.handle.parser, &self.nsp, Some(id), event, args, &[])?;
        let parts = ack_parts(
            self.handle.peers.len(),
            self.local,
            self.handle.adapter.is_remote(),
        );
        let collector = AckCollector::new(parts, Box::new(callback));
        self.post(packets, Some((id, timeout, collector)));
        Ok(())
    }

    /// Emits and returns a future of every receiver's acknowledgement within `timeout` (the
    /// reference's `io.timeout(ms).emitWithAck`), awaitable on any executor: see
    /// [`BroadcastAckFuture`].
    pub fn emit_with_ack_future<T: Serialize + ?Sized>(
        &self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<BroadcastAckFuture, EmitError> {
        let (future, complete) = BroadcastAckFuture::new();
        self.emit_with_ack(event, args, timeout, complete)?;
        Ok(future)
    }

    fn post(
        &self,
        packets: Vec<super::broadcast_msg::Shared>,
        acks: Option<(u64, Duration, Arc<AckCollector>)>,
    ) {
        self.handle.stats.add(0, Counter::Broadcasts, 1);
        let msg = BroadcastMsg {
            nsp: self.nsp.clone(),
            target: self.target.clone(),
            volatile: self.volatile,
            compress: self.compress,
            packets,
            acks,
        };
        let msg = Arc::new(msg);
        if let Some(adapter) = self.remote() {
            adapter.broadcast(&msg);
        }
        post_remote(&self.handle.peers, None, msg);
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

    /// Makes every selected socket join `rooms` (on every server of a cluster).
    pub fn sockets_join(&self, rooms: impl RoomNames) {
        let rooms = rooms.room_list();
        self.select(|| SelectOp::Join(rooms.clone()));
        if let Some(a) = self.remote() {
            a.select(&self.nsp, &self.target, RemoteOp::Join(rooms));
        }
    }

    /// Makes every selected socket leave `rooms` (on every server of a cluster).
    pub fn sockets_leave(&self, rooms: impl RoomNames) {
        let rooms = rooms.room_list();
        self.select(|| SelectOp::Leave(rooms.clone()));
        if let Some(a) = self.remote() {
            a.select(&self.nsp, &self.target, RemoteOp::Leave(rooms));
        }
    }

    /// Disconnects every selected socket from the namespace (`close`: closes their whole
    /// connections), on every server of a cluster.
    pub fn disconnect_sockets(&self, close: bool) {
        self.select(|| SelectOp::Disconnect(close));
        if let Some(a) = self.remote() {
            a.select(&self.nsp, &self.target, RemoteOp::Disconnect(close));
        }
    }

    /// Asks every worker (and every other server of a cluster) for its selected sockets and
    /// waits up to `timeout` for the answers; other servers get at most the requests timeout
    /// (`requests_timeout`, default 5 s, as Node's `requestsTimeout`). `Ok`: every server
    /// answered. [`RequestError::Timeout`]: some did not (Node rejects with "timeout reached
    /// while waiting for fetchSockets response"); it holds the sockets that came, this
    /// server's included, and the servers missing. [`RequestError::Unavailable`]: Redis is
    /// unreachable; it holds this server's sockets. Blocks: call it from your own threads,
    /// never from a handler (its worker could not answer).
    pub fn fetch_sockets(
        &self,
        timeout: Duration,
    ) -> Result<Vec<SocketInfo>, RequestError<Vec<SocketInfo>>> {
        let remote = self
            .remote()
            .and_then(|a| a.fetch(&self.nsp, &self.target, timeout));
        let (tx, rx) = crossbeam_channel::unbounded();
        self.select(|| SelectOp::Fetch(tx.clone()));
        drop(tx);
        let mut local: Vec<SocketInfo> = gather(&rx, self.handle.peers.len(), timeout)
            .into_iter()
            .flatten()
            .collect();
        let Some(remote) = remote else {
            return Ok(local);
        };
        let answers = remote
            .recv_timeout(timeout + REMOTE_SLACK)
            .unwrap_or_else(|_| self.handle.adapter_silent());
        let with_local = |mut others: Vec<SocketInfo>| {
            local.append(&mut others);
            local
        };
        match answers {
            Ok(others) => Ok(with_local(others)),
            Err(e) => Err(e.map(with_local)),
        }
    }

    /// The rooms of this namespace that have members on this server (every worker; each
    /// socket's own-id room included, as in the reference's `nsp.adapter.rooms`), sorted;
    /// a room is gone once its last member left. Waits up to `timeout` for the workers.
    /// Blocks like [`HandleBroadcast::fetch_sockets`]; the selection's rooms do not apply.
    pub fn rooms(&self, timeout: Duration) -> Vec<String> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.select(|| SelectOp::Rooms(tx.clone()));
        drop(tx);
        let mut out: Vec<String> = gather(&rx, self.handle.peers.len(), timeout)
            .into_iter()
            .flatten()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// [`HandleBroadcast::fetch_sockets`] as a future, for asynchronous code: the waiting
    /// happens on a short-lived thread of its own, so no executor thread blocks.
    pub fn fetch_sockets_future(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<SocketInfo>, RequestError<Vec<SocketInfo>>>> + Send + 'static
    {
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        let fallback = self.clone();
        let _ = std::thread::Builder::new()
            .name("volley-fetch".into())
            .spawn(move || tx.send(this.fetch_sockets(timeout)));
        async move {
            match rx.await {
                Some(found) => found,
                // No thread could be spawned: the fetch runs here, slower but never lost.
                None => fallback.fetch_sockets(timeout),
            }
        }
    }

    /// Counts the selected sockets over all workers (and, in a cluster, over every server,
    /// by fetching them), waiting up to `timeout`. Servers that do not answer are left out of
    /// the count (and counted in `volley_adapter_errors_total`); use
    /// [`HandleBroadcast::fetch_sockets`] to know which. Blocks like it.
    pub fn count(&self, timeout: Duration) -> usize {
        if self.handle.adapter.is_remote() && !self.local {
            return self
                .fetch_sockets(timeout)
                .unwrap_or_else(RequestError::got)
                .len();
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        self.select(|| SelectOp::Count(tx.clone()));
        drop(tx);
        gather(&rx, self.handle.peers.len(), timeout)
            .into_iter()
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::server_side_data;
    use serde_json::{json, Value};

    #[test]
    fn server_side_arguments_follow_the_emit_rule() {
        assert_eq!(
            server_side_data("ev", "hello").unwrap(),
            json!(["ev", "hello"])
        );
        assert_eq!(
            server_side_data("ev", &(1, "two")).unwrap(),
            json!(["ev", 1, "two"])
        );
        assert_eq!(server_side_data("ev", &()).unwrap(), json!(["ev"]));
        assert_eq!(
            server_side_data("ev", &Value::Null).unwrap(),
            json!(["ev", null])
        );
        assert_eq!(
            server_side_data("ev", &json!({"a": [1]})).unwrap(),
            json!(["ev", {"a": [1]}])
        );
        assert!(server_side_data("ev", &bytes::Bytes::from_static(b"x")).is_err());
    }
}
