//! Engine.IO v3 text payloads (`EIO=3` long-polling): each packet is `<length>:<packet>`, the
//! length counted in UTF-16 code units as JavaScript counts a string's `length`, binary messages
//! as `b4` + base64 when the client cannot take binary payloads.

use super::super::b64;
use super::super::packet::{from_parts, EioError, Packet, PacketType};

/// Marks a base64 record (`b` + type digit + base64 data).
const BASE64_PREFIX: u8 = b'b';

/// Iterates the packets of a v3 text payload, decoding in place without allocating.
///
/// As the reference's `decodePayload`: an empty body, a length that is not decimal digits
/// before a `:`, a record shorter than its length, an unknown type, bad base64 or bytes after
/// the last record yield one `Err` and end the iteration (packets before it were yielded); a
/// `0:` record is skipped. A body that is not UTF-8 is refused whole, before its first record. A length that would end
/// inside a character outside the Basic Multilingual Plane (half of its surrogate pair) is an
/// error here, where JavaScript would cut the pair.
#[derive(Debug)]
pub struct PayloadDecoderV3<'a> {
    rest: Option<&'a mut [u8]>,
    /// Why the whole body is refused before any record (empty, not UTF-8).
    refused: Option<EioError>,
}

impl<'a> PayloadDecoderV3<'a> {
    /// Starts decoding `body`; the body's bytes are rewritten where base64 is decoded.
    pub fn new(body: &'a mut [u8]) -> Self {
        let refused = if body.is_empty() {
            Some(EioError::Empty)
        } else {
            std::str::from_utf8(body)
                .err()
                .map(|_| EioError::InvalidUtf8)
        };
        Self {
            rest: Some(body),
            refused,
        }
    }

    fn step(&mut self, rest: &'a mut [u8]) -> Option<Result<Packet<'a>, EioError>> {
        let mut rest = rest;
        loop {
            if rest.is_empty() {
                return None;
            }
            let colon = match rest.iter().position(|&b| b == b':') {
                Some(at) => at,
                None => return Some(Err(EioError::BadLength)),
            };
            let len = match parse_len(rest.get(..colon).unwrap_or_default()) {
                Some(len) => len,
                None => return Some(Err(EioError::BadLength)),
            };
            let (_, after) = rest.split_at_mut(colon + 1);
            let Some(end) = utf16_prefix(after, len) else {
                return Some(Err(EioError::BadLength));
            };
            let (record, tail) = after.split_at_mut(end);
            if record.is_empty() {
                rest = tail;
                continue;
            }
            self.rest = Some(tail);
            return Some(decode_record(record));
        }
    }
}

impl<'a> Iterator for PayloadDecoderV3<'a> {
    type Item = Result<Packet<'a>, EioError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.take()?;
        if let Some(e) = self.refused.take() {
            return Some(Err(e));
        }
        let item = self.step(rest);
        if item.as_ref().is_some_and(|r| r.is_err()) {
            self.rest = None;
        }
        item
    }
}

impl std::iter::FusedIterator for PayloadDecoderV3<'_> {}

/// The decimal length before a record's `:`; digits only, at least one, no overflow.
fn parse_len(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(usize::from(d - b'0'))
    })
}

/// The byte length of the first `units` UTF-16 code units of UTF-8 `s`; `None` when `s` is
/// shorter or the count ends inside a surrogate pair.
fn utf16_prefix(s: &[u8], units: usize) -> Option<usize> {
    let (mut pos, mut counted) = (0usize, 0usize);
    while counted < units {
        let &lead = s.get(pos)?;
        let (bytes, width) = match lead {
            0..=0x7f => (1, 1),
            0xc0..=0xdf => (2, 1),
            0xe0..=0xef => (3, 1),
            _ => (4, 2),
        };
        pos += bytes;
        counted += width;
    }
    (counted == units && pos <= s.len()).then_some(pos)
}

/// How many UTF-16 code units UTF-8 `s` has (its JavaScript `length`).
pub fn utf16_len(s: &[u8]) -> usize {
    s.iter()
        .map(|&b| match b {
            0x80..=0xbf => 0,
            0xf0..=0xff => 2,
            _ => 1,
        })
        .sum()
}

