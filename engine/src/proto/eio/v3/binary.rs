//! Engine.IO v3 binary framing: WebSocket binary frames carry the packet type as a raw first
//! byte (`0x04` + data for a message), and binary polling payloads (for clients that take
//! binary, sent as `application/octet-stream`) frame each packet as
//! `<0 string | 1 binary><length as digit bytes 0-9><0xff><packet>`.

use super::super::packet::{from_parts, EioError, Packet, PacketType};
use super::text::decode_record;

/// The first byte of a v3 binary message: the message type as a number, not a digit.
pub const BINARY_MESSAGE_BYTE: u8 = 4;

/// Ends the length digits of a binary payload record.
const LENGTH_END: u8 = 0xff;

/// The reference refuses a length of more than this many digits (the length of
/// `Number.MAX_VALUE` written out).
const MAX_LENGTH_DIGITS: usize = 310;

/// Decodes a v3 WebSocket binary frame: a raw type byte (`0..=6`), then the data; a message's
/// data is a binary message.
pub fn decode_binary_v3(frame: &mut [u8]) -> Result<Packet<'_>, EioError> {
    let (&mut ty, data) = frame.split_first_mut().ok_or(EioError::Empty)?;
    if ty == BINARY_MESSAGE_BYTE {
        return Ok(Packet::MessageBinary(data));
    }
    let digit = ty.checked_add(b'0').ok_or(EioError::UnknownType(ty))?;
    PacketType::from_byte(digit).ok_or(EioError::UnknownType(ty))?;
    from_parts(digit, data)
}

/// Iterates the packets of a v3 binary polling payload, decoding in place.
///
/// Like the v4 and v3 text decoders, the first malformed record (a flag byte other than 0 or 1,
/// a length byte other than 0-9 or too many of them, a record shorter than its length, a bad
/// packet inside) yields one `Err` and ends the iteration. String records are UTF-8 packets as
/// in a text payload (`4hello`, `b4<base64>`); binary records start with the raw type byte.
#[derive(Debug)]
pub struct BinaryPayloadDecoderV3<'a> {
    rest: Option<&'a mut [u8]>,
}

impl<'a> BinaryPayloadDecoderV3<'a> {
    /// Starts decoding `body`; the body's bytes are rewritten where base64 is decoded.
    pub fn new(body: &'a mut [u8]) -> Self {
        Self { rest: Some(body) }
    }
}

impl<'a> Iterator for BinaryPayloadDecoderV3<'a> {
    type Item = Result<Packet<'a>, EioError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.take()?;
        if rest.is_empty() {
            return None;
        }
        let item = split_record(rest).and_then(|(is_string, record, tail)| {
            self.rest = Some(tail);
            if is_string {
                decode_string_record(record)
            } else {
                decode_binary_v3(record)
            }
        });
        if item.is_err() {
            self.rest = None;
        }
        Some(item)
    }
}

impl std::iter::FusedIterator for BinaryPayloadDecoderV3<'_> {}

/// Splits the first record off `rest`: whether it is a string, its bytes, and what follows.
fn split_record(rest: &mut [u8]) -> Result<(bool, &mut [u8], &mut [u8]), EioError> {
    let is_string = match rest.first() {
        Some(0) => true,
        Some(1) => false,
        Some(&b) => return Err(EioError::UnknownType(b)),
        None => return Err(EioError::Empty),
    };
    let digits = rest
        .iter()
        .skip(1)
        .position(|&b| b == LENGTH_END)
        .ok_or(EioError::BadLength)?;
    if digits == 0 || digits > MAX_LENGTH_DIGITS {
        return Err(EioError::BadLength);
    }
    let len = rest
        .get(1..=digits)
        .unwrap_or_default()
        .iter()
        .try_fold(0usize, |n, &d| {
            if d > 9 {
                return None;
            }
            n.checked_mul(10)?.checked_add(usize::from(d))
        })
        .ok_or(EioError::BadLength)?;
    let start = digits + 2;
    let end = start.checked_add(len).ok_or(EioError::BadLength)?;
    if end > rest.len() {
        return Err(EioError::BadLength);
    }
    let (head, tail) = rest.split_at_mut(end);
    let record = head.get_mut(start..).ok_or(EioError::BadLength)?;
    Ok((is_string, record, tail))
}

/// A string record: one UTF-8 packet, as a text payload record holds it.
fn decode_string_record(record: &mut [u8]) -> Result<Packet<'_>, EioError> {
    std::str::from_utf8(record).map_err(|_| EioError::InvalidUtf8)?;
    decode_record(record)
}

/// Appends a text packet (type digit and data) as a binary payload record.
pub fn encode_binary_record_text(out: &mut Vec<u8>, packet: &[u8]) {
    out.push(0);
    push_len_digits(out, packet.len());
    out.extend_from_slice(packet);
}

/// Appends a binary message as a binary payload record (`0x04` + `data`).
pub fn encode_binary_record_binary(out: &mut Vec<u8>, data: &[u8]) {
    out.push(1);
    push_len_digits(out, data.len() + 1);
    out.push(BINARY_MESSAGE_BYTE);
    out.extend_from_slice(data);
}

