//! Engine.IO endpoints without Socket.IO: raw text and binary messages over an Engine.IO session
//! (open packet, heartbeats), for users who want the transport and nothing above it.

use std::net::SocketAddr;
use std::ops::BitOr;
use std::sync::Arc;
use std::time::Instant;

use crate::proto::eio::{Packet, PacketType, Sid, Transport};
use crate::proto::http::Request;

use super::closed::{Closed, LateReport, CLOSED_POLL_TTL};
use super::link::{Link, Tx};
use super::out::Out;
use super::polling::Polling;
use super::reason::DisconnectReason;
use super::timer::Timer;
use super::upper::{NewUpper, SessionInfo, Upper};
use super::ws::WsMessage;

/// Callbacks of an Engine.IO endpoint; they run on the worker that owns the session and must
/// not block. Every method but `on_message` has a default that does nothing, so a handler
/// implements only the events it wants (the reference's `socket.on(...)` events).
pub trait EioHandler: Send + Sync + 'static {
    /// The session opened (the open packet is queued). Default: nothing.
    fn on_open(&self, _s: &mut EioSocket<'_, '_>) {}
    /// A message arrived.
    fn on_message(&self, s: &mut EioSocket<'_, '_>, msg: WsMessage<'_>);
    /// The session ended. Default: nothing.
    fn on_close(&self, _sid: &str, _reason: DisconnectReason) {}

    /// The per-packet events this handler wants ([`EioEvents`]); read once when a session
    /// opens, so the events it leaves out cost nothing per packet. Default: none.
    fn events(&self) -> EioEvents {
        EioEvents::NONE
    }

    /// A packet arrived from the client, before the session acts on it (the reference's
    /// `packet` event): messages, pongs, and whatever else the client sends on the session's
    /// transport (the probe packets of an upgrade belong to the upgrade and are not shown).
    /// [`Inbound::Ignore`] drops the packet as if it never came, as replacing the reference
    /// socket's `onPacket` does: an ignored pong does not answer the ping, an ignored message
    /// reaches no `on_message`. Runs only with [`EioEvents::PACKET`]. Default: `Process`.
    fn on_packet(&self, _s: &mut EioSocket<'_, '_>, _packet: &EioPacket<'_>) -> Inbound {
        Inbound::Process
    }

    /// A packet is about to be queued for the client (the reference's `packetCreate`): every
    /// message the handler sends and every heartbeat ping; the open packet, which goes out
    /// before `on_open`, is not shown. Runs only with [`EioEvents::PACKET_CREATE`].
    /// Default: nothing.
    fn on_packet_create(&self, _s: &mut EioSocket<'_, '_>, _packet: &EioPacket<'_>) {}

    /// Packets are being handed to the transport (the reference's `flush` event): on
    /// long-polling, what a GET takes as its answer (the open packet included, on the
    /// handshake's answer); on WebSocket, each packet as it is queued on the connection.
    /// Runs only with [`EioEvents::FLUSH`]. Default: nothing.
    fn on_flush(&self, _sid: &str, _packets: &[EioPacket<'_>]) {}

    /// What was flushed went out (the reference's `drain` event): on long-polling, once a GET
    /// was answered with the queued packets; on WebSocket, once the connection's write queue
    /// is empty again. Nothing is queued for the client then ([`EioSocket::queued_bytes`] is
    /// 0), so it is the moment to send more when pacing a producer. Runs only with
    /// [`EioEvents::FLUSH`]. Default: nothing.
    fn on_drain(&self, _s: &mut EioSocket<'_, '_>) {}

    /// The client answered a ping (the reference's `heartbeat` event): a pong arrived and the
    /// heartbeat started waiting for the next ping. Default: nothing.
    fn on_heartbeat(&self, _s: &mut EioSocket<'_, '_>) {}

    /// A WebSocket probed to take over the polling session and got its `3probe` answer (the
    /// reference's `upgrading` event): the session still sends on polling until the client
    /// completes the upgrade. Closing the session now closes the probing WebSocket too.
    /// Default: nothing.
    fn on_upgrading(&self, _s: &mut EioSocket<'_, '_>) {}

    /// The upgrade completed: the session moved to WebSocket, with what polling still had
    /// queued (the reference's `upgrade` event). Default: nothing.
    fn on_upgrade(&self, _s: &mut EioSocket<'_, '_>) {}
}

/// Which per-packet events of [`EioHandler`] a handler wants; combine with `|`
/// (`EioEvents::PACKET | EioEvents::FLUSH`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EioEvents(u8);

impl EioEvents {
    /// No per-packet event (the default).
    pub const NONE: EioEvents = EioEvents(0);
    /// [`EioHandler::on_packet`] for every packet received.
    pub const PACKET: EioEvents = EioEvents(1);
    /// [`EioHandler::on_packet_create`] for every packet sent.
    pub const PACKET_CREATE: EioEvents = EioEvents(2);
    /// [`EioHandler::on_flush`] and [`EioHandler::on_drain`].
    pub const FLUSH: EioEvents = EioEvents(4);

    /// Whether every event of `other` is in `self`.
    pub const fn contains(self, other: EioEvents) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for EioEvents {
    type Output = EioEvents;
    fn bitor(self, rhs: EioEvents) -> EioEvents {
        EioEvents(self.0 | rhs.0)
    }
}

/// What the session does with a packet [`EioHandler::on_packet`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Act on it as usual.
    Process,
    /// Drop it, as if it never arrived.
    Ignore,
}

/// An Engine.IO packet as the packet events show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EioPacket<'a> {
    /// The handshake packet, with its JSON.
    Open(&'a str),
    /// A close request.
    Close,
    /// A ping (the server's heartbeat), with its data.
    Ping(&'a [u8]),
    /// A pong (the client's answer), with its data.
    Pong(&'a [u8]),
    /// A text or binary message.
    Message(WsMessage<'a>),
    /// Completes an upgrade.
    Upgrade,
    /// No operation.
    Noop,
}

impl<'a> EioPacket<'a> {
    /// The packet's type (the reference's `packet.type`).
    pub fn packet_type(&self) -> PacketType {
        match self {
            EioPacket::Open(_) => PacketType::Open,
            EioPacket::Close => PacketType::Close,
            EioPacket::Ping(_) => PacketType::Ping,
            EioPacket::Pong(_) => PacketType::Pong,
            EioPacket::Message(_) => PacketType::Message,
            EioPacket::Upgrade => PacketType::Upgrade,
            EioPacket::Noop => PacketType::Noop,
        }
    }

    /// The view of a packet as the session queued it (type digit first for text).
    pub(crate) fn of_out(out: &'a Out) -> EioPacket<'a> {
        match out {
            Out::Binary(b) => EioPacket::Message(WsMessage::Binary(b)),
            Out::Text(b) => {
                let data = &b[1.min(b.len())..];
                match b.first().copied().and_then(PacketType::from_byte) {
                    Some(PacketType::Open) => {
                        EioPacket::Open(std::str::from_utf8(data).unwrap_or(""))
                    }
                    Some(PacketType::Close) => EioPacket::Close,
                    Some(PacketType::Ping) => EioPacket::Ping(data),
                    Some(PacketType::Pong) => EioPacket::Pong(data),
                    Some(PacketType::Upgrade) => EioPacket::Upgrade,
                    Some(PacketType::Noop) | None => EioPacket::Noop,
                    Some(PacketType::Message) => {
                        EioPacket::Message(WsMessage::Text(std::str::from_utf8(data).unwrap_or("")))
                    }
                }
            }
        }
    }
}

/// How one message is sent (the reference's `socket.send(data, options)`).
///
/// ```
/// use volley::server::SendOptions;
/// // A payload the application compressed itself: not worth compressing again.
/// let opts = SendOptions { compress: false };
/// assert!(SendOptions::default().compress);
/// # let _ = opts;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendOptions {
    /// Whether the message allows compression (default true). A polling response is
    /// compressed when one of the packets it carries allows it, the client accepts gzip or
    /// deflate and the payload reaches `http_compression_threshold` (with `http_compression`
    /// on); a message sent with `false` alone in its response goes uncompressed. Over
    /// WebSocket, `false` sends it plain where permessage-deflate was negotiated.
    pub compress: bool,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions { compress: true }
    }
}

/// Runs once the packet it was given with has been written to the transport
/// ([`EioSocket::send_text_then`]).
pub type SendCallback = Box<dyn FnOnce(&mut EioSocket<'_, '_>) + Send>;

/// What a raw Engine.IO session keeps for its handler.
pub(crate) struct RawUpper {
    pub handler: Arc<dyn EioHandler>,
    pub events: EioEvents,
    /// Callbacks of packets handed to the link and not yet written, in order.
    pub sent: Vec<SendCallback>,
}

impl RawUpper {
    pub fn new(handler: Arc<dyn EioHandler>) -> Self {
        let events = handler.events();
        RawUpper {
            handler,
            events,
            sent: Vec::new(),
        }
    }

    /// Whether a flush or a drain has anything to run.
    pub fn wants_flush(&self) -> bool {
        self.events.contains(EioEvents::FLUSH) || !self.sent.is_empty()
    }
}

impl RawUpper {
    /// Runs `f` with the handler and a socket of session `s`; a `close()` in it ends the
    /// session (`forced close`).
    fn event<R>(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
        f: impl FnOnce(&dyn EioHandler, &mut EioSocket<'_, '_>) -> R,
    ) -> Result<R, DisconnectReason> {
        let mut socket = EioSocket {
            tx: Tx {
                cx: &mut *tx.cx,
                link: &mut *tx.link,
            },
            sid: s.sid,
            id: s.custom.cloned(),
            remote: s.remote,
            close: false,
            handler: &*self.handler,
            events: self.events,
            sent: &mut self.sent,
        };
        let r = f(&*self.handler, &mut socket);
        if socket.close {
            Err(DisconnectReason::ForcedClose)
        } else {
            Ok(r)
        }
    }

    /// The queued packets went out: their send callbacks run, then the handler's `on_drain`
    /// if it asked for flush events.
    fn sent(&mut self, tx: &mut Tx<'_, '_>, s: &SessionInfo<'_>) -> Result<(), DisconnectReason> {
        let flush_events = self.events.contains(EioEvents::FLUSH);
        let callbacks = std::mem::take(&mut self.sent);
        self.event(tx, s, |h, socket| {
            for callback in callbacks {
                callback(socket);
            }
            if flush_events {
                h.on_drain(socket);
            }
        })
    }
}

/// How a received packet looks to [`EioHandler::on_packet`]; `None` for text that is not
/// UTF-8 (the session ends with a parse error, unseen).
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

/// A raw Engine.IO handler as the layer above a session.
impl Upper for RawUpper {
    fn on_open(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        self.event(tx, s, |h, socket| h.on_open(socket))
    }

    fn on_message(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
        text: bool,
        data: &[u8],
    ) -> Result<(), DisconnectReason> {
        let msg = if text {
            WsMessage::Text(std::str::from_utf8(data).map_err(|_| DisconnectReason::ParseError)?)
        } else {
            WsMessage::Binary(data)
        };
        self.event(tx, s, |h, socket| h.on_message(socket, msg))
    }

    fn on_closed(
        self: Box<Self>,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
        reason: DisconnectReason,
        owed: Option<&mut Closed>,
        gives_up_at: Option<Instant>,
    ) {
        let id: Box<str> = s.client_id().into();
        let Some(closed) = owed else {
            self.handler.on_close(&id, reason);
            return;
        };
        // The client has yet to collect the close packet: as the reference's socket stays
        // `closing` until then, the handler hears of the end when the client's GET takes it,
        // or at the heartbeat deadline (`ping timeout`) if the client is gone.
        let ttl = tx.cx.now() + CLOSED_POLL_TTL;
        let (at, on_timeout) = match gives_up_at {
            Some(at) if at < ttl => (at, DisconnectReason::PingTimeout),
            _ => (ttl, reason),
        };
        let timer = tx.cx.arm(at, Timer::Heartbeat(s.key));
        let handler = self.handler;
        closed.late = Some(LateReport {
            report: Box::new(move |why| handler.on_close(&id, why)),
            key: s.key,
            timer,
            collected: reason,
            on_timeout,
        });
    }

    fn on_packet(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
        packet: &Packet<'_>,
    ) -> Result<bool, DisconnectReason> {
        if !self.events.contains(EioEvents::PACKET) {
            return Ok(true);
        }
        let Some(view) = packet_view(packet) else {
            return Ok(true);
        };
        let verdict = self.event(tx, s, |h, socket| h.on_packet(socket, &view))?;
        Ok(verdict == Inbound::Process)
    }

    fn send_ping(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        let events = self.events;
        if events == EioEvents::NONE {
            tx.text(|b| {
                b.push(b'2');
                true
            });
            return Ok(());
        }
        self.event(tx, s, |h, socket| {
            let ping = EioPacket::Ping(b"");
            if events.contains(EioEvents::PACKET_CREATE) {
                h.on_packet_create(socket, &ping);
            }
            let queued = socket.tx.text(|b| {
                b.push(b'2');
                true
            });
            if queued {
                socket.queued(&[ping], None);
            }
        })
    }

    fn on_heartbeat(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        self.event(tx, s, |h, socket| h.on_heartbeat(socket))
    }

    fn on_upgrading(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        self.event(tx, s, |h, socket| h.on_upgrading(socket))
    }

    fn on_upgrade(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
        moved: &[Out],
    ) -> Result<(), DisconnectReason> {
        if !moved.is_empty() && self.wants_flush() {
            // What polling still held went out on the WebSocket: flushed there, and its
            // callbacks wait for that connection to drain.
            self.event(tx, s, |_, socket| {
                let views: Vec<EioPacket<'_>> = moved.iter().map(EioPacket::of_out).collect();
                socket.queued(&views, None);
            })?;
        }
        self.event(tx, s, |h, socket| h.on_upgrade(socket))
    }

    fn watches_flush(&self) -> bool {
        self.wants_flush()
    }

    fn on_polling_flush(&mut self, s: &SessionInfo<'_>, polling: &Polling) {
        if self.events.contains(EioEvents::FLUSH) {
            let views: Vec<EioPacket<'_>> = polling.queued().map(EioPacket::of_out).collect();
            self.handler.on_flush(s.client_id(), &views);
        }
    }

    fn on_sent(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        self.sent(tx, s)
    }

    /// A WebSocket wrote everything queued (polling reports through `on_sent`).
    fn on_drain(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        if !matches!(tx.link, Link::Ws(..)) || !self.wants_flush() {
            return Ok(());
        }
        self.sent(tx, s)
    }
}

/// An endpoint's raw handler makes the layer above each of its sessions.
impl NewUpper for Arc<dyn EioHandler> {
    fn new_upper(&self, _req: &Request, _remote: Option<SocketAddr>) -> Box<dyn Upper> {
        Box::new(RawUpper::new(self.clone()))
    }
}

/// The Engine.IO session a callback is about.
pub struct EioSocket<'c, 'a> {
    pub(crate) tx: Tx<'c, 'a>,
    pub(crate) sid: Sid,
    /// The id the application chose for the session, if any (`ServerBuilder::generate_id`).
    pub(crate) id: Option<Arc<str>>,
    /// The peer address of the connection that opened the session.
    pub(crate) remote: Option<SocketAddr>,
    /// The handler asked to end the session.
    pub(crate) close: bool,
    pub(crate) handler: &'c dyn EioHandler,
    pub(crate) events: EioEvents,
    /// The session's callbacks waiting for their packet to be written.
    pub(crate) sent: &'c mut Vec<SendCallback>,
}

impl EioSocket<'_, '_> {
    /// The session id: the one `ServerBuilder::generate_id` chose, or else the one Volley
    /// drew.
    pub fn sid(&self) -> &str {
        self.id.as_deref().unwrap_or(self.sid.as_str())
    }

    /// The transport carrying the session now (the reference's `socket.transport.name`):
    /// `Polling` until an upgrade to WebSocket completes, `WebSocket` after it or when the
    /// session opened on a WebSocket.
    pub fn transport(&self) -> Transport {
        match self.tx.link {
            Link::Ws(..) => Transport::WebSocket,
            Link::Polling(_) | Link::Upgrading { .. } => Transport::Polling,
        }
    }

    /// The client's address: the peer of the connection whose request opened the session
    /// (the reference's `socket.remoteAddress`, kept for the session's life); `None` if the
    /// kernel could not tell it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Bytes queued for the client and not yet written: the polling queue waiting for a GET,
    /// or the WebSocket connection's write queue.
    pub fn queued_bytes(&mut self) -> usize {
        self.tx.queued_bytes()
    }

    /// Sends a text message; false if it could not be queued (the connection is gone, or the
    /// client let more than `max_buffered` pile up).
    pub fn send_text(&mut self, text: &str) -> bool {
        self.send(WsMessage::Text(text), None)
    }

    /// Sends a binary message; false if it could not be queued.
    pub fn send_binary(&mut self, data: &[u8]) -> bool {
        self.send(WsMessage::Binary(data), None)
    }

    /// Sends a text message and runs `callback` once it has been written to the transport
    /// (the reference's `socket.send(data, callback)`): on long-polling when a GET was
    /// answered with it, on WebSocket when the connection's write queue emptied after it (so
    /// every packet queued before it went out too); in order, on this session's worker, with
    /// the session at hand to send more. A packet that is never written — the session ended
    /// first, or it could not be queued (false) — never runs its callback; nor does one a
    /// server's close still delivers to a polling client after the session ended.
    pub fn send_text_then(
        &mut self,
        text: &str,
        callback: impl FnOnce(&mut EioSocket<'_, '_>) + Send + 'static,
    ) -> bool {
        self.send(WsMessage::Text(text), Some(Box::new(callback)))
    }

    /// [`EioSocket::send_text_then`] for a binary message.
    pub fn send_binary_then(
        &mut self,
        data: &[u8],
        callback: impl FnOnce(&mut EioSocket<'_, '_>) + Send + 'static,
    ) -> bool {
        self.send(WsMessage::Binary(data), Some(Box::new(callback)))
    }

    /// [`EioSocket::send_text`] with options (`SendOptions { compress: false }`: this message
    /// does not ask for its polling response to be compressed).
    pub fn send_text_with(&mut self, text: &str, opts: SendOptions) -> bool {
        self.send_opts(WsMessage::Text(text), None, opts)
    }

    /// [`EioSocket::send_binary`] with options (see [`EioSocket::send_text_with`]).
    pub fn send_binary_with(&mut self, data: &[u8], opts: SendOptions) -> bool {
        self.send_opts(WsMessage::Binary(data), None, opts)
    }

    fn send(&mut self, msg: WsMessage<'_>, callback: Option<SendCallback>) -> bool {
        self.send_opts(msg, callback, SendOptions::default())
    }

    fn send_opts(
        &mut self,
        msg: WsMessage<'_>,
        callback: Option<SendCallback>,
        opts: SendOptions,
    ) -> bool {
        let packet = EioPacket::Message(msg);
        if self.events.contains(EioEvents::PACKET_CREATE) {
            let h = self.handler;
            h.on_packet_create(self, &packet);
        }
        let queued = match msg {
            WsMessage::Text(text) => self.tx.text_with(
                |b| {
                    b.push(b'4');
                    b.extend_from_slice(text.as_bytes());
                    true
                },
                opts.compress,
            ),
            WsMessage::Binary(data) => self.tx.binary_with(data, opts.compress),
        };
        if queued {
            self.queued(&[packet], callback);
        }
        queued
    }

    /// `packets` were queued on the link: a WebSocket flushes them at once; their callback
    /// waits for the write.
    pub(crate) fn queued(&mut self, packets: &[EioPacket<'_>], callback: Option<SendCallback>) {
        let flush = self.events.contains(EioEvents::FLUSH);
        let ws = matches!(self.tx.link, Link::Ws(..));
        if ws && flush {
            self.handler.on_flush(self.sid(), packets);
        }
        if let Some(cb) = callback {
            self.sent.push(cb);
        }
        if ws && (flush || !self.sent.is_empty()) {
            self.tx.notify_drain();
        }
    }

    /// Closes the session once this callback returns (its `on_close` gets `forced close`, as
    /// with the reference server).
    pub fn close(&mut self) {
        self.close = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn queued_packets_read_back_as_events_show_them() {
        let cases = [
            (
                Out::Text(Bytes::from_static(b"4hello")),
                EioPacket::Message(WsMessage::Text("hello")),
            ),
            (Out::Text(Bytes::from_static(b"2")), EioPacket::Ping(b"")),
            (Out::Text(Bytes::from_static(b"0{}")), EioPacket::Open("{}")),
            (
                Out::Binary(Bytes::from_static(&[1, 2])),
                EioPacket::Message(WsMessage::Binary(&[1, 2])),
            ),
        ];
        for (out, want) in &cases {
            assert_eq!(EioPacket::of_out(out), *want);
        }
        assert_eq!(EioPacket::Pong(b"").packet_type(), PacketType::Pong);
    }

    #[test]
    fn events_combine() {
        let e = EioEvents::PACKET | EioEvents::FLUSH;
        assert!(e.contains(EioEvents::PACKET) && e.contains(EioEvents::FLUSH));
        assert!(!e.contains(EioEvents::PACKET_CREATE));
        assert!(EioEvents::default().contains(EioEvents::NONE));
    }
}
