//! Plain WebSocket endpoints: for users who want RFC 6455 without Engine.IO, and the floor the
//! benchmarks measure the full Socket.IO stack against.

use bytes::Bytes;

use crate::proto::ws::{CloseCode, OpCode};
use crate::runtime::{CloseReason, ConnId};

use super::port::Port;

/// A complete message from a WebSocket client. Text is valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsMessage<'a> {
    /// A text message.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// Callbacks of a WebSocket endpoint. They run on the worker that owns the connection and must
/// not block; use [`super::ServerHandle`] to send from other threads.
pub trait WsHandler: Send + Sync + 'static {
    /// A client completed the handshake. Default: nothing.
    fn on_open(&self, _ws: &mut WsConn<'_, '_>) {}
    /// A message arrived.
    fn on_message(&self, ws: &mut WsConn<'_, '_>, msg: WsMessage<'_>);
    /// The connection ended (close frame, EOF, error, shutdown). Default: nothing.
    fn on_close(&self, _id: ConnId, _reason: &CloseReason) {}
}

/// The connection a [`WsHandler`] callback is about.
pub struct WsConn<'c, 'a> {
    pub(crate) cx: &'c mut (dyn Port + 'a),
    pub(crate) id: ConnId,
}

impl WsConn<'_, '_> {
    /// This connection's id; valid with [`super::ServerHandle::ws_send`] from any thread.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Queues a text message; false if the connection is closing.
    pub fn send_text(&mut self, text: &str) -> bool {
        self.cx.send_frame(self.id, OpCode::Text, text.as_bytes())
    }

    /// Queues a binary message; false if the connection is closing.
    pub fn send_binary(&mut self, data: &[u8]) -> bool {
        self.cx.send_frame(self.id, OpCode::Binary, data)
    }

    /// Queues a frame encoded once and shared with other connections (see
    /// [`encode_ws_frame`]); no copy is made.
    pub fn send_shared(&mut self, frame: Bytes) -> bool {
        self.cx.send_shared(self.id, frame, true)
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes).
    pub fn close(&mut self, code: CloseCode, reason: &str) {
        self.cx.close(self.id, code, reason);
    }

    /// Bytes queued for this connection and not yet written to the socket.
    pub fn queued_bytes(&mut self) -> usize {
        self.cx.queued_bytes(self.id)
    }
}

/// Encodes a complete server frame once so it can be sent to many connections without copies.
pub fn encode_ws_frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(payload.len() + 10);
    crate::proto::ws::encode_frame(&mut v, opcode, payload);
    Bytes::from(v)
}
