//! One Engine.IO session's Socket.IO side: which namespaces it joined, the connect timeout,
//! binary packets waiting for their attachments, and dispatch of every packet to the right
//! socket and handler. Errors are returned as the reason to end the whole session.

use super::ack::Ack;
use super::errors::AckError;
use super::model::{ConnectStep, PendingAcks, SioApp, Socket, SocketState};
use super::recovery::{self, RestoreAnswer, RestoreReply, Restored, Restoring, Session};
use std::sync::Arc;

use crate::config::Parser;
use crate::proto::eio::Sid;
use crate::proto::sio::{self, Args, BinaryAssembler, OwnedPacket, PacketType, SioError, ValueRef};
use crate::runtime::Peers;
use crate::runtime::TimerKey;
use crate::server::broadcast_msg::msgpack_packet;
use crate::server::link::Tx;
use crate::server::post::Post;
use crate::server::reason::DisconnectReason;
use crate::server::session_key::SessionKey;
use crate::server::stats::Counter;
use crate::server::timer::Timer;

use super::async_connect::{self, ConnectAnswer};
use super::errors::ConnectError;
use super::handshake::Handshake;

type Outcome = Result<(), DisconnectReason>;

/// Carries an asynchronous middleware's answer back to the socket's worker; if the future is
/// dropped unfinished (it panicked, or the runtime shut down), the connect is refused rather
/// than left waiting.
struct Reply {
    peers: Peers<Post>,
    worker: u16,
    session: SessionKey,
    socket: u32,
    slot: async_connect::DataSlot,
    sent: bool,
}

impl Reply {
    fn send(&mut self, result: Result<(), ConnectError>) {
        self.sent = true;
        let answer = ConnectAnswer {
            socket: self.socket,
            result,
            data: async_connect::take_data(&self.slot),
        };
        self.peers.post(
            self.worker as usize,
            Post::ConnectAnswer(self.session, answer),
        );
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.sent {
            self.send(Err(ConnectError::new("connect middleware failed")));
        }
    }
}

/// Where a [`RestoreReply`] goes: the session's worker.
struct RestoreReplyTo {
    peers: Peers<Post>,
    worker: u16,
    session: SessionKey,
    token: u32,
}

impl RestoreReplyTo {
    /// Posts the store's answer to the session's worker.
    fn send(self, restored: Option<Restored>) {
        let reply = RestoreReply {
            token: self.token,
            restored,
        };
        self.peers
            .post(self.worker as usize, Post::Restored(self.session, reply));
    }
}

/// A handler's view of socket `$idx` of client `$c` over `$tx`.
macro_rules! socket {
    ($c:ident, $tx:ident, $state:expr, $ack:expr) => {
        Socket {
            tx: Tx {
                cx: &mut *$tx.cx,
                link: &mut *$tx.link,
            },
            session: $c.key,
            state: $state,
            handshake: &$c.handshake,
            ack_id: $ack,
        }
    };
}

pub(crate) struct SioClient {
    app: Arc<SioApp>,
    handshake: Handshake,
    /// The Engine.IO session this client rides on (known once it opens).
    key: SessionKey,
    sockets: Vec<SocketState>,
    /// Sockets whose connect waits for an asynchronous middleware, with the step after it.
    pending: Vec<(SocketState, usize)>,
    /// CONNECTs waiting for a cluster store to restore their session.
    restoring: Vec<WaitingRestore>,
    connect_timer: Option<TimerKey>,
    binary: Option<(BinaryAssembler, TimerKey)>,
    /// The client speaks Socket.IO v2 (over Engine.IO v3): it is connected to `/` on open, its
    /// CONNECT carries the namespace's query instead of auth, and it gets v2's CONNECT and
    /// ERROR packets.
    v2: bool,
}

/// A CONNECT asking for its session back while a cluster store looks for it.
struct WaitingRestore {
    token: u32,
    nsp: String,
    ns: usize,
    pid: String,
    auth: Option<String>,
}

