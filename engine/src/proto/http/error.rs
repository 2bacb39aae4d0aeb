//! The error type shared by every HTTP parser, with the status code a server answers it with.

use std::fmt;

/// Why an HTTP message was rejected. [`HttpError::status`] gives the response status to send
/// before closing the connection.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The message breaks HTTP/1.1 syntax or framing rules; the text says which (400).
    Malformed(&'static str),
    /// The head did not end within `Limits::max_header_bytes` (431).
    HeadTooLarge,
    /// The head carries more than `Limits::max_headers` fields (431).
    TooManyHeaders,
    /// `Content-Length` is not a plain decimal that fits `usize`, or copies disagree (400).
    BadContentLength,
    /// The body's declared or decoded size passes the configured maximum (413).
    BodyTooLarge,
    /// The protocol version is not HTTP/1.0 or HTTP/1.1 (505).
    UnsupportedVersion,
    /// The request uses a transfer coding other than plain `chunked` (501).
    UnsupportedTransferEncoding,
}

impl HttpError {
    /// The HTTP status code a server should answer this error with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Malformed(_) | HttpError::BadContentLength => 400,
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => 431,
            HttpError::BodyTooLarge => 413,
            HttpError::UnsupportedVersion => 505,
            HttpError::UnsupportedTransferEncoding => 501,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Malformed(why) => write!(f, "malformed HTTP message: {why}"),
            HttpError::HeadTooLarge => f.write_str("HTTP head too large"),
            HttpError::TooManyHeaders => f.write_str("too many HTTP header fields"),
            HttpError::BadContentLength => f.write_str("invalid Content-Length"),
            HttpError::BodyTooLarge => f.write_str("HTTP body too large"),
            HttpError::UnsupportedVersion => f.write_str("unsupported HTTP version"),
            HttpError::UnsupportedTransferEncoding => f.write_str("unsupported Transfer-Encoding"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Maps an `httparse` failure onto our error type.
pub(crate) fn from_httparse(err: httparse::Error) -> HttpError {
    match err {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders,
        httparse::Error::Version => HttpError::UnsupportedVersion,
        httparse::Error::HeaderName => HttpError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HttpError::Malformed("invalid header value"),
        httparse::Error::NewLine => HttpError::Malformed("invalid line ending"),
        httparse::Error::Status => HttpError::Malformed("invalid status code"),
        httparse::Error::Token => HttpError::Malformed("invalid token in start line"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_the_documented_codes() {
        assert_eq!(HttpError::Malformed("x").status(), 400);
        assert_eq!(HttpError::HeadTooLarge.status(), 431);
        assert_eq!(HttpError::TooManyHeaders.status(), 431);
        assert_eq!(HttpError::BadContentLength.status(), 400);
        assert_eq!(HttpError::BodyTooLarge.status(), 413);
        assert_eq!(HttpError::UnsupportedVersion.status(), 505);
        assert_eq!(HttpError::UnsupportedTransferEncoding.status(), 501);
    }

    #[test]
    fn display_names_the_reason() {
        assert_eq!(
            HttpError::Malformed("missing Host").to_string(),
            "malformed HTTP message: missing Host"
        );
    }
}
