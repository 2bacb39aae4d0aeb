//! Decoding: the header grammar `<type>[<attachments>-][<nsp>,][<ack id>][<JSON data>]` and
//! the payload rules of socket.io-parser 4.x, over the text of one Engine.IO message.

use std::ops::Range;

use simd_json::{BorrowedValue, Buffers};

use super::{is_reserved_event, Limits, Packet, PacketType, SioError};

/// The parsed header: everything before the JSON data, as offsets into the text.
struct Header {
    ty: PacketType,
    attachments: usize,
    /// Byte range of the namespace (from its '/' up to, not including, the ','), if present.
    nsp: Option<Range<usize>>,
    id: Option<u64>,
    data_start: usize,
}

/// Decodes one Socket.IO packet from the text of an Engine.IO message (without the Engine.IO
/// `4`). The JSON is parsed in place by simd-json (it unescapes strings inside `text`), so the
/// packet borrows from `text`.
///
/// Allocates the JSON tree and simd-json's scratch buffers; use [`decode_with_buffers`] on hot
/// paths to reuse the scratch buffers.
pub fn decode<'a>(text: &'a mut [u8], limits: &Limits) -> Result<Packet<'a>, SioError> {
    decode_inner(text, limits, None)
}

/// [`decode`] with simd-json scratch buffers the caller keeps (one per event loop), so only the
/// JSON tree itself is allocated per packet.
pub fn decode_with_buffers<'a>(
    text: &'a mut [u8],
    limits: &Limits,
    buffers: &mut Buffers,
) -> Result<Packet<'a>, SioError> {
    decode_inner(text, limits, Some(buffers))
}

fn decode_inner<'a>(
    text: &'a mut [u8],
    limits: &Limits,
    buffers: Option<&mut Buffers>,
) -> Result<Packet<'a>, SioError> {
    let header = parse_header(text, limits)?;
    let (head, json) = text.split_at_mut(header.data_start);
    let head: &'a [u8] = head;
    let nsp = match header.nsp {
        Some(range) => {
            let bytes = head.get(range).ok_or(SioError::BadNamespace)?;
            std::str::from_utf8(bytes).map_err(|_| SioError::BadNamespace)?
        }
        None => "/",
    };
    let data = if json.is_empty() {
        None
    } else {
        check_depth(json, limits.max_depth)?;
        let value = match buffers {
            Some(buffers) => simd_json::to_borrowed_value_with_buffers(json, buffers),
            None => simd_json::to_borrowed_value(json),
        };
        Some(value.map_err(|_| SioError::Json)?)
    };
    check_payload(header.ty, data.as_ref())?;
    Ok(Packet {
        ty: header.ty,
        nsp,
        id: header.id,
        attachments: header.attachments,
        data,
    })
}

fn parse_header(text: &[u8], limits: &Limits) -> Result<Header, SioError> {
    let (&first, _) = text.split_first().ok_or(SioError::Empty)?;
    let ty = PacketType::from_digit(first).ok_or(SioError::UnknownType)?;
    let mut pos = 1;

    let mut attachments = 0usize;
    if ty.is_binary() {
        let digits = count_digits(text, pos);
        if digits == 0 || text.get(pos + digits) != Some(&b'-') {
            return Err(SioError::BadAttachments);
        }
        for &d in text.get(pos..pos + digits).unwrap_or_default() {
            // Bail out as soon as the count passes the limit, so a billion-digit count costs
            // nothing and can never overflow.
            attachments = attachments
                .checked_mul(10)
                .and_then(|n| n.checked_add(usize::from(d - b'0')))
                .filter(|&n| n <= limits.max_attachments)
                .ok_or(SioError::TooManyAttachments)?;
        }
        pos += digits + 1;
    }

    let mut nsp = None;
    if text.get(pos) == Some(&b'/') {
        // Like socket.io-parser, a namespace without its ',' runs to the end of the message.
        let end = text
            .get(pos..)
            .and_then(|rest| rest.iter().position(|&b| b == b','))
            .map_or(text.len(), |comma| pos + comma);
        nsp = Some(pos..end);
        pos = (end + 1).min(text.len());
    }

    let digits = count_digits(text, pos);
    let mut id = None;
    if digits > 0 {
        let mut value = 0u64;
        for &d in text.get(pos..pos + digits).unwrap_or_default() {
            value = value
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(SioError::BadAckId)?;
        }
        id = Some(value);
        pos += digits;
    }
    match (ty, id) {
        (PacketType::Event | PacketType::BinaryEvent, _) => {}
        (PacketType::Ack | PacketType::BinaryAck, Some(_)) => {}
        (PacketType::Connect | PacketType::Disconnect | PacketType::ConnectError, None) => {}
        _ => return Err(SioError::BadAckId),
    }

    Ok(Header {
        ty,
        attachments,
        nsp,
        id,
        data_start: pos,
    })
}

