//! An Engine.IO v4 session, whatever carries it: the open packet, heartbeats driven by the
//! worker's timer wheel, packets in (from WebSocket frames or polling bodies) handed to the layer
//! above (a raw Engine.IO handler or a Socket.IO client), packets out through a [`Tx`], the
//! upgrade from polling to WebSocket, and the end of the session.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::proto::eio::{self, Heartbeat, HeartbeatAction, OpenInfo, Packet, Sid};
use crate::proto::ws::{CloseCode, OpCode};
use crate::runtime::TimerKey;
use crate::runtime::{CloseReason, ConnId, Cx};

use super::broadcast::Shared;
use super::polling::{Closed, LateReport, Polling};
use super::raw_eio::{EioEvents, EioPacket, EioSocket, Inbound, RawUpper};
use super::reason::DisconnectReason;
use super::service::{Router, Timer};
use super::sessions::{SessionKey, CLOSED_POLL_TTL};
use super::sio::client::SioClient;
use super::sio::{ConnectAnswer, SocketState};
use super::ws::WsMessage;

/// What sits on top of the Engine.IO session.
pub(crate) enum Upper {
    Raw(RawUpper),
    Sio(Box<SioClient>),
}

/// An Engine.IO packet ready to send on either transport: text packets include their type
/// digit (`4hello`, `2`), binary ones are the raw message.
#[derive(Clone, Debug)]
pub(crate) enum Out {
    Text(Bytes),
    Binary(Bytes),
}

impl Out {
    /// The packet's bytes.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Out::Text(b) | Out::Binary(b) => b,
        }
    }
}

/// Where a session's packets go.
pub(crate) enum Link {
    /// A WebSocket connection.
    Ws(ConnId),
    /// HTTP long-polling: packets wait for the next GET.
    Polling(Polling),
    /// Still polling while a WebSocket probes to take over; `probed` once `2probe` came, after
    /// which every GET is answered at once so the client can pause polling and finish.
    Upgrading {
        polling: Polling,
        ws: ConnId,
        timer: TimerKey,
        probed: bool,
    },
}

/// Sends packets of one session on whatever link it has now.
pub(crate) struct Tx<'c, 'a> {
    pub cx: &'c mut Cx<'a, Router>,
    pub link: &'c mut Link,
}

impl Tx<'_, '_> {
    /// Sends one text packet that `write` appends (type digit first); `write` returns false
    /// to abandon it. False if nothing was queued.
    pub fn text(&mut self, write: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        self.text_with(write, true)
    }

    /// [`Tx::text`], saying whether the packet allows compression (of a polling payload, or by
    /// permessage-deflate).
    pub fn text_with(&mut self, write: impl FnOnce(&mut Vec<u8>) -> bool, compress: bool) -> bool {
        match self.link {
            Link::Ws(conn) => self
                .cx
                .send_with_compressible(*conn, OpCode::Text, compress, write),
            Link::Polling(p) | Link::Upgrading { polling: p, .. } => {
                let mut v = Vec::new();
                write(&mut v) && p.push_with(Out::Text(Bytes::from(v)), compress)
            }
        }
    }

    /// Sends one binary message.
    pub fn binary(&mut self, data: &[u8]) -> bool {
        self.binary_with(data, true)
    }

    /// [`Tx::binary`], saying whether the message allows compression (of a polling payload, or
    /// by permessage-deflate).
    pub fn binary_with(&mut self, data: &[u8], compress: bool) -> bool {
        match self.link {
            Link::Ws(conn) => {
                self.cx
                    .send_frame_compressible(*conn, OpCode::Binary, data, compress)
            }
            Link::Polling(p) | Link::Upgrading { polling: p, .. } => {
                p.push_with(Out::Binary(Bytes::copy_from_slice(data)), compress)
            }
        }
    }

    /// Sends an already encoded packet.
    pub fn out(&mut self, out: &Out) -> bool {
        self.out_with(out, true)
    }

    /// [`Tx::out`], saying whether the packet allows compression (of a polling payload, or by
    /// permessage-deflate).
    pub fn out_with(&mut self, out: &Out, compress: bool) -> bool {
        match self.link {
            Link::Ws(conn) => match out {
                Out::Text(b) => self
                    .cx
                    .send_frame_compressible(*conn, OpCode::Text, b, compress),
                Out::Binary(b) => {
                    self.cx
                        .send_frame_compressible(*conn, OpCode::Binary, b, compress)
                }
            },
            Link::Polling(p) | Link::Upgrading { polling: p, .. } => {
                p.push_with(out.clone(), compress)
            }
        }
    }