fn push_len_digits(out: &mut Vec<u8>, n: usize) {
    out.extend(n.to_string().bytes().map(|d| d - b'0'));
    out.push(LENGTH_END);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug, PartialEq)]
    enum Owned {
        Text(String),
        Binary(Vec<u8>),
        Ping(Vec<u8>),
        Close,
    }

    fn own(p: Packet<'_>) -> Owned {
        match p {
            Packet::MessageText(d) => Owned::Text(String::from_utf8(d.to_vec()).unwrap()),
            Packet::MessageBinary(d) => Owned::Binary(d.to_vec()),
            Packet::Ping(d) => Owned::Ping(d.to_vec()),
            Packet::Close => Owned::Close,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn decode(body: &[u8]) -> Vec<Result<Owned, EioError>> {
        let mut body = body.to_vec();
        BinaryPayloadDecoderV3::new(&mut body)
            .map(|r| r.map(own))
            .collect()
    }

    /// Bytes from the reference's `encodePayload(packets, true)` (engine.io `build/parser-v3`).
    #[test]
    fn golden_reference_binary_payloads() {
        let hi_and_bytes = [0, 3, 255, 52, 104, 105, 1, 5, 255, 4, 1, 2, 3, 4];
        assert_eq!(
            decode(&hi_and_bytes),
            [
                Ok(Owned::Text("hi".into())),
                Ok(Owned::Binary(vec![1, 2, 3, 4]))
            ]
        );
        let mut out = Vec::new();
        encode_binary_record_text(&mut out, b"4hi");
        encode_binary_record_binary(&mut out, &[1, 2, 3, 4]);
        assert_eq!(out, hi_and_bytes);

        let euro_and_ten = [
            0, 4, 255, 52, 226, 130, 172, 1, 1, 1, 255, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
        ];
        out.clear();
        encode_binary_record_text(&mut out, "4€".as_bytes());
        encode_binary_record_binary(&mut out, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(out, euro_and_ten);
        assert_eq!(
            decode(&euro_and_ten),
            [
                Ok(Owned::Text("€".into())),
                Ok(Owned::Binary((1..=10).collect()))
            ]
        );
        assert_eq!(
            decode(b"\x00\x06\xffb4AQI="),
            [Ok(Owned::Binary(vec![1, 2]))]
        );
        assert_eq!(decode(b""), []);
    }

    #[test]
    fn bad_binary_payloads_error_then_stop() {
        assert_eq!(decode(&[2, 1, 255, 52]), [Err(EioError::UnknownType(2))]);
        assert_eq!(decode(&[0, 1, 52]), [Err(EioError::BadLength)]);
        assert_eq!(decode(&[0, 255, 52]), [Err(EioError::BadLength)]);
        assert_eq!(decode(&[0, 10, 255, 52]), [Err(EioError::BadLength)]);
        assert_eq!(decode(&[0, 5, 255, 52]), [Err(EioError::BadLength)]);
        assert_eq!(decode(&[0, 1, 255, 0xff]), [Err(EioError::InvalidUtf8)]);
        assert_eq!(decode(&[1, 1, 255, 9]), [Err(EioError::UnknownType(9))]);
        assert_eq!(
            decode(&[0, 2, 255, 52, 97, 0, 1, 255, 57]),
            [
                Ok(Owned::Text("a".into())),
                Err(EioError::UnknownType(b'9'))
            ]
        );
        let mut long = vec![0];
        long.extend(std::iter::repeat(1).take(311));
        long.push(255);
        assert_eq!(decode(&long), [Err(EioError::BadLength)]);
    }

    #[test]
    fn websocket_binary_frames() {
        let mut frame = [4u8, 1, 2, 3];
        assert_eq!(
            decode_binary_v3(&mut frame).map(own),
            Ok(Owned::Binary(vec![1, 2, 3]))
        );
        assert_eq!(
            decode_binary_v3(&mut [2u8, 7]).map(own),
            Ok(Owned::Ping(vec![7]))
        );
        assert_eq!(decode_binary_v3(&mut [1u8]).map(own), Ok(Owned::Close));
        assert_eq!(decode_binary_v3(&mut []), Err(EioError::Empty));
        assert_eq!(
            decode_binary_v3(&mut [b'4', 1]),
            Err(EioError::UnknownType(b'4'))
        );
        assert_eq!(
            decode_binary_v3(&mut [255]),
            Err(EioError::UnknownType(255))
        );
    }

    fn record() -> impl Strategy<Value = Owned> {
        prop_oneof![
            ".{0,12}".prop_map(Owned::Text),
            proptest::collection::vec(any::<u8>(), 0..24).prop_map(Owned::Binary),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn joined_binary_payloads_split_back(
            packets in proptest::collection::vec(record(), 1..8)
        ) {
            let mut body = Vec::new();
            for p in &packets {
                match p {
                    Owned::Text(s) => {
                        encode_binary_record_text(&mut body, format!("4{s}").as_bytes())
                    }
                    Owned::Binary(d) => encode_binary_record_binary(&mut body, d),
                    _ => unreachable!(),
                }
            }
            let decoded: Result<Vec<Owned>, EioError> = decode(&body).into_iter().collect();
            prop_assert_eq!(decoded, Ok(packets));
        }

        #[test]
        fn decode_never_panics(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut body = body;
            let results: Vec<_> = BinaryPayloadDecoderV3::new(&mut body).collect();
            let errors = results.iter().filter(|r| r.is_err()).count();
            prop_assert!(errors <= 1);
        }
    }
}
