//! Owned header storage and the framing rules (`Content-Length`, `Transfer-Encoding`) shared by
//! request and response parsing.

use super::{BodyKind, HttpError, Limits};

/// Optional whitespace around field values and list elements (RFC 9110 §5.6.3).
const OWS: [char; 2] = [' ', '\t'];

/// Heads with at most this many header slots parse with slots on the stack.
const STACK_SLOTS: usize = 64;

/// Header fields of one message, in arrival order, kept in a single string so a head costs two
/// allocations however many fields it has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Headers {
    text: String,
    /// `(name_start, value_start, value_end)` offsets into `text`.
    spans: Vec<(usize, usize, usize)>,
}

impl Headers {
    /// Copies the fields out of an `httparse` head. Values lose surrounding whitespace and bytes
    /// that are not UTF-8 become U+FFFD, so every later lookup is a plain `&str` comparison.
    pub(crate) fn from_parsed(fields: &[httparse::Header<'_>]) -> Self {
        let bytes: usize = fields
            .iter()
            .map(|h| h.name.len().saturating_add(h.value.len()))
            .fold(0, usize::saturating_add);
        let mut headers = Headers {
            text: String::with_capacity(bytes),
            spans: Vec::with_capacity(fields.len()),
        };
        for field in fields {
            let start = headers.text.len();
            headers.text.push_str(field.name);
            let value_start = headers.text.len();
            headers
                .text
                .push_str(String::from_utf8_lossy(field.value).trim_matches(OWS));
            headers.spans.push((start, value_start, headers.text.len()));
        }
        headers
    }

    /// Every `(name, value)` pair in arrival order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|&(start, mid, end)| {
            (
                self.text.get(start..mid).unwrap_or(""),
                self.text.get(mid..end).unwrap_or(""),
            )
        })
    }

    /// Values of every field called `name` (ASCII case-insensitive), in arrival order.
    pub(crate) fn get_all<'a: 'n, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a str> + 'n {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of the field called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// Whether any comma-separated element of any `name` field equals `token`, ignoring case.
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim_matches(OWS).eq_ignore_ascii_case(token))
    }

    /// How many fields are called `name`.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }
}

/// Runs `parse` with `max` empty header slots, on the stack when small enough.
pub(crate) fn with_header_slots<'b, R>(
    max: usize,
    parse: impl FnOnce(&mut [httparse::Header<'b>]) -> R,
) -> R {
    if max <= STACK_SLOTS {
        let mut slots: [httparse::Header<'b>; STACK_SLOTS] = [httparse::EMPTY_HEADER; STACK_SLOTS];
        parse(slots.get_mut(..max).unwrap_or(&mut []))
    } else {
        parse(&mut vec![httparse::EMPTY_HEADER; max])
    }
}

/// The part of `buf` a head may occupy: parsing never looks past the limit.
pub(crate) fn head_window<'b>(buf: &'b [u8], limits: &Limits) -> &'b [u8] {
    buf.get(..limits.max_header_bytes).unwrap_or(buf)
}

/// The answer for a head that has not ended yet: wait for more bytes unless the limit is full.
pub(crate) fn incomplete<T>(buf: &[u8], limits: &Limits) -> Result<Option<T>, HttpError> {
    if buf.len() >= limits.max_header_bytes {
        Err(HttpError::HeadTooLarge)
    } else {
        Ok(None)
    }
}