    /// Sends a packet encoded once for many receivers, without copying it.
    pub fn shared(&mut self, p: &Shared) -> bool {
        match self.link {
            Link::Ws(conn) => self.cx.send_shared(*conn, p.frame().clone()),
            Link::Polling(q) | Link::Upgrading { polling: q, .. } => q.push(p.out()),
        }
    }

    /// Asks to hear when the link's queue is empty; false when it is empty already.
    pub fn notify_drain(&mut self) -> bool {
        match self.link {
            Link::Ws(conn) => self.cx.notify_drain(*conn),
            // Polling drains when a GET takes the queue (see `EioSession::flush`).
            Link::Polling(q) | Link::Upgrading { polling: q, .. } => !q.is_empty(),
        }
    }

    /// Bytes waiting to go out on the link.
    pub fn queued_bytes(&mut self) -> usize {
        match self.link {
            Link::Ws(conn) => self.cx.queued_bytes(*conn),
            Link::Polling(p) | Link::Upgrading { polling: p, .. } => p.queued_bytes(),
        }
    }
}

/// Hands a message to a raw Engine.IO handler; its `close()` ends the session.
fn raw_message(
    raw: &mut RawUpper,
    tx: Tx<'_, '_>,
    sid: Sid,
    id: Option<Arc<str>>,
    remote: Option<SocketAddr>,
    msg: WsMessage<'_>,
) -> Result<(), DisconnectReason> {
    let mut socket = EioSocket {
        tx,
        sid,
        id,
        remote,
        close: false,
        handler: &*raw.handler,
        events: raw.events,
        sent: &mut raw.sent,
    };
    raw.handler.on_message(&mut socket, msg);
    if socket.close {
        Err(DisconnectReason::ForcedClose)
    } else {
        Ok(())
    }
}

/// How a received packet looks to [`super::EioHandler::on_packet`]; `None` for text that is
/// not UTF-8 (the session ends with a parse error, unseen).
fn packet_view<'p>(packet: &'p Packet<'_>) -> Option<EioPacket<'p>> {
    Some(match packet {
        Packet::Open(d) => EioPacket::Open(std::str::from_utf8(d).ok()?),
        Packet::Close => EioPacket::Close,
        Packet::Ping(d) => EioPacket::Ping(d),
        Packet::Pong(d) => EioPacket::Pong(d),
        Packet::MessageText(d) => EioPacket::Message(WsMessage::Text(std::str::from_utf8(d).ok()?)),
        Packet::MessageBinary(d) => EioPacket::Message(WsMessage::Binary(d)),
        Packet::Upgrade => EioPacket::Upgrade,
        Packet::Noop => EioPacket::Noop,
    })
}

pub(crate) struct EioSession {
    sid: Sid,
    key: SessionKey,
    heartbeat: Heartbeat,
    heartbeat_timer: Option<TimerKey>,
    /// Set when the session must end, with the reason the layers above will see.
    closing: Option<DisconnectReason>,
    /// The client closed the session itself (a `1` packet): a parked GET gets a noop.
    client_closed: bool,
    pub link: Link,
    upper: Upper,
    /// The peer address of the connection that opened the session.
    remote: Option<SocketAddr>,
    /// The id the application chose for the session (`ServerBuilder::generate_id`), which the
    /// client knows it by; `sid` stays the internal one.
    pub custom: Option<CustomId>,
}

/// Custom session ids of one endpoint and the internal session each stands for.
pub(crate) type CustomIds = RwLock<HashMap<Arc<str>, Sid>>;

/// A custom session id, registered in its endpoint's [`CustomIds`] while the session lives or
/// what it owes its client is kept; dropping it unregisters the id.
pub(crate) struct CustomId {
    pub id: Arc<str>,
    pub ids: Arc<CustomIds>,
}

impl Drop for CustomId {
    fn drop(&mut self) {
        if let Ok(mut ids) = self.ids.write() {
            ids.remove(&self.id);
        }
    }
}

