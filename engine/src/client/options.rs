//! [`ClientOptions`]: what the threaded [`Client`](super::Client) connects to and how it
//! reconnects.

use std::fmt;
use std::time::Duration;

use super::handshake::{ConnectOptions, TransportKind};

/// Options of the threaded client. Defaults (as the JS client where it has one):
/// `path` `"/socket.io/"`, no query or headers, `reconnection` on, `reconnection_attempts`
/// `None` (unlimited), `reconnection_delay` 1000 ms, `reconnection_delay_max` 5000 ms,
/// `randomization_factor` 0.5, `connect_timeout` 20 s, `max_buffered_emits` 1024, `transport`
/// [`TransportKind::WebSocket`] (the JS client starts with polling; choose
/// [`TransportKind::PollingThenUpgrade`] for that), `per_message_deflate` on.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientOptions {
    /// The server, `http://host:port` (or `ws://`); a path in the URL is refused: namespaces
    /// are chosen with [`Client::socket`](super::Client::socket), the Engine.IO path with
    /// `path`. TLS is not supported.
    pub url: String,
    /// The Engine.IO path.
    pub path: String,
    /// Extra query parameters of the handshake.
    pub query: Vec<(String, String)>,
    /// Extra handshake headers.
    pub headers: Vec<(String, String)>,
    /// Whether to reconnect after the connection is lost (never after `"io server
    /// disconnect"` or our own close).
    pub reconnection: bool,
    /// Reconnection attempts before giving up (`on_reconnect_failed`); `None` is unlimited.
    pub reconnection_attempts: Option<u32>,
    /// Delay before the first reconnection attempt; doubles per attempt.
    pub reconnection_delay: Duration,
    /// Longest delay between attempts.
    pub reconnection_delay_max: Duration,
    /// Jitter, `0.0..=1.0`: each delay moves up or down by up to this fraction of itself.
    pub randomization_factor: f64,
    /// Time allowed for TCP connect, upgrade and the Engine.IO open packet.
    pub connect_timeout: Duration,
    /// Most emits held while a namespace is not connected; beyond that `emit` fails with
    /// [`EmitError::BufferFull`](super::EmitError::BufferFull).
    pub max_buffered_emits: usize,
    /// The transport of each connection.
    pub transport: TransportKind,
    /// Offer permessage-deflate on WebSockets, as the JS client does (see
    /// [`ConnectOptions::per_message_deflate`]).
    pub per_message_deflate: bool,
}

impl ClientOptions {
    /// Defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            path: "/socket.io/".to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            reconnection: true,
            reconnection_attempts: None,
            reconnection_delay: Duration::from_millis(1000),
            reconnection_delay_max: Duration::from_millis(5000),
            randomization_factor: 0.5,
            connect_timeout: Duration::from_secs(20),
            max_buffered_emits: 1024,
            transport: TransportKind::WebSocket,
            per_message_deflate: true,
        }
    }

    /// The `host:port` to connect to, from `url` (port 80 when absent).
    pub(super) fn authority(&self) -> Result<String, UrlError> {
        let rest = ["http://", "ws://"]
            .iter()
            .find_map(|scheme| strip_prefix_ignore_case(&self.url, scheme))
            .ok_or(UrlError::Scheme)?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !path.is_empty() {
            return Err(UrlError::Path);
        }
        if authority.is_empty() || authority.contains('@') {
            return Err(UrlError::Host);
        }
        // A bracketed IPv6 host has colons of its own; the port follows the ']'.
        let has_port = match authority.rfind(']') {
            Some(end) => authority.get(end + 1..).is_some_and(|p| p.starts_with(':')),
            None => authority.contains(':'),
        };
        Ok(if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        })
    }

    /// The options of one connection.
    pub(super) fn connect_options(&self, host: &str) -> ConnectOptions {
        ConnectOptions {
            host: host.to_owned(),
            path: self.path.clone(),
            query: self.query.clone(),
            headers: self.headers.clone(),
            connect_timeout: self.connect_timeout,
            transport: self.transport,
            per_message_deflate: self.per_message_deflate,
            ..ConnectOptions::default()
        }
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// Why [`ClientOptions::url`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlError {
    /// Not `http://` or `ws://` (TLS schemes are not supported).
    Scheme,
    /// No host, or user info in the URL.
    Host,
    /// The URL has a path; use [`Client::socket`](super::Client::socket) for namespaces.
    Path,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Scheme => "the URL must start with http:// or ws://",
            Self::Host => "the URL has no usable host",
            Self::Path => "the URL must not have a path; pass the namespace to Client::socket",
        })
    }
}

impl std::error::Error for UrlError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority(url: &str) -> Result<String, UrlError> {
        ClientOptions::new(url).authority()
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            authority("http://127.0.0.1:3000").as_deref(),
            Ok("127.0.0.1:3000")
        );
        assert_eq!(
            authority("HTTP://localhost/").as_deref(),
            Ok("localhost:80")
        );
        assert_eq!(authority("ws://[::1]:9").as_deref(), Ok("[::1]:9"));
        assert_eq!(authority("ws://[::1]").as_deref(), Ok("[::1]:80"));
        assert_eq!(authority("https://x:1"), Err(UrlError::Scheme));
        assert_eq!(authority("http://"), Err(UrlError::Host));
        assert_eq!(authority("http://u@h:1"), Err(UrlError::Host));
        assert_eq!(authority("http://h:1/chat"), Err(UrlError::Path));
    }

    #[test]
    fn connect_options_carry_the_handshake_settings() {
        let mut o = ClientOptions::new("http://h:1");
        o.query.push(("a".into(), "b".into()));
        o.connect_timeout = Duration::from_secs(3);
        let c = o.connect_options("h:1");
        assert_eq!((c.host.as_str(), c.path.as_str()), ("h:1", "/socket.io/"));
        assert_eq!(c.query, o.query);
        assert_eq!(c.connect_timeout, Duration::from_secs(3));
    }
}
