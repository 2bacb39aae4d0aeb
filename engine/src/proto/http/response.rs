//! Server-side responses, written straight into a connection's output buffer.

/// Reason phrase for `status`; `"Unknown"` for codes without one here.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes `HTTP/1.1 100 Continue`, the interim answer to `Expect: 100-continue`.
pub fn write_continue(out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// Writes the `101 Switching Protocols` answer to a valid WebSocket upgrade.
pub fn write_switching_protocols(out: &mut Vec<u8>, accept: &str) {
    write_switching_protocols_with(out, accept, &[]);
}

/// Like [`write_switching_protocols`], adding `headers` (e.g. `Set-Cookie`).
pub fn write_switching_protocols_with(out: &mut Vec<u8>, accept: &str, headers: &[(&str, &str)]) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    write_header(out, "Sec-WebSocket-Accept", accept);
    for (name, value) in headers {
        write_header(out, name, value);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes a complete response: status line, `headers`, `Content-Length`,
/// `Connection: keep-alive` or `close`, then `body`.
///
/// `headers` must not repeat `Content-Length` or `Connection`. Statuses outside 100..=999 are
/// written as 500. For 1xx, 204 and 304, which cannot carry a body, neither `Content-Length`
/// nor `body` is written. CR, LF and NUL in names and values become spaces, so echoing
/// request data (e.g. `Origin`) cannot split the response.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) {
    if write_response_head(out, status, headers, body.len(), keep_alive) {
        out.extend_from_slice(body);
    }
}

/// Writes the head [`write_response`] writes for a body of `body_len` bytes (also the whole
/// answer to a `HEAD` request) and returns whether the status carries that body.
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    body_len: usize,
    keep_alive: bool,
) -> bool {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        write_header(out, name, value);
    }
    let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
    if !bodiless {
        out.extend_from_slice(b"Content-Length: ");
        push_decimal(out, body_len);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(if keep_alive {
        &b"Connection: keep-alive\r\n\r\n"[..]
    } else {
        &b"Connection: close\r\n\r\n"[..]
    });
    !bodiless
}

/// Writes an error response with a short `text/plain` body (the reason phrase and a newline).
/// A 426 carries `Sec-WebSocket-Version: 13`, as RFC 6455 §4.2.2 requires.
pub fn write_error(out: &mut Vec<u8>, status: u16, keep_alive: bool) {
    let reason = reason_phrase(status);
    let mut body = Vec::with_capacity(reason.len() + 1);
    body.extend_from_slice(reason.as_bytes());
    body.push(b'\n');
    let text = ("Content-Type", "text/plain; charset=utf-8");
    if status == 426 {
        write_response(
            out,
            status,
            &[text, ("Sec-WebSocket-Version", "13")],
            &body,
            keep_alive,
        );
    } else {
        write_response(out, status, &[text], &body, keep_alive);
    }
}

/// Writes `name: value\r\n`, replacing bytes that would end the line early.
pub(crate) fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    push_field(out, name);
    out.extend_from_slice(b": ");
    push_field(out, value);
    out.extend_from_slice(b"\r\n");
}

fn push_field(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().map(|b| {
        if matches!(b, b'\r' | b'\n' | 0) {
            b' '
        } else {
            b
        }
    }));
}

/// Appends `n` in decimal without going through `fmt`.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // n % 10 < 10, so the cast cannot truncate.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or(&[]));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(out: &[u8]) -> &str {
        std::str::from_utf8(out).unwrap()
    }

    #[test]
    fn switching_protocols_golden() {
        let mut out = Vec::new();
        write_switching_protocols(&mut out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(
            text(&out),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        );
        out.clear();
        write_switching_protocols_with(&mut out, "x", &[("Set-Cookie", "io=abc")]);
        assert!(text(&out).ends_with("Sec-WebSocket-Accept: x\r\nSet-Cookie: io=abc\r\n\r\n"));
    }

    #[test]
    fn polling_response_golden() {
        let mut out = b"previous".to_vec();
        let headers = [("Content-Type", "text/plain; charset=UTF-8")];
        write_response(&mut out, 200, &headers, b"4hello", true);
        assert_eq!(
            text(&out),
            "previousHTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n\
             Content-Length: 6\r\nConnection: keep-alive\r\n\r\n4hello"
        );
    }

    #[test]
    fn bodiless_statuses_and_bad_codes() {
        let mut out = Vec::new();
        write_response(
            &mut out,
            204,
            &[("Access-Control-Allow-Origin", "*")],
            b"ignored",
            false,
        );
        assert_eq!(
            text(&out),
            "HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n"
        );
        out.clear();
        write_response(&mut out, 7, &[], b"", false);
        assert!(text(&out).starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
        out.clear();
        write_response(&mut out, 299, &[], b"", false);
        assert!(text(&out).starts_with("HTTP/1.1 299 Unknown\r\n"));
    }

    #[test]
    fn header_injection_is_neutralised() {
        let mut out = Vec::new();
        write_response(
            &mut out,
            200,
            &[("X", "a\r\nSet-Cookie: evil\0")],
            b"",
            true,
        );
        assert!(text(&out).contains("X: a  Set-Cookie: evil \r\n"));
    }

    #[test]
    fn error_responses() {
        let mut out = Vec::new();
        write_error(&mut out, 400, false);
        assert_eq!(
            text(&out),
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n"
        );
        out.clear();
        write_error(&mut out, 426, true);
        assert!(text(&out).contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(text(&out).ends_with("keep-alive\r\n\r\nUpgrade Required\n"));
        out.clear();
        write_continue(&mut out);
        assert_eq!(text(&out), "HTTP/1.1 100 Continue\r\n\r\n");
    }

    #[test]
    fn decimals() {
        for n in [0usize, 7, 10, 12345, usize::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(text(&out), n.to_string());
        }
    }
}
