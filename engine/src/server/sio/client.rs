//! One Engine.IO connection's Socket.IO side: which namespaces it joined, the connect timeout,
//! binary packets waiting for their attachments, and dispatch of every packet to the right
//! socket and handler. Errors are returned as the reason to close the whole connection.

use std::sync::Arc;

use crate::proto::sio::{self, Args, BinaryAssembler, OwnedPacket, PacketType, ValueRef};
use crate::proto::ws::OpCode;
use crate::runtime::timer::TimerKey;
use crate::runtime::{ConnId, Cx};
use crate::server::reason::DisconnectReason;
use crate::server::router::{Router, Timer};

use super::ack::PendingAcks;
use super::handshake::Handshake;
use super::socket::{fail_pending, Socket, SocketState};
use super::SioApp;

type Outcome = Result<(), DisconnectReason>;

pub(crate) struct SioClient {
    app: Arc<SioApp>,
    handshake: Handshake,
    sockets: Vec<SocketState>,
    connect_timer: Option<TimerKey>,
    binary: Option<(BinaryAssembler, TimerKey)>,
}

impl SioClient {
    pub fn new(app: Arc<SioApp>, handshake: Handshake) -> Self {
        SioClient {
            app,
            handshake,
            sockets: Vec::new(),
            connect_timer: None,
            binary: None,
        }
    }

    pub fn on_open(&mut self, cx: &mut Cx<'_, Router>, id: ConnId) {
        let at = cx.now() + cx.config().connect_timeout;
        self.connect_timer = Some(cx.arm(id, at, Timer::ConnectTimeout));
    }

    pub fn on_text(&mut self, cx: &mut Cx<'_, Router>, id: ConnId, data: &mut [u8]) -> Outcome {
        if self.binary.is_some() {
            // Attachments of the previous packet must come first.
            return Err(DisconnectReason::ForcedClose);
        }
        let limits = self.app.limits;
        let packet = sio::decode_with_buffers(data, &limits, &mut cx.state().json)
            .map_err(|_| DisconnectReason::ForcedClose)?;
        match packet.ty {
            PacketType::Connect => {
                let auth = packet.data.as_ref().map(ValueRef::Borrowed);
                self.connect(cx, id, packet.nsp, auth)
            }
            PacketType::Disconnect => {
                let idx = self.joined(packet.nsp)?;
                self.leave(cx, id, idx, DisconnectReason::ClientNamespaceDisconnect);
                Ok(())
            }
            PacketType::Event => {
                let args = packet.args();
                self.event(cx, id, packet.nsp, packet.event_name(), packet.id, &args)
            }
            PacketType::Ack => {
                let args = packet.args();
                self.ack(cx, id, packet.nsp, packet.id, &args)
            }
            PacketType::BinaryEvent | PacketType::BinaryAck => {
                self.joined(packet.nsp)?;
                let asm = BinaryAssembler::start(packet, &limits)
                    .map_err(|_| DisconnectReason::ForcedClose)?;
                if asm.is_complete() {
                    let p = asm.finish().map_err(|_| DisconnectReason::ForcedClose)?;
                    return self.owned(cx, id, &p);
                }
                let at = cx.now() + self.app.attachment_timeout;
                self.binary = Some((asm, cx.arm(id, at, Timer::Attachments)));
                Ok(())
            }
            // Only servers send CONNECT_ERROR.
            PacketType::ConnectError => Err(DisconnectReason::ForcedClose),
        }
    }

    pub fn on_binary(&mut self, cx: &mut Cx<'_, Router>, id: ConnId, data: &[u8]) -> Outcome {
        let Some((asm, _)) = self.binary.as_mut() else {
            return Err(DisconnectReason::ForcedClose);
        };
        match asm.push(data) {
            Ok(None) => Ok(()),
            Ok(Some(p)) => {
                if let Some((_, timer)) = self.binary.take() {
                    cx.cancel(timer);
                }
                self.owned(cx, id, &p)
            }
            Err(_) => Err(DisconnectReason::ForcedClose),
        }
    }

    pub fn on_timer(&mut self, cx: &mut Cx<'_, Router>, conn: ConnId, t: Timer) -> Outcome {
        match t {
            Timer::ConnectTimeout => {
                self.connect_timer = None;
                if self.sockets.is_empty() {
                    return Err(DisconnectReason::ForcedServerClose);
                }
                Ok(())
            }
            Timer::Attachments => Err(DisconnectReason::ForcedClose),
            Timer::Ack { socket, id } => {
                if let Some(idx) = self.sockets.iter().position(|s| s.key == socket) {
                    let st = &mut self.sockets[idx];
                    if let Some(p) = st.acks.take(id) {
                        let mut socket = Socket {
                            cx,
                            conn,
                            state: st,
                            handshake: &self.handshake,
                            ack_id: None,
                        };
                        (p.callback)(&mut socket, Err(super::AckError::Timeout));
                    }
                    if self.sockets[idx].leave {
                        self.server_leaves(cx, conn, idx);
                    }
                }
                Ok(())
            }
            Timer::Heartbeat => Ok(()),
        }
    }

    /// The connection closed: every socket leaves with `reason`.
    pub fn on_closed(mut self, cx: &mut Cx<'_, Router>, id: ConnId, reason: DisconnectReason) {
        if let Some(k) = self.connect_timer.take() {
            cx.cancel(k);
        }
        if let Some((_, k)) = self.binary.take() {
            cx.cancel(k);
        }
        while !self.sockets.is_empty() {
            self.leave(cx, id, self.sockets.len() - 1, reason);
        }
    }

    fn joined(&self, nsp: &str) -> Result<usize, DisconnectReason> {
        // A packet for a namespace the client has not joined is an invalid state: the reference
        // server closes the client.
        self.sockets
            .iter()
            .position(|s| s.nsp == nsp)
            .ok_or(DisconnectReason::ForcedClose)
    }

