//! Connection options and the HTTP upgrade request that opens an Engine.IO session.

use std::time::Duration;

use crate::proto::eio::Transport;
use crate::proto::{http, sio};

/// The transport a connection uses.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransportKind {
    /// WebSocket from the start (`transports: ["websocket"]` in the JS client). The default:
    /// one TCP connection and no HTTP overhead per packet.
    #[default]
    WebSocket,
    /// HTTP long-polling only (`transports: ["polling"]`): a GET waits for the server's
    /// packets, a POST carries ours; two TCP connections, reused while the server keeps them
    /// alive.
    Polling,
    /// Long-polling first, then a WebSocket probe and the upgrade when the server offers it,
    /// as the JS client does by default. A failed probe leaves the session on polling.
    PollingThenUpgrade,
}

/// Where and how one [`ClientConn`](super::ClientConn) connects.
///
/// Defaults: `host` `"127.0.0.1:3000"`, `path` `"/socket.io/"`, no query or headers,
/// [`TransportKind::WebSocket`],
/// `max_message` 16 MiB, `sio_limits` the [`sio::Limits`] defaults but 64 attachments and
/// 16 MiB of them, `connect_timeout` 20 s (the JS client's `timeout`), `per_message_deflate`
/// on (as the JS client's `perMessageDeflate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `host:port` for the `Host` header, e.g. `"127.0.0.1:3000"`.
    pub host: String,
    /// The Engine.IO path; a missing leading or trailing `/` is added (`"socket.io"` becomes
    /// `"/socket.io/"`), as the JS client does.
    pub path: String,
    /// Extra query parameters, sent on every request after `EIO=4&transport=...` (and `sid`),
    /// percent-encoded here.
    pub query: Vec<(String, String)>,
    /// Extra request headers (e.g. `Authorization`, `Cookie`), sent on every request.
    pub headers: Vec<(String, String)>,
    /// The transport.
    pub transport: TransportKind,
    /// Largest WebSocket message, or polling response body, accepted from the server, in bytes.
    pub max_message: usize,
    /// Limits applied to each Socket.IO packet from the server.
    pub sio_limits: sio::Limits,
    /// Time allowed from [`ClientConn::new`](super::ClientConn::new) to the server's open packet.
    pub connect_timeout: Duration,
    /// Offer permessage-deflate (RFC 7692) on the WebSocket, as the JS client does by default.
    /// Where the server accepts, messages of [`DEFLATE_THRESHOLD`] bytes or more go compressed
    /// (the JS client's threshold) and the server's compressed messages are inflated, within
    /// `max_message`; that costs CPU and up to about 460 KiB of compressor and decompressor
    /// state per connection for fewer bytes on the wire. Default on.
    pub per_message_deflate: bool,
}

/// The smallest message the client sends compressed where permessage-deflate was negotiated:
/// the JS client's default `perMessageDeflate.threshold`.
pub const DEFLATE_THRESHOLD: usize = 1024;

/// The permessage-deflate offer: the one browsers and the JS client send.
const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            host: "127.0.0.1:3000".to_owned(),
            path: "/socket.io/".to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            transport: TransportKind::WebSocket,
            max_message: 16 << 20,
            sio_limits: sio::Limits {
                max_attachments: 64,
                max_attachment_bytes: 16 << 20,
                ..sio::Limits::default()
            },
            connect_timeout: Duration::from_secs(20),
            per_message_deflate: true,
        }
    }
}

/// The parts of every request of one connection, prepared once.
#[derive(Clone, Debug)]
pub(super) struct Target {
    pub host: String,
    /// The Engine.IO path with its leading and trailing `/`.
    path: String,
    /// `&name=value...` of the extra query parameters, encoded.
    query: String,
    pub headers: Vec<(String, String)>,
    /// Whether the WebSocket upgrade offers permessage-deflate.
    pub deflate: bool,
}

impl Target {
    pub fn new(opts: &ConnectOptions) -> Self {
        let mut path = String::with_capacity(opts.path.len() + 2);
        if !opts.path.starts_with('/') {
            path.push('/');
        }
        path.push_str(&opts.path);
        if !path.ends_with('/') {
            path.push('/');
        }
        let mut query = String::new();
        for (name, value) in &opts.query {
            query.push('&');
            percent_encode(&mut query, name);
            query.push('=');
            percent_encode(&mut query, value);
        }
        Self {
            host: opts.host.clone(),
            path,
            query,
            headers: opts.headers.clone(),
            deflate: opts.per_message_deflate,
        }
    }

    /// The request target for `transport`, in session `sid` once there is one.
    pub fn uri(&self, transport: Transport, sid: Option<&str>) -> String {
        let mut uri = String::with_capacity(self.path.len() + self.query.len() + 64);
        uri.push_str(&self.path);
        uri.push_str("?EIO=4&transport=");
        uri.push_str(transport.as_str());
        if let Some(sid) = sid {
            uri.push_str("&sid=");
            percent_encode(&mut uri, sid);
        }
        uri.push_str(&self.query);
        uri
    }

    /// The extra headers as the HTTP writers take them.
    pub fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    /// Appends the WebSocket upgrade request with key `key` (and the permessage-deflate offer
    /// when `deflate`).
    pub fn write_upgrade(&self, out: &mut Vec<u8>, sid: Option<&str>, key: &str) {
        let uri = self.uri(Transport::WebSocket, sid);
        let mut headers = self.header_refs();
        if self.deflate {
            headers.push(("Sec-WebSocket-Extensions", DEFLATE_OFFER));
        }
        http::write_upgrade_request(out, &self.host, &uri, key, &headers);
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, like `encodeURIComponent`
/// (which also keeps `!'()*`; encoding them too is equally valid).
fn percent_encode(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{parse_request, Limits};

    #[test]
    fn golden_request_with_query_and_headers() {
        let opts = ConnectOptions {
            host: "example.com:80".to_owned(),
            path: "socket.io".to_owned(),
            query: vec![("token".to_owned(), "a b&c=é".to_owned())],
            headers: vec![("Authorization".to_owned(), "Bearer x".to_owned())],
            per_message_deflate: false,
            ..ConnectOptions::default()
        };
        let mut out = Vec::new();
        Target::new(&opts).write_upgrade(&mut out, None, "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "GET /socket.io/?EIO=4&transport=websocket&token=a%20b%26c%3D%C3%A9 HTTP/1.1\r\n\
             Host: example.com:80\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Authorization: Bearer x\r\n\r\n"
        );
        let req = parse_request(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(req.query_param("token").as_deref(), Some("a b&c=é"));
        assert_eq!(req.query_param("EIO").as_deref(), Some("4"));
    }

    #[test]
    fn uris_per_transport_and_session() {
        let opts = ConnectOptions {
            path: "/io".to_owned(),
            query: vec![("a".to_owned(), "1".to_owned())],
            ..ConnectOptions::default()
        };
        let t = Target::new(&opts);
        assert_eq!(
            t.uri(Transport::Polling, None),
            "/io/?EIO=4&transport=polling&a=1"
        );
        assert_eq!(
            t.uri(Transport::WebSocket, Some("s+d")),
            "/io/?EIO=4&transport=websocket&sid=s%2Bd&a=1"
        );
    }
}
