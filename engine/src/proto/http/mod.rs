//! Sans-IO HTTP/1.1: request heads, body framing, WebSocket upgrades and responses, for both the
//! server and our client.
//!
//! Everything here works on byte slices the caller owns: a parser reports how many bytes it
//! consumed and the caller keeps the rest (pipelined requests, WebSocket frames after an
//! upgrade). Request heads are parsed into an owned [`Request`] because they arrive once per
//! HTTP request, not once per message; bodies are decoded straight into the caller's buffer.

mod body;
mod client;
pub mod encoding;
mod error;
mod headers;
mod query;
mod request;
mod response;
mod upgrade;

pub use body::BodyReader;
pub use client::{
    check_upgrade_response, parse_response, write_request, write_upgrade_request, Response,
};
pub use error::HttpError;
pub use query::{percent_decode, query_pairs};
pub use request::{parse_request, Method, Request};
pub use response::{
    reason_phrase, write_continue, write_error, write_response, write_response_head,
    write_switching_protocols, write_switching_protocols_with,
};
pub use upgrade::{
    is_websocket_upgrade, new_websocket_key, validate_upgrade, websocket_accept, UpgradeError,
};

/// Limits on a message head (request or response line plus headers).
///
/// Defaults: `max_header_bytes` 8192, `max_headers` 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes the head may take, final empty line included. Default 8192.
    pub max_header_bytes: usize,
    /// Most header fields the head may carry. Default 32.
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 8192,
            max_headers: 32,
        }
    }
}

/// How the body after a head is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body follows the head.
    None,
    /// Exactly this many bytes follow (`Content-Length`).
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the peer closes the connection. Only [`parse_response`] produces
    /// this (a response with neither `Content-Length` nor chunked framing); requests never have
    /// it.
    UntilClose,
}
