//! Why a request of the threaded client failed: [`AckError`], [`EmitError`] and the server's
//! [`ConnectErrorInfo`]. A leaf module, so the handles, the shared state and the client thread
//! can all name these without importing one another.

use std::fmt;

/// Why an ack callback got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckError {
    /// No answer within the timeout given to
    /// [`Socket::emit_with_ack`](super::Socket::emit_with_ack).
    Timeout,
    /// The namespace disconnected after the emit was sent, so no answer can come.
    Disconnected,
    /// The client was closed.
    Closed,
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "ack timed out",
            Self::Disconnected => "disconnected before the ack arrived",
            Self::Closed => "client closed",
        })
    }
}

impl std::error::Error for AckError {}

/// Why an emit (or a namespace connect) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// The namespace is not connected and the buffer holds
    /// [`ClientOptions::max_buffered_emits`](super::ClientOptions::max_buffered_emits) emits
    /// already.
    BufferFull,
    /// The client was closed.
    Closed,
    /// The event name is reserved (`connect`, `disconnect`, ...; see
    /// [`is_reserved_event`](crate::proto::sio::is_reserved_event)).
    ReservedEvent,
    /// The auth payload is not a JSON object.
    InvalidAuth,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferFull => "emit buffer full while disconnected",
            Self::Closed => "client closed",
            Self::ReservedEvent => "reserved event name",
            Self::InvalidAuth => "auth must be a JSON object",
        })
    }
}

impl std::error::Error for EmitError {}

/// The server refused a namespace connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectErrorInfo {
    /// The error message.
    pub message: String,
    /// The error's `data`, if any.
    pub data: Option<serde_json::Value>,
}