/// Sends a packet the server makes itself (CONNECT, CONNECT_ERROR, DISCONNECT), which `write`
/// appends in the default parser's form.
fn send_packet(tx: &mut Tx<'_, '_>, write: impl FnOnce(&mut Vec<u8>)) {
    if tx.cx.state().config.parser == Parser::Msgpack {
        let mut text = Vec::new();
        write(&mut text);
        // These packets come from the server's own encoders, which always transcode.
        if let Ok(wire) = msgpack_packet(&text, &[]) {
            tx.binary(&wire);
        }
        return;
    }
    tx.text(|b| {
        b.push(b'4');
        write(b);
        true
    });
}

impl SioClient {
    pub fn new(app: Arc<SioApp>, handshake: Handshake, v2: bool) -> Self {
        SioClient {
            app,
            handshake,
            key: SessionKey {
                idx: u32::MAX,
                epoch: 0,
            },
            sockets: Vec::new(),
            pending: Vec::new(),
            restoring: Vec::new(),
            connect_timer: None,
            binary: None,
            v2,
        }
    }

    pub fn on_open(&mut self, tx: &mut Tx<'_, '_>, key: SessionKey) -> Outcome {
        self.key = key;
        if self.v2 {
            // A v2 client never asks for `/`: the reference connects it there at once, with
            // empty auth (and arms no connect timeout).
            return self.connect(tx, "/", Some(ValueRef::new("{}")));
        }
        let at = tx.cx.now() + tx.cx.state().config.connect_timeout;
        self.connect_timer = Some(tx.cx.arm(at, Timer::ConnectTimeout(key)));
        Ok(())
    }

    pub fn on_text(&mut self, tx: &mut Tx<'_, '_>, data: &[u8]) -> Outcome {
        if tx.cx.state().config.parser == Parser::Msgpack {
            // The reference's msgpack decoder reads a string as no packet at all.
            return Err(self.malformed(tx, "invalid packet type"));
        }
        self.text_packet(tx, data)
    }

    /// A packet in the default parser's form (the text after the Engine.IO `4`).
    fn text_packet(&mut self, tx: &mut Tx<'_, '_>, data: &[u8]) -> Outcome {
        if self.binary.is_some() {
            // Attachments of the previous packet must come first.
            return Err(self.malformed(tx, "got plaintext data when reconstructing a packet"));
        }
        let limits = self.app.limits;
        let worker = tx.cx.worker();
        tx.cx.state().stats.add(worker, Counter::PacketsIn, 1);
        let packet = match sio::decode(data, &limits) {
            Ok(p) => p,
            // JSON.parse has no depth limit: a packet past ours is dropped and counted rather
            // than costing the client its session.
            Err(SioError::TooDeep) => {
                tx.cx.state().stats.add(worker, Counter::PacketsTooDeep, 1);
                return Ok(());
            }
            Err(e) => return Err(self.malformed(tx, &e.to_string())),
        };
        match packet.ty {
            PacketType::Connect if self.v2 => {
                // v2 puts the namespace's query in the name (`0/chat?token=x,`); the reference
                // hands its pairs to the socket as `auth`.
                let (nsp, query) = packet.nsp.split_once('?').unwrap_or((packet.nsp, ""));
                let auth = query_object(query);
                self.connect(tx, nsp, Some(ValueRef::new(&auth)))
            }
            PacketType::Connect => self.connect(tx, packet.nsp, packet.data),
            PacketType::Disconnect => {
                let idx = self.joined(packet.nsp)?;
                self.leave(tx, idx, DisconnectReason::ClientNamespaceDisconnect);
                Ok(())
            }
            PacketType::Event => {
                let args = packet.args();
                self.event(tx, packet.nsp, packet.event_name(), packet.id, &args)
            }
            PacketType::Ack => {
                let args = packet.args();
                self.ack(tx, packet.nsp, packet.id, &args)
            }
            PacketType::BinaryEvent | PacketType::BinaryAck => {
                self.joined(packet.nsp)?;
                let asm = match BinaryAssembler::start(packet, &limits) {
                    Ok(asm) => asm,
                    Err(e) => return Err(self.malformed(tx, &e.to_string())),
                };
                if asm.is_complete() {
                    let p = asm
                        .finish()
                        .map_err(|e| self.malformed(tx, &e.to_string()))?;
                    return self.owned(tx, &p);
                }
                let at = tx.cx.now() + self.app.attachment_timeout;
                self.binary = Some((asm, tx.cx.arm(at, Timer::Attachments(self.key))));
                Ok(())
            }
            // Only servers send CONNECT_ERROR.
            PacketType::ConnectError => Err(DisconnectReason::ForcedClose),
        }
    }

