//! Handshake checks on query values, with the reference server's error codes and bodies.

use std::fmt;

/// Why the server refuses an Engine.IO request, as numbered by the reference server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandshakeError {
    /// Code 0: `transport` is missing or not `polling`/`websocket`.
    UnknownTransport,
    /// Code 1: `sid` names no live session.
    UnknownSid,
    /// Code 2: a handshake (request without `sid`) that is not a `GET`.
    BadHandshakeMethod,
    /// Code 3: anything else malformed, e.g. `transport=websocket` without a WebSocket upgrade.
    BadRequest,
    /// Code 4: the application's request filter refused the request (HTTP 403).
    Forbidden,
    /// Code 5: `EIO` is missing or not `4`.
    UnsupportedProtocolVersion,
}

impl HandshakeError {
    /// The numeric code in the JSON body, 0 to 5.
    pub const fn code(&self) -> u8 {
        match self {
            Self::UnknownTransport => 0,
            Self::UnknownSid => 1,
            Self::BadHandshakeMethod => 2,
            Self::BadRequest => 3,
            Self::Forbidden => 4,
            Self::UnsupportedProtocolVersion => 5,
        }
    }

    /// The error for a numeric code, as a client reads it back from a body.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::UnknownTransport,
            1 => Self::UnknownSid,
            2 => Self::BadHandshakeMethod,
            3 => Self::BadRequest,
            4 => Self::Forbidden,
            5 => Self::UnsupportedProtocolVersion,
            _ => return None,
        })
    }

    /// The reference server's message text for this error.
    pub const fn message(&self) -> &'static str {
        match self {
            Self::UnknownTransport => "Transport unknown",
            Self::UnknownSid => "Session ID unknown",
            Self::BadHandshakeMethod => "Bad handshake method",
            Self::BadRequest => "Bad request",
            Self::Forbidden => "Forbidden",
            Self::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status to answer with: 403 for [`HandshakeError::Forbidden`], else 400.
    pub const fn status(&self) -> u16 {
        match self {
            Self::Forbidden => 403,
            _ => 400,
        }
    }

    /// Appends the JSON body, e.g. `{"code":5,"message":"Unsupported protocol version"}`
    /// (served with `Content-Type: application/json`).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"code":"#);
        out.push(b'0' + self.code());
        out.extend_from_slice(br#","message":""#);
        out.extend_from_slice(self.message().as_bytes());
        out.extend_from_slice(br#""}"#);
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for HandshakeError {}

/// An Engine.IO transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl Transport {
    /// The `transport` query value: `polling` or `websocket`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::WebSocket => "websocket",
        }
    }

    /// Parses a `transport` query value; exact and case-sensitive, like the reference server.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "polling" => Some(Self::Polling),
            "websocket" => Some(Self::WebSocket),
            _ => None,
        }
    }
}

/// An Engine.IO protocol revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EioVersion {
    /// Revision 3 (Socket.IO 2.x clients): the client pings, polling payloads are
    /// length-framed.
    V3,
    /// Revision 4 (Socket.IO 3.x and later): the server pings, payloads are `0x1e`-separated.
    V4,
}

impl EioVersion {
    /// The revision a request's `EIO` value asks for: `4` is v4, anything else (missing
    /// included) v3, as the reference's `computeProtocolRevision` reads it.
    pub fn of(eio: Option<&str>) -> Self {
        if eio == Some("4") {
            Self::V4
        } else {
            Self::V3
        }
    }
}

/// Checks `EIO` and `transport=polling|websocket` from already-extracted query values: `EIO=4`
/// is v4; any other value (or none) is v3 when `allow_eio3`, else
/// [`HandshakeError::UnsupportedProtocolVersion`].
///
/// The transport is checked first, as the reference server does, so a request wrong in both
/// ways gets code 0.
pub fn check_query(
    eio: Option<&str>,
    transport: Option<&str>,
    allow_eio3: bool,
) -> Result<(Transport, EioVersion), HandshakeError> {
    let transport = transport
        .and_then(Transport::parse)
        .ok_or(HandshakeError::UnknownTransport)?;
    let version = EioVersion::of(eio);
    if version == EioVersion::V3 && !allow_eio3 {
        return Err(HandshakeError::UnsupportedProtocolVersion);
    }
    Ok((transport, version))
}

