//! Decoding: the header grammar `<type>[<attachments>-][<nsp>,][<ack id>][<JSON data>]` and
//! the payload rules of socket.io-parser 4.x, over the text of one Engine.IO message.

use std::borrow::Cow;
use std::ops::Range;

use super::json::{self, Root, Spans};
use super::{is_reserved_event, Limits, Packet, PacketType, SioError, ValueRef};

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
/// `4`). The JSON is validated in one linear pass (no tree, no recursion) and kept as sent: the
/// packet borrows from `text`, and its arguments are spans of it.
///
/// Errors: the header's ([`SioError::UnknownType`], [`SioError::BadAckId`]...), [`SioError::Json`]
/// for text that is not JSON (or not UTF-8), [`SioError::TooDeep`] past `limits.max_depth`,
/// [`SioError::InvalidPayload`] for JSON of the wrong shape for the packet type.
pub fn decode<'a>(text: &'a [u8], limits: &Limits) -> Result<Packet<'a>, SioError> {
    let header = parse_header(text, limits)?;
    let (head, json) = text.split_at(header.data_start);
    let nsp = match header.nsp {
        Some(range) => {
            let bytes = head.get(range).ok_or(SioError::BadNamespace)?;
            std::str::from_utf8(bytes).map_err(|_| SioError::BadNamespace)?
        }
        None => "/",
    };
    let mut spans = Spans {
        items: Vec::new(),
        objects: header.ty.is_binary().then(Vec::new),
    };
    let (data, root) = if json.is_empty() {
        (None, None)
    } else {
        let json = std::str::from_utf8(json).map_err(|_| SioError::Json)?;
        let root = json::scan(json.as_bytes(), limits.max_depth, &mut spans)?;
        (Some(ValueRef::new(json)), Some(root))
    };
    let name = check_payload(header.ty, data, root, &spans.items)?;
    Ok(Packet {
        ty: header.ty,
        nsp,
        id: header.id,
        attachments: header.attachments,
        data,
        name,
        items: spans.items,
        objects: spans.objects.unwrap_or_default(),
    })
}

/// A packet's header and data text, the data not checked (see [`split_header`]).
pub(super) struct Split<'a> {
    pub ty: PacketType,
    /// `"/"` when the text names none.
    pub nsp: &'a str,
    pub id: Option<u64>,
    /// Empty when the packet has none.
    pub data: &'a [u8],
}

