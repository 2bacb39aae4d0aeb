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
    /// The client sent an Engine.IO packet that does not parse.
    ParseError,
    /// The server closed the whole connection: the client broke the Socket.IO protocol (a
    /// packet that does not decode or exceeds a limit, a packet for a namespace it has not
    /// joined, a second CONNECT, a CONNECT_ERROR, attachments that never came), or the
    /// application closed it (`EioSocket::close`, `ServerHandle::ws_close`). The reference
    /// server reports `forced close` in all these cases over WebSocket.
    ForcedClose,
    /// No namespace was joined within connectTimeout, so the server closed the connection.
    /// No socket exists yet, so no disconnect handler sees it.
    ForcedServerClose,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The connection's write queue passed `max_buffered`, or held the most bytes when its
    /// worker passed its share of `max_buffered_total`.
    SlowConsumer,
    /// A handler of this socket panicked (the panic was caught; other sockets carry on).
    HandlerPanic,
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
            Self::ForcedClose => "forced close",
            Self::ForcedServerClose => "forced server close",
            Self::ServerShuttingDown => "server shutting down",
            Self::SlowConsumer => "slow consumer",
            Self::HandlerPanic => "handler panic",
        }
    }

    /// The reason for a connection the runtime closed.
    pub(crate) fn from_close(reason: &CloseReason) -> Self {
        match reason {
            CloseReason::PeerClose(_) | CloseReason::Eof => Self::TransportClose,
            CloseReason::Io(_) | CloseReason::Protocol(_) => Self::TransportError,
            CloseReason::Local(_) => Self::ForcedClose,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ws::CloseCode;

    #[test]
    fn strings_are_the_reference_servers() {
        let golden = [
            (
                DisconnectReason::ClientNamespaceDisconnect,
                "client namespace disconnect",
            ),
            (
                DisconnectReason::ServerNamespaceDisconnect,
                "server namespace disconnect",
            ),
            (DisconnectReason::PingTimeout, "ping timeout"),
            (DisconnectReason::TransportClose, "transport close"),
            (DisconnectReason::TransportError, "transport error"),
            (DisconnectReason::ParseError, "parse error"),
            (DisconnectReason::ForcedClose, "forced close"),
            (DisconnectReason::ForcedServerClose, "forced server close"),
            (DisconnectReason::ServerShuttingDown, "server shutting down"),
        ];
        for (reason, text) in golden {
            assert_eq!(reason.as_str(), text);
            assert_eq!(reason.to_string(), text);
        }
    }

    #[test]
    fn closes_by_the_server_are_forced_closes() {
        assert_eq!(
            DisconnectReason::from_close(&CloseReason::Local(CloseCode::NORMAL)),
            DisconnectReason::ForcedClose
        );
        assert_eq!(
            DisconnectReason::from_close(&CloseReason::Eof),
            DisconnectReason::TransportClose
        );
        assert_eq!(
            DisconnectReason::from_close(&CloseReason::Io(std::io::ErrorKind::ConnectionReset)),
            DisconnectReason::TransportError
        );
    }
}
