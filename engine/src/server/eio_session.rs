//! An Engine.IO v4 session, whatever carries it: the open packet, heartbeats driven by the
//! worker's timer wheel, packets in (from WebSocket frames or polling bodies) handed to the layer
//! above (a raw Engine.IO handler or a Socket.IO client), packets out through a [`Tx`], the
//! upgrade from polling to WebSocket, and the end of the session.

use std::net::SocketAddr;

use crate::proto::eio::{self, EioVersion, Heartbeat, HeartbeatAction, OpenInfo, Packet, Sid};
use crate::proto::ws::{CloseCode, OpCode};
use crate::runtime::{CloseReason, ConnId, TimerKey};

use super::closed::Closed;
use super::custom_id::CustomId;
use super::link::{Link, Tx};
use super::polling::Polling;
use super::port::Port;
use super::reason::DisconnectReason;
use super::session_key::SessionKey;
use super::timer::Timer;
use super::upper::{SessionInfo, Upper};

pub(crate) struct EioSession {
    sid: Sid,
    key: SessionKey,
    heartbeat: Heartbeat,
    heartbeat_timer: Option<TimerKey>,
    /// Set when the session must end, with the reason the layers above will see.
    closing: Option<DisconnectReason>,
    /// The client closed the session itself (a `1` packet): a parked GET gets a noop.
    client_closed: bool,
    /// Shutdown began while the client finished an upgrade: the session ends as soon as the
    /// upgrade does (or fails).
    shutting_down: bool,
    pub link: Link,
    upper: Box<dyn Upper>,
    /// The peer address of the connection that opened the session.
    remote: Option<SocketAddr>,
    /// The id the application chose for the session (`ServerBuilder::generate_id`), which the
    /// client knows it by; `sid` stays the internal one.
    pub custom: Option<CustomId>,
    /// The Engine.IO revision the client speaks (v3 only with `allow_eio3`).
    pub version: EioVersion,
}