/// Splits a packet into its header and data text without checking the data: for re-encoding
/// packets the server's own encoders wrote. Errors: the header's, as [`decode`] gives them.
pub(super) fn split_header(text: &[u8]) -> Result<Split<'_>, SioError> {
    let unbounded = Limits {
        max_attachments: usize::MAX,
        ..Limits::default()
    };
    let header = parse_header(text, &unbounded)?;
    let (head, data) = text.split_at(header.data_start);
    let nsp = match header.nsp {
        Some(range) => {
            let bytes = head.get(range).ok_or(SioError::BadNamespace)?;
            std::str::from_utf8(bytes).map_err(|_| SioError::BadNamespace)?
        }
        None => "/",
    };
    Ok(Split {
        ty: header.ty,
        nsp,
        id: header.id,
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

/// The payload rules of socket.io-parser's `isPayloadValid`, plus: events and acks must carry
/// data, and event names must be strings (not numbers). Returns an event's name.
fn check_payload<'a>(
    ty: PacketType,
    data: Option<ValueRef<'a>>,
    root: Option<Root>,
    items: &[Range<u32>],
) -> Result<Option<Cow<'a, str>>, SioError> {
    match (ty, root) {
        (PacketType::Connect, None | Some(Root::Object)) => Ok(None),
        (PacketType::Connect, Some(_)) => {
            Err(SioError::InvalidPayload("CONNECT data must be an object"))
        }
        (PacketType::Disconnect, None) => Ok(None),
        (PacketType::Disconnect, Some(_)) => {
            Err(SioError::InvalidPayload("DISCONNECT takes no data"))
        }
        (PacketType::ConnectError, Some(Root::Object | Root::String)) => Ok(None),
        (PacketType::ConnectError, _) => Err(SioError::InvalidPayload(
            "CONNECT_ERROR data must be an object or a string",
        )),
        (PacketType::Event | PacketType::BinaryEvent, Some(Root::Array)) => {
            let json = data.map_or("", |d| d.json());
            let first = items
                .first()
                .and_then(|r| json.get(r.start as usize..r.end as usize))
                .ok_or(SioError::InvalidPayload("event data must not be empty"))?;
            let name = json::unescape_lossy(first)
                .ok_or(SioError::InvalidPayload("event name must be a string"))?;
            if is_reserved_event(&name) {
                return Err(SioError::InvalidPayload("reserved event name"));
            }
            Ok(Some(name))
        }
        (PacketType::Event | PacketType::BinaryEvent, _) => {
            Err(SioError::InvalidPayload("event data must be an array"))
        }
        (PacketType::Ack | PacketType::BinaryAck, Some(Root::Array)) => Ok(None),
        (PacketType::Ack | PacketType::BinaryAck, _) => {
            Err(SioError::InvalidPayload("ack data must be an array"))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dec(text: &str) -> Result<Packet<'static>, SioError> {
        let buf: &'static [u8] = text.as_bytes().to_vec().leak();
        decode(buf, &Limits::default())
    }

    fn err(text: &str) -> SioError {
        match dec(text) {
            Ok(p) => panic!("{text:?} decoded to {p:?}"),
            Err(e) => e,
        }
    }

    /// The packet's data text, for comparing against the wire JSON.
    fn json(p: &Packet<'_>) -> Option<String> {
        p.data.map(|v| v.json().to_string())
    }

    /// A field of an object payload.
    fn field(p: &Packet<'_>, key: &str) -> Option<String> {
        let v: serde_json::Value = p.data?.deserialize().ok()?;
        v.get(key)?.as_str().map(str::to_string)
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
        assert_eq!(field(&p, "sid").as_deref(), Some("oSO0OpakMV_3jnilAAAA"));
    }

    #[test]
    fn connect_error_and_disconnect() {
        let p = dec(r#"4{"message":"Not authorized"}"#).unwrap();
        assert_eq!((p.ty, p.nsp, p.id), (PacketType::ConnectError, "/", None));
        assert_eq!(field(&p, "message").as_deref(), Some("Not authorized"));

        let p = dec(r#"4/admin,"Not authorized""#).unwrap();
        assert_eq!(
            p.data.and_then(|d| d.as_str()).as_deref(),
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
    fn data_is_kept_as_sent_and_names_are_unescaped() {
        let text = r#"2["a\"b\u00e9", {"k\n":"\\","z":1,"a":2} ,"\ud800"]"#;
        let p = dec(text).unwrap();
        assert_eq!(p.event_name(), Some("a\"bé"));
        assert_eq!(json(&p).as_deref(), Some(&text[1..]));
        let mut out = Vec::new();
        p.args().write_json(&mut out);
        assert_eq!(out, br#"[{"k\n":"\\","z":1,"a":2} ,"\ud800"]"#);
    }

    #[test]
    fn objects_with_many_keys_keep_their_order() {
        let keys: Vec<String> = (0..40).rev().map(|i| format!("\"k{i}\":{i}")).collect();
        let object = format!("{{{}}}", keys.join(","));
        let p = dec(&format!("2[\"e\",{object}]")).unwrap();
        assert_eq!(p.args().get(0).map(|v| v.json()), Some(object.as_str()));
    }

    #[test]
    fn lone_surrogates_are_valid_data() {
        // JSON.parse accepts them and JavaScript clients send them; only decoding one into a
        // Rust string refuses it, with serde_json's message.
        let p = dec(r#"2["e","a\ud800b","\udc00"]"#).unwrap();
        let args = p.args();
        assert_eq!(args.get(0).map(|v| v.json()), Some(r#""a\ud800b""#));
        assert_eq!(args.get(1).map(|v| v.json()), Some(r#""\udc00""#));
        assert!(matches!(
            args.deserialize::<String>(0),
            Err(SioError::Deserialize(m)) if m.contains("hex escape")
        ));
        assert!(matches!(
            args.deserialize::<String>(1),
            Err(SioError::Deserialize(m)) if m.contains("surrogate")
        ));
        assert_eq!(args.get(1).and_then(|v| v.as_str()), None);
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
        let buf = b"2/\xff\xfe,[\"a\"]".to_vec();
        assert_eq!(
            decode(&buf, &Limits::default()).unwrap_err(),
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
    fn depth_limit_is_enforced_in_linear_time() {
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
        let ok = br#"2["a",{"b":1}]"#.to_vec();
        assert!(decode(&ok, &limits).is_ok());
        let deep = br#"2["a",{"b":[1]}]"#.to_vec();
        assert_eq!(decode(&deep, &limits).unwrap_err(), SioError::TooDeep);
        // Brackets inside strings (escaped quotes included) are not nesting.
        let strings = br#"2["[[[\"{{{",{"k":"]]]"}]"#.to_vec();
        let p = decode(&strings, &limits).unwrap();
        assert_eq!(p.event_name(), Some("[[[\"{{{"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes, &Limits::default());
        }

        #[test]
        fn never_panics_on_packet_like_text(
            text in r#"[0-6]([0-9]{0,3}-)?(/[a-z,]{0,4},?)?[0-9]{0,22}[\[\]{}",:a-z0-9_ ]{0,24}"#
        ) {
            let bytes = text.into_bytes();
            let _ = decode(&bytes, &Limits::default());
        }
    }
}
