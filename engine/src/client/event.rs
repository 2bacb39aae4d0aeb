//! What a [`ClientConn`](super::ClientConn) reports: events, disconnect reasons and errors.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::proto::{eio, http, sio, ws};

/// Why a connection (or a namespace on it) ended, with the reason strings of the JS client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// `"io server disconnect"`: the server sent DISCONNECT for the namespace. The JS client
    /// does not reconnect after this, and neither do we.
    IoServerDisconnect,
    /// `"io client disconnect"`: we disconnected on purpose.
    IoClientDisconnect,
    /// `"ping timeout"`: no ping from the server within `pingInterval + pingTimeout`.
    PingTimeout,
    /// `"transport close"`: the server closed the connection (TCP close, WebSocket close frame
    /// or Engine.IO close packet).
    TransportClose,
    /// `"transport error"`: the connection failed (I/O error, refused upgrade, WebSocket
    /// protocol violation).
    TransportError,
    /// `"parse error"`: the server sent a packet we could not decode.
    ParseError,
    /// `"connect timeout"`: the upgrade and open packet did not complete within the connect
    /// timeout. Only ever seen before the connection opened.
    ConnectTimeout,
}

impl DisconnectReason {
    /// The reason string the JS client uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IoServerDisconnect => "io server disconnect",
            Self::IoClientDisconnect => "io client disconnect",
            Self::PingTimeout => "ping timeout",
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::ParseError => "parse error",
            Self::ConnectTimeout => "connect timeout",
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the server did, as reported by [`ClientConn::poll_event`](super::ClientConn::poll_event).
///
/// Events own their data (one allocation per string or JSON body) so the caller can keep them
/// while feeding more input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The Engine.IO session opened (the server's `0{...}` packet).
    Open {
        /// The Engine.IO session id.
        sid: String,
        /// How often the server pings.
        ping_interval: Duration,
        /// How long the server waits for our pong.
        ping_timeout: Duration,
        /// Largest payload the server accepts, in bytes.
        max_payload: usize,
    },
    /// The server accepted our CONNECT for a namespace.
    Connected {
        /// The namespace, e.g. `"/"` or `"/chat"`.
        nsp: String,
        /// The Socket.IO socket id in that namespace.
        sid: String,
    },
    /// The server refused our CONNECT for a namespace (e.g. its middleware failed).
    ConnectError {
        /// The namespace.
        nsp: String,
        /// The error message (`err.message` on the server).
        message: String,
        /// The error's `data` as JSON, if it had any.
        data_json: Option<Vec<u8>>,
    },
    /// An event from the server.
    Event {
        /// The namespace.
        nsp: String,
        /// The event name.
        name: String,
        /// The arguments after the name, as a JSON array (binary arguments are
        /// `{"_placeholder":true,"num":N}` objects indexing `attachments`).
        args_json: Vec<u8>,
        /// Binary attachments, in placeholder `num` order.
        attachments: Vec<Bytes>,
        /// Set when the server waits for an answer: reply with
        /// [`ClientConn::ack`](super::ClientConn::ack).
        ack_id: Option<u64>,
    },
    /// The server answered one of our emits.
    Ack {
        /// The namespace.
        nsp: String,
        /// The ack id our emit carried.
        id: u64,
        /// The answer's arguments as a JSON array (placeholders as in `Event`).
        args_json: Vec<u8>,
        /// Binary attachments, in placeholder `num` order.
        attachments: Vec<Bytes>,
    },
    /// The polling session moved to WebSocket (the probe succeeded and `5` was sent); from now
    /// on only [`Lane::WebSocket`](super::Lane::WebSocket) carries packets.
    Upgraded,
    /// The server disconnected us from a namespace (reason: `"io server disconnect"`).
    Disconnected {
        /// The namespace.
        nsp: String,
    },
    /// The connection is over; nothing more will be read or sent except bytes already queued
    /// by [`transmit`](super::ClientConn::transmit) (a close frame, say). Always the last event.
    Closed {
        /// Why it ended.
        reason: DisconnectReason,
    },
}

/// Why [`ClientConn::handle_input`](super::ClientConn::handle_input) refused the server's bytes.
/// The connection is closed once this is returned.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// An HTTP response (to the WebSocket upgrade, or to a polling request) was malformed or
    /// refused.
    Http(http::HttpError),
    /// The server broke the WebSocket protocol.
    Ws(ws::WsError),
    /// An Engine.IO packet could not be decoded.
    Eio(eio::EioError),
    /// A Socket.IO packet could not be decoded.
    Sio(sio::SioError),
    /// A well-formed packet arrived where it makes no sense; the text says which.
    Unexpected(&'static str),
    /// A polling request was answered with this HTTP status instead of 200 (e.g. 400 for an
    /// unknown session id).
    Status(u16),
}

impl ClientError {
    /// The disconnect reason the JS client reports for this kind of failure.
    pub fn reason(&self) -> DisconnectReason {
        match self {
            Self::Http(_) | Self::Ws(_) | Self::Status(_) => DisconnectReason::TransportError,
            Self::Eio(_) | Self::Sio(_) | Self::Unexpected(_) => DisconnectReason::ParseError,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(e) => write!(f, "bad HTTP response: {e}"),
            Self::Ws(e) => e.fmt(f),
            Self::Eio(e) => e.fmt(f),
            Self::Sio(e) => e.fmt(f),
            Self::Unexpected(what) => write!(f, "unexpected packet: {what}"),
            Self::Status(status) => write!(f, "polling request answered with HTTP {status}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<http::HttpError> for ClientError {
    fn from(e: http::HttpError) -> Self {
        Self::Http(e)
    }
}

impl From<ws::WsError> for ClientError {
    fn from(e: ws::WsError) -> Self {
        Self::Ws(e)
    }
}

impl From<eio::EioError> for ClientError {
    fn from(e: eio::EioError) -> Self {
        Self::Eio(e)
    }
}

impl From<sio::SioError> for ClientError {
    fn from(e: sio::SioError) -> Self {
        Self::Sio(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_match_the_js_client() {
        assert_eq!(
            DisconnectReason::IoServerDisconnect.to_string(),
            "io server disconnect"
        );
        assert_eq!(DisconnectReason::PingTimeout.as_str(), "ping timeout");
        assert_eq!(
            ClientError::Ws(ws::WsError::TooBig).reason(),
            DisconnectReason::TransportError
        );
        assert_eq!(
            ClientError::Sio(sio::SioError::Json).reason(),
            DisconnectReason::ParseError
        );
        assert!(ClientError::Unexpected("x").to_string().contains('x'));
    }
}