impl EioSession {
    pub fn new(
        sid: Sid,
        key: SessionKey,
        heartbeat: Heartbeat,
        link: Link,
        upper: Box<dyn Upper>,
        remote: Option<SocketAddr>,
    ) -> Self {
        EioSession {
            remote,
            custom: None,
            version: EioVersion::V4,
            sid,
            key,
            heartbeat,
            heartbeat_timer: None,
            closing: None,
            client_closed: false,
            shutting_down: false,
            link,
            upper,
        }
    }

    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The link and the layer above (split borrows, so the layer above can send on the link
    /// while it acts on its own state).
    pub fn parts(&mut self) -> (&mut Link, &mut dyn Upper) {
        (&mut self.link, &mut *self.upper)
    }

    /// Runs `f` on the layer above with a sender on the link; an `Err` ends the session.
    /// `None` when it did.
    fn upper_event<R>(
        &mut self,
        cx: &mut dyn Port,
        f: impl FnOnce(&mut dyn Upper, &mut Tx<'_, '_>, &SessionInfo<'_>) -> Result<R, DisconnectReason>,
    ) -> Option<R> {
        let info = session_info(self.sid, self.key, self.custom.as_ref(), self.remote);
        let mut tx = Tx {
            cx,
            link: &mut self.link,
        };
        match f(&mut *self.upper, &mut tx, &info) {
            Ok(r) => Some(r),
            Err(reason) => {
                self.close(reason);
                None
            }
        }
    }

    /// Whether the session is on polling (perhaps probing a WebSocket).
    /// The server begins shutting down: a polling session ends now with `server shutting
    /// down`; a WebSocket one ends when the runtime closes its connection with 1001. A client
    /// whose probe was answered ends once its `5` arrives: it may have paused polling already,
    /// and the stock client, its probe closed then, waits paused until its ping timeout
    /// instead of reconnecting (the reference closes the probe at once and leaves it so).
    pub fn shut_down(&mut self) {
        match self.link {
            Link::Ws(..) => {}
            Link::Upgrading { probed: true, .. } => self.shutting_down = true,
            Link::Polling(_) | Link::Upgrading { .. } => {
                self.close(DisconnectReason::ServerShuttingDown)
            }
        }
    }

    /// Whether WebSocket `conn` is this session's probe, left open by [`EioSession::shut_down`]
    /// for the upgrade to finish.
    pub fn awaits_upgrade_on(&self, conn: ConnId) -> bool {
        self.shutting_down && matches!(self.link, Link::Upgrading { ws, .. } if ws == conn)
    }

    pub fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// Sends the open packet and starts the heartbeat and the layer above.
    pub fn open(&mut self, cx: &mut dyn Port) {
        let transport = if matches!(self.link, Link::Ws(..)) {
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
        let id = self.custom.as_ref().map(|c| c.id.clone());
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
        self.upper_event(cx, |u, tx, info| u.on_open(tx, info));
    }

    fn arm_heartbeat(&mut self, cx: &mut dyn Port) {
        if let Some(k) = self.heartbeat_timer.take() {
            cx.cancel(k);
        }
        if let Some(at) = self.heartbeat.next_deadline() {
            self.heartbeat_timer = Some(cx.arm(at, Timer::Heartbeat(self.key)));
        }
    }

    pub fn on_timer(&mut self, cx: &mut dyn Port, t: Timer) {
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
            other => {
                self.upper_event(cx, |u, tx, info| u.on_timer(tx, info, other));
                Ok(())
            }
        };
        if let Err(reason) = result {
            self.close(reason);
        }
    }

    /// Sends a heartbeat ping (through the layer above, which may watch it).
    fn send_ping(&mut self, cx: &mut dyn Port) {
        self.upper_event(cx, |u, tx, info| u.send_ping(tx, info));
    }

    /// One packet from the client, from either transport.
    pub fn on_packet(&mut self, cx: &mut dyn Port, packet: Packet<'_>) {
        let process = self.upper_event(cx, |u, tx, info| u.on_packet(tx, info, &packet));
        if process != Some(true) || self.is_closing() {
            return;
        }
        let result = match packet {
            Packet::MessageText(data) => {
                self.upper_event(cx, |u, tx, info| u.on_message(tx, info, true, data));
                Ok(())
            }
            Packet::MessageBinary(data) => {
                self.upper_event(cx, |u, tx, info| u.on_message(tx, info, false, data));
                Ok(())
            }
            // Engine.IO v3: the client pings and the server answers, as the reference's v3
            // socket does (a v4 client's ping, or a v3 client's pong, is an invalid heartbeat
            // direction).
            Packet::Ping(_) if self.version == EioVersion::V3 => {
                self.heartbeat.on_ping(cx.now());
                self.arm_heartbeat(cx);
                Tx {
                    cx,
                    link: &mut self.link,
                }
                .text(|b| {
                    b.push(eio::PacketType::Pong.as_byte());
                    true
                });
                self.upper_event(cx, |u, tx, info| u.on_heartbeat(tx, info));
                Ok(())
            }
            Packet::Pong(_) if self.version == EioVersion::V3 => {
                Err(DisconnectReason::TransportError)
            }
            Packet::Pong(_) => {
                self.heartbeat.on_pong(cx.now());
                self.arm_heartbeat(cx);
                self.upper_event(cx, |u, tx, info| u.on_heartbeat(tx, info));
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
    pub fn on_ws_frame(&mut self, cx: &mut dyn Port, conn: ConnId, text: bool, data: &mut [u8]) {
        match &self.link {
            Link::Ws(c, version) if *c == conn => {
                let packet = match (text, *version) {
                    (true, EioVersion::V4) => eio::decode_text(data),
                    (true, EioVersion::V3) => eio::decode_text_v3(data),
                    (false, EioVersion::V4) => Ok(eio::decode_binary(data)),
                    (false, EioVersion::V3) => eio::decode_binary_v3(data),
                };
                match packet {
                    Ok(p) => self.on_packet(cx, p),
                    Err(_) => self.close(DisconnectReason::ParseError),
                }
            }
            Link::Upgrading { ws, .. } if *ws == conn => self.on_probe(cx, conn, text, data),
            // A WebSocket that lost a race for this session.
            _ => cx.close(conn, CloseCode::POLICY, ""),
        }
    }

    /// The upgrade dance on the probing WebSocket: `2probe` -> `3probe`, then `5`.
    fn on_probe(&mut self, cx: &mut dyn Port, conn: ConnId, text: bool, data: &mut [u8]) {
        match (text, eio::decode_text(data)) {
            (true, Ok(Packet::Ping(b"probe"))) => {
                cx.send_frame(conn, OpCode::Text, b"3probe");
                if let Link::Upgrading { probed, .. } = &mut self.link {
                    *probed = true;
                }
                self.upper_event(cx, |u, tx, info| u.on_upgrading(tx, info));
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
                    std::mem::replace(&mut self.link, Link::Ws(conn, self.version))
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
                self.upper_event(cx, |u, tx, info| u.on_upgrade(tx, info, &moved));
                if self.shutting_down {
                    self.close(DisconnectReason::ServerShuttingDown);
                }
            }
            _ => self.abort_upgrade(cx, true),
        }
    }

    /// Starts an upgrade: `conn` is a WebSocket for this polling session.
    pub fn begin_upgrade(&mut self, cx: &mut dyn Port, conn: ConnId) -> bool {
        let Link::Polling(_) = self.link else {
            return false;
        };
        let Link::Polling(polling) =
            std::mem::replace(&mut self.link, Link::Ws(conn, self.version))
        else {
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
    pub fn abort_upgrade(&mut self, cx: &mut dyn Port, close_ws: bool) {
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
        if self.shutting_down {
            self.close(DisconnectReason::ServerShuttingDown);
        }
        if close_ws {
            // As the reference's `transport.close()`: a close frame without a status.
            cx.close(ws, CloseCode::NO_STATUS, "");
        }
    }

    /// A connection this session used has closed.
    pub fn on_conn_closed(&mut self, cx: &mut dyn Port, conn: ConnId, reason: &CloseReason) {
        match &self.link {
            Link::Ws(c, _) if *c == conn => self.close(DisconnectReason::from_close(reason)),
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
    pub fn flush(&mut self, cx: &mut dyn Port) {
        let watches = self.upper.watches_flush();
        let (Link::Polling(p) | Link::Upgrading { polling: p, .. }) = &mut self.link else {
            return;
        };
        if p.overflowed() {
            self.closing.get_or_insert(DisconnectReason::SlowConsumer);
            return;
        }
        if !watches {
            p.flush(cx);
            if p.is_empty() {
                self.drained(cx);
            }
            return;
        }
        // A layer that watches the transport sees the answer's packets, then hears it went out.
        if p.get.is_none() || p.is_empty() {
            return;
        }
        let info = session_info(self.sid, self.key, self.custom.as_ref(), self.remote);
        self.upper.on_polling_flush(&info, p);
        p.flush(cx);
        self.upper_event(cx, |u, tx, info| u.on_sent(tx, info));
    }

    /// Everything queued for the client went out.
    pub fn drained(&mut self, cx: &mut dyn Port) {
        self.upper_event(cx, |u, tx, info| u.on_drain(tx, info));
    }

    /// The session is gone: close its transport and tell the layers above. Returns what a
    /// polling client is still owed (see [`Polling::finish`]).
    pub fn finish(mut self: Box<Self>, cx: &mut dyn Port) -> Option<Closed> {
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
            // A session that outlived the shutdown's close frames (it finished an upgrade)
            // ends with the same 1001 they carry.
            Link::Ws(conn, _) if matches!(reason, DisconnectReason::ServerShuttingDown) => {
                cx.close(conn, CloseCode::GOING_AWAY, reason.as_str());
                None
            }
            Link::Ws(conn, _) => {
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
        }
        .map(|owed| Closed {
            owed,
            late: None,
            custom: None,
        });
        let mut link = Link::Polling(Polling::default());
        let mut tx = Tx {
            cx,
            link: &mut link,
        };
        let custom = self.custom.take();
        let info = session_info(self.sid, self.key, custom.as_ref(), self.remote);
        tracing::debug!(
            worker = tx.cx.worker(),
            sid = info.client_id(),
            reason = reason.as_str(),
            "session closed"
        );
        let gives_up_at = self.heartbeat.gives_up_at();
        self.upper
            .on_closed(&mut tx, &info, reason, owed.as_mut(), gives_up_at);
        if let Some(closed) = owed.as_mut() {
            // The id stays known while the client may still come for what it is owed.
            closed.custom = custom;
        }
        owed
    }
}

/// Session `sid` as the layer above sees it. A free function, not a method: its callers hold
/// the session's link and upper layer borrowed at the same time.
fn session_info(
    sid: Sid,
    key: SessionKey,
    custom: Option<&CustomId>,
    remote: Option<SocketAddr>,
) -> SessionInfo<'_> {
    SessionInfo {
        sid,
        key,
        custom: custom.map(|c| &c.id),
        remote,
    }
}
