//! Plain HTTP on the server's own port: requests for no endpoint (not Socket.IO, Engine.IO,
//! WebSocket or metrics) go to the application's fallback handler, on the worker that read them,
//! or their whole connection goes to the application's own HTTP server.

use std::borrow::Cow;
use std::net::{SocketAddr, TcpStream};

use bytes::Bytes;

use crate::proto::http::{BodyKind, Method, Request};
use crate::runtime::{Action, ConnId, Detached};

use super::conn_session::Session;
#[cfg(feature = "tokio")]
use super::handed_stream::HandedStream;
use super::port::Port;

/// Answers the HTTP requests no endpoint serves (see [`ServerBuilder::http_fallback`]). Runs
/// on a worker: it must not block.
///
/// [`ServerBuilder::http_fallback`]: super::ServerBuilder::http_fallback
pub type HttpFallback = dyn Fn(&HttpRequest<'_>) -> HttpResponse + Send + Sync;

/// A complete request for the fallback handler: its head and its whole body.
#[derive(Debug)]
pub struct HttpRequest<'a> {
    head: &'a Request,
    body: &'a [u8],
    remote: Option<SocketAddr>,
}

impl<'a> HttpRequest<'a> {
    /// The method as sent (`GET`, `POST`, `PUT`...). A `HEAD` request is answered with the
    /// head of the response the handler returns, without its body.
    pub fn method(&self) -> &'a str {
        self.head.method_name()
    }

    /// The path, still percent-encoded, without the query.
    pub fn path(&self) -> &'a str {
        &self.head.path
    }

    /// The raw query after `?`, still percent-encoded; empty when there is none.
    pub fn query(&self) -> &'a str {
        &self.head.query
    }

    /// The percent-decoded value of the first query parameter called `name`.
    pub fn query_param(&self, name: &str) -> Option<Cow<'a, str>> {
        self.head.query_param(name)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.head.header(name)
    }

    /// Every header as `(name, value)`, in arrival order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.head.headers()
    }

    /// The body, decoded from its `Content-Length` or chunked framing; empty when there is
    /// none. Bodies over `VOLLEY_MAX_PAYLOAD` never reach the handler: the client gets 413.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The peer's address, when the socket still knows it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// The parsed request head, for what the accessors above do not cover.
    pub fn head(&self) -> &'a Request {
        self.head
    }
}

/// What the fallback handler answers: a status, headers and a body.
///
/// `Content-Length` and `Connection` are Volley's to write (others given are dropped), as
/// is `Transfer-Encoding`; a `Connection: close` header closes the connection after the
/// response, otherwise it stays open when the client asked for keep-alive. A status outside
/// 200..=999 is sent as 500, since an informational answer would leave the client waiting.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl HttpResponse {
    /// A response with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// `404 Not Found` with a short text body, as Volley answers without a fallback.
    pub fn not_found() -> Self {
        Self::new(404)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body("Not Found\n")
    }

    /// Adds header `name: value` (several values of one name are several headers).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body. A `Bytes` (e.g. a file read once at start, cloned per request) is sent
    /// without a copy.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }
}

/// A connection given to the application (see [`ServerBuilder::http_handoff`]): Volley no
/// longer reads, writes or closes it.
///
/// [`ServerBuilder::http_handoff`]: super::ServerBuilder::http_handoff
#[derive(Debug)]
pub struct HandedConnection {
    /// The socket, a plain blocking descriptor (call `set_nonblocking(true)` before giving it
    /// to an async runtime), whatever the backend.
    pub stream: TcpStream,
    /// What Volley read from it and did not consume: the request for no endpoint, head first,
    /// and whatever the client sent after it. The application reads these bytes before the
    /// stream's.
    pub read: Vec<u8>,
    /// The TLS session of a connection that came in over TLS: its handshake is done, `read`
    /// holds plaintext, and what follows on `stream` is ciphertext for it. `None` on a plain
    /// connection.
    #[cfg(feature = "tls")]
    pub tls: Option<rustls::ServerConnection>,
}

#[cfg(feature = "tokio")]
impl HandedConnection {
    /// This connection as a tokio stream (the `tokio` feature): [`HandedStream::new`] with its
    /// socket, the bytes Volley read and, with the `tls` feature, its TLS session. Call it
    /// inside a tokio runtime context, e.g. in the task spawned to serve the connection.
    ///
    /// # Errors
    ///
    /// As [`HandedStream::new`]: no current runtime, or the socket cannot be registered.
    pub fn into_stream(self) -> std::io::Result<HandedStream> {
        #[cfg(feature = "tls")]
        return HandedStream::new(self.stream, self.read, self.tls);
        #[cfg(not(feature = "tls"))]
        return HandedStream::new(self.stream, self.read);
    }
}

/// Takes the connections [`ServerBuilder::http_handoff`] gives away. Runs on a worker: it must
/// not block (hand the connection to a runtime and return).
///
/// [`ServerBuilder::http_handoff`]: super::ServerBuilder::http_handoff
pub type HttpHandoff = dyn Fn(HandedConnection) + Send + Sync;

/// Gives a detached connection to the application's handler; a panic costs only that
/// connection.
pub(crate) fn hand_over(handler: &HttpHandoff, detached: Detached) {
    let conn = HandedConnection {
        stream: detached.sock,
        read: detached.read,
        #[cfg(feature = "tls")]
        tls: detached.tls,
    };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(conn)));
}

/// A request head for no endpoint: its body is read first (bounded by `max_payload`, 413
/// beyond), or, without one, the handler answers now.
pub(crate) fn on_request(
    cx: &mut dyn Port,
    id: ConnId,
    req: &Request,
    handler: &HttpFallback,
) -> Action<Session> {
    if matches!(req.body, BodyKind::None | BodyKind::Length(0)) {
        return serve(cx, id, req, &[], handler);
    }
    Action::ReadBody {
        max: cx.config().max_payload,
    }
}

/// Runs the handler on a complete request and writes its answer.
pub(crate) fn serve(
    cx: &mut dyn Port,
    id: ConnId,
    head: &Request,
    body: &[u8],
    handler: &HttpFallback,
) -> Action<Session> {
    let req = HttpRequest {
        head,
        body,
        remote: cx.peer_addr(id),
    };
    let answered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&req)));
    let Ok(resp) = answered else {
        // A panicking handler costs its own request, not the worker.
        cx.respond_error(id, 500);
        return Action::Responded;
    };
    let status = if (200..=999).contains(&resp.status) {
        resp.status
    } else {
        500
    };
    let mut keep_alive = head.keep_alive;
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(resp.headers.len());
    for (name, value) in &resp.headers {
        if name.eq_ignore_ascii_case("connection") {
            keep_alive &= !value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        } else if !name.eq_ignore_ascii_case("content-length")
            && !name.eq_ignore_ascii_case("transfer-encoding")
        {
            headers.push((name, value));
        }
    }
    let head_only = head.method == Method::Head;
    cx.respond_shared(id, status, &headers, resp.body, head_only, keep_alive);
    Action::Responded
}