    fn connect(
        &mut self,
        cx: &mut Cx<'_, Router>,
        id: ConnId,
        nsp: &str,
        auth: Option<ValueRef<'_>>,
    ) -> Outcome {
        if self.sockets.iter().any(|s| s.nsp == nsp) {
            return Err(DisconnectReason::ForcedClose);
        }
        let Some(ns) = self.app.find(nsp) else {
            cx.send_with(id, OpCode::Text, |b| {
                b.push(b'4');
                sio::encode_connect_error(b, nsp, "Invalid namespace", None);
                true
            });
            return Ok(());
        };
        let worker = cx.worker();
        let state = cx.state();
        state.next_key = state.next_key.wrapping_add(1);
        let mut st = SocketState {
            sid: crate::proto::eio::Sid::generate(worker, &mut state.rng),
            nsp: nsp.to_string(),
            ns,
            key: state.next_key,
            connected: false,
            pre_connect: Vec::new(),
            acks: PendingAcks::default(),
            leave: false,
        };
        for hook in &self.app.namespaces[ns].connect {
            let mut socket = Socket {
                cx,
                conn: id,
                state: &mut st,
                handshake: &self.handshake,
                ack_id: None,
            };
            if let Err(e) = hook(&mut socket, auth) {
                fail_pending(cx, id, &mut st, &self.handshake);
                cx.send_with(id, OpCode::Text, |b| {
                    b.push(b'4');
                    sio::encode_connect_error(b, nsp, &e.message, e.data.as_deref());
                    true
                });
                return Ok(());
            }
        }
        let sid = st.sid;
        cx.send_with(id, OpCode::Text, |b| {
            b.push(b'4');
            sio::encode_connect(b, nsp, sid.as_str());
            true
        });
        for frame in st.pre_connect.drain(..) {
            cx.send_shared(id, frame);
        }
        st.connected = true;
        cx.state().sockets.insert(sid, id);
        if let Some(k) = self.connect_timer.take() {
            cx.cancel(k);
        }
        let leave = st.leave;
        self.sockets.push(st);
        if leave {
            self.server_leaves(cx, id, self.sockets.len() - 1);
        }
        Ok(())
    }

    fn event(
        &mut self,
        cx: &mut Cx<'_, Router>,
        id: ConnId,
        nsp: &str,
        name: Option<&str>,
        ack_id: Option<u64>,
        args: &Args<'_>,
    ) -> Outcome {
        let idx = self.joined(nsp)?;
        let name = name.ok_or(DisconnectReason::ForcedClose)?;
        let st = &mut self.sockets[idx];
        let ns = &self.app.namespaces[st.ns];
        let mut socket = Socket {
            cx,
            conn: id,
            state: st,
            handshake: &self.handshake,
            ack_id,
        };
        let reply = match ns.events.get(name) {
            Some(h) => h(&mut socket, args),
            None => ns.any.as_ref().and_then(|h| h(&mut socket, name, args)),
        };
        if let (Some(ack), Some(ack_id)) = (reply, socket.ack_id) {
            for frame in ack.frames(nsp, ack_id) {
                cx.send_shared(id, frame);
            }
        }
        if self.sockets[idx].leave {
            self.server_leaves(cx, id, idx);
        }
        Ok(())
    }

    fn ack(
        &mut self,
        cx: &mut Cx<'_, Router>,
        conn: ConnId,
        nsp: &str,
        ack_id: Option<u64>,
        args: &Args<'_>,
    ) -> Outcome {
        let idx = self.joined(nsp)?;
        let ack_id = ack_id.ok_or(DisconnectReason::ForcedClose)?;
        let st = &mut self.sockets[idx];
        // An ack for an emit that timed out or was discarded is dropped, as the reference does.
        if let Some(p) = st.acks.take(ack_id) {
            cx.cancel(p.timer);
            let mut socket = Socket {
                cx,
                conn,
                state: st,
                handshake: &self.handshake,
                ack_id: None,
            };
            (p.callback)(&mut socket, Ok(args));
        }
        if self.sockets[idx].leave {
            self.server_leaves(cx, conn, idx);
        }
        Ok(())
    }

    fn owned(&mut self, cx: &mut Cx<'_, Router>, id: ConnId, p: &OwnedPacket) -> Outcome {
        let args = p.args();
        if p.ty.is_event() {
            self.event(cx, id, &p.nsp, p.event_name(), p.id, &args)
        } else {
            self.ack(cx, id, &p.nsp, p.id, &args)
        }
    }

    /// The server removes socket `idx` from its namespace: DISCONNECT to the client, then
    /// the disconnect handler.
    fn server_leaves(&mut self, cx: &mut Cx<'_, Router>, id: ConnId, idx: usize) {
        let nsp = self.sockets[idx].nsp.clone();
        cx.send_with(id, OpCode::Text, |b| {
            b.push(b'4');
            sio::encode_disconnect(b, &nsp);
            true
        });
        self.leave(cx, id, idx, DisconnectReason::ServerNamespaceDisconnect);
    }

    fn leave(&mut self, cx: &mut Cx<'_, Router>, id: ConnId, idx: usize, reason: DisconnectReason) {
        let mut st = self.sockets.swap_remove(idx);
        cx.state().sockets.remove(&st.sid);
        fail_pending(cx, id, &mut st, &self.handshake);
        if let Some(h) = &self.app.namespaces[st.ns].disconnect {
            st.leave = false;
            let mut socket = Socket {
                cx,
                conn: id,
                state: &mut st,
                handshake: &self.handshake,
                ack_id: None,
            };
            h(&mut socket, reason);
        }
    }
}
