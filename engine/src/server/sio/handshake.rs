//! What a client sent when it connected: shown to connect handlers and middleware.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::SystemTime;

use crate::proto::http::{self, Request};

/// The HTTP request that opened the connection.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// Request path, e.g. `/socket.io/`.
    pub path: String,
    /// Raw (still percent-encoded) query string.
    pub query: String,
    /// Request headers as sent (names in their original case).
    pub headers: Vec<(String, String)>,
    /// The client's address.
    pub address: Option<SocketAddr>,
    /// When the connection was opened.
    pub issued: SystemTime,
}

impl Handshake {
    pub(crate) fn from_request(req: &Request, address: Option<SocketAddr>) -> Self {
        Handshake {
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req
                .headers()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            address,
            issued: SystemTime::now(),
        }
    }

    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        http::query_pairs(&self.query)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}