impl EioSession {
    pub fn new(
        sid: Sid,
        key: SessionKey,
        heartbeat: Heartbeat,
        link: Link,
        upper: Upper,
        remote: Option<SocketAddr>,
    ) -> Self {
        EioSession {
            remote,
            custom: None,
            sid,
            key,
            heartbeat,
            heartbeat_timer: None,
            closing: None,
            client_closed: false,
            link,
            upper,
        }
    }

    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The custom id the client knows the session by, if the application chose one.
    fn custom_id(&self) -> Option<Arc<str>> {
        self.custom.as_ref().map(|c| c.id.clone())
    }

    /// The link and, if this session carries it, Socket.IO socket `sid` (split borrows, so a
    /// broadcast can register an ack on the socket and send on the link).
    pub fn link_and_socket(&mut self, sid: &Sid) -> (&mut Link, Option<&mut SocketState>) {
        let state = match &mut self.upper {
            Upper::Sio(c) => c.socket_mut(sid),
            Upper::Raw(_) => None,
        };
        (&mut self.link, state)
    }

    /// What `fetch_sockets` reports of Socket.IO socket `sid` on this session.
    pub fn socket_info(
        &self,
        sid: &Sid,
    ) -> Option<(super::sio::Handshake, serde_json::Value, serde_json::Value)> {
        match &self.upper {
            Upper::Sio(c) => c.socket_info(sid),
            Upper::Raw(_) => None,
        }
    }

    /// Removes Socket.IO socket `sid` from its namespace (`close`: ends the whole session).
    pub fn disconnect_socket(&mut self, cx: &mut Cx<'_, Router>, sid: &Sid, close: bool) {
        let Upper::Sio(c) = &mut self.upper else {
            return;
        };
        let mut tx = Tx {
            cx,
            link: &mut self.link,
        };
        if close {
            // As the reference's `disconnect(true)`: every namespace of the connection gets its
            // DISCONNECT first, then the connection closes.
            c.disconnect_all(&mut tx);
            self.close(DisconnectReason::ServerNamespaceDisconnect);
        } else {
            c.disconnect(&mut tx, sid);
        }
    }

    /// An asynchronous connect middleware answered for one of this session's sockets.
    pub fn connect_answer(&mut self, cx: &mut Cx<'_, Router>, answer: ConnectAnswer) {
        let Upper::Sio(c) = &mut self.upper else {
            return;
        };
        let mut tx = Tx {
            cx,
            link: &mut self.link,
        };
        if let Err(reason) = c.on_connect_answer(&mut tx, answer) {
            self.close(reason);
        }
    }

    /// Whether the session is on polling (perhaps probing a WebSocket).
    pub fn is_polling(&self) -> bool {
        !matches!(self.link, Link::Ws(_))
    }

    pub fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// Sends the open packet and starts the heartbeat and the layer above.
    pub fn open(&mut self, cx: &mut Cx<'_, Router>) {
        let transport = if matches!(self.link, Link::Ws(_)) {
            "websocket"
        } else {
            "polling"
        };
        tracing::debug!(worker = cx.worker(), sid = %self.sid, transport, "session opened");
        let c = cx.state().config.clone();
        let (interval, timeout, max_payload) = (
            c.ping_interval.as_millis() as u64,
            c.ping_timeout.as_millis() as u64,
            c.max_payload,
        );
        let upgrades: &[&str] = if matches!(self.link, Link::Polling(_)) && c.transports.websocket {
            &["websocket"]
        } else {
            &[]
        };
        let sid = self.sid;
        let id = self.custom_id();
        let mut tx = Tx {
            cx,
            link: &mut self.link,
        };
        tx.text(|b| {
            let info = OpenInfo {
                sid: id.as_deref().unwrap_or(sid.as_str()),
                upgrades,
                ping_interval_ms: interval,
                ping_timeout_ms: timeout,
                max_payload,
            };
            eio::encode_open(b, &info);
            true
        });
        // The handshake's GET takes the open packet alone, as from the reference (which writes
        // it before its `connection` event): what the handler sends on open waits for the
        // client's next GET, and is compressed by that request's `Accept-Encoding`.
        if let Link::Polling(p) = &mut self.link {
            p.flush(cx);
        }
        self.arm_heartbeat(cx);
        match &mut self.upper {
            Upper::Raw(_) => {
                self.raw_event(cx, |h, s| h.on_open(s));
            }
            Upper::Sio(client) => client.on_open(
                &mut Tx {
                    cx,
                    link: &mut self.link,
                },
                self.key,
            ),
        }
    }

