//! A socket as handlers see it: one client's membership of one namespace, with emits (plain,
//! binary, volatile, with an ack callback), cancel of pending acks, deferred acks and
//! server-side disconnect.

use super::ack::{AckId, DeferredAck};
use super::errors::AckError;
use super::listeners::notify_outgoing;
use super::model::{Pending, Socket};
use std::any::Any;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use crate::proto::sio::{self, Args, PacketType, ValueRef};

use super::errors::EmitError;
use super::handshake::Handshake;
use super::operator::SocketBroadcast;
use super::recovery::{Keeping, Recovery, ToKeep};
use crate::config::Parser;
use crate::server::ack_futures::{AckFuture, OwnedArgs};
use crate::server::broadcast_msg::{encode_shared, msgpack_packet, Shared};
use crate::server::handle::ServerHandle;
use crate::server::oneshot;
use crate::server::out::Out;
use crate::server::rooms::{RoomNames, Target};
use crate::server::timer::Timer;

/// Which arguments an emit carries.
enum Body<'b, T: ?Sized> {
    Ser(&'b T),
    /// A complete JSON array.
    Array(&'b [u8]),
}

impl<T: Serialize + ?Sized> Body<'_, T> {
    fn write(
        &self,
        out: &mut Vec<u8>,
        nsp: &str,
        id: Option<u64>,
        event: &str,
        attachments: &mut Vec<Bytes>,
    ) -> Result<(), EmitError> {
        match self {
            Body::Ser(args) => sio::encode_event_ser(out, nsp, id, event, *args, attachments)
                .map_err(|e| EmitError::Serialize(e.to_string())),
            Body::Array(json) => {
                let attachments = attachments.len();
                let ty = if attachments > 0 {
                    PacketType::BinaryEvent
                } else {
                    PacketType::Event
                };
                sio::encode_header(out, ty, attachments, nsp, id);
                out.push(b'[');
                sio::write_json_str(out, event);
                match json.get(1..json.len().saturating_sub(1)) {
                    Some(items) if !items.iter().all(u8::is_ascii_whitespace) => {
                        out.push(b',');
                        out.extend_from_slice(items);
                    }
                    _ => {}
                }
                out.push(b']');
                Ok(())
            }
        }
    }
}

impl<'c, 'a> Socket<'c, 'a> {
    /// This socket's id (what the client sees as `socket.id`); also routes emits from other
    /// threads through the server handle.
    pub fn id(&self) -> &str {
        self.state.sid.as_str()
    }

    /// The namespace this socket joined (the actual name for dynamic namespaces).
    pub fn nsp(&self) -> &str {
        &self.state.nsp
    }

    /// Whether the CONNECT reply went out: false in middleware and `on_connect` (which may
    /// still refuse), true in every later handler.
    pub fn connected(&self) -> bool {
        self.state.connected
    }

    /// Whether this socket came back with the id, rooms and data of an earlier connection
    /// that was lost, its missed packets replayed (`socket.recovered`; only with connection
    /// state recovery on). Readable from middleware and `on_connect` on. Default: false.
    pub fn recovered(&self) -> bool {
        self.state.recovered
    }

    /// The worker thread that owns this socket (its handlers always run there).
    pub fn worker(&self) -> u16 {
        self.tx.cx.worker()
    }

    /// The request that opened the connection (readable from every handler).
    pub fn handshake(&self) -> &Handshake {
        self.handshake
    }