/// One record's packet: a type digit and data, or `b`, a type digit and base64 data.
pub(super) fn decode_record(record: &mut [u8]) -> Result<Packet<'_>, EioError> {
    let (&mut ty, data) = record.split_first_mut().ok_or(EioError::Empty)?;
    if ty != BASE64_PREFIX {
        PacketType::from_byte(ty).ok_or(EioError::UnknownType(ty))?;
        return from_parts(ty, data);
    }
    let (&mut ty, data) = data.split_first_mut().ok_or(EioError::Empty)?;
    let kind = PacketType::from_byte(ty).ok_or(EioError::UnknownType(ty))?;
    let len = b64::decode_in_place(data)?;
    let decoded = data.get_mut(..len).ok_or(EioError::BadBase64)?;
    match kind {
        PacketType::Message => Ok(Packet::MessageBinary(decoded)),
        _ => from_parts(ty, decoded),
    }
}

/// Decodes a v3 WebSocket text frame: a type digit and data as in v4, or `b`, a type digit
/// and base64 data (a binary message from a client without binary frames), which the
/// reference's v3 parser reads too. The frame is UTF-8 already (the WebSocket layer checks).
pub fn decode_text_v3(frame: &mut [u8]) -> Result<Packet<'_>, EioError> {
    decode_record(frame)
}

/// Appends one text packet (`packet`: type digit and data, UTF-8) as a v3 payload record:
/// `<length>:<packet>`.
pub fn encode_record_v3(out: &mut Vec<u8>, packet: &[u8]) {
    write_len(out, utf16_len(packet));
    out.push(b':');
    out.extend_from_slice(packet);
}

/// Appends a binary message as a v3 text payload record: `<length>:b4<base64>`, for clients
/// that asked for base64 (`b64=1`).
pub fn encode_record_base64_v3(out: &mut Vec<u8>, data: &[u8]) {
    write_len(out, 2 + data.len().div_ceil(3) * 4);
    out.extend_from_slice(b":b4");
    b64::encode(out, data);
}