    /// Runs `f` with the raw handler and a socket of this session (nothing for a Socket.IO
    /// session); a `close()` in it ends the session.
    fn raw_event<R>(
        &mut self,
        cx: &mut Cx<'_, Router>,
        f: impl FnOnce(&dyn super::EioHandler, &mut EioSocket<'_, '_>) -> R,
    ) -> Option<R> {
        let Upper::Raw(raw) = &mut self.upper else {
            return None;
        };
        let mut socket = EioSocket {
            tx: Tx {
                cx,
                link: &mut self.link,
            },
            sid: self.sid,
            id: self.custom.as_ref().map(|c| c.id.clone()),
            remote: self.remote,
            close: false,
            handler: &*raw.handler,
            events: raw.events,
            sent: &mut raw.sent,
        };
        let r = f(&*raw.handler, &mut socket);
        if socket.close {
            self.close(DisconnectReason::ForcedClose);
        }
        Some(r)
    }

    /// The raw handler's events, if this is a raw session.
    fn raw_events(&self) -> EioEvents {
        match &self.upper {
            Upper::Raw(raw) => raw.events,
            Upper::Sio(_) => EioEvents::NONE,
        }
    }

    fn arm_heartbeat(&mut self, cx: &mut Cx<'_, Router>) {
        if let Some(k) = self.heartbeat_timer.take() {
            cx.cancel(k);
        }
        if let Some(at) = self.heartbeat.next_deadline() {
            self.heartbeat_timer = Some(cx.arm(at, Timer::Heartbeat(self.key)));
        }
    }

    pub fn on_timer(&mut self, cx: &mut Cx<'_, Router>, t: Timer) {
        let result = match t {
            Timer::Heartbeat(_) => {
                self.heartbeat_timer = None;
                match self.heartbeat.on_deadline(cx.now()) {
                    Some(HeartbeatAction::SendPing) => {
                        self.send_ping(cx);
                        self.arm_heartbeat(cx);
                        Ok(())
                    }
                    Some(HeartbeatAction::Timeout) => Err(DisconnectReason::PingTimeout),
                    None => {
                        self.arm_heartbeat(cx);
                        Ok(())
                    }
                }
            }
            Timer::UpgradeTimeout(_) => {
                self.abort_upgrade(cx, true);
                Ok(())
            }
            other => match &mut self.upper {
                Upper::Sio(client) => client.on_timer(
                    &mut Tx {
                        cx,
                        link: &mut self.link,
                    },
                    other,
                ),
                Upper::Raw(_) => Ok(()),
            },
        };
        if let Err(reason) = result {
            self.close(reason);
        }
    }

    /// Sends a heartbeat ping, shown to a raw handler's packet events.
    fn send_ping(&mut self, cx: &mut Cx<'_, Router>) {
        let events = self.raw_events();
        if events == EioEvents::NONE {
            Tx {
                cx,
                link: &mut self.link,
            }
            .text(|b| {
                b.push(b'2');
                true
            });
            return;
        }
        self.raw_event(cx, |h, s| {
            let ping = EioPacket::Ping(b"");
            if events.contains(EioEvents::PACKET_CREATE) {
                h.on_packet_create(s, &ping);
            }
            let queued = s.tx.text(|b| {
                b.push(b'2');
                true
            });
            if queued {
                s.queued(&[ping], None);
            }
        });
    }