    /// The auth payload of this socket's CONNECT packet (`socket.handshake.auth`), as sent;
    /// `None` when the client sent none. Readable from every handler.
    pub fn auth(&self) -> Option<ValueRef<'_>> {
        self.state.auth.as_deref().map(ValueRef::new)
    }

    /// Keeps `value` for this socket (`socket.data`), replacing what was kept: set it in
    /// middleware or `on_connect`, read it in any handler with [`Socket::data`]. It is what
    /// `fetch_sockets` reports as the socket's `data` (as JSON, also to other servers of a
    /// cluster). It must be `Send`: with connection state recovery on, a lost socket's data
    /// is kept where any worker can give it back. Default: nothing (`null`).
    pub fn set_data<T: Serialize + Any + Send>(&mut self, value: T) {
        self.state.data = Some(Box::new(value));
    }

    /// The value kept with [`Socket::set_data`], if there is one of type `T`.
    pub fn data<T: Any>(&self) -> Option<&T> {
        let data: &dyn Any = self.state.data.as_deref()?;
        data.downcast_ref()
    }

    /// The value kept with [`Socket::set_data`], mutable, if there is one of type `T`.
    pub fn data_mut<T: Any>(&mut self) -> Option<&mut T> {
        let data: &mut dyn Any = self.state.data.as_deref_mut()?;
        data.downcast_mut()
    }

    /// The transport carrying this socket now: `websocket` once upgraded, else `polling`.
    pub(crate) fn transport(&self) -> &'static str {
        match self.tx.link {
            crate::server::link::Link::Ws(..) => "websocket",
            _ => "polling",
        }
    }

    /// Names this socket's connection, the same for its sockets in every namespace and unique
    /// among the server's open connections: the worker and the session's slot.
    pub(crate) fn connection_name(&self) -> String {
        format!(
            "{:x}.{:x}.{:x}",
            self.worker(),
            self.session.idx,
            self.session.epoch
        )
    }

    /// What [`Socket::set_data`] kept, as JSON (`null` when nothing).
    pub(crate) fn data_json(&self) -> serde_json::Value {
        self.state
            .data
            .as_ref()
            .map_or(serde_json::Value::Null, |d| d.to_json())
    }

    /// The server's handle (the same one `Server::handle` returns), to hand to other threads.
    pub fn server(&mut self) -> ServerHandle {
        let peers = self.tx.cx.peers().clone();
        let state = self.tx.cx.state();
        ServerHandle {
            peers,
            stats: state.stats.clone(),
            adapter: state.adapter.clone(),
            recovery: state.recovery.clone(),
            parser: state.config.parser,
        }
    }

    /// An emit whose acknowledgement must come within `timeout` (`socket.timeout(ms).emit`):
    /// see [`TimedEmit::emit`].
    pub fn timeout(&mut self, timeout: Duration) -> TimedEmit<'_, 'c, 'a> {
        TimedEmit {
            socket: self,
            timeout,
        }
    }

    /// Bytes queued for this client and not yet written (on its WebSocket, or waiting for
    /// its next polling request).
    pub fn queued_bytes(&mut self) -> usize {
        self.tx.queued_bytes()
    }

    /// Emits `event` with `args` (a tuple, slice or `Vec`, serialised as the argument list).
    pub fn emit<T: Serialize + ?Sized>(&mut self, event: &str, args: &T) -> Result<(), EmitError> {
        self.send(event, Body::Ser(args), &[], None)
    }

    /// Emits `event` with binary attachments; `args` references them with
    /// [`sio::Placeholder`]`::new(0..n)`.
    pub fn emit_binary<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        args: &T,
        attachments: &[Bytes],
    ) -> Result<(), EmitError> {
        self.send(event, Body::Ser(args), attachments, None)
    }

    /// Emits `event` with exactly the arguments of a received event or ack (binary included).
    pub fn emit_args(&mut self, event: &str, args: &Args<'_>) -> Result<(), EmitError> {
        let mut json = Vec::new();
        args.write_json(&mut json);
        self.send::<()>(event, Body::Array(&json), args.attachments(), None)
    }

    /// Runs `callback` once everything queued for this client has been written to it (at once
    /// if nothing is queued): the way to pace a producer to a slow reader instead of letting
    /// its queue grow to `max_buffered`.
    pub fn on_drain(&mut self, callback: impl FnOnce(&mut Socket<'_, '_>) + 'static) {
        if self.tx.notify_drain() {
            self.state.drain.push(Box::new(callback));
        } else {
            callback(self);
        }
    }

    /// Emits `event` only if the connection has nothing queued (the client is keeping up) and
    /// its worker is within its share of `max_buffered_total`; otherwise drops it. `Ok(false)` when dropped. In `on_connect` it is always dropped: the
    /// CONNECT reply is still to be written, as it is in flight when the reference's
    /// `connection` handler runs.
    pub fn volatile_emit<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        args: &T,
    ) -> Result<bool, EmitError> {
        if !self.state.connected || self.tx.queued_bytes() > 0 || self.tx.cx.over_budget() {
            return Ok(false);
        }
        // Not kept for recovery, as the reference keeps no volatile packet.
        self.send_with(event, Body::Ser(args), &[], None, true, false)
            .map(|()| true)
    }

    /// Emits `event` and returns a future of the client's acknowledgement within `timeout`
    /// (the reference's `emitWithAck`): it resolves on whatever thread awaits it, to the
    /// reply, [`AckError::Timeout`], or [`AckError::Disconnected`]. The future needs no
    /// particular executor; the handler that calls this returns at once.
    pub fn emit_with_ack_future<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        args: &T,
        timeout: Duration,
    ) -> Result<AckFuture, EmitError> {
        let (tx, rx) = oneshot::channel();
        self.emit_with_ack(event, args, timeout, move |_, reply| {
            tx.send(reply.map(OwnedArgs::from_args));
        })?;
        Ok(AckFuture(rx))
    }

    /// Emits `event` and waits up to `timeout` for the client's acknowledgement; `callback`
    /// runs on this worker with the socket and the ack's arguments, [`AckError::Timeout`], or
    /// [`AckError::Disconnected`]. Cancel with [`Socket::discard`].
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        args: &T,
        timeout: Duration,
        callback: impl FnOnce(&mut Socket<'_, '_>, Result<&Args<'_>, AckError>) + 'static,
    ) -> Result<AckId, EmitError> {
        let id = self.state.acks.next_id();
        self.send(event, Body::Ser(args), &[], Some(id))?;
        let deadline = self.tx.cx.now() + timeout;
        let timer = self.tx.cx.arm(
            deadline,
            Timer::Ack {
                session: self.session,
                socket: self.state.key,
                id,
            },
        );
        self.state.acks.insert(
            id,
            Pending {
                callback: Box::new(callback),
                timer,
                deadline,
            },
        );
        Ok(AckId(id))
    }

    /// Cancels a pending acknowledgement: its callback will never run. True if it was pending.
    pub fn discard(&mut self, id: AckId) -> bool {
        match self.state.acks.take(id.0) {
            Some(p) => {
                self.tx.cx.cancel(p.timer);
                true
            }
            None => false,
        }
    }

    /// Takes the acknowledgement of the event being handled, to send it later from any
    /// thread. `None` if the client asked for no ack (or it was already taken). A handler that
    /// takes it should return `None`.
    pub fn ack_later(&mut self) -> Option<DeferredAck> {
        let id = self.ack_id.take()?;
        Some(DeferredAck {
            peers: self.tx.cx.peers().clone(),
            socket: self.state.sid,
            nsp: self.state.nsp.clone(),
            id,
            parser: self.tx.cx.state().config.parser,
        })
    }

    /// Joins `rooms` (one name or several, in this socket's namespace).
    pub fn join(&mut self, rooms: impl RoomNames) {
        let (nsp, sid) = (&self.state.nsp, self.state.sid);
        let index = &mut self.tx.cx.state().rooms;
        rooms.each_room(&mut |room| index.join(nsp, sid, room));
    }

    /// Leaves `rooms` (one name or several); a room left empty is deleted.
    pub fn leave(&mut self, rooms: impl RoomNames) {
        let (nsp, sid) = (&self.state.nsp, self.state.sid);
        let index = &mut self.tx.cx.state().rooms;
        rooms.each_room(&mut |room| index.leave(nsp, sid, room));
    }

    /// The rooms this socket is in (the first is its own id).
    pub fn rooms(&mut self) -> Vec<String> {
        let (nsp, sid) = (&self.state.nsp, self.state.sid);
        self.tx.cx.state().rooms.rooms_of(nsp, &sid)
    }

    fn broadcast_to(
        &mut self,
        rooms: Vec<String>,
        except_self: bool,
    ) -> SocketBroadcast<'_, 'c, 'a> {
        let except_sid = except_self.then_some(self.state.sid);
        SocketBroadcast {
            socket: self,
            target: Target {
                rooms,
                except: Vec::new(),
                except_sid,
            },
            volatile: false,
            local: false,
            compress: true,
        }
    }

    /// A broadcast to the members of `rooms` (one name or several), this socket left out
    /// (`socket.to(room)`).
    pub fn to(&mut self, rooms: impl RoomNames) -> SocketBroadcast<'_, 'c, 'a> {
        self.broadcast_to(rooms.room_list(), true)
    }

    /// A broadcast to every socket of the namespace but this one (`socket.broadcast`).
    pub fn broadcast(&mut self) -> SocketBroadcast<'_, 'c, 'a> {
        self.broadcast_to(Vec::new(), true)
    }

    /// A broadcast to the members of `room`, this socket included if it is one (`io.in(room)`).
    pub fn within(&mut self, room: &str) -> SocketBroadcast<'_, 'c, 'a> {
        self.broadcast_to(vec![room.to_string()], false)
    }

    /// A broadcast to every socket of the namespace, this one included (`io.of(nsp)`).
    pub fn everyone(&mut self) -> SocketBroadcast<'_, 'c, 'a> {
        self.broadcast_to(Vec::new(), false)
    }

    /// Leaves the namespace: the client gets a DISCONNECT (`io server disconnect`) and the
    /// disconnect handler runs with `server namespace disconnect` once this handler returns.
    pub fn disconnect(&mut self) {
        self.state.leave = true;
    }

    /// Emits whose packets allow compression or not (`socket.compress(false).emit(..)`): see
    /// [`Compressed`].
    pub fn compress(&mut self, compress: bool) -> Compressed<'_, 'c, 'a> {
        Compressed {
            socket: self,
            compress,
        }
    }

    fn send<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        body: Body<'_, T>,
        attachments: &[Bytes],
        ack: Option<u64>,
    ) -> Result<(), EmitError> {
        self.send_with(event, body, attachments, ack, true, true)
    }

    fn send_with<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        body: Body<'_, T>,
        attachments: &[Bytes],
        ack: Option<u64>,
        compress: bool,
        keep: bool,
    ) -> Result<(), EmitError> {
        if sio::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent);
        }
        // With recovery on, the reference sends an emit without an ack as a packet to the
        // socket's own room, kept with an offset.
        let recovery = (keep && ack.is_none())
            .then(|| self.tx.cx.state().recovery.clone())
            .flatten();
        if let Some(recovery) = recovery {
            return self.send_kept(&recovery, event, &body, attachments, compress);
        }
        let nsp = self.state.nsp.as_str();
        let mut binary = attachments.to_vec();
        let outgoing = &self.state.app.namespaces[self.state.ns].outgoing;
        let own = self.state.outgoing_run();
        let msgpack = self.tx.cx.state().config.parser == Parser::Msgpack;
        if !outgoing.is_empty() || own.is_some() || msgpack {
            // Listeners see the packet as sent: encode it once, show it, then queue the bytes.
            // A msgpack packet is transcoded from that form too.
            let mut packet = vec![b'4'];
            body.write(&mut packet, nsp, ack, event, &mut binary)?;
            notify_outgoing(outgoing, own, self.state.sid.as_str(), &packet, &binary);
            if msgpack {
                let wire = msgpack_packet(&packet[1..], &binary)?;
                return self.queue(Out::Binary(Bytes::from(wire)), Vec::new(), compress);
            }
            return self.queue(Out::Text(Bytes::from(packet)), binary, compress);
        }
        let mut result = Ok(());
        let mut write = |b: &mut Vec<u8>| {
            b.push(b'4');
            result = body.write(b, nsp, ack, event, &mut binary);
            result.is_ok()
        };
        if !self.state.connected {
            let mut buf = Vec::new();
            if write(&mut buf) {
                self.state.pre_connect.push(Out::Text(Bytes::from(buf)));
                self.state
                    .pre_connect
                    .extend(binary.into_iter().map(Out::Binary));
            }
            return result;
        }
        let queued = self.tx.text_with(write, compress);
        result?;
        if !queued {
            return Err(EmitError::Closed);
        }
        for a in &binary {
            self.tx.binary_with(a, compress);
        }
        Ok(())
    }

    /// Sends an emit kept for recovery, its offset as the last argument.
    fn send_kept<T: Serialize + ?Sized>(
        &mut self,
        recovery: &Recovery,
        event: &str,
        body: &Body<'_, T>,
        attachments: &[Bytes],
        compress: bool,
    ) -> Result<(), EmitError> {
        let nsp = self.state.nsp.as_str();
        let target = Target {
            rooms: vec![self.state.sid.as_str().to_string()],
            ..Target::default()
        };
        let now = self.tx.cx.now();
        let parser = self.tx.cx.state().config.parser;
        let packet = ToKeep {
            nsp,
            target: &target,
            compress,
            local: false,
        };
        let kept = recovery.store.keep(packet, now, &mut |offset| {
            encode_shared(parser, attachments, |b, binary| {
                body.write(b, nsp, None, event, binary)?;
                if let Some(offset) = offset {
                    sio::push_offset(b, offset);
                }
                Ok(())
            })
        })?;
        // Published: the cluster delivers it to the socket once it has its offset.
        let Keeping::Send(packets) = kept else {
            return Ok(());
        };
        let outgoing = &self.state.app.namespaces[self.state.ns].outgoing;
        let own = self.state.outgoing_run();
        if let (Some((text, rest)), true) =
            (packets.split_first(), !outgoing.is_empty() || own.is_some())
        {
            let binary: Vec<Bytes> = rest.iter().map(|p| p.out().bytes().clone()).collect();
            let sid = self.state.sid;
            notify_outgoing(outgoing, own, sid.as_str(), text.eio_payload(), &binary);
        }
        if !self.state.connected {
            self.state
                .pre_connect
                .extend(packets.iter().map(Shared::out));
            return Ok(());
        }
        let mut packets = packets.iter();
        if packets
            .next()
            .is_some_and(|text| !self.tx.shared_with(text, compress))
        {
            return Err(EmitError::Closed);
        }
        for p in packets {
            self.tx.shared_with(p, compress);
        }
        Ok(())
    }

    /// Queues an encoded packet and its attachments (before the CONNECT reply: held back).
    fn queue(&mut self, packet: Out, binary: Vec<Bytes>, compress: bool) -> Result<(), EmitError> {
        if !self.state.connected {
            self.state.pre_connect.push(packet);
            self.state
                .pre_connect
                .extend(binary.into_iter().map(Out::Binary));
            return Ok(());
        }
        if !self.tx.out_with(&packet, compress) {
            return Err(EmitError::Closed);
        }
        for a in binary {
            self.tx.out_with(&Out::Binary(a), compress);
        }
        Ok(())
    }
}

