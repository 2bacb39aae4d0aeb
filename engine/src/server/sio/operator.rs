//! Broadcasting from a handler: `socket.to("room").emit(..)`, `socket.broadcast()`,
//! `socket.everyone()`, with `except`, `volatile`, `local`, and acknowledgements collected from
//! every receiver.

use super::model::Socket;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::server::ack_futures::BroadcastAckFuture;
use crate::server::broadcast::{deliver_local, Current, DeliverFrom};
use crate::server::broadcast_msg::ack_parts;
use crate::server::broadcast_msg::encode_event_at;
use crate::server::broadcast_msg::next_broadcast_ack_id;
use crate::server::broadcast_msg::AckCollector;
use crate::server::broadcast_msg::BroadcastAcks;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::post::post_remote;
use crate::server::rooms::{RoomNames, Target};
use crate::server::stats::Counter;

use super::errors::EmitError;
use super::recovery::{encode_for, Keeping, ToKeep};

/// A broadcast being built from a handler's socket; nothing is sent until `emit`.
pub struct SocketBroadcast<'s, 'c, 'a> {
    pub(crate) socket: &'s mut Socket<'c, 'a>,
    pub(crate) target: Target,
    pub(crate) volatile: bool,
    pub(crate) local: bool,
    pub(crate) compress: bool,
}

impl<'s, 'c, 'a> SocketBroadcast<'s, 'c, 'a> {
    /// Also sends to the members of `room` (several rooms: union, each socket once).
    pub fn to(mut self, rooms: impl RoomNames) -> Self {
        rooms.each_room(&mut |r| self.target.rooms.push(r.to_string()));
        self
    }

    /// Leaves out the members of `rooms` (one name or several).
    pub fn except(mut self, rooms: impl RoomNames) -> Self {
        rooms.each_room(&mut |r| self.target.except.push(r.to_string()));
        self
    }

    /// Drops the packet for receivers that are behind (something still queued for them).
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Only the sockets of this worker (no message to the other workers, nor to the other
    /// servers of a cluster).
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Whether the packets may go compressed, where a receiver negotiated permessage-deflate
    /// or a polling response is compressed (the reference's `compress(flag)`); default true.
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Emits `event` with `args` to every selected socket; returns how many sockets of this
    /// worker got it (the other workers deliver theirs on their own). With recovery kept in
    /// Redis (the streams adapter) a kept packet is delivered once the stream took it, by
    /// the adapter: 0 then.
    pub fn emit<T: Serialize + ?Sized>(self, event: &str, args: &T) -> Result<usize, EmitError> {
        self.send(event, args, &[], None)
    }

    /// Like [`SocketBroadcast::emit`] with binary attachments (referenced by placeholders).
    pub fn emit_binary<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
        attachments: &[Bytes],
    ) -> Result<usize, EmitError> {
        self.send(event, args, attachments, None)
    }

    /// Emits and collects every receiver's acknowledgement for up to `timeout`; `callback` runs
    /// once with the replies (socket id, arguments) and the number of sockets that did not
    /// answer, on the thread of the worker that completed it (it must not block).
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
        timeout: Duration,
        callback: impl FnOnce(BroadcastAcks) + Send + 'static,
    ) -> Result<usize, EmitError> {
        self.send(event, args, &[], Some((timeout, Box::new(callback))))
    }

    /// Emits and returns a future of every receiver's acknowledgement within `timeout` (the
    /// reference's `emitWithAck` on a broadcast): see [`BroadcastAckFuture`].
    pub fn emit_with_ack_future<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<BroadcastAckFuture, EmitError> {
        let (future, complete) = BroadcastAckFuture::new();
        self.emit_with_ack(event, args, timeout, complete)?;
        Ok(future)
    }

    /// A broadcast whose acknowledgements are collected for `timeout`
    /// (`io.timeout(ms).emit`): see [`TimedBroadcast::emit`].
    pub fn timeout(self, timeout: Duration) -> TimedBroadcast<'s, 'c, 'a> {
        TimedBroadcast {
            broadcast: self,
            timeout,
        }
    }

    #[allow(clippy::type_complexity)]
    fn send<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
        attachments: &[Bytes],
        acks: Option<(Duration, Box<dyn FnOnce(BroadcastAcks) + Send>)>,
    ) -> Result<usize, EmitError> {
        let socket = self.socket;
        let nsp = socket.state.nsp.clone();
        let workers = if self.local {
            1
        } else {
            socket.tx.cx.workers()
        };
        let adapter = socket.tx.cx.state().adapter.clone();
        let parts = ack_parts(workers, self.local, adapter.is_remote());
        let acks = acks.map(|(timeout, cb)| {
            let id = next_broadcast_ack_id();
            (id, timeout, AckCollector::new(parts, cb))
        });
        let recovery = socket.tx.cx.state().recovery.clone();
        let parser = socket.tx.cx.state().config.parser;
        let keep = !self.volatile && acks.is_none();
        let id = acks.as_ref().map(|a| a.0);
        let packet = ToKeep {
            nsp: &nsp,
            target: &self.target,
            compress: self.compress,
            local: self.local,
        };
        let packets = match encode_for(
            recovery.as_deref(),
            keep,
            packet,
            socket.tx.cx.now(),
            &mut |offset| encode_event_at(parser, &nsp, id, event, args, attachments, offset),
        )? {
            Keeping::Send(packets) => packets,
            // The cluster delivers it here once it has its offset: none reached yet.
            Keeping::Published => return Ok(0),
        };
        let msg = Arc::new(BroadcastMsg {
            nsp,
            target: self.target,
            volatile: self.volatile,
            compress: self.compress,
            packets,
            acks,
        });
        let worker = socket.tx.cx.worker();
        socket
            .tx
            .cx
            .state()
            .stats
            .add(worker, Counter::Broadcasts, 1);
        let current = Current {
            key: socket.session,
            tx: &mut socket.tx,
            state: &mut *socket.state,
        };
        let delivered = deliver_local(DeliverFrom::Handler(current), &msg);
        if !self.local {
            adapter.broadcast(&msg);
            let peers = socket.tx.cx.peers().clone();
            post_remote(&peers, Some(worker as usize), msg);
        }
        Ok(delivered)
    }
}

/// A broadcast collecting acknowledgements for a bounded time (from [`SocketBroadcast::timeout`]).
pub struct TimedBroadcast<'s, 'c, 'a> {
    broadcast: SocketBroadcast<'s, 'c, 'a>,
    timeout: Duration,
}

impl TimedBroadcast<'_, '_, '_> {
    /// Emits and returns a future of the replies (`io.timeout(ms).emitWithAck`); same as
    /// [`SocketBroadcast::emit_with_ack_future`].
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
    ) -> Result<BroadcastAckFuture, EmitError> {
        self.broadcast
            .emit_with_ack_future(event, args, self.timeout)
    }

    /// Emits and collects the replies; same as [`SocketBroadcast::emit_with_ack`].
    pub fn emit<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
        callback: impl FnOnce(BroadcastAcks) + Send + 'static,
    ) -> Result<usize, EmitError> {
        self.broadcast
            .emit_with_ack(event, args, self.timeout, callback)
    }
}
