//! Engine.IO endpoints without Socket.IO: raw text and binary messages over an Engine.IO session
//! (open packet, heartbeats), for users who want the transport and nothing above it.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::proto::eio::{Sid, Transport};

use super::engine::{Link, Tx};
use super::reason::DisconnectReason;
use super::ws::WsMessage;

/// Callbacks of an Engine.IO endpoint; they run on the worker that owns the session.
pub trait EioHandler: Send + Sync + 'static {
    /// The session opened (the open packet is queued). Default: nothing.
    fn on_open(&self, _s: &mut EioSocket<'_, '_>) {}
    /// A message arrived.
    fn on_message(&self, s: &mut EioSocket<'_, '_>, msg: WsMessage<'_>);
    /// The session ended. Default: nothing.
    fn on_close(&self, _sid: &str, _reason: DisconnectReason) {}
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
            Link::Ws(_) => Transport::WebSocket,
            Link::Polling(_) | Link::Upgrading { .. } => Transport::Polling,
        }
    }

    /// The client's address: the peer of the connection whose request opened the session
    /// (the reference's `socket.remoteAddress`, kept for the session's life); `None` if the
    /// kernel could not tell it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Sends a text message; false if the session is closing.
    pub fn send_text(&mut self, text: &str) -> bool {
        self.tx.text(|b| {
            b.push(b'4');
            b.extend_from_slice(text.as_bytes());
            true
        })
    }

    /// Sends a binary message; false if the session is closing.
    pub fn send_binary(&mut self, data: &[u8]) -> bool {
        self.tx.binary(data)
    }

    /// Closes the session once this callback returns (its `on_close` gets `forced close`, as
    /// with the reference server).
    pub fn close(&mut self) {
        self.close = true;
    }
}