/// Number of ASCII digits in `text` starting at `pos` (0 when `pos` is past the end).
fn count_digits(text: &[u8], pos: usize) -> usize {
    text.get(pos..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

/// Refuses JSON nested deeper than `max_depth` with one linear pass, before any parser or
/// recursive walk sees it. Brackets inside strings do not count.
fn check_depth(json: &[u8], max_depth: usize) -> Result<(), SioError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(SioError::TooDeep);
                }
            }
            // Unbalanced closers are the JSON parser's to reject.
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The payload rules of socket.io-parser's `isPayloadValid`, plus: events and acks must carry
/// data, and event names must be strings (not numbers).
fn check_payload(ty: PacketType, data: Option<&BorrowedValue<'_>>) -> Result<(), SioError> {
    match (ty, data) {
        (PacketType::Connect, None | Some(BorrowedValue::Object(_))) => Ok(()),
        (PacketType::Connect, Some(_)) => {
            Err(SioError::InvalidPayload("CONNECT data must be an object"))
        }
        (PacketType::Disconnect, None) => Ok(()),
        (PacketType::Disconnect, Some(_)) => {
            Err(SioError::InvalidPayload("DISCONNECT takes no data"))
        }
        (PacketType::ConnectError, Some(BorrowedValue::Object(_) | BorrowedValue::String(_))) => {
            Ok(())
        }
        (PacketType::ConnectError, _) => Err(SioError::InvalidPayload(
            "CONNECT_ERROR data must be an object or a string",
        )),
        (PacketType::Event | PacketType::BinaryEvent, Some(BorrowedValue::Array(items))) => {
            match items.first() {
                Some(BorrowedValue::String(name)) if is_reserved_event(name) => {
                    Err(SioError::InvalidPayload("reserved event name"))
                }
                Some(BorrowedValue::String(_)) => Ok(()),
                Some(_) => Err(SioError::InvalidPayload("event name must be a string")),
                None => Err(SioError::InvalidPayload("event data must not be empty")),
            }
        }
        (PacketType::Event | PacketType::BinaryEvent, _) => {
            Err(SioError::InvalidPayload("event data must be an array"))
        }
        (PacketType::Ack | PacketType::BinaryAck, Some(BorrowedValue::Array(_))) => Ok(()),
        (PacketType::Ack | PacketType::BinaryAck, _) => {
            Err(SioError::InvalidPayload("ack data must be an array"))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use simd_json::prelude::*;

    use super::*;

    fn dec(text: &str) -> Result<Packet<'static>, SioError> {
        let buf: &'static mut [u8] = text.as_bytes().to_vec().leak();
        decode(buf, &Limits::default())
    }

    fn err(text: &str) -> SioError {
        match dec(text) {
            Ok(p) => panic!("{text:?} decoded to {p:?}"),
            Err(e) => e,
        }
    }

    /// The packet's data re-serialised, for comparing against the wire JSON.
    fn json(p: &Packet<'_>) -> Option<String> {
        p.data.as_ref().map(|v| v.encode())
    }

    #[test]
    fn connect_forms() {
        let p = dec("0").unwrap();
        assert_eq!(
            (p.ty, p.nsp, p.id, p.attachments),
            (PacketType::Connect, "/", None, 0)
        );
        assert!(p.data.is_none());

        let p = dec("0/admin,").unwrap();
        assert_eq!((p.ty, p.nsp), (PacketType::Connect, "/admin"));
        assert!(p.data.is_none());

        let p = dec(r#"0{"token":"123"}"#).unwrap();
        assert_eq!(p.nsp, "/");
        assert_eq!(json(&p).as_deref(), Some(r#"{"token":"123"}"#));

        let p = dec(r#"0/admin,{"token":"123"}"#).unwrap();
        assert_eq!(p.nsp, "/admin");
        assert_eq!(json(&p).as_deref(), Some(r#"{"token":"123"}"#));

        let p = dec(r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#).unwrap();
        assert_eq!(p.nsp, "/admin");
        let sid = p.data.as_ref().and_then(|d| d.get_str("sid"));
        assert_eq!(sid, Some("oSO0OpakMV_3jnilAAAA"));
    }

    #[test]
    fn connect_error_and_disconnect() {
        let p = dec(r#"4{"message":"Not authorized"}"#).unwrap();
        assert_eq!((p.ty, p.nsp, p.id), (PacketType::ConnectError, "/", None));
        assert_eq!(
            p.data.as_ref().and_then(|d| d.get_str("message")),
            Some("Not authorized")
        );

        let p = dec(r#"4/admin,"Not authorized""#).unwrap();
        assert_eq!(
            p.data.as_ref().and_then(|d| d.as_str()),
            Some("Not authorized")
        );

        let p = dec("1/admin,").unwrap();
        assert_eq!(
            (p.ty, p.nsp, p.id),
            (PacketType::Disconnect, "/admin", None)
        );
        assert!(p.data.is_none());

        // Like socket.io-parser, a namespace may end the message without its ','.
        assert_eq!(dec("1/admin").unwrap().nsp, "/admin");
        assert_eq!(dec("1").unwrap().nsp, "/");
    }

    #[test]
    fn event_and_ack_forms() {
        let p = dec(r#"2["foo"]"#).unwrap();
        assert_eq!((p.ty, p.nsp, p.id), (PacketType::Event, "/", None));
        assert_eq!(p.event_name(), Some("foo"));

        let p = dec(r#"2/admin,["bar"]"#).unwrap();
        assert_eq!((p.nsp, p.event_name()), ("/admin", Some("bar")));

        let p = dec(r#"212["foo"]"#).unwrap();
        assert_eq!(
            (p.ty, p.id, p.event_name()),
            (PacketType::Event, Some(12), Some("foo"))
        );

        let p = dec(r#"3/admin,13["bar"]"#).unwrap();
        assert_eq!((p.ty, p.nsp, p.id), (PacketType::Ack, "/admin", Some(13)));
        assert_eq!(json(&p).as_deref(), Some(r#"["bar"]"#));
        assert_eq!(p.event_name(), None);

        let p = dec(r#"3/admin,13[]"#).unwrap();
        assert_eq!(json(&p).as_deref(), Some("[]"));
    }

    #[test]
    fn binary_headers() {
        let p = dec(r#"51-["baz",{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(
            (p.ty, p.nsp, p.id, p.attachments),
            (PacketType::BinaryEvent, "/", None, 1)
        );
        assert_eq!(p.event_name(), Some("baz"));

        let p = dec(r#"61-/admin,15[{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(
            (p.ty, p.nsp, p.id, p.attachments),
            (PacketType::BinaryAck, "/admin", Some(15), 1)
        );

        let p = dec(r#"50-["baz"]"#).unwrap();
        assert_eq!(p.attachments, 0);
        let p = dec(r#"510-["baz"]"#).unwrap();
        assert_eq!(p.attachments, 10);
    }

    #[test]
    fn escaped_strings_are_unescaped_in_place() {
        let p = dec(r#"2["a\"b\u00e9",{"k\n":"\\"}]"#).unwrap();
        assert_eq!(p.event_name(), Some("a\"bé"));
        assert_eq!(json(&p).as_deref(), Some(r#"["a\"bé",{"k\n":"\\"}]"#));
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        assert_eq!(err(""), SioError::Empty);
        assert_eq!(err("abc"), SioError::UnknownType);
        assert_eq!(err("7[\"a\"]"), SioError::UnknownType);
        assert_eq!(err("4abc"), SioError::Json);
        // `4` is CONNECT_ERROR, which carries no ack id.
        assert_eq!(err("42{}"), SioError::BadAckId);
        assert_eq!(err("01{}"), SioError::BadAckId);
        assert_eq!(err("3[\"a\"]"), SioError::BadAckId);
        assert!(matches!(err("2{}"), SioError::InvalidPayload(_)));
        assert!(matches!(err("2[]"), SioError::InvalidPayload(_)));
        assert!(matches!(err("2[1]"), SioError::InvalidPayload(_)));
        assert!(matches!(err("2"), SioError::InvalidPayload(_)));
        assert!(matches!(err("2/admin,"), SioError::InvalidPayload(_)));
        assert!(matches!(
            err("2[\"disconnect\"]"),
            SioError::InvalidPayload(_)
        ));
        assert!(matches!(err("31{}"), SioError::InvalidPayload(_)));
        assert!(matches!(err("0[]"), SioError::InvalidPayload(_)));
        assert!(matches!(err("0\"x\""), SioError::InvalidPayload(_)));
        assert!(matches!(err("1{}"), SioError::InvalidPayload(_)));
        assert!(matches!(err("4"), SioError::InvalidPayload(_)));
        assert!(matches!(err("4[]"), SioError::InvalidPayload(_)));
        assert_eq!(err("2abc[\"a\"]"), SioError::Json);
        assert_eq!(err("2[\"a\"]x"), SioError::Json);
        assert_eq!(err("2[\"a\""), SioError::Json);
        assert_eq!(err("2 "), SioError::Json);
        assert_eq!(err("5-[\"a\"]"), SioError::BadAttachments);
        assert_eq!(err("51[\"a\"]"), SioError::BadAttachments);
        assert_eq!(err("5"), SioError::BadAttachments);
        assert_eq!(err("6x-1[]"), SioError::BadAttachments);
        assert_eq!(err("511-[\"a\"]"), SioError::TooManyAttachments);
        assert_eq!(err("5999999999999-[\"a\"]"), SioError::TooManyAttachments);
        let huge = format!("5{}-[\"a\"]", "9".repeat(100_000));
        assert_eq!(err(&huge), SioError::TooManyAttachments);
        assert_eq!(err("6-0[]"), SioError::BadAttachments);
    }

    #[test]
    fn namespace_must_be_utf8() {
        let mut buf = b"2/\xff\xfe,[\"a\"]".to_vec();
        assert_eq!(
            decode(&mut buf, &Limits::default()).unwrap_err(),
            SioError::BadNamespace
        );
    }

    #[test]
    fn ack_id_bounds() {
        let max = format!("2{}[\"a\"]", u64::MAX);
        assert_eq!(dec(&max).unwrap().id, Some(u64::MAX));
        let over = "218446744073709551616[\"a\"]";
        assert_eq!(err(over), SioError::BadAckId);
        let long = format!("3{}[]", "1".repeat(10_000));
        assert_eq!(err(&long), SioError::BadAckId);
        assert_eq!(dec("3007[]").unwrap().id, Some(7));
    }

    #[test]
    fn depth_limit_is_enforced_before_parsing() {
        let deep = format!("2{}", "[".repeat(100_000));
        let started = std::time::Instant::now();
        assert_eq!(err(&deep), SioError::TooDeep);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let objects = format!("2[\"a\",{}", "{\"k\":".repeat(100_000));
        assert_eq!(err(&objects), SioError::TooDeep);

        let limits = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        let mut ok = br#"2["a",{"b":1}]"#.to_vec();
        assert!(decode(&mut ok, &limits).is_ok());
        let mut deep = br#"2["a",{"b":[1]}]"#.to_vec();
        assert_eq!(decode(&mut deep, &limits).unwrap_err(), SioError::TooDeep);
        // Brackets inside strings (escaped quotes included) are not nesting.
        let mut strings = br#"2["[[[\"{{{",{"k":"]]]"}]"#.to_vec();
        let p = decode(&mut strings, &limits).unwrap();
        assert_eq!(p.event_name(), Some("[[[\"{{{"));
    }

    #[test]
    fn reusable_buffers_decode_the_same() {
        let mut buffers = Buffers::default();
        for text in [r#"2["a",1]"#, r#"3/x,4[{"b":[true,null]}]"#, "1/y,"] {
            let mut a = text.as_bytes().to_vec();
            let mut b = text.as_bytes().to_vec();
            let pa = decode(&mut a, &Limits::default()).unwrap();
            let pb = decode_with_buffers(&mut b, &Limits::default(), &mut buffers).unwrap();
            assert_eq!((pa.ty, pa.nsp, pa.id), (pb.ty, pb.nsp, pb.id));
            assert_eq!(json(&pa), json(&pb));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_on_arbitrary_bytes(mut bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&mut bytes, &Limits::default());
        }

        #[test]
        fn never_panics_on_packet_like_text(
            text in r#"[0-6]([0-9]{0,3}-)?(/[a-z,]{0,4},?)?[0-9]{0,22}[\[\]{}",:a-z0-9_ ]{0,24}"#
        ) {
            let mut bytes = text.into_bytes();
            let _ = decode(&mut bytes, &Limits::default());
        }
    }
}
