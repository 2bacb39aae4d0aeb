//! What a connection carries once its request is answered with an upgrade.

use std::sync::Arc;

use super::session_key::SessionKey;
use super::ws::WsHandler;

/// Per-connection state kept by the runtime.
pub(crate) enum Session {
    WebSocket(Arc<dyn WsHandler>),
    /// A WebSocket carrying (or probing to carry) an Engine.IO session.
    Eio(SessionKey),
    /// A WebSocket for a session that already has one (or is getting one): the reference
    /// completes its handshake and then closes it, so stock clients see a close, not a 400.
    Refused,
}
