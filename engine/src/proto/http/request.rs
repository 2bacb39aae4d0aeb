//! Request heads: parsing, framing checks and lookups.

use std::borrow::Cow;

use super::error::from_httparse;
use super::headers::{self, Coding, Headers};
use super::{query, BodyKind, HttpError, Limits};

/// The request methods the engine routes on; everything else is [`Method::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`: polling reads and WebSocket upgrades.
    Get,
    /// `POST`: polling writes.
    Post,
    /// `OPTIONS`: CORS preflight.
    Options,
    /// `HEAD`.
    Head,
    /// Any other method (methods are case-sensitive, so `get` lands here too).
    Other,
}

impl Method {
    fn from_token(token: &str) -> Self {
        match token {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "OPTIONS" => Method::Options,
            "HEAD" => Method::Head,
            _ => Method::Other,
        }
    }
}

/// An owned, parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request method.
    pub method: Method,
    /// The target's path, still percent-encoded, without query or fragment. Absolute-form
    /// targets (`http://host/p`) are reduced to their path; `*` stays `*`.
    pub path: String,
    /// The raw query after `?`, still percent-encoded; empty when there is none.
    pub query: String,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor_version: u8,
    /// Bytes of the input the head took; the body (or the next request) starts here.
    pub head_len: usize,
    /// How the body after the head is framed (never [`BodyKind::UntilClose`]).
    pub body: BodyKind,
    /// Whether the connection may serve another request after this one.
    pub keep_alive: bool,
    headers: Headers,
    /// The token of a [`Method::Other`] (`PUT`, `DELETE`...), kept for [`Request::method_name`];
    /// `None` for the methods the enum names, so they allocate nothing.
    other_method: Option<Box<str>>,
}

impl Request {
    /// The method as sent (`GET`, `PUT`...), also for [`Method::Other`].
    pub fn method_name(&self) -> &str {
        match self.method {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
            Method::Other => self.other_method.as_deref().unwrap_or(""),
        }
    }

