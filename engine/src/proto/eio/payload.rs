//! HTTP long-polling payloads: packets joined by the record separator `0x1e`, binary messages
//! as `b` + base64.

use super::b64;
use super::packet::{from_parts, EioError, Packet, PacketType};

/// Separates packets in a polling payload (ASCII record separator). Text data must not contain
/// it: the protocol has no escape, so the reference implementation has the same limit.
pub const RECORD_SEPARATOR: u8 = 0x1e;

/// Marks a binary message record in a polling payload; base64 data follows.
const BINARY_PREFIX: u8 = b'b';

/// Iterates the packets of a polling request body, decoding in place without allocating.
///
/// Each record is one packet: a type digit and its data, or `b` and base64 data, which is decoded
/// into the front of its own bytes and yielded as [`Packet::MessageBinary`]. Text data is
/// checked to be UTF-8. An empty body, an empty record (including one after a trailing
/// separator), an unknown type, bad base64 or bad UTF-8 yields one `Err` and then the iterator
/// ends, because the reference server drops the whole payload (and closes the session) on the
/// first bad packet; packets before the error have already been yielded.
#[derive(Debug)]
pub struct PayloadDecoder<'a> {
    rest: Option<&'a mut [u8]>,
}

impl<'a> PayloadDecoder<'a> {
    /// Starts decoding `body`; the body's bytes are rewritten where base64 is decoded.
    pub fn new(body: &'a mut [u8]) -> Self {
        Self { rest: Some(body) }
    }
}

impl<'a> Iterator for PayloadDecoder<'a> {
    type Item = Result<Packet<'a>, EioError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.take()?;
        let record = match rest.iter().position(|&b| b == RECORD_SEPARATOR) {
            Some(at) => match rest.split_at_mut_checked(at) {
                Some((record, tail)) => {
                    self.rest = tail.get_mut(1..);
                    record
                }
                None => return Some(Err(EioError::Empty)),
            },
            None => rest,
        };
        let item = decode_record(record);
        if item.is_err() {
            self.rest = None;
        }
        Some(item)
    }
}

impl std::iter::FusedIterator for PayloadDecoder<'_> {}

fn decode_record(record: &mut [u8]) -> Result<Packet<'_>, EioError> {
    let (&mut ty, data) = record.split_first_mut().ok_or(EioError::Empty)?;
    if ty == BINARY_PREFIX {
        let len = b64::decode_in_place(data)?;
        let decoded = data.get_mut(..len).ok_or(EioError::BadBase64)?;
        return Ok(Packet::MessageBinary(decoded));
    }
    // Checked before UTF-8 so that garbage reports the more telling error.
    PacketType::from_byte(ty).ok_or(EioError::UnknownType(ty))?;
    std::str::from_utf8(data).map_err(|_| EioError::InvalidUtf8)?;
    from_parts(ty, data)
}

/// Appends a text packet (type digit + `data`) to a polling payload, preceded by the record
/// separator unless `first`. `data` must not contain [`RECORD_SEPARATOR`].
pub fn encode_payload_text(out: &mut Vec<u8>, ty: PacketType, data: &[u8], first: bool) {
    out.reserve(data.len().saturating_add(2));
    if !first {
        out.push(RECORD_SEPARATOR);
    }
    out.push(ty.as_byte());
    out.extend_from_slice(data);
}