    pub fn on_binary(&mut self, tx: &mut Tx<'_, '_>, data: &[u8]) -> Outcome {
        if tx.cx.state().config.parser == Parser::Msgpack {
            return self.msgpack_packet(tx, data);
        }
        self.attachment(tx, data)
    }

    /// One packet of the msgpack parser, fed through the text path and its attachments, so
    /// both parsers share every check and limit.
    fn msgpack_packet(&mut self, tx: &mut Tx<'_, '_>, data: &[u8]) -> Outcome {
        let t = match sio::transcode_msgpack(data, &self.app.limits) {
            Ok(t) => t,
            // As with JSON: a packet nested too deep is dropped and counted.
            Err(SioError::TooDeep) => {
                let worker = tx.cx.worker();
                tx.cx.state().stats.add(worker, Counter::PacketsTooDeep, 1);
                return Ok(());
            }
            Err(e) => return Err(self.malformed(tx, &e.to_string())),
        };
        self.text_packet(tx, &t.text)?;
        for a in t.attachments {
            self.attachment(tx, a)?;
        }
        Ok(())
    }

    /// A binary attachment of the binary packet being assembled.
    fn attachment(&mut self, tx: &mut Tx<'_, '_>, data: &[u8]) -> Outcome {
        let Some((asm, _)) = self.binary.as_mut() else {
            return Err(self.malformed(tx, "got binary data when not reconstructing a packet"));
        };
        match asm.push(data) {
            Ok(None) => Ok(()),
            Ok(Some(p)) => {
                if let Some((_, timer)) = self.binary.take() {
                    tx.cx.cancel(timer);
                }
                self.owned(tx, &p)
            }
            Err(e) => Err(self.malformed(tx, &e.to_string())),
        }
    }

    /// A packet the parser refused: every socket's `on_error` handlers hear why, then the
    /// session ends (`forced close`), as the reference's client `onerror` does.
    fn malformed(&mut self, tx: &mut Tx<'_, '_>, message: &str) -> DisconnectReason {
        let app = Arc::clone(&self.app);
        for idx in 0..self.sockets.len() {
            let ns = &app.namespaces[self.sockets[idx].ns];
            let mut socket = socket!(self, tx, &mut self.sockets[idx], None);
            for h in &ns.error {
                h(&mut socket, message);
            }
        }
        DisconnectReason::ForcedClose
    }

    pub fn on_timer(&mut self, tx: &mut Tx<'_, '_>, t: Timer) -> Outcome {
        match t {
            Timer::ConnectTimeout(_) => {
                self.connect_timer = None;
                if self.sockets.is_empty() {
                    return Err(DisconnectReason::ForcedServerClose);
                }
                Ok(())
            }
            Timer::Attachments(_) => Err(DisconnectReason::ForcedClose),
            Timer::Ack { socket, id, .. } => {
                if let Some(idx) = self.sockets.iter().position(|s| s.key == socket) {
                    if let Some(p) = self.sockets[idx].acks.take(id) {
                        let mut socket = socket!(self, tx, &mut self.sockets[idx], None);
                        (p.callback)(&mut socket, Err(super::AckError::Timeout));
                    }
                    if self.sockets[idx].leave {
                        self.server_leaves(tx, idx);
                    }
                }
                Ok(())
            }
            Timer::Heartbeat(_) | Timer::UpgradeTimeout(_) => Ok(()),
        }
    }

