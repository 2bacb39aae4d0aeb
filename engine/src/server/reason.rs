//! Why a Socket.IO or Engine.IO session ended, with the strings the reference server reports.

use crate::runtime::CloseReason;

/// The reason passed to disconnect handlers. [`DisconnectReason::as_str`] gives the string the
/// reference Node server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The client left the namespace (`socket.disconnect()` on the client).
    ClientNamespaceDisconnect,
    /// The server left the namespace (`socket.disconnect()` on the server).
    ServerNamespaceDisconnect,
    /// No pong within pingTimeout.
    PingTimeout,
    /// The client closed the connection.
    TransportClose,
    /// The connection failed (reset, broken pipe, WebSocket protocol error).
    TransportError,
    /// The client sent a packet that does not parse.
    ParseError,
    /// The server closed the whole connection (a packet in an invalid state, no namespace
    /// joined within connectTimeout).
    ForcedServerClose,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The connection's write queue passed `max_buffered`.
    SlowConsumer,
}

impl DisconnectReason {
    /// The reference server's wording, e.g. `"ping timeout"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
            Self::PingTimeout => "ping timeout",
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::ParseError => "parse error",
            Self::ForcedServerClose => "forced server close",
            Self::ServerShuttingDown => "server shutting down",
            Self::SlowConsumer => "slow consumer",
        }
    }

    /// The reason for a connection the runtime closed.
    pub(crate) fn from_close(reason: &CloseReason) -> Self {
        match reason {
            CloseReason::PeerClose(_) | CloseReason::Eof => Self::TransportClose,
            CloseReason::Io(_) | CloseReason::Protocol(_) => Self::TransportError,
            CloseReason::Local(_) => Self::ForcedServerClose,
            CloseReason::SlowConsumer => Self::SlowConsumer,
            CloseReason::Shutdown => Self::ServerShuttingDown,
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