/// Appends a binary message (`b` + padded base64 of `data`) to a polling payload, preceded by
/// the record separator unless `first`.
pub fn encode_payload_binary(out: &mut Vec<u8>, data: &[u8], first: bool) {
    if !first {
        out.push(RECORD_SEPARATOR);
    }
    out.push(BINARY_PREFIX);
    b64::encode(out, data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An owned packet, so tests can compare what went in with what came out.
    #[derive(Clone, Debug, PartialEq)]
    enum Owned {
        Open(String),
        Close,
        Ping(String),
        Pong(String),
        Text(String),
        Binary(Vec<u8>),
        Upgrade,
        Noop,
    }

    fn own(p: Packet<'_>) -> Owned {
        let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        match p {
            Packet::Open(d) => Owned::Open(s(d)),
            Packet::Close => Owned::Close,
            Packet::Ping(d) => Owned::Ping(s(d)),
            Packet::Pong(d) => Owned::Pong(s(d)),
            Packet::MessageText(d) => Owned::Text(s(d)),
            Packet::MessageBinary(d) => Owned::Binary(d.to_vec()),
            Packet::Upgrade => Owned::Upgrade,
            Packet::Noop => Owned::Noop,
        }
    }

    fn decode(body: &[u8]) -> Vec<Result<Owned, EioError>> {
        let mut body = body.to_vec();
        PayloadDecoder::new(&mut body).map(|r| r.map(own)).collect()
    }

    fn text(s: &str) -> Result<Owned, EioError> {
        Ok(Owned::Text(s.into()))
    }

    #[test]
    fn golden_payloads() {
        assert_eq!(decode(b"4hello\x1e4world"), [text("hello"), text("world")]);
        assert_eq!(
            decode(b"4hello\x1e2\x1e4world"),
            [text("hello"), Ok(Owned::Ping(String::new())), text("world")]
        );
        assert_eq!(decode("4€".as_bytes()), [text("€")]);
        assert_eq!(decode(b"bAQIDBA=="), [Ok(Owned::Binary(vec![1, 2, 3, 4]))]);
        assert_eq!(
            decode(b"4hello\x1ebAQIDBA==\x1e3probe\x1eb\x1e1\x1e6\x1e5"),
            [
                text("hello"),
                Ok(Owned::Binary(vec![1, 2, 3, 4])),
                Ok(Owned::Pong("probe".into())),
                Ok(Owned::Binary(vec![])),
                Ok(Owned::Close),
                Ok(Owned::Noop),
                Ok(Owned::Upgrade),
            ]
        );
    }

    #[test]
    fn binary_decodes_into_the_body_prefix() {
        let mut body = *b"4a\x1ebAQIDBA==";
        let base = body.as_ptr() as usize;
        let mut it = PayloadDecoder::new(&mut body);
        assert!(matches!(it.next(), Some(Ok(Packet::MessageText(_)))));
        match it.next() {
            Some(Ok(Packet::MessageBinary(d))) => {
                assert_eq!(d, &[1, 2, 3, 4]);
                assert_eq!(d.as_ptr() as usize, base + 4);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(it.next().is_none());
    }

    #[test]
    fn bad_payloads_error_then_stop() {
        assert_eq!(decode(b""), [Err(EioError::Empty)]);
        assert_eq!(decode(b"9"), [Err(EioError::UnknownType(b'9'))]);
        assert_eq!(decode(b"abc"), [Err(EioError::UnknownType(b'a'))]);
        assert_eq!(decode(b"b!!!!"), [Err(EioError::BadBase64)]);
        assert_eq!(decode(b"4a\x1e\x1e4b"), [text("a"), Err(EioError::Empty)]);
        assert_eq!(decode(b"4a\x1e"), [text("a"), Err(EioError::Empty)]);
        assert_eq!(decode(b"\x1e4a"), [Err(EioError::Empty)]);
        assert_eq!(
            decode(b"4a\x1ebAQ=\x1e4b"),
            [text("a"), Err(EioError::BadBase64)]
        );
        assert_eq!(decode(b"4\xff\xfe"), [Err(EioError::InvalidUtf8)]);
        assert_eq!(decode(b"\xff"), [Err(EioError::UnknownType(0xff))]);
    }

    #[test]
    fn encoders_golden() {
        let mut out = Vec::new();
        encode_payload_text(&mut out, PacketType::Message, b"hello", true);
        encode_payload_binary(&mut out, &[1, 2, 3, 4], false);
        encode_payload_text(&mut out, PacketType::Ping, b"", false);
        encode_payload_text(&mut out, PacketType::Message, "€".as_bytes(), false);
        assert_eq!(out, "4hello\x1ebAQIDBA==\x1e2\x1e4€".as_bytes());
    }

    fn no_sep() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            any::<char>().prop_filter("separator", |&c| c != '\x1e'),
            0..12,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    fn owned_packet() -> impl Strategy<Value = Owned> {
        prop_oneof![
            no_sep().prop_map(Owned::Open),
            Just(Owned::Close),
            no_sep().prop_map(Owned::Ping),
            no_sep().prop_map(Owned::Pong),
            no_sep().prop_map(Owned::Text),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(Owned::Binary),
            Just(Owned::Upgrade),
            Just(Owned::Noop),
        ]
    }

    fn encode(out: &mut Vec<u8>, p: &Owned, first: bool) {
        let mut t = |ty, d: &str| encode_payload_text(out, ty, d.as_bytes(), first);
        match p {
            Owned::Open(d) => t(PacketType::Open, d),
            Owned::Close => t(PacketType::Close, ""),
            Owned::Ping(d) => t(PacketType::Ping, d),
            Owned::Pong(d) => t(PacketType::Pong, d),
            Owned::Text(d) => t(PacketType::Message, d),
            Owned::Upgrade => t(PacketType::Upgrade, ""),
            Owned::Noop => t(PacketType::Noop, ""),
            Owned::Binary(d) => encode_payload_binary(out, d, first),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn payload_round_trips(packets in proptest::collection::vec(owned_packet(), 1..8)) {
            let mut body = Vec::new();
            for (i, p) in packets.iter().enumerate() {
                encode(&mut body, p, i == 0);
            }
            let decoded: Result<Vec<Owned>, EioError> = decode(&body).into_iter().collect();
            prop_assert_eq!(decoded, Ok(packets));
        }

        #[test]
        fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let results = decode(&body);
            prop_assert!(!results.is_empty());
            // Only the last item may be an error.
            let errors = results.iter().filter(|r| r.is_err()).count();
            prop_assert!(errors <= 1);
            prop_assert!(errors == 0 || results.last().is_some_and(|r| r.is_err()));
        }

        #[test]
        fn decode_never_panics_on_near_valid(
            parts in proptest::collection::vec(
                prop_oneof![Just("4".to_string()), Just("b".to_string()), Just("\x1e".to_string()),
                            Just("=".to_string()), "[A-Za-z0-9+/]{0,5}"],
                0..12)
        ) {
            let body: String = parts.concat();
            prop_assert!(!decode(body.as_bytes()).is_empty());
        }
    }
}