    /// The session ended: every socket leaves with `reason`.
    pub fn on_closed(mut self: Box<Self>, tx: &mut Tx<'_, '_>, reason: DisconnectReason) {
        if let Some(k) = self.connect_timer.take() {
            tx.cx.cancel(k);
        }
        if let Some((_, k)) = self.binary.take() {
            tx.cx.cancel(k);
        }
        while !self.sockets.is_empty() {
            self.leave(tx, self.sockets.len() - 1, reason);
        }
        // Sockets still waiting for a middleware never connected: no disconnect handlers.
        for (mut st, _) in std::mem::take(&mut self.pending) {
            tx.cx.state().rooms.remove_socket(&st.nsp, st.sid);
            fail_pending(tx, self.key, &mut st, &self.handshake);
        }
    }

    /// Whether a socket waits for the client's queue to drain.
    /// The session upgraded to WebSocket: each socket's namespace hears of it.
    pub fn on_upgrade(&mut self, tx: &mut Tx<'_, '_>) {
        let app = self.app.clone();
        for st in self.sockets.iter_mut() {
            for h in &app.namespaces[st.ns].upgraded {
                let mut socket = socket!(self, tx, st, None);
                h(&mut socket);
            }
        }
    }

    pub fn wants_drain(&self) -> bool {
        self.sockets.iter().any(|s| !s.drain.is_empty())
    }

    /// The client's queue drained: run every socket's drain callbacks.
    pub fn on_drain(&mut self, tx: &mut Tx<'_, '_>) {
        for idx in 0..self.sockets.len() {
            let callbacks = std::mem::take(&mut self.sockets[idx].drain);
            for cb in callbacks {
                let mut socket = socket!(self, tx, &mut self.sockets[idx], None);
                cb(&mut socket);
            }
        }
        for idx in (0..self.sockets.len()).rev() {
            if self.sockets[idx].leave {
                self.server_leaves(tx, idx);
            }
        }
    }

    /// Socket `sid` of this client, if it is one.
    pub fn socket_mut(&mut self, sid: &Sid) -> Option<&mut SocketState> {
        self.sockets.iter_mut().find(|s| s.sid == *sid)
    }

    /// What `fetch_sockets` reports of socket `sid`: the handshake, its auth and its data.
    pub fn socket_info(
        &self,
        sid: &Sid,
    ) -> Option<(Handshake, serde_json::Value, serde_json::Value)> {
        let st = self.sockets.iter().find(|s| s.sid == *sid)?;
        let auth = st
            .auth
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        let data = st
            .data
            .as_ref()
            .map_or(serde_json::Value::Null, |d| d.to_json());
        Some((self.handshake.clone(), auth, data))
    }

    /// Takes socket `sid` out of its namespace, as `socket.disconnect()` does.
    pub fn disconnect(&mut self, tx: &mut Tx<'_, '_>, sid: &Sid) {
        if let Some(idx) = self.sockets.iter().position(|s| s.sid == *sid) {
            self.server_leaves(tx, idx);
        }
    }

    /// Takes every socket of this client out of its namespace, as `socket.disconnect()` does.
    pub fn disconnect_all(&mut self, tx: &mut Tx<'_, '_>) {
        while !self.sockets.is_empty() {
            self.server_leaves(tx, self.sockets.len() - 1);
        }
    }

    fn joined(&self, nsp: &str) -> Result<usize, DisconnectReason> {
        // A packet for a namespace the client has not joined is an invalid state: the reference
        // server closes the client ("forced close").
        self.sockets
            .iter()
            .position(|s| s.nsp == nsp)
            .ok_or(DisconnectReason::ForcedClose)
    }

