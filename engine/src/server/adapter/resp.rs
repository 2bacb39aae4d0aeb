//! RESP2, the Redis protocol, sans-IO: commands are encoded as arrays of bulk strings and replies
//! parsed from a buffer that may hold a partial reply (`Ok(None)`: read more).

use std::fmt;

/// Deepest nesting of arrays accepted in a reply (pub/sub pushes nest two levels).
const MAX_DEPTH: usize = 8;

/// Largest bulk string Redis sends (its `proto-max-bulk-len` default, 512 MiB).
const MAX_BULK: usize = 512 << 20;

/// One reply, borrowing its bytes from the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply<'a> {
    /// `+OK`.
    Simple(&'a [u8]),
    /// `-ERR ...`.
    Error(&'a [u8]),
    /// `:42`.
    Int(i64),
    /// `$3\r\nabc` (`None`: the null bulk string `$-1`).
    Bulk(Option<&'a [u8]>),
    /// `*2\r\n...` (`None`: the null array `*-1`).
    Array(Option<Vec<Reply<'a>>>),
}

impl<'a> Reply<'a> {
    /// The bytes of a bulk or simple string.
    pub fn bytes(&self) -> Option<&'a [u8]> {
        match *self {
            Reply::Bulk(Some(b)) | Reply::Simple(b) => Some(b),
            _ => None,
        }
    }
}

/// A reply that breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RespError {
    /// A type byte RESP2 does not define.
    UnknownType(u8),
    /// A length or integer line that is not a number in range.
    BadNumber,
    /// A bulk string not followed by CRLF.
    MissingCrlf,
    /// Arrays nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::UnknownType(b) => write!(f, "unknown RESP type byte 0x{b:02x}"),
            RespError::BadNumber => f.write_str("malformed RESP number"),
            RespError::MissingCrlf => f.write_str("bulk string without CRLF"),
            RespError::TooDeep => f.write_str("RESP arrays nested too deep"),
        }
    }
}

impl std::error::Error for RespError {}

/// Appends a command (`*N` of bulk strings).
pub(crate) fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses the first reply in `buf`: the reply and the bytes it took, or `None` when `buf` holds
/// only part of it.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Reply<'_>, usize)>, RespError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply<'_>, usize)>, RespError> {
    let Some(&ty) = buf.get(at) else {
        return Ok(None);
    };
    let Some((line, next)) = line(buf, at + 1) else {
        return Ok(None);
    };
    match ty {
        b'+' => Ok(Some((Reply::Simple(line), next))),
        b'-' => Ok(Some((Reply::Error(line), next))),
        b':' => Ok(Some((Reply::Int(number(line)?), next))),
        b'$' => {
            let Some(len) = length(line)? else {
                return Ok(Some((Reply::Bulk(None), next)));
            };
            if len > MAX_BULK {
                return Err(RespError::BadNumber);
            }
            // `len` is at most MAX_BULK, so neither sum can overflow.
            let end = next + len;
            let (Some(data), Some(crlf)) = (buf.get(next..end), buf.get(end..end + 2)) else {
                return Ok(None);
            };
            if crlf != b"\r\n" {
                return Err(RespError::MissingCrlf);
            }
            Ok(Some((Reply::Bulk(Some(data)), end + 2)))
        }
        b'*' => {
            let Some(count) = length(line)? else {
                return Ok(Some((Reply::Array(None), next)));
            };
            if depth >= MAX_DEPTH {
                return Err(RespError::TooDeep);
            }
            // Every element takes at least 3 bytes, which bounds what a lying count reserves.
            let mut items = Vec::with_capacity(count.min(buf.len().saturating_sub(next) / 3));
            let mut pos = next;
            for _ in 0..count {
                let Some((item, after)) = parse_at(buf, pos, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                pos = after;
            }
            Ok(Some((Reply::Array(Some(items)), pos)))
        }
        other => Err(RespError::UnknownType(other)),
    }
}

/// The line starting at `from` (without its CRLF) and where the next one starts.
fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(from..)?;
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    Some((rest.get(..end)?, from + end + 2))
}

fn number(line: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(RespError::BadNumber)
}

/// A bulk or array length; `-1` is the null value.
fn length(line: &[u8]) -> Result<Option<usize>, RespError> {
    match number(line)? {
        -1 => Ok(None),
        n => usize::try_from(n)
            .map(Some)
            .map_err(|_| RespError::BadNumber),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_commands_as_bulk_arrays() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"PUBLISH", b"socket.io#/#", b"\x93\xa1a"]);
        assert_eq!(
            out,
            b"*3\r\n$7\r\nPUBLISH\r\n$12\r\nsocket.io#/#\r\n$3\r\n\x93\xa1a\r\n"
        );
    }

    #[test]
    fn parses_every_reply_type() {
        let cases: &[(&[u8], Reply<'_>)] = &[
            (b"+OK\r\n", Reply::Simple(b"OK")),
            (b"-ERR no\r\n", Reply::Error(b"ERR no")),
            (b":-12\r\n", Reply::Int(-12)),
            (b"$-1\r\n", Reply::Bulk(None)),
            (b"$0\r\n\r\n", Reply::Bulk(Some(b""))),
            (b"$4\r\na\r\nb\r\n", Reply::Bulk(Some(b"a\r\nb"))),
            (b"*-1\r\n", Reply::Array(None)),
        ];
        for (wire, want) in cases {
            assert_eq!(parse(wire).unwrap(), Some((want.clone(), wire.len())));
        }
    }

    #[test]
    fn parses_a_pmessage_push() {
        let wire = b"*4\r\n$8\r\npmessage\r\n$11\r\nsocket.io#*\r\n$12\r\nsocket.io#/#\r\n$2\r\nhi\r\n:1\r\n";
        let (reply, used) = parse(wire).unwrap().unwrap();
        assert_eq!(used, wire.len() - 4, "stops before the next reply");
        let Reply::Array(Some(items)) = reply else {
            panic!("not an array: {reply:?}")
        };
        let parts: Vec<_> = items.iter().map(|i| i.bytes().unwrap()).collect();
        assert_eq!(
            parts,
            [&b"pmessage"[..], b"socket.io#*", b"socket.io#/#", b"hi"]
        );
    }

    #[test]
    fn partial_input_asks_for_more() {
        let wire = b"*2\r\n$3\r\nabc\r\n:7\r\n";
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert!(parse(wire).unwrap().is_some());
    }

    #[test]
    fn rejects_broken_replies() {
        assert_eq!(parse(b"?x\r\n"), Err(RespError::UnknownType(b'?')));
        assert_eq!(parse(b":abc\r\n"), Err(RespError::BadNumber));
        assert_eq!(parse(b"$-2\r\n"), Err(RespError::BadNumber));
        assert_eq!(parse(b"$2\r\nabXY"), Err(RespError::MissingCrlf));
        assert_eq!(parse(b"$99999999999\r\n"), Err(RespError::BadNumber));
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(RespError::TooDeep));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn commands_parse_back(args in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..40), 0..6)) {
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            let mut wire = Vec::new();
            encode_command(&mut wire, &refs);
            let (reply, used) = parse(&wire).unwrap().unwrap();
            prop_assert_eq!(used, wire.len());
            let Reply::Array(Some(items)) = reply else { panic!("not an array") };
            let back: Vec<&[u8]> = items.iter().map(|i| i.bytes().unwrap()).collect();
            prop_assert_eq!(back, refs);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(Some((_, used))) = parse(&bytes) {
                prop_assert!(used <= bytes.len());
            }
        }
    }
}