    /// One packet from the client, from either transport.
    pub fn on_packet(&mut self, cx: &mut Cx<'_, Router>, packet: Packet<'_>) {
        if self.raw_events().contains(EioEvents::PACKET) {
            if let Some(view) = packet_view(&packet) {
                let verdict = self.raw_event(cx, |h, s| h.on_packet(s, &view));
                if verdict == Some(Inbound::Ignore) || self.is_closing() {
                    return;
                }
            }
        }
        let result = match packet {
            Packet::MessageText(data) => {
                let mut tx = Tx {
                    cx,
                    link: &mut self.link,
                };
                match &mut self.upper {
                    Upper::Raw(h) => match std::str::from_utf8(data) {
                        Ok(text) => raw_message(
                            h,
                            tx,
                            self.sid,
                            self.custom.as_ref().map(|c| c.id.clone()),
                            self.remote,
                            WsMessage::Text(text),
                        ),
                        Err(_) => Err(DisconnectReason::ParseError),
                    },
                    Upper::Sio(client) => client.on_text(&mut tx, data),
                }
            }
            Packet::MessageBinary(data) => {
                let mut tx = Tx {
                    cx,
                    link: &mut self.link,
                };
                match &mut self.upper {
                    Upper::Raw(h) => raw_message(
                        h,
                        tx,
                        self.sid,
                        self.custom.as_ref().map(|c| c.id.clone()),
                        self.remote,
                        WsMessage::Binary(data),
                    ),
                    Upper::Sio(client) => client.on_binary(&mut tx, data),
                }
            }
            Packet::Pong(_) => {
                self.heartbeat.on_pong(cx.now());
                self.arm_heartbeat(cx);
                self.raw_event(cx, |h, s| h.on_heartbeat(s));
                Ok(())
            }
            Packet::Close => {
                self.client_closed = true;
                Err(DisconnectReason::TransportClose)
            }
            Packet::Noop => Ok(()),
            // Clients only ping while probing an upgrade (handled in `on_probe`); the reference
            // server calls any other ping an invalid heartbeat direction.
            Packet::Ping(_) => Err(DisconnectReason::TransportError),
            Packet::Open(_) | Packet::Upgrade => Err(DisconnectReason::ParseError),
        };
        if let Err(reason) = result {
            self.close(reason);
        }
    }

    /// A text or binary frame on the WebSocket `conn` attached to this session.
    pub fn on_ws_frame(
        &mut self,
        cx: &mut Cx<'_, Router>,
        conn: ConnId,
        text: bool,
        data: &mut [u8],
    ) {
        match &self.link {
            Link::Ws(c) if *c == conn => {
                if text {
                    match eio::decode_text(data) {
                        Ok(p) => self.on_packet(cx, p),
                        Err(_) => self.close(DisconnectReason::ParseError),
                    }
                } else {
                    self.on_packet(cx, eio::decode_binary(data));
                }
            }
            Link::Upgrading { ws, .. } if *ws == conn => self.on_probe(cx, conn, text, data),
            // A WebSocket that lost a race for this session.
            _ => cx.close(conn, CloseCode::POLICY, ""),
        }
    }

    /// The upgrade dance on the probing WebSocket: `2probe` -> `3probe`, then `5`.
    fn on_probe(&mut self, cx: &mut Cx<'_, Router>, conn: ConnId, text: bool, data: &mut [u8]) {
        match (text, eio::decode_text(data)) {
            (true, Ok(Packet::Ping(b"probe"))) => {
                cx.send_frame(conn, OpCode::Text, b"3probe");
                if let Link::Upgrading { probed, .. } = &mut self.link {
                    *probed = true;
                }
                self.raw_event(cx, |h, s| h.on_upgrading(s));
                // The client pauses polling only once its pending GET returns: with what the
                // handler just sent (flushed once this event is handled), or else a noop.
                if let Link::Upgrading { polling, .. } = &mut self.link {
                    if polling.is_empty() && self.closing.is_none() {
                        polling.answer_all_with_noop(cx);
                    }
                }
            }
            (true, Ok(Packet::Upgrade)) => {
                let Link::Upgrading { polling, timer, .. } =
                    std::mem::replace(&mut self.link, Link::Ws(conn))
                else {
                    return;
                };
                cx.cancel(timer);
                let mut polling = polling;
                // The discarded polling transport closes: a GET still parked (the probe
                // answered the one before) gets the close packet, as from the reference.
                polling.answer_all_with_close(cx);
                let moved = polling.drain();
                for out in &moved {
                    Tx {
                        cx,
                        link: &mut self.link,
                    }
                    .out(out);
                }
                if !moved.is_empty() && matches!(&self.upper, Upper::Raw(r) if r.wants_flush()) {
                    // What polling still held went out on the WebSocket: flushed there, and
                    // its callbacks wait for that connection to drain.
                    self.raw_event(cx, |_, s| {
                        let views: Vec<EioPacket<'_>> =
                            moved.iter().map(EioPacket::of_out).collect();
                        s.queued(&views, None);
                    });
                }
                self.raw_event(cx, |h, s| h.on_upgrade(s));
            }
            _ => self.abort_upgrade(cx, true),
        }
    }