    fn connect(&mut self, tx: &mut Tx<'_, '_>, nsp: &str, auth: Option<ValueRef<'_>>) -> Outcome {
        let parked = self.pending.iter().any(|(s, _)| s.nsp == nsp)
            || self.restoring.iter().any(|w| w.nsp == nsp);
        if parked || self.sockets.iter().any(|s| s.nsp == nsp) {
            return Err(DisconnectReason::ForcedClose);
        }
        let Some(ns) = self.app.find(nsp) else {
            send_packet(tx, |b| {
                sio::encode_connect_error(b, nsp, "Invalid namespace", None)
            });
            return Ok(());
        };
        let now = tx.cx.now();
        let state = tx.cx.state();
        let Some(recovery) = state.recovery.clone() else {
            return self.connect_as(tx, nsp, ns, auth, None);
        };
        // A CONNECT with a `pid` (and the `offset` reached, once the client got a kept packet)
        // asks for an earlier socket back; anything the store does not know (forged, expired,
        // another namespace) gets a fresh socket.
        let Some((pid, offset)) = recovery::resume_of(auth.map(|a| a.json())) else {
            return self.connect_as(tx, nsp, ns, auth, None);
        };
        state.next_key = state.next_key.wrapping_add(1);
        let token = state.next_key;
        let reply = RestoreReplyTo {
            peers: tx.cx.peers().clone(),
            worker: tx.cx.worker(),
            session: self.key,
            token,
        };
        let later: RestoreAnswer = Box::new(move |restored| reply.send(restored));
        match recovery
            .store
            .restore(nsp, &pid, offset.as_deref(), now, later)
        {
            Restoring::Now(restored) => {
                let restored = restored.map(|r| (pid, r));
                self.connect_as(tx, nsp, ns, auth, restored)
            }
            Restoring::Later => {
                self.restoring.push(WaitingRestore {
                    token,
                    nsp: nsp.to_string(),
                    ns,
                    pid,
                    auth: auth.map(|a| a.json().to_string()),
                });
                Ok(())
            }
        }
    }

    /// A cluster store answered a CONNECT waiting for its session: the connect goes on, with
    /// the session back or a fresh one (a client that went away meanwhile is gone, and the
    /// answer with it).
    pub fn on_restored(&mut self, tx: &mut Tx<'_, '_>, reply: RestoreReply) -> Outcome {
        let Some(i) = self.restoring.iter().position(|w| w.token == reply.token) else {
            return Ok(());
        };
        let w = self.restoring.swap_remove(i);
        let restored = reply.restored.map(|r| (w.pid, r));
        let auth = w.auth.as_deref().map(ValueRef::new);
        self.connect_as(tx, &w.nsp, w.ns, auth, restored)
    }

    /// Connects a socket to `nsp` (namespace `ns`), as the socket `restored` when given.
    fn connect_as(
        &mut self,
        tx: &mut Tx<'_, '_>,
        nsp: &str,
        ns: usize,
        auth: Option<ValueRef<'_>>,
        restored: Option<(String, Restored)>,
    ) -> Outcome {
        self.app.note_child(ns, nsp);
        let worker = tx.cx.worker();
        let state = tx.cx.state();
        let recovery = state.recovery.clone();
        state.next_key = state.next_key.wrapping_add(1);
        let pid = match (&restored, &recovery) {
            (Some((pid, _)), _) => Some(pid.as_str().into()),
            (None, Some(_)) => Some(Sid::generate(worker, &mut state.rng).as_str().into()),
            (None, None) => None,
        };
        let sid = match &restored {
            Some((_, r)) => r.sid,
            None => Sid::generate(worker, &mut state.rng),
        };
        let mut st = SocketState {
            sid,
            nsp: nsp.to_string(),
            ns,
            key: state.next_key,
            connected: false,
            pre_connect: Vec::new(),
            acks: PendingAcks::default(),
            leave: false,
            drain: Vec::new(),
            auth: auth.map(|a| a.json().into()),
            data: None,
            pid,
            recovered: restored.is_some(),
            app: self.app.clone(),
            listeners: None,
            socket_ref: None,
        };
        // In the room index before the hooks run, as the reference joins the socket's own room
        // first: a `join` in middleware or `on_connect` sticks and `rooms()` has the own id.
        // Broadcasts find sockets through `state.sockets`, filled only once connected, so nothing
        // reaches the client before its CONNECT reply.
        state.rooms.add_socket(nsp, st.sid);
        if let Some((_, r)) = restored {
            for room in &r.rooms {
                state.rooms.join(nsp, st.sid, room);
            }
            st.data = r.data;
            // Before the CONNECT reply, as the reference sends them: the client holds events
            // until it is connected, then hands them over in order.
            for packets in &r.missed {
                for p in packets {
                    tx.shared(p);
                }
            }
        }
        self.run_connect(tx, st, 0, auth.map(|a| a.json()))
    }

