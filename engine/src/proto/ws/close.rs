//! Close frames (RFC 6455 §5.5.1, §7.4): status codes, payload parsing and encoding.

use super::frame::{write_frame_header, OpCode, MAX_CONTROL_PAYLOAD};
use super::WsError;

/// A close status code (RFC 6455 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: the endpoint cannot accept this kind of data.
    pub const UNSUPPORTED: Self = Self(1003);
    /// 1005: no status code was present. Reported locally, never sent on the wire.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection dropped without a close frame. Reported locally, never sent.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: a message's data does not match its type (e.g. text that is not UTF-8).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY: Self = Self(1008);
    /// 1009: the message is too big to process.
    pub const TOO_BIG: Self = Self(1009);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL: Self = Self(1011);

    /// True for codes a peer may put in a close frame: 1000-1003, 1007-1011 and the
    /// application/library range 3000-4999.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1011 | 3000..=4999)
    }
}

/// The body of a close frame that carried a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// Status code, already checked with [`CloseCode::is_valid_on_wire`].
    pub code: CloseCode,
    /// Reason text, already validated as UTF-8; may be empty.
    pub reason: &'a str,
}

/// Parses an (unmasked) close payload: empty means no status, otherwise a big-endian code
/// followed by a UTF-8 reason.
pub(super) fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame<'_>>, WsError> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        [_] => return Err(WsError::Protocol("close payload of one byte")),
        [hi, lo, reason @ ..] => (CloseCode(u16::from_be_bytes([*hi, *lo])), reason),
    };
    if !code.is_valid_on_wire() {
        return Err(WsError::Protocol("close code not allowed on the wire"));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
    Ok(Some(CloseFrame { code, reason }))
}

/// Appends an unmasked (server) close frame with `code` and `reason`; [`CloseCode::NO_STATUS`]
/// gives a close frame without a body (and without the reason).
///
/// A control frame holds at most 125 bytes, so `reason` is cut to its longest prefix of at most
/// 123 bytes that ends on a character boundary.
pub fn encode_close(out: &mut Vec<u8>, code: CloseCode, reason: &str) {
    if code == CloseCode::NO_STATUS {
        // 1005 means "no status" and must never be on the wire (RFC 6455 7.4.1): an empty body.
        write_frame_header(out, OpCode::Close, true, 0, None);
        return;
    }
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = reason.as_bytes().get(..end).unwrap_or_default();
    out.reserve(2 + 2 + reason.len());
    write_frame_header(out, OpCode::Close, true, 2 + reason.len(), None);
    out.extend_from_slice(&code.0.to_be_bytes());
    out.extend_from_slice(reason);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_validity_of_codes() {
        for ok in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999,
        ] {
            assert!(CloseCode(ok).is_valid_on_wire(), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1012, 1015, 2999, 5000, u16::MAX] {
            assert!(!CloseCode(bad).is_valid_on_wire(), "{bad}");
        }
    }

    #[test]
    fn parses_close_payloads() {
        assert_eq!(parse_close_payload(b""), Ok(None));
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8]),
            Ok(Some(CloseFrame {
                code: CloseCode::NORMAL,
                reason: ""
            }))
        );
        assert_eq!(
            parse_close_payload(b"\x0f\xa0bye \xc3\xa9"),
            Ok(Some(CloseFrame {
                code: CloseCode(4000),
                reason: "bye é"
            }))
        );
    }

    #[test]
    fn rejects_bad_close_payloads() {
        assert!(matches!(
            parse_close_payload(&[0x03]),
            Err(WsError::Protocol(_))
        ));
        assert!(matches!(
            parse_close_payload(&[0x03, 0xED]),
            Err(WsError::Protocol(_))
        ));
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8, 0xff]),
            Err(WsError::InvalidUtf8)
        );
    }

    #[test]
    fn golden_close_frame() {
        let mut out = Vec::new();
        encode_close(&mut out, CloseCode::GOING_AWAY, "bye");
        assert_eq!(out, [0x88, 0x05, 0x03, 0xE9, b'b', b'y', b'e']);
        out.clear();
        encode_close(&mut out, CloseCode::NO_STATUS, "ignored");
        assert_eq!(out, [0x88, 0x00]);
    }

    #[test]
    fn long_reason_is_cut_on_a_char_boundary() {
        let reason = "é".repeat(100);
        let mut out = Vec::new();
        encode_close(&mut out, CloseCode::NORMAL, &reason);
        let payload = &out[2..];
        assert_eq!(usize::from(out[1]), payload.len());
        assert_eq!(payload.len(), 2 + 122);
        let parsed = parse_close_payload(payload).unwrap().unwrap();
        assert_eq!(parsed.reason, "é".repeat(61));
    }
}