/// Emits of one socket that allow compression or not (from [`Socket::compress`], the
/// reference's `socket.compress(flag)`). A polling response is compressed when one of the
/// packets it carries allows it (every packet does by default), the client accepts gzip or
/// deflate and the payload reaches `http_compression_threshold`; so `compress(false)` keeps a
/// response uncompressed only when nothing else in it allows compression. Over WebSocket,
/// `compress(false)` sends the message plain where permessage-deflate was negotiated. Emits
/// made before the CONNECT reply (in `on_connect`) always allow it; broadcasts have their own
/// `compress` flag.
pub struct Compressed<'s, 'c, 'a> {
    socket: &'s mut Socket<'c, 'a>,
    compress: bool,
}

impl Compressed<'_, '_, '_> {
    /// [`Socket::emit`] with this compression flag.
    pub fn emit<T: Serialize + ?Sized>(self, event: &str, args: &T) -> Result<(), EmitError> {
        self.socket
            .send_with(event, Body::Ser(args), &[], None, self.compress, true)
    }

    /// [`Socket::emit_binary`] with this compression flag.
    pub fn emit_binary<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
        attachments: &[Bytes],
    ) -> Result<(), EmitError> {
        self.socket.send_with(
            event,
            Body::Ser(args),
            attachments,
            None,
            self.compress,
            true,
        )
    }
}