    /// Runs the namespace's connect steps from `from` on socket `st`: a refusal answers
    /// `connect_error`; an asynchronous step parks the socket until its answer comes back
    /// ([`SioClient::on_connect_answer`]); past the last step the socket is connected.
    fn run_connect(
        &mut self,
        tx: &mut Tx<'_, '_>,
        mut st: SocketState,
        from: usize,
        auth: Option<&str>,
    ) -> Outcome {
        let app = Arc::clone(&self.app);
        let skip_middlewares = st.recovered
            && tx
                .cx
                .state()
                .recovery
                .as_ref()
                .is_some_and(|r| r.skip_middlewares);
        for (i, hook) in app.namespaces[st.ns].connect.iter().enumerate().skip(from) {
            if skip_middlewares && hook.middleware {
                continue;
            }
            match &hook.step {
                ConnectStep::Sync(hook) => {
                    let mut socket = socket!(self, tx, &mut st, None);
                    if let Err(e) = hook(&mut socket, auth.map(ValueRef::new)) {
                        self.refuse(tx, st, &e);
                        return Ok(());
                    }
                }
                ConnectStep::Async(hook) => {
                    let Some(spawn) = &app.spawn else {
                        // `listen()` refuses async hooks without a spawner; never reached.
                        self.refuse(
                            tx,
                            st,
                            &ConnectError::new("no runtime for async middleware"),
                        );
                        return Ok(());
                    };
                    let (req, slot) =
                        async_connect::request(st.sid.as_str(), &st.nsp, &self.handshake, auth);
                    let future = hook(req);
                    let reply = Reply {
                        peers: tx.cx.peers().clone(),
                        worker: tx.cx.worker(),
                        session: self.key,
                        socket: st.key,
                        slot,
                        sent: false,
                    };
                    spawn(Box::pin(async move {
                        let mut reply = reply;
                        let result = future.await;
                        reply.send(result);
                    }));
                    self.pending.push((st, i + 1));
                    return Ok(());
                }
            }
        }
        self.connected(tx, st);
        Ok(())
    }

    /// An asynchronous connect step answered for a parked socket: resume its connect (a
    /// socket whose client went away meanwhile is gone, and the answer with it).
    pub fn on_connect_answer(&mut self, tx: &mut Tx<'_, '_>, answer: ConnectAnswer) -> Outcome {
        let Some(i) = self
            .pending
            .iter()
            .position(|(s, _)| s.key == answer.socket)
        else {
            return Ok(());
        };
        let (mut st, next) = self.pending.swap_remove(i);
        if let Some(data) = answer.data {
            st.data = Some(data);
        }
        if let Err(e) = answer.result {
            self.refuse(tx, st, &e);
            return Ok(());
        }
        let auth = st.auth.clone();
        self.run_connect(tx, st, next, auth.as_deref())
    }