    /// Starts an upgrade: `conn` is a WebSocket for this polling session.
    pub fn begin_upgrade(&mut self, cx: &mut Cx<'_, Router>, conn: ConnId) -> bool {
        let Link::Polling(_) = self.link else {
            return false;
        };
        let Link::Polling(polling) = std::mem::replace(&mut self.link, Link::Ws(conn)) else {
            return false;
        };
        let at = cx.now() + cx.state().config.upgrade_timeout;
        let timer = cx.arm(at, Timer::UpgradeTimeout(self.key));
        self.link = Link::Upgrading {
            polling,
            ws: conn,
            timer,
            probed: false,
        };
        // The heartbeat keeps its cadence, as the reference's does: a ping due meanwhile waits
        // in the polling queue and goes out on whichever transport wins.
        true
    }

    /// Gives up an upgrade in flight: the session stays on polling.
    pub fn abort_upgrade(&mut self, cx: &mut Cx<'_, Router>, close_ws: bool) {
        let Link::Upgrading { .. } = self.link else {
            return;
        };
        let Link::Upgrading {
            polling, ws, timer, ..
        } = std::mem::replace(&mut self.link, Link::Polling(Polling::default()))
        else {
            return;
        };
        self.link = Link::Polling(polling);
        cx.cancel(timer);
        if close_ws {
            // As the reference's `transport.close()`: a close frame without a status.
            cx.close(ws, CloseCode::NO_STATUS, "");
        }
    }

    /// A connection this session used has closed.
    pub fn on_conn_closed(&mut self, cx: &mut Cx<'_, Router>, conn: ConnId, reason: &CloseReason) {
        match &self.link {
            Link::Ws(c) if *c == conn => self.close(DisconnectReason::from_close(reason)),
            Link::Upgrading { ws, .. } if *ws == conn => self.abort_upgrade(cx, false),
            _ => {}
        }
    }

    /// The connection of parked GET `conn` closed before its answer: if it is this session's
    /// pending GET, the session ends with `transport error`, as the reference's polling
    /// transport does when a poll connection closes prematurely.
    pub fn on_parked_get_closed(&mut self, conn: ConnId) {
        if let Link::Polling(p) | Link::Upgrading { polling: p, .. } = &mut self.link {
            if p.get.as_ref().is_some_and(|g| g.conn == conn) {
                p.get = None;
                self.close(DisconnectReason::TransportError);
            }
        }
    }

    /// Marks the session to end with `reason` (the first reason wins); it is removed once the
    /// current event is handled.
    pub fn close(&mut self, reason: DisconnectReason) {
        if self.closing.is_none() {
            self.closing = Some(reason);
        }
    }

    /// Sends what polling queued to a parked GET.
    pub fn flush(&mut self, cx: &mut Cx<'_, Router>) {
        if let Link::Polling(p) | Link::Upgrading { polling: p, .. } = &mut self.link {
            if p.overflowed() {
                self.closing.get_or_insert(DisconnectReason::SlowConsumer);
                return;
            }
            if matches!(&self.upper, Upper::Raw(r) if r.wants_flush()) {
                if p.get.is_some() && !p.is_empty() {
                    self.raw_flush(cx);
                }
                return;
            }
            p.flush(cx);
            if p.is_empty() {
                self.drained(cx);
            }
        }
    }

    /// Answers the parked GET with what polling queued for a raw handler that wants to know:
    /// its `on_flush` sees the packets, then the callbacks of the packets sent run, then its
    /// `on_drain`.
    fn raw_flush(&mut self, cx: &mut Cx<'_, Router>) {
        let Upper::Raw(raw) = &mut self.upper else {
            return;
        };
        let (Link::Polling(p) | Link::Upgrading { polling: p, .. }) = &mut self.link else {
            return;
        };
        let flush_events = raw.events.contains(EioEvents::FLUSH);
        if flush_events {
            let id = self.custom.as_ref().map_or(self.sid.as_str(), |c| &c.id);
            let packets: Vec<Out> = p.queued().cloned().collect();
            let views: Vec<EioPacket<'_>> = packets.iter().map(EioPacket::of_out).collect();
            raw.handler.on_flush(id, &views);
        }
        p.flush(cx);
        self.raw_sent(cx);
    }