fn write_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(n.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug, PartialEq)]
    enum Owned {
        Text(PacketType, String),
        Binary(Vec<u8>),
    }

    fn own(p: Packet<'_>) -> Owned {
        let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        match p {
            Packet::Open(d) => Owned::Text(PacketType::Open, s(d)),
            Packet::Close => Owned::Text(PacketType::Close, String::new()),
            Packet::Ping(d) => Owned::Text(PacketType::Ping, s(d)),
            Packet::Pong(d) => Owned::Text(PacketType::Pong, s(d)),
            Packet::MessageText(d) => Owned::Text(PacketType::Message, s(d)),
            Packet::MessageBinary(d) => Owned::Binary(d.to_vec()),
            Packet::Upgrade => Owned::Text(PacketType::Upgrade, String::new()),
            Packet::Noop => Owned::Text(PacketType::Noop, String::new()),
        }
    }

    fn decode(body: &[u8]) -> Vec<Result<Owned, EioError>> {
        let mut body = body.to_vec();
        PayloadDecoderV3::new(&mut body)
            .map(|r| r.map(own))
            .collect()
    }

    fn msg(s: &str) -> Result<Owned, EioError> {
        Ok(Owned::Text(PacketType::Message, s.into()))
    }

    /// The reference's parser-v3 wire strings (engine.io `build/parser-v3`, and
    /// engine.io-parser 2.x `test/parser.js`).
    #[test]
    fn golden_reference_payloads() {
        assert_eq!(decode("4:4€€€2:4α".as_bytes()), [msg("€€€"), msg("α")]);
        assert_eq!(
            decode("4:4😀x1:2".as_bytes()),
            [msg("😀x"), Ok(Owned::Text(PacketType::Ping, String::new()))]
        );
        assert_eq!(
            decode(b"3:4hi10:b4AQIDBA=="),
            [msg("hi"), Ok(Owned::Binary(vec![1, 2, 3, 4]))]
        );
        assert_eq!(
            decode(b"2:4a0:1:2"),
            [msg("a"), Ok(Owned::Text(PacketType::Ping, String::new()))]
        );
        assert_eq!(decode(b"6:b4AQI="), [Ok(Owned::Binary(vec![1, 2]))]);
        assert_eq!(
            decode(b"1:6"),
            [Ok(Owned::Text(PacketType::Noop, String::new()))]
        );
    }

    /// The reference's decoding errors (engine.io-parser 2.x `test/parser.js`).
    #[test]
    fn golden_reference_errors() {
        assert_eq!(decode(b"1!"), [Err(EioError::BadLength)]);
        assert_eq!(decode(b"))"), [Err(EioError::BadLength)]);
        assert_eq!(decode(b"1:"), [Err(EioError::BadLength)]);
        assert_eq!(decode(b"3:99:"), [Err(EioError::UnknownType(b'9'))]);
        assert_eq!(decode(b"1:aa"), [Err(EioError::UnknownType(b'a'))]);
        assert_eq!(decode(b"1:a2:b"), [Err(EioError::UnknownType(b'a'))]);
        assert_eq!(decode(b"2:4a1"), [msg("a"), Err(EioError::BadLength)]);
        assert_eq!(decode(b"3:b4!"), [Err(EioError::BadBase64)]);
        assert_eq!(decode(b"\xff"), [Err(EioError::InvalidUtf8)]);
        assert_eq!(decode(b":4"), [Err(EioError::BadLength)]);
        assert_eq!(
            decode(b"99999999999999999999999:4"),
            [Err(EioError::BadLength)]
        );
        // Half of a surrogate pair.
        assert_eq!(decode("2:4😀".as_bytes()), [Err(EioError::BadLength)]);
        assert_eq!(decode(b""), [Err(EioError::Empty)]);
    }

    #[test]
    fn websocket_text_frames_take_base64_binary() {
        let frame = |s: &str| decode_text_v3(&mut s.as_bytes().to_vec()).map(own);
        assert_eq!(frame("b4AQIDBA=="), Ok(Owned::Binary(vec![1, 2, 3, 4])));
        assert_eq!(frame("4hi"), msg("hi"));
        assert_eq!(frame("b"), Err(EioError::Empty));
        assert_eq!(frame("b4!"), Err(EioError::BadBase64));
        assert_eq!(frame(""), Err(EioError::Empty));
    }

    #[test]
    fn encoders_match_the_reference() {
        let mut out = Vec::new();
        encode_record_v3(&mut out, "4€€€".as_bytes());
        encode_record_v3(&mut out, "4α".as_bytes());
        assert_eq!(out, "4:4€€€2:4α".as_bytes());
        out.clear();
        encode_record_v3(&mut out, "4😀x".as_bytes());
        encode_record_v3(&mut out, b"2");
        assert_eq!(out, "4:4😀x1:2".as_bytes());
        out.clear();
        encode_record_v3(&mut out, b"4hi");
        encode_record_base64_v3(&mut out, &[1, 2, 3, 4]);
        assert_eq!(out, b"3:4hi10:b4AQIDBA==");
        out.clear();
        encode_record_v3(&mut out, b"6");
        assert_eq!(out, b"1:6");
    }

    fn record() -> impl Strategy<Value = Owned> {
        let text = proptest::collection::vec(any::<char>(), 0..12)
            .prop_map(|v| v.into_iter().collect::<String>());
        prop_oneof![
            text.clone()
                .prop_map(|s| Owned::Text(PacketType::Message, s)),
            text.clone().prop_map(|s| Owned::Text(PacketType::Ping, s)),
            text.prop_map(|s| Owned::Text(PacketType::Open, s)),
            Just(Owned::Text(PacketType::Noop, String::new())),
            Just(Owned::Text(PacketType::Close, String::new())),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(Owned::Binary),
        ]
    }

    fn encode(out: &mut Vec<u8>, p: &Owned) {
        match p {
            Owned::Text(ty, d) => {
                let mut packet = vec![ty.as_byte()];
                packet.extend_from_slice(d.as_bytes());
                encode_record_v3(out, &packet);
            }
            Owned::Binary(d) => encode_record_base64_v3(out, d),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Joined records split back into the same packets, whatever they hold (`:`, digits,
        /// characters of any width).
        #[test]
        fn joined_payloads_split_back(packets in proptest::collection::vec(record(), 1..8)) {
            let mut body = Vec::new();
            for p in &packets {
                encode(&mut body, p);
            }
            let decoded: Result<Vec<Owned>, EioError> = decode(&body).into_iter().collect();
            prop_assert_eq!(decoded, Ok(packets));
        }

        #[test]
        fn utf16_len_matches_rust(s in ".{0,16}") {
            prop_assert_eq!(utf16_len(s.as_bytes()), s.encode_utf16().count());
        }

        #[test]
        fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let results = decode(&body);
            let errors = results.iter().filter(|r| r.is_err()).count();
            prop_assert!(errors <= 1);
            prop_assert!(errors == 0 || results.last().is_some_and(|r| r.is_err()));
        }

        #[test]
        fn decode_never_panics_on_near_valid(
            parts in proptest::collection::vec(
                prop_oneof![Just("4".to_string()), Just(":".to_string()), Just("b4".to_string()),
                            Just("😀".to_string()), "[0-9]{1,2}", "[A-Za-z0-9+/=]{0,5}"],
                0..12)
        ) {
            let _ = decode(parts.concat().as_bytes());
        }
    }
}