/// The declared `Content-Length`, if any. Every copy and every list element must be a plain
/// decimal and all must agree (RFC 9110 §8.6), because disagreeing lengths enable smuggling.
pub(crate) fn content_length(headers: &Headers) -> Result<Option<usize>, HttpError> {
    let mut found = None;
    for element in headers.get_all("content-length").flat_map(|v| v.split(',')) {
        let n = parse_decimal(element.trim_matches(OWS)).ok_or(HttpError::BadContentLength)?;
        match found {
            Some(prev) if prev != n => return Err(HttpError::BadContentLength),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

/// Parses `1*DIGIT` into a `usize`; signs, spaces, empty strings and overflow are rejected.
fn parse_decimal(s: &str) -> Option<usize> {
    if s.is_empty() {
        return None;
    }
    s.bytes().try_fold(0usize, |acc, b| {
        let digit = usize::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// What the `Transfer-Encoding` fields say, all copies joined in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    /// No `Transfer-Encoding` field.
    Absent,
    /// Exactly one coding, `chunked`.
    Chunked,
    /// `chunked` is last but other codings come first (we decode none of them).
    ChunkedAfterOthers,
    /// The last coding is not `chunked`.
    NotChunkedLast,
}

/// Classifies the transfer codings; empty list elements are malformed.
pub(crate) fn transfer_coding(headers: &Headers) -> Result<Coding, HttpError> {
    let mut count = 0usize;
    let mut last_chunked = false;
    for element in headers
        .get_all("transfer-encoding")
        .flat_map(|v| v.split(','))
    {
        let coding = element.trim_matches(OWS);
        if coding.is_empty() {
            return Err(HttpError::Malformed("empty Transfer-Encoding element"));
        }
        count = count.saturating_add(1);
        // Parameters (`;q=...`) are not allowed on chunked, so a plain comparison suffices.
        last_chunked = coding.eq_ignore_ascii_case("chunked");
    }
    Ok(match (count, last_chunked) {
        (0, _) => Coding::Absent,
        (_, false) => Coding::NotChunkedLast,
        (1, true) => Coding::Chunked,
        (_, true) => Coding::ChunkedAfterOthers,
    })
}

/// Whether the connection may carry another message after this one (RFC 9112 §9.3).
pub(crate) fn keep_alive(headers: &Headers, minor_version: u8) -> bool {
    if headers.has_token("connection", "close") {
        false
    } else if minor_version >= 1 {
        true
    } else {
        headers.has_token("connection", "keep-alive")
    }
}

/// Body framing of a response, given its status (RFC 9112 §6.3).
pub(crate) fn response_body(headers: &Headers, status: u16) -> Result<BodyKind, HttpError> {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(BodyKind::None);
    }
    let length = content_length(headers)?;
    match (transfer_coding(headers)?, length) {
        (Coding::Absent, Some(n)) => Ok(BodyKind::Length(n)),
        (Coding::Absent, None) | (Coding::NotChunkedLast, None) => Ok(BodyKind::UntilClose),
        (_, Some(_)) => Err(HttpError::Malformed(
            "both Content-Length and Transfer-Encoding",
        )),
        (Coding::Chunked, None) => Ok(BodyKind::Chunked),
        (Coding::ChunkedAfterOthers, None) => Err(HttpError::UnsupportedTransferEncoding),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&'static str, &'static [u8])]) -> Headers {
        let parsed: Vec<httparse::Header<'static>> = fields
            .iter()
            .map(|&(name, value)| httparse::Header { name, value })
            .collect();
        Headers::from_parsed(&parsed)
    }

    #[test]
    fn lookups_ignore_case_and_trim_values() {
        let h = headers(&[("Host", b" a.example \t"), ("X-Dup", b"1"), ("x-dup", b"2")]);
        assert_eq!(h.get("host"), Some("a.example"));
        assert_eq!(h.get_all("X-DUP").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.count("x-dup"), 2);
        assert_eq!(h.get("missing"), None);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("Host", "a.example"), ("X-Dup", "1"), ("x-dup", "2")]
        );
    }

    #[test]
    fn non_utf8_values_become_replacement_characters() {
        let h = headers(&[("X", b"a\xffb")]);
        assert_eq!(h.get("x"), Some("a\u{fffd}b"));
    }

    #[test]
    fn tokens_are_found_in_lists_across_fields() {
        let h = headers(&[("Connection", b"keep-alive, Upgrade"), ("Connection", b"x")]);
        assert!(h.has_token("connection", "upgrade"));
        assert!(h.has_token("connection", "X"));
        assert!(!h.has_token("connection", "close"));
        assert!(!h.has_token("connection", "keep"));
    }

    #[test]
    fn content_length_rules() {
        let ok = |v: &'static [u8]| content_length(&headers(&[("Content-Length", v)]));
        assert_eq!(ok(b"0"), Ok(Some(0)));
        assert_eq!(ok(b"0012"), Ok(Some(12)));
        assert_eq!(ok(b"5, 5"), Ok(Some(5)));
        for bad in [
            &b"-1"[..],
            b"abc",
            b"+5",
            b"",
            b"1 2",
            b"0x10",
            b"5, 6",
            b"99999999999999999999999",
        ] {
            assert_eq!(ok(bad), Err(HttpError::BadContentLength), "{bad:?}");
        }
        let two = headers(&[("Content-Length", b"5"), ("content-length", b"6")]);
        assert_eq!(content_length(&two), Err(HttpError::BadContentLength));
        let same = headers(&[("Content-Length", b"5"), ("content-length", b"5")]);
        assert_eq!(content_length(&same), Ok(Some(5)));
        assert_eq!(content_length(&headers(&[])), Ok(None));
    }

    #[test]
    fn transfer_coding_classes() {
        let tc = |v: &'static [u8]| transfer_coding(&headers(&[("Transfer-Encoding", v)]));
        assert_eq!(tc(b"chunked"), Ok(Coding::Chunked));
        assert_eq!(tc(b"Chunked"), Ok(Coding::Chunked));
        assert_eq!(tc(b"gzip, chunked"), Ok(Coding::ChunkedAfterOthers));
        assert_eq!(tc(b"chunked, gzip"), Ok(Coding::NotChunkedLast));
        assert!(tc(b"chunked,,").is_err());
        assert_eq!(transfer_coding(&headers(&[])), Ok(Coding::Absent));
    }

    #[test]
    fn keep_alive_defaults_by_version() {
        assert!(keep_alive(&headers(&[]), 1));
        assert!(!keep_alive(&headers(&[]), 0));
        assert!(!keep_alive(&headers(&[("Connection", b"close")]), 1));
        assert!(keep_alive(&headers(&[("Connection", b"Keep-Alive")]), 0));
    }

    #[test]
    fn response_framing() {
        let none = headers(&[]);
        assert_eq!(response_body(&none, 101), Ok(BodyKind::None));
        assert_eq!(response_body(&none, 204), Ok(BodyKind::None));
        assert_eq!(response_body(&none, 200), Ok(BodyKind::UntilClose));
        let cl = headers(&[("Content-Length", b"3")]);
        assert_eq!(response_body(&cl, 200), Ok(BodyKind::Length(3)));
        assert_eq!(response_body(&cl, 304), Ok(BodyKind::None));
        let te = headers(&[("Transfer-Encoding", b"chunked")]);
        assert_eq!(response_body(&te, 200), Ok(BodyKind::Chunked));
        let both = headers(&[("Transfer-Encoding", b"chunked"), ("Content-Length", b"3")]);
        assert!(response_body(&both, 200).is_err());
    }
}
