//! What the application is told when an emit or a connection is refused.

use serde::Serialize;

/// Why an emit was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmitError {
    /// The event name is reserved (`connect`, `disconnect`, ...).
    ReservedEvent,
    /// The arguments did not serialise to a JSON array.
    Serialize(String),
    /// The connection is closing or gone.
    Closed,
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::ReservedEvent => f.write_str("reserved event name"),
            EmitError::Serialize(e) => write!(f, "arguments do not serialise: {e}"),
            EmitError::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for EmitError {}

/// Refuses a connection to a namespace: the client gets `connect_error` with
/// `{"message": message, "data": data}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    pub(crate) message: String,
    pub(crate) data: Option<Vec<u8>>,
}

impl ConnectError {
    /// A refusal with a message and no data.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds `data` (any serialisable value) to the refusal.
    pub fn with_data<T: Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.data = serde_json::to_vec(data).ok();
        self
    }
}

/// Why an emit's acknowledgement callback got no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckError {
    /// No reply within the timeout.
    Timeout,
    /// The socket disconnected first.
    Disconnected,
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AckError::Timeout => "operation has timed out",
            AckError::Disconnected => "socket has been disconnected",
        })
    }
}

impl std::error::Error for AckError {}