    /// A connect step refused socket `st`: it leaves the room index and the client gets
    /// `connect_error`.
    fn refuse(&self, tx: &mut Tx<'_, '_>, mut st: SocketState, e: &ConnectError) {
        tracing::debug!(
            worker = tx.cx.worker(),
            sid = %st.sid,
            namespace = &*st.nsp,
            reason = &*e.message,
            "connect refused"
        );
        tx.cx.state().rooms.remove_socket(&st.nsp, st.sid);
        fail_pending(tx, self.key, &mut st, &self.handshake);
        send_packet(tx, |b| {
            if self.v2 {
                sio::encode_error_v2(b, &st.nsp, &e.message, e.data.as_deref())
            } else {
                sio::encode_connect_error(b, &st.nsp, &e.message, e.data.as_deref())
            }
        });
    }

    /// Every connect step accepted socket `st`: the CONNECT reply, then what the steps emitted.
    fn connected(&mut self, tx: &mut Tx<'_, '_>, mut st: SocketState) {
        let sid = st.sid;
        send_packet(tx, |b| {
            if self.v2 {
                sio::encode_connect_v2(b, &st.nsp)
            } else {
                sio::encode_connect(b, &st.nsp, sid.as_str(), st.pid.as_deref())
            }
        });
        for out in st.pre_connect.drain(..) {
            tx.out(&out);
        }
        st.connected = true;
        let worker = tx.cx.worker();
        tracing::debug!(worker, sid = %sid, namespace = &*st.nsp, "socket connected");
        let state = tx.cx.state();
        if let Some(recovery) = state.recovery.as_ref().filter(|_| st.recovered) {
            recovery.moved_to(sid, worker);
        }
        state.sockets.insert(sid, self.key);
        state.stats.add(worker, Counter::SocketsConnected, 1);
        state.stats.sockets_delta(worker, 1);
        if let Some(k) = self.connect_timer.take() {
            tx.cx.cancel(k);
        }
        let leave = st.leave;
        self.sockets.push(st);
        if leave {
            self.server_leaves(tx, self.sockets.len() - 1);
        }
    }

    fn event(
        &mut self,
        tx: &mut Tx<'_, '_>,
        nsp: &str,
        name: Option<&str>,
        ack_id: Option<u64>,
        args: &Args<'_>,
    ) -> Outcome {
        let idx = self.joined(nsp)?;
        let name = name.ok_or(DisconnectReason::ForcedClose)?;
        let ns = &self.app.namespaces[self.sockets[idx].ns];
        let mut socket = socket!(self, tx, &mut self.sockets[idx], ack_id);
        let refused = ns
            .middleware
            .iter()
            .find_map(|m| m(&mut socket, name, args).err());
        if let Some(message) = refused {
            for h in &ns.error {
                h(&mut socket, &message);
            }
        } else {
            let named = ns.events.get(name);
            let mut reply = None;
            let mut answer = |ack: Option<Ack>| {
                if reply.is_none() {
                    reply = ack;
                }
            };
            let (before, after) = socket.state.incoming_run().unwrap_or_default();
            for f in before {
                f(&mut socket, name, args);
            }
            for h in &ns.any {
                answer(h(&mut socket, name, args));
            }
            for f in after {
                f(&mut socket, name, args);
            }
            match named {
                Some(handlers) => {
                    for h in handlers {
                        answer(h(&mut socket, args));
                    }
                }
                None => {
                    if let Some(h) = &ns.unhandled {
                        answer(h(&mut socket, name, args));
                    }
                }
            }
            if let (Some(ack), Some(ack_id)) = (reply, socket.ack_id) {
                ack.send(tx, nsp, ack_id);
            }
        }
        if self.sockets[idx].leave {
            self.server_leaves(tx, idx);
        }
        Ok(())
    }

    fn ack(
        &mut self,
        tx: &mut Tx<'_, '_>,
        nsp: &str,
        ack_id: Option<u64>,
        args: &Args<'_>,
    ) -> Outcome {
        let idx = self.joined(nsp)?;
        let ack_id = ack_id.ok_or(DisconnectReason::ForcedClose)?;
        // An ack for an emit that timed out or was discarded is dropped, as the reference does.
        let now = tx.cx.now();
        if let Some(p) = self.sockets[idx].acks.take_in_time(ack_id, now) {
            tx.cx.cancel(p.timer);
            let mut socket = socket!(self, tx, &mut self.sockets[idx], None);
            (p.callback)(&mut socket, Ok(args));
        }
        if self.sockets[idx].leave {
            self.server_leaves(tx, idx);
        }
        Ok(())
    }