    /// The first value of header `name` (ASCII case-insensitive), trimmed of whitespace.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Whether a comma-separated element of any `name` header equals `token`, ignoring case,
    /// e.g. `Connection: keep-alive, Upgrade` has the token `upgrade`.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.headers.has_token(name, token)
    }

    /// Every header as `(name, value)` in arrival order, names as sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter()
    }

    /// The percent-decoded value of the first query parameter called `name` (see
    /// [`query_pairs`](super::query_pairs)); a parameter without `=` has an empty value.
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        query::query_pairs(&self.query)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// Whether the client waits for `100 Continue` before sending its body
    /// (see [`write_continue`](super::write_continue)).
    pub fn expects_continue(&self) -> bool {
        self.minor_version >= 1
            && !matches!(self.body, BodyKind::None | BodyKind::Length(0))
            && self
                .headers
                .get("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// Parses a request head from the start of `buf`.
///
/// Returns `Ok(None)` while the head is incomplete, and `Err(HeadTooLarge)` as soon as `buf`
/// holds `limits.max_header_bytes` bytes without a complete head. Rejects, besides syntax
/// errors: versions other than HTTP/1.0 and 1.1, a missing or repeated `Host` on HTTP/1.1,
/// invalid or disagreeing `Content-Length`, `Content-Length` together with
/// `Transfer-Encoding`, transfer codings other than plain `chunked`, `Transfer-Encoding` or
/// `Upgrade` on HTTP/1.0, and targets that are not origin-form, absolute-form or `*`.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<Request>, HttpError> {
    let window = headers::head_window(buf, limits);
    headers::with_header_slots(limits.max_headers, |slots| {
        let mut parsed = httparse::Request::new(slots);
        match parsed.parse(window).map_err(from_httparse)? {
            httparse::Status::Partial => headers::incomplete(buf, limits),
            httparse::Status::Complete(head_len) => build(&parsed, head_len).map(Some),
        }
    })
}

fn build(parsed: &httparse::Request<'_, '_>, head_len: usize) -> Result<Request, HttpError> {
    let (Some(method), Some(target), Some(minor_version)) =
        (parsed.method, parsed.path, parsed.version)
    else {
        return Err(HttpError::Malformed("incomplete request line"));
    };
    let (path, query) = split_target(target)?;
    let headers = Headers::from_parsed(parsed.headers);

    let hosts = headers.count("host");
    if hosts > 1 || (minor_version >= 1 && hosts == 0) {
        return Err(HttpError::Malformed("missing or repeated Host"));
    }
    if minor_version == 0 && headers.get("upgrade").is_some() {
        return Err(HttpError::Malformed("Upgrade requires HTTP/1.1"));
    }
    let body = request_body(&headers, minor_version)?;
    let kind = Method::from_token(method);
    Ok(Request {
        method: kind,
        other_method: (kind == Method::Other).then(|| method.into()),
        path: path.to_owned(),
        query: query.to_owned(),
        minor_version,
        head_len,
        body,
        keep_alive: headers::keep_alive(&headers, minor_version),
        headers,
    })
}

/// Splits a request target into path and raw query, dropping any fragment.
fn split_target(target: &str) -> Result<(&str, &str), HttpError> {
    let target = target.split_once('#').map_or(target, |(t, _)| t);
    let origin = if target.starts_with('/') || target == "*" {
        target
    } else {
        let rest = strip_prefix_ignore_case(target, "http://")
            .or_else(|| strip_prefix_ignore_case(target, "https://"))
            .ok_or(HttpError::Malformed("invalid request target"))?;
        // The authority ends at the first '/' or '?'; with neither, the path is empty.
        match rest.find(['/', '?']) {
            Some(at) => rest.get(at..).unwrap_or(""),
            None => "",
        }
    };
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    Ok((if path.is_empty() { "/" } else { path }, query))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Request body framing (RFC 9112 §6.3), strict where lenient parsing enables smuggling.
fn request_body(headers: &Headers, minor_version: u8) -> Result<BodyKind, HttpError> {
    let length = headers::content_length(headers)?;
    let coding = headers::transfer_coding(headers)?;
    if coding == Coding::Absent {
        return Ok(length.map_or(BodyKind::None, BodyKind::Length));
    }
    if length.is_some() {
        return Err(HttpError::Malformed(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    if minor_version == 0 {
        return Err(HttpError::Malformed("Transfer-Encoding in HTTP/1.0"));
    }
    match coding {
        Coding::Chunked => Ok(BodyKind::Chunked),
        Coding::NotChunkedLast => Err(HttpError::Malformed("final transfer coding not chunked")),
        Coding::Absent | Coding::ChunkedAfterOthers => Err(HttpError::UnsupportedTransferEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CHROME_POLL: &str = "GET /socket.io/?EIO=4&transport=polling&t=OzX1a2b HTTP/1.1\r\n\
        Host: localhost:3000\r\n\
        Connection: keep-alive\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36\r\n\
        Accept: */*\r\n\
        Origin: http://localhost:8080\r\n\
        Accept-Encoding: gzip, deflate, br\r\n\
        Accept-Language: en-US,en;q=0.9\r\n\r\n";

    fn parse(s: &str) -> Result<Option<Request>, HttpError> {
        parse_request(s.as_bytes(), &Limits::default())
    }

    fn parse_ok(s: &str) -> Request {
        match parse(s) {
            Ok(Some(req)) => req,
            other => panic!("expected a request from {s:?}, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_browser_polling_request() {
        let req = parse_ok(CHROME_POLL);
        assert_eq!(req.method, Method::Get);
        assert_eq!(req.path, "/socket.io/");
        assert_eq!(req.query, "EIO=4&transport=polling&t=OzX1a2b");
        assert_eq!(req.minor_version, 1);
        assert_eq!(req.head_len, CHROME_POLL.len());
        assert_eq!(req.body, BodyKind::None);
        assert!(req.keep_alive);
        assert_eq!(req.header("ORIGIN"), Some("http://localhost:8080"));
        assert!(req.header_has_token("accept-encoding", "deflate"));
        assert_eq!(req.headers().count(), 7);
        assert_eq!(req.query_param("transport").as_deref(), Some("polling"));
        assert_eq!(req.query_param("sid"), None);
    }

    #[test]
    fn head_len_stops_before_the_body_and_pipelined_bytes() {
        let wire = "POST /socket.io/?EIO=4&transport=polling&sid=abc%2Fdef HTTP/1.1\r\n\
            Host: h\r\nContent-Length: 5\r\nContent-Type: text/plain;charset=UTF-8\r\n\r\n\
            4helloGET / HTTP/1.1\r\n";
        let req = parse_ok(wire);
        assert_eq!(req.method, Method::Post);
        assert_eq!(req.body, BodyKind::Length(5));
        assert_eq!(&wire[req.head_len..req.head_len + 5], "4hell");
        assert_eq!(req.query_param("EIO").as_deref(), Some("4"));
        assert_eq!(req.query_param("sid").as_deref(), Some("abc/def"));
    }

    #[test]
    fn methods_and_targets() {
        let cases = [
            ("OPTIONS * HTTP/1.1", Method::Options, "*", ""),
            ("HEAD /a?b HTTP/1.1", Method::Head, "/a", "b"),
            ("get /x HTTP/1.1", Method::Other, "/x", ""),
            ("DELETE /x#frag HTTP/1.1", Method::Other, "/x", ""),
            ("GET http://h:1/p?q=1 HTTP/1.1", Method::Get, "/p", "q=1"),
            ("GET HTTPS://h?q HTTP/1.1", Method::Get, "/", "q"),
            ("GET http://h HTTP/1.1", Method::Get, "/", ""),
        ];
        for (line, method, path, query) in cases {
            let req = parse_ok(&format!("{line}\r\nHost: h\r\n\r\n"));
            assert_eq!(
                (req.method, req.path.as_str(), req.query.as_str()),
                (method, path, query)
            );
            assert_eq!(req.method_name(), line.split(' ').next().unwrap_or(""));
        }
        assert_eq!(
            parse("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n"),
            Err(HttpError::Malformed("invalid request target"))
        );
        assert!(parse("GET a/b HTTP/1.1\r\nHost: h\r\n\r\n").is_err());
    }

    #[test]
    fn incomplete_heads_wait_for_more() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: h\r\n"), Ok(None));
        assert_eq!(parse("GET / HTTP/1.1\r\nHost: h\r\n\r"), Ok(None));
    }

    #[test]
    fn head_limit_applies_as_soon_as_reached() {
        let limits = Limits::default();
        let mut head = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ".to_vec();
        head.resize(limits.max_header_bytes - 1, b'a');
        assert_eq!(parse_request(&head, &limits), Ok(None));
        head.push(b'a');
        assert_eq!(parse_request(&head, &limits), Err(HttpError::HeadTooLarge));
        // A complete head that ends past the limit is refused too.
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_request(&head, &limits), Err(HttpError::HeadTooLarge));
        // One that ends exactly at the limit is fine.
        let mut exact = b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ".to_vec();
        exact.resize(limits.max_header_bytes - 4, b'a');
        exact.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_request(&exact, &limits).map(|r| r.map(|r| r.head_len)),
            Ok(Some(8192))
        );
    }

    #[test]
    fn header_count_limit() {
        let mut head = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
        for i in 1..32 {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        let complete = format!("{head}\r\n");
        assert_eq!(parse_ok(&complete).headers().count(), 32);
        head.push_str("X-33: v\r\n\r\n");
        assert_eq!(parse(&head), Err(HttpError::TooManyHeaders));
        let many = Limits {
            max_headers: 100,
            ..Limits::default()
        };
        assert!(matches!(parse_request(head.as_bytes(), &many), Ok(Some(_))));
    }

    #[test]
    fn content_length_errors_are_400() {
        for value in ["-1", "abc", "99999999999999999999999", "1.0", ""] {
            let err = parse(&format!(
                "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {value}\r\n\r\n"
            ));
            assert_eq!(err, Err(HttpError::BadContentLength), "{value:?}");
            assert_eq!(HttpError::BadContentLength.status(), 400);
        }
        let two = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parse(two), Err(HttpError::BadContentLength));
        let same = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(parse_ok(same).body, BodyKind::Length(2));
    }

    #[test]
    fn framing_and_version_rules() {
        let bad = |s: &str| parse(s).expect_err(s);
        let both =
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(bad(both).status(), 400);
        let chunked10 = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(bad(chunked10).status(), 400);
        let gzip = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(bad(gzip), HttpError::UnsupportedTransferEncoding);
        let not_last = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
        assert_eq!(bad(not_last).status(), 400);
        let upgrade10 = "GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(
            bad(upgrade10),
            HttpError::Malformed("Upgrade requires HTTP/1.1")
        );
        assert_eq!(bad("GET / HTTP/1.1\r\n\r\n").status(), 400);
        assert_eq!(
            bad("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status(),
            400
        );
        assert_eq!(bad("GET / HTTP/2.0\r\n\r\n"), HttpError::UnsupportedVersion);
        assert_eq!(bad("GET / HTTP/1.1\r\nHost : h\r\n\r\n").status(), 400);
        assert_eq!(
            bad("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n").status(),
            400
        );
        assert_eq!(bad("GET  / HTTP/1.1\r\nHost: h\r\n\r\n").status(), 400);

        let chunked = parse_ok("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!(chunked.body, BodyKind::Chunked);
    }

    #[test]
    fn keep_alive_and_continue() {
        assert!(!parse_ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(parse_ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!parse_ok("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive);
        let expect =
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n";
        assert!(parse_ok(expect).expects_continue());
        assert!(!parse_ok(CHROME_POLL).expects_continue());
    }

    fn valid_request() -> impl Strategy<Value = String> {
        let method = prop::sample::select(vec!["GET", "POST", "OPTIONS", "PUT"]);
        let path = "/[a-z0-9._~-]{0,12}(/[a-z0-9%]{0,8})?";
        let query = "([a-zA-Z0-9=&%]{0,20})?";
        let header = ("X-[A-Za-z-]{1,10}", "[ -~]{0,30}");
        let body = prop_oneof![
            Just(String::new()),
            (0usize..100000).prop_map(|n| format!("Content-Length: {n}\r\n")),
            Just("Transfer-Encoding: chunked\r\n".to_owned()),
        ];
        (
            method,
            path,
            query,
            prop::collection::vec(header, 0..8),
            body,
        )
            .prop_map(|(method, path, query, headers, body)| {
                let mut s = format!("{method} {path}?{query} HTTP/1.1\r\nHost: example.com\r\n");
                for (name, value) in headers {
                    s.push_str(&format!("{name}: {value}\r\n"));
                }
                s.push_str(&body);
                s.push_str("\r\n");
                s
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_prefix_is_incomplete_until_the_head_ends(
            head in valid_request(),
            trailing in prop::collection::vec(any::<u8>(), 0..32),
        ) {
            let mut wire = head.clone().into_bytes();
            wire.extend_from_slice(&trailing);
            let limits = Limits::default();
            let full = parse_request(&wire, &limits).expect("valid head").expect("complete");
            prop_assert_eq!(full.head_len, head.len());
            for cut in 0..head.len() {
                prop_assert_eq!(parse_request(&wire[..cut], &limits), Ok(None), "cut {}", cut);
            }
            for cut in head.len()..=wire.len() {
                prop_assert_eq!(parse_request(&wire[..cut], &limits), Ok(Some(full.clone())));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let limits = Limits { max_header_bytes: 256, max_headers: 4 };
            if let Ok(Some(req)) = parse_request(&bytes, &limits) {
                prop_assert!(req.head_len <= 256);
            }
        }
    }
}
