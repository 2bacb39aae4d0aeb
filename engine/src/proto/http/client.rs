//! Client side: writing requests and parsing response heads, for our Socket.IO client and
//! load generator.

use super::error::from_httparse;
use super::headers::{self, Headers};
use super::response::write_header;
use super::upgrade::websocket_accept;
use super::{BodyKind, HttpError, Limits};

/// Writes a WebSocket upgrade request (RFC 6455 §4.1) for `key`
/// (see [`new_websocket_key`](super::new_websocket_key)), then `extra_headers`.
///
/// `path_and_query` should already be percent-encoded; any space, control or non-ASCII byte
/// left in it is percent-encoded here so the request line stays valid.
pub fn write_upgrade_request(
    out: &mut Vec<u8>,
    host: &str,
    path_and_query: &str,
    key: &str,
    extra_headers: &[(&str, &str)],
) {
    write_request_line(out, "GET", path_and_query);
    write_header(out, "Host", host);
    out.extend_from_slice(b"Upgrade: websocket\r\nConnection: Upgrade\r\n");
    write_header(out, "Sec-WebSocket-Key", key);
    out.extend_from_slice(b"Sec-WebSocket-Version: 13\r\n");
    for (name, value) in extra_headers {
        write_header(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes an HTTP/1.1 request with `body`.
///
/// `Content-Length` is added when the body is non-empty or the method is `POST` or `PUT`, so
/// `headers` must not carry it. The request line is sanitised as in
/// [`write_upgrade_request`]; characters that cannot appear in a method are dropped.
pub fn write_request(
    out: &mut Vec<u8>,
    method: &str,
    host: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) {
    write_request_line(out, method, path_and_query);
    write_header(out, "Host", host);
    for (name, value) in headers {
        write_header(out, name, value);
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        out.extend_from_slice(b"Content-Length: ");
        super::response::push_decimal(out, body.len());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn write_request_line(out: &mut Vec<u8>, method: &str, target: &str) {
    out.extend(method.bytes().filter(is_tchar));
    out.push(b' ');
    if target.is_empty() {
        out.push(b'/');
    }
    for b in target.bytes() {
        if b.is_ascii_graphic() {
            out.push(b);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// RFC 9110 `tchar`: the bytes a method token may hold.
fn is_tchar(b: &u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b)
}

/// An owned, parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Bytes of the input the head took; the body (or WebSocket frames after a 101) starts
    /// here.
    pub head_len: usize,
    /// How the body is framed. A response to `HEAD` has no body whatever this says.
    pub body: BodyKind,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
    headers: Headers,
}

impl Response {
    /// The first value of header `name` (ASCII case-insensitive), trimmed of whitespace.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Whether a comma-separated element of any `name` header equals `token`, ignoring case.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers.has_token(name, token)
    }

    /// Every header as `(name, value)` in arrival order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter()
    }
}

/// Parses a response head from the start of `buf`.
///
/// `Ok(None)` while incomplete; `Err(HeadTooLarge)` once `buf` holds `limits.max_header_bytes`
/// without a complete head. A response with neither `Content-Length` nor chunked framing reads
/// until close ([`BodyKind::UntilClose`]) and is never keep-alive.
pub fn parse_response(buf: &[u8], limits: &Limits) -> Result<Option<Response>, HttpError> {
    let window = headers::head_window(buf, limits);
    headers::with_header_slots(limits.max_headers, |slots| {
        let mut parsed = httparse::Response::new(slots);
        match parsed.parse(window).map_err(from_httparse)? {
            httparse::Status::Partial => headers::incomplete(buf, limits),
            httparse::Status::Complete(head_len) => {
                let (Some(status), Some(minor_version)) = (parsed.code, parsed.version) else {
                    return Err(HttpError::Malformed("incomplete status line"));
                };
                let headers = Headers::from_parsed(parsed.headers);
                let body = headers::response_body(&headers, status)?;
                let keep_alive =
                    body != BodyKind::UntilClose && headers::keep_alive(&headers, minor_version);
                Ok(Some(Response {
                    status,
                    minor_version,
                    head_len,
                    body,
                    keep_alive,
                    headers,
                }))
            }
        }
    })
}

/// Checks the server's answer to our upgrade request sent with `key`: status 101,
/// `Upgrade: websocket`, `Connection: upgrade` and the matching `Sec-WebSocket-Accept`.
pub fn check_upgrade_response(resp: &Response, key: &str) -> Result<(), HttpError> {
    if resp.status != 101 {
        return Err(HttpError::Malformed("upgrade refused"));
    }
    if !resp.header_has_token("upgrade", "websocket")
        || !resp.header_has_token("connection", "upgrade")
    {
        return Err(HttpError::Malformed(
            "101 without WebSocket upgrade headers",
        ));
    }
    if resp.header("sec-websocket-accept") != Some(websocket_accept(key).as_str()) {
        return Err(HttpError::Malformed("wrong Sec-WebSocket-Accept"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{
        new_websocket_key, parse_request, validate_upgrade, write_response,
        write_switching_protocols, BodyReader, Method,
    };
    use proptest::prelude::*;

    fn text(out: &[u8]) -> &str {
        std::str::from_utf8(out).unwrap()
    }

    #[test]
    fn upgrade_request_golden_and_round_trip() {
        let key = new_websocket_key(*b"the sample nonce");
        let mut out = Vec::new();
        write_upgrade_request(
            &mut out,
            "localhost:3000",
            "/socket.io/?EIO=4&transport=websocket",
            &key,
            &[("Origin", "http://localhost")],
        );
        assert_eq!(
            text(&out),
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: localhost:3000\r\n\
             Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: http://localhost\r\n\r\n"
        );
        let req = parse_request(&out, &Limits::default()).unwrap().unwrap();
        let accept = validate_upgrade(&req).unwrap();

        let mut answer = Vec::new();
        write_switching_protocols(&mut answer, &accept);
        answer.extend_from_slice(b"\x81\x05hello");
        let resp = parse_response(&answer, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!((resp.status, resp.body), (101, BodyKind::None));
        assert_eq!(&answer[resp.head_len..], b"\x81\x05hello");
        assert_eq!(check_upgrade_response(&resp, &key), Ok(()));
        let other = new_websocket_key([7; 16]);
        assert!(check_upgrade_response(&resp, &other).is_err());
    }

    #[test]
    fn request_golden_and_round_trip() {
        let mut out = Vec::new();
        let headers = [("Content-Type", "text/plain;charset=UTF-8")];
        write_request(
            &mut out,
            "POST",
            "h",
            "/socket.io/?EIO=4&sid=a b",
            &headers,
            b"4hi",
        );
        assert_eq!(
            text(&out),
            "POST /socket.io/?EIO=4&sid=a%20b HTTP/1.1\r\nHost: h\r\n\
             Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 3\r\n\r\n4hi"
        );
        let req = parse_request(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!((req.method, req.body), (Method::Post, BodyKind::Length(3)));
        assert_eq!(req.query_param("sid").as_deref(), Some("a b"));
        assert_eq!(&out[req.head_len..], b"4hi");

        out.clear();
        write_request(&mut out, "GET\r\n", "h", "", &[], b"");
        assert_eq!(text(&out), "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    }

    #[test]
    fn parses_server_responses() {
        let mut out = Vec::new();
        write_response(
            &mut out,
            200,
            &[("Content-Type", "text/plain")],
            b"4hello",
            true,
        );
        let resp = parse_response(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(
            (resp.status, resp.body, resp.keep_alive),
            (200, BodyKind::Length(6), true)
        );
        assert_eq!(resp.header("content-type"), Some("text/plain"));
        assert_eq!(resp.headers().count(), 3);
        let mut body = Vec::new();
        let mut reader = BodyReader::new(&resp.body, 100).unwrap();
        assert_eq!(reader.feed(&out[resp.head_len..], &mut body), Ok((6, true)));
        assert_eq!(body, b"4hello");

        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let resp = parse_response(chunked, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!((resp.body, resp.keep_alive), (BodyKind::Chunked, true));

        let close = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nrest";
        let resp = parse_response(close, &Limits::default()).unwrap().unwrap();
        assert_eq!((resp.body, resp.keep_alive), (BodyKind::UntilClose, false));

        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n", &Limits::default()),
            Ok(None)
        );
        assert!(parse_response(b"HTTP/1.1 2000 OK\r\n\r\n", &Limits::default()).is_err());
        let bad_len = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
        assert_eq!(
            parse_response(bad_len, &Limits::default()),
            Err(HttpError::BadContentLength)
        );
        let tight = Limits {
            max_header_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n", &tight),
            Err(HttpError::HeadTooLarge)
        );
    }

    #[test]
    fn refused_upgrades_are_reported() {
        let refused = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        let resp = parse_response(refused, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            check_upgrade_response(&resp, "k"),
            Err(HttpError::Malformed("upgrade refused"))
        );
        let bare = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        let resp = parse_response(bare, &Limits::default()).unwrap().unwrap();
        assert!(check_upgrade_response(&resp, "k").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_target_writes_a_parseable_request(target in "\\PC{0,40}", body in prop::collection::vec(any::<u8>(), 0..40)) {
            let mut out = Vec::new();
            write_request(&mut out, "POST", "h", &format!("/{target}"), &[("X", "y")], &body);
            let req = parse_request(&out, &Limits::default()).unwrap().unwrap();
            prop_assert_eq!(req.body, BodyKind::Length(body.len()));
            prop_assert_eq!(&out[req.head_len..], body.as_slice());
        }

        #[test]
        fn arbitrary_responses_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let limits = Limits { max_header_bytes: 200, max_headers: 4 };
            if let Ok(Some(resp)) = parse_response(&bytes, &limits) {
                prop_assert!(resp.head_len <= 200);
            }
        }
    }
}
