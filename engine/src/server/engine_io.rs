//! Engine.IO endpoints without Socket.IO: raw text and binary messages over an Engine.IO session
//! (open packet, heartbeats), for users who want the transport and nothing above it.

use crate::proto::eio::Sid;
use crate::proto::ws::{CloseCode, OpCode};
use crate::runtime::{ConnId, Cx};

use super::reason::DisconnectReason;
use super::router::Router;
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
    pub(crate) cx: &'c mut Cx<'a, Router>,
    pub(crate) id: ConnId,
    pub(crate) sid: Sid,
}

impl EioSocket<'_, '_> {
    /// The session id.
    pub fn sid(&self) -> &str {
        self.sid.as_str()
    }

    /// Sends a text message; false if the session is closing.
    pub fn send_text(&mut self, text: &str) -> bool {
        self.cx.send_with(self.id, OpCode::Text, |b| {
            b.push(b'4');
            b.extend_from_slice(text.as_bytes());
            true
        })
    }

    /// Sends a binary message; false if the session is closing.
    pub fn send_binary(&mut self, data: &[u8]) -> bool {
        self.cx.send_frame(self.id, OpCode::Binary, data)
    }

    /// Closes the session (its `on_close` gets `forced close`, as with the reference server).
    pub fn close(&mut self) {
        self.cx.close(self.id, CloseCode::NORMAL, "");
    }
}