/// An emit waiting for its acknowledgement for a bounded time (from [`Socket::timeout`]).
pub struct TimedEmit<'s, 'c, 'a> {
    socket: &'s mut Socket<'c, 'a>,
    timeout: Duration,
}

impl TimedEmit<'_, '_, '_> {
    /// Emits `event` and returns a future of the client's acknowledgement
    /// (`socket.timeout(ms).emitWithAck`): see [`Socket::emit_with_ack_future`].
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
    ) -> Result<AckFuture, EmitError> {
        self.socket.emit_with_ack_future(event, args, self.timeout)
    }

    /// Emits `event` (arguments as [`Socket::emit`] takes them); `callback` runs once on this
    /// worker with the client's ack arguments, or [`AckError::Timeout`] when none came in
    /// time, or [`AckError::Disconnected`] (the error-first callback of
    /// `socket.timeout(ms).emit`). Same as [`Socket::emit_with_ack`].
    pub fn emit<T: Serialize + ?Sized>(
        self,
        event: &str,
        args: &T,
        callback: impl FnOnce(&mut Socket<'_, '_>, Result<&Args<'_>, AckError>) + 'static,
    ) -> Result<AckId, EmitError> {
        self.socket
            .emit_with_ack(event, args, self.timeout, callback)
    }
}