    fn owned(&mut self, tx: &mut Tx<'_, '_>, p: &OwnedPacket) -> Outcome {
        let args = p.args();
        if p.ty.is_event() {
            self.event(tx, &p.nsp, p.event_name(), p.id, &args)
        } else {
            self.ack(tx, &p.nsp, p.id, &args)
        }
    }

    /// The server removes socket `idx` from its namespace: DISCONNECT to the client, then the
    /// disconnect handler.
    fn server_leaves(&mut self, tx: &mut Tx<'_, '_>, idx: usize) {
        let nsp = self.sockets[idx].nsp.clone();
        send_packet(tx, |b| sio::encode_disconnect(b, &nsp));
        self.leave(tx, idx, DisconnectReason::ServerNamespaceDisconnect);
    }

    fn leave(&mut self, tx: &mut Tx<'_, '_>, idx: usize, reason: DisconnectReason) {
        let mut st = self.sockets.swap_remove(idx);
        let ns = &self.app.namespaces[st.ns];
        // `disconnecting` still sees the socket's rooms; `disconnect` runs once they are gone.
        for h in &ns.disconnecting {
            let mut socket = socket!(self, tx, &mut st, None);
            h(&mut socket, reason);
        }
        let worker = tx.cx.worker();
        tracing::debug!(
            worker,
            sid = %st.sid,
            namespace = &*st.nsp,
            reason = reason.as_str(),
            "socket disconnected"
        );
        let state = tx.cx.state();
        let recovery = state.recovery.clone();
        // The rooms as they were, own id's room included, for the kept session.
        let rooms = recovery
            .as_ref()
            .filter(|_| recovery::recoverable(reason))
            .map(|_| state.rooms.rooms_of(&st.nsp, &st.sid));
        state.sockets.remove(&st.sid);
        state.rooms.remove_socket(&st.nsp, st.sid);
        state.stats.add(worker, Counter::for_reason(reason), 1);
        state.stats.sockets_delta(worker, -1);
        fail_pending(tx, self.key, &mut st, &self.handshake);
        st.leave = false;
        for h in &ns.disconnect {
            let mut socket = socket!(self, tx, &mut st, None);
            h(&mut socket, reason);
        }
        if let Some(recovery) = recovery {
            recovery.gone(&st.sid);
            // Kept once the disconnect handlers ran, so they still read the socket's data.
            if let (Some(rooms), Some(pid)) = (rooms, st.pid.take()) {
                let session = Session {
                    pid,
                    sid: st.sid,
                    nsp: std::mem::take(&mut st.nsp),
                    rooms,
                    data: st.data.take(),
                };
                recovery.store.persist(session, tx.cx.now());
            }
        }
    }
}

/// The pairs of a v2 CONNECT's query as a JSON object of strings (the last of repeated names
/// wins, as the reference's `Object.fromEntries` keeps it).
fn query_object(query: &str) -> String {
    let map: serde_json::Map<String, serde_json::Value> = crate::proto::http::query_pairs(query)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Runs every pending ack callback of a socket that is going away.
pub(crate) fn fail_pending(
    tx: &mut Tx<'_, '_>,
    session: SessionKey,
    state: &mut SocketState,
    handshake: &Handshake,
) {
    for p in state.acks.drain() {
        tx.cx.cancel(p.timer);
        let tx = Tx {
            cx: &mut *tx.cx,
            link: &mut *tx.link,
        };
        let mut socket = Socket {
            tx,
            session,
            state,
            handshake,
            ack_id: None,
        };
        (p.callback)(&mut socket, Err(AckError::Disconnected));
    }
}