    /// A raw session's queued packets went out: their send callbacks run, then the handler's
    /// `on_drain` if it asked for flush events.
    fn raw_sent(&mut self, cx: &mut Cx<'_, Router>) {
        let Upper::Raw(raw) = &mut self.upper else {
            return;
        };
        let flush_events = raw.events.contains(EioEvents::FLUSH);
        let callbacks = std::mem::take(&mut raw.sent);
        self.raw_event(cx, |h, s| {
            for callback in callbacks {
                callback(s);
            }
            if flush_events {
                h.on_drain(s);
            }
        });
    }

    /// Everything queued for the client went out: run the drain callbacks waiting for it.
    pub fn drained(&mut self, cx: &mut Cx<'_, Router>) {
        match &mut self.upper {
            Upper::Sio(client) => {
                if client.wants_drain() {
                    client.on_drain(&mut Tx {
                        cx,
                        link: &mut self.link,
                    });
                }
            }
            // A raw session's WebSocket wrote everything queued (polling drains in
            // `raw_flush`).
            Upper::Raw(raw) => {
                if !matches!(self.link, Link::Ws(_)) || !raw.wants_flush() {
                    return;
                }
                self.raw_sent(cx);
            }
        }
    }

    /// The session is gone: close its transport and tell the layers above. Returns what a
    /// polling client is still owed (see [`Polling::finish`]).
    pub fn finish(mut self: Box<Self>, cx: &mut Cx<'_, Router>) -> Option<Closed> {
        let reason = self.closing.unwrap_or(DisconnectReason::ForcedClose);
        // The server closing the session on purpose (not after an error) lets a polling client
        // read what was queued, then the close packet, as the reference's `socket.close()` does.
        let graceful = matches!(
            reason,
            DisconnectReason::ForcedClose
                | DisconnectReason::ForcedServerClose
                | DisconnectReason::ServerNamespaceDisconnect
        );
        if let Some(k) = self.heartbeat_timer.take() {
            cx.cancel(k);
        }
        let mut owed = match std::mem::replace(&mut self.link, Link::Polling(Polling::default())) {
            Link::Ws(conn) => {
                cx.close(conn, CloseCode::NORMAL, "");
                None
            }
            Link::Polling(mut p) => p.finish(cx, self.client_closed, graceful),
            Link::Upgrading {
                mut polling,
                ws,
                timer,
                ..
            } => {
                cx.cancel(timer);
                cx.close(ws, CloseCode::NORMAL, "");
                polling.finish(cx, self.client_closed, graceful)
            }
        };
        let mut link = Link::Polling(Polling::default());
        let mut tx = Tx {
            cx,
            link: &mut link,
        };
        let id: Box<str> = self
            .custom_id()
            .as_deref()
            .unwrap_or(self.sid.as_str())
            .into();
        tracing::debug!(
            worker = tx.cx.worker(),
            sid = &*id,
            reason = reason.as_str(),
            "session closed"
        );
        if let Some(closed) = owed.as_mut() {
            // The id stays known while the client may still come for what it is owed.
            closed.custom = self.custom.take();
        }
        match (self.upper, owed.as_mut()) {
            // The client has yet to collect the close packet: as the reference's socket stays
            // `closing` until then, the handler hears of the end when the client's GET takes
            // it, or at the heartbeat deadline (`ping timeout`) if the client is gone.
            (Upper::Raw(RawUpper { handler, .. }), Some(closed)) => {
                let now = tx.cx.now();
                let ttl = now + CLOSED_POLL_TTL;
                let (at, on_timeout) = match self.heartbeat.gives_up_at() {
                    Some(at) if at < ttl => (at, DisconnectReason::PingTimeout),
                    _ => (ttl, reason),
                };
                let timer = tx.cx.arm(at, Timer::Heartbeat(self.key));
                closed.late = Some(LateReport {
                    id,
                    handler,
                    key: self.key,
                    timer,
                    collected: reason,
                    on_timeout,
                });
            }
            (Upper::Raw(raw), None) => raw.handler.on_close(&id, reason),
            (Upper::Sio(client), _) => client.on_closed(&mut tx, reason),
        }
        owed
    }
}