/// Checks a request that opens a new session (it has no `sid`), in the reference server's order:
/// transport, then method (`GET` only), then that `transport=websocket` comes as a WebSocket
/// upgrade, then the protocol version. The application's own filter
/// ([`HandshakeError::Forbidden`]) runs after this.
pub fn check_handshake(
    is_get: bool,
    is_websocket_upgrade: bool,
    eio: Option<&str>,
    transport: Option<&str>,
    allow_eio3: bool,
) -> Result<(Transport, EioVersion), HandshakeError> {
    let parsed = transport
        .and_then(Transport::parse)
        .ok_or(HandshakeError::UnknownTransport)?;
    if !is_get {
        return Err(HandshakeError::BadHandshakeMethod);
    }
    if parsed == Transport::WebSocket && !is_websocket_upgrade {
        return Err(HandshakeError::BadRequest);
    }
    check_query(eio, transport, allow_eio3)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [HandshakeError; 6] = [
        HandshakeError::UnknownTransport,
        HandshakeError::UnknownSid,
        HandshakeError::BadHandshakeMethod,
        HandshakeError::BadRequest,
        HandshakeError::Forbidden,
        HandshakeError::UnsupportedProtocolVersion,
    ];

    fn json(e: HandshakeError) -> String {
        let mut out = Vec::new();
        e.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn golden_bodies() {
        assert_eq!(
            json(HandshakeError::UnsupportedProtocolVersion),
            r#"{"code":5,"message":"Unsupported protocol version"}"#
        );
        assert_eq!(
            json(HandshakeError::UnknownTransport),
            r#"{"code":0,"message":"Transport unknown"}"#
        );
        assert_eq!(
            json(HandshakeError::UnknownSid),
            r#"{"code":1,"message":"Session ID unknown"}"#
        );
        assert_eq!(
            json(HandshakeError::BadHandshakeMethod),
            r#"{"code":2,"message":"Bad handshake method"}"#
        );
        assert_eq!(
            json(HandshakeError::BadRequest),
            r#"{"code":3,"message":"Bad request"}"#
        );
        assert_eq!(
            json(HandshakeError::Forbidden),
            r#"{"code":4,"message":"Forbidden"}"#
        );
    }

    #[test]
    fn codes_statuses_round_trip() {
        for e in ALL {
            assert_eq!(HandshakeError::from_code(e.code()), Some(e));
            assert_eq!(
                e.status(),
                if e == HandshakeError::Forbidden {
                    403
                } else {
                    400
                }
            );
            let body: serde_json::Value = serde_json::from_str(&json(e)).unwrap();
            assert_eq!(body["code"], e.code());
            assert_eq!(body["message"], e.message());
        }
        assert_eq!(HandshakeError::from_code(6), None);
    }

    #[test]
    fn eio3_is_refused_unless_allowed() {
        use EioVersion::*;
        use HandshakeError::*;
        for eio in [Some("3"), None, Some("abc"), Some("5")] {
            let refused = check_query(eio, Some("polling"), false);
            assert_eq!(refused, Err(UnsupportedProtocolVersion));
            let allowed = check_query(eio, Some("websocket"), true);
            assert_eq!(allowed, Ok((Transport::WebSocket, V3)));
        }
        let v4 = check_query(Some("4"), Some("polling"), true);
        assert_eq!(v4, Ok((Transport::Polling, V4)));
        let bad_transport = check_query(Some("3"), Some("x"), true);
        assert_eq!(bad_transport, Err(UnknownTransport));
    }

    #[test]
    fn query_checks() {
        use HandshakeError::*;
        assert_eq!(
            check_query(Some("4"), Some("polling"), false),
            Ok((Transport::Polling, EioVersion::V4))
        );
        assert_eq!(
            check_query(Some("4"), Some("websocket"), false),
            Ok((Transport::WebSocket, EioVersion::V4))
        );
        assert_eq!(
            check_query(Some("3"), Some("polling"), false),
            Err(UnsupportedProtocolVersion)
        );
        assert_eq!(
            check_query(None, Some("polling"), false),
            Err(UnsupportedProtocolVersion)
        );
        assert_eq!(
            check_query(Some("abc"), Some("polling"), false),
            Err(UnsupportedProtocolVersion)
        );
        assert_eq!(check_query(Some("4"), None, false), Err(UnknownTransport));
        assert_eq!(
            check_query(Some("4"), Some("abc"), false),
            Err(UnknownTransport)
        );
        assert_eq!(
            check_query(Some("4"), Some("Polling"), false),
            Err(UnknownTransport)
        );
        assert_eq!(
            check_query(Some("3"), Some("abc"), false),
            Err(UnknownTransport)
        );
    }

    #[test]
    fn handshake_checks_in_reference_order() {
        use HandshakeError::*;
        let ok = check_handshake(true, false, Some("4"), Some("polling"), false);
        assert_eq!(ok, Ok((Transport::Polling, EioVersion::V4)));
        let ws = check_handshake(true, true, Some("4"), Some("websocket"), false);
        assert_eq!(ws, Ok((Transport::WebSocket, EioVersion::V4)));
        let post = check_handshake(false, false, Some("4"), Some("polling"), false);
        assert_eq!(post, Err(BadHandshakeMethod));
        let plain_get_ws = check_handshake(true, false, Some("4"), Some("websocket"), false);
        assert_eq!(plain_get_ws, Err(BadRequest));
        let old = check_handshake(true, false, Some("3"), Some("polling"), false);
        assert_eq!(old, Err(UnsupportedProtocolVersion));
        let post_bad_transport = check_handshake(false, false, None, Some("x"), false);
        assert_eq!(post_bad_transport, Err(UnknownTransport));
    }

    #[test]
    fn transport_names() {
        for t in [Transport::Polling, Transport::WebSocket] {
            assert_eq!(Transport::parse(t.as_str()), Some(t));
        }
    }
}
