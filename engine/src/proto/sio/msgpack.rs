//! The wire format of npm `socket.io-msgpack-parser` 3.x: each packet is one msgpack map
//! `{type, nsp, data?, id?}` (notepack.io) sent as one binary Engine.IO message; binary values
//! are msgpack `bin`, so there are no attachments and no BINARY_* types on the wire.
//!
//! The codec transcodes to and from the default parser's form (text plus placeholders and
//! attachments), so every check of [`decode`](super::decode) and [`BinaryAssembler`] applies to
//! msgpack packets too, and the rest of the server handles one packet shape: a `bin` becomes an
//! attachment (handlers see bytes), an attachment becomes a `bin`.
//!
//! Decoding follows the reference's `checkPacket`: a map whose `type` is an integer 0..=4, whose
//! `nsp` is a string, whose `data` fits the type and whose `id`, if any, is an integer. Keys
//! holding notepack's `undefined` (fixext 1, type 0) count as absent, as in JavaScript. Where
//! the reference accepts a value JSON cannot carry, this codec refuses it with
//! [`SioError::Msgpack`]: map keys other than strings and integers, and extension types other
//! than `undefined` (notepack writes dates as timestamp extensions).

use bytes::Bytes;

use super::json_msgpack::json_to_msgpack;
use super::SioError;
use super::{encode_header, write_json_str, BinaryAssembler, Limits, OwnedPacket, PacketType};
use crate::proto::msgpack::{self, MsgpackError, Value};

/// Decodes one msgpack packet (a whole binary Engine.IO message) into the packet the default
/// parser would give for the same content: `bin` values become attachments referenced by
/// placeholders, and an EVENT/ACK holding any becomes BINARY_EVENT/BINARY_ACK.
///
/// `limits` apply as to a JSON packet: `max_depth` bounds the nesting of `data` (the outer
/// map is not counted), `max_attachments` the number of `bin` values and
/// `max_attachment_bytes` their total size. Errors: [`SioError::TooDeep`], [`SioError::Msgpack`]
/// for input that is not one msgpack value, [`SioError::UnknownType`],
/// [`SioError::BadNamespace`] (also for a namespace the text form cannot carry: not starting
/// with `/`, or holding a `,`), [`SioError::BadAckId`], and every error of
/// [`decode`](super::decode) and [`BinaryAssembler`] on the transcoded packet.
pub fn decode_msgpack(input: &[u8], limits: &Limits) -> Result<OwnedPacket, SioError> {
    let t = transcode_msgpack(input, limits)?;
    let packet = super::decode(&t.text, limits)?;
    if !packet.ty.is_binary() {
        return Ok(packet.into_owned());
    }
    let mut asm = BinaryAssembler::start(packet, limits)?;
    for a in t.attachments {
        if let Some(done) = asm.push(a)? {
            return Ok(done);
        }
    }
    asm.finish()
}

/// A msgpack packet in the default parser's form, not yet decoded: what a receiver that already
/// handles text packets and attachments feeds through its usual path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgpackText<'a> {
    /// The packet text (what follows the Engine.IO `4`), for [`decode`](super::decode).
    pub text: Vec<u8>,
    /// The `bin` values in placeholder order, borrowed from the input, for
    /// [`BinaryAssembler`].
    pub attachments: Vec<&'a [u8]>,
}

/// The first half of [`decode_msgpack`]: checks the msgpack packet as the reference's
/// `checkPacket` does and writes it in the default parser's form. Errors: as
/// [`decode_msgpack`] before the text is decoded; `limits.max_attachments` is checked here,
/// `max_attachment_bytes` and the payload rules are left to the text's decoding and assembly.
pub fn transcode_msgpack<'a>(
    input: &'a [u8],
    limits: &Limits,
) -> Result<MsgpackText<'a>, SioError> {
    // The outer map is depth 0 here, the data array depth 1, as the JSON decoder counts it.
    let root = msgpack::decode_max_depth(input, limits.max_depth).map_err(|e| match e {
        MsgpackError::TooDeep => SioError::TooDeep,
        e => SioError::Msgpack(e.as_str()),
    })?;
    let Value::Map(entries) = &root else {
        return Err(SioError::UnknownType);
    };
    let field = |name: &str| {
        entries
            .iter()
            .rev()
            .find(|(k, _)| matches!(k, Value::Str(s) if *s == name))
            .map(|(_, v)| v)
            .filter(|v| !is_undefined(v))
    };
    let ty = field("type")
        .and_then(integer)
        .and_then(|n| u8::try_from(n).ok())
        .filter(|&n| n <= 4)
        .and_then(|n| PacketType::from_digit(b'0' + n))
        .ok_or(SioError::UnknownType)?;
    let Some(Value::Str(nsp)) = field("nsp") else {
        return Err(SioError::BadNamespace);
    };
    if !nsp.starts_with('/') || nsp.contains(',') {
        return Err(SioError::BadNamespace);
    }
    let id = match field("id") {
        None => None,
        Some(v) => Some(integer(v).ok_or(SioError::BadAckId)?),
    };
    let mut json = Vec::new();
    let mut attachments = Vec::new();
    if let Some(data) = field("data") {
        write_json(&mut json, data, &mut attachments)?;
    }
    if attachments.len() > limits.max_attachments {
        return Err(SioError::TooManyAttachments);
    }
    let ty = match ty {
        PacketType::Event if !attachments.is_empty() => PacketType::BinaryEvent,
        PacketType::Ack if !attachments.is_empty() => PacketType::BinaryAck,
        ty => ty,
    };
    let mut text = Vec::with_capacity(json.len() + nsp.len() + 24);
    encode_header(&mut text, ty, attachments.len(), nsp, id);
    text.extend_from_slice(&json);
    Ok(MsgpackText { text, attachments })
}

/// Encodes a packet given in the default parser's form (`packet`: the text after the Engine.IO
/// `4`, as the `encode_*` functions write it; `attachments`: what its placeholders refer to)
/// as one msgpack packet appended to `out`, keys written in the order `type, nsp, data, id`.
/// BINARY_EVENT/BINARY_ACK go out as EVENT/ACK with each placeholder replaced by its
/// attachment as a `bin`. The namespace is always written (`"/"` when the text has none), the
/// id and data only when present, as the reference's encoder omits `undefined` keys.
///
/// The header is parsed as [`decode`](super::decode) parses it and the data checked as JSON
/// while it is converted (not against the packet type: these are the server's own packets).
/// Errors: the header's, [`SioError::Json`] for data that is not JSON, or
/// [`SioError::BadPlaceholder`] for a placeholder with no attachment; `out` is then left as it
/// was.
pub fn encode_msgpack(
    packet: &[u8],
    attachments: &[Bytes],
    out: &mut Vec<u8>,
) -> Result<(), SioError> {
    let super::decode::Split { ty, nsp, id, data } = super::decode::split_header(packet)?;
    let rollback = out.len();
    let wire_type = match ty {
        PacketType::BinaryEvent => PacketType::Event,
        PacketType::BinaryAck => PacketType::Ack,
        ty => ty,
    };
    let keys = 2 + usize::from(!data.is_empty()) + usize::from(id.is_some());
    msgpack::write_map_len(out, keys);
    msgpack::write_str(out, "type");
    msgpack::write_uint(out, u64::from(wire_type.digit() - b'0'));
    msgpack::write_str(out, "nsp");
    msgpack::write_str(out, if nsp.is_empty() { "/" } else { nsp });
    if !data.is_empty() {
        msgpack::write_str(out, "data");
        let binary = ty.is_binary().then_some(attachments);
        if let Err(e) = json_to_msgpack(data, binary, out) {
            out.truncate(rollback);
            return Err(e);
        }
    }
    if let Some(id) = id {
        msgpack::write_str(out, "id");
        msgpack::write_uint(out, id);
    }
    Ok(())
}

/// notepack's `undefined`: fixext 1 of type 0.
fn is_undefined(v: &Value<'_>) -> bool {
    matches!(v, Value::Ext(0, _))
}

/// An integer, as JavaScript's `Number.isInteger` sees numbers (so `3.0` is 3); only
/// non-negative ones fit the packet's type and id.
fn integer(v: &Value<'_>) -> Option<u64> {
    match *v {
        Value::UInt(n) => Some(n),
        // Exact: a finite whole float in u64 range converts without loss of meaning.
        Value::Float(f) if f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f) => {
            Some(f as u64)
        }
        _ => None,
    }
}

/// Appends `v` as JSON, each `bin` as a placeholder for the attachment pushed onto
/// `attachments`. `undefined` is `null` in arrays and drops its key in maps, as
/// `JSON.stringify` does; non-finite floats are `null` and `-0` is `0` for the same reason.
fn write_json<'a>(
    out: &mut Vec<u8>,
    v: &Value<'a>,
    attachments: &mut Vec<&'a [u8]>,
) -> Result<(), SioError> {
    match *v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::UInt(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Float(f) if !f.is_finite() => out.extend_from_slice(b"null"),
        Value::Float(f) => {
            // `-0` is `0` in JSON.stringify, as the msgpack encoders write it.
            let f = if f == 0.0 { 0.0 } else { f };
            out.extend_from_slice(f.to_string().as_bytes());
        }
        Value::Str(s) => write_json_str(out, s),
        Value::Bin(b) => {
            out.extend_from_slice(b"{\"_placeholder\":true,\"num\":");
            out.extend_from_slice(attachments.len().to_string().as_bytes());
            out.push(b'}');
            attachments.push(b);
        }
        Value::Array(ref items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                if is_undefined(item) {
                    out.extend_from_slice(b"null");
                } else {
                    write_json(out, item, attachments)?;
                }
            }
            out.push(b']');
        }
        Value::Map(ref entries) => {
            out.push(b'{');
            let mut first = true;
            for (k, val) in entries.iter().filter(|(_, val)| !is_undefined(val)) {
                if !first {
                    out.push(b',');
                }
                first = false;
                match *k {
                    Value::Str(s) => write_json_str(out, s),
                    Value::UInt(n) => write_json_str(out, &n.to_string()),
                    Value::Int(n) => write_json_str(out, &n.to_string()),
                    _ => return Err(SioError::Msgpack("map key is not a string or integer")),
                }
                out.push(b':');
                write_json(out, val, attachments)?;
            }
            out.push(b'}');
        }
        Value::Ext(..) => {
            return Err(SioError::Msgpack(
                "msgpack extension types are not supported",
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::sio::encode_event;
    use proptest::prelude::*;
    use serde_json::Value as Json;

    fn limits() -> Limits {
        Limits::default()
    }

    /// Writes a packet's `data` value.
    type Data<'a> = &'a dyn Fn(&mut Vec<u8>);

    /// `{type, nsp, data?, id?}` written by hand, as notepack would.
    fn packet(ty: u64, nsp: &str, data: Option<Data<'_>>, id: Option<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        msgpack::write_map_len(
            &mut out,
            2 + usize::from(data.is_some()) + usize::from(id.is_some()),
        );
        msgpack::write_str(&mut out, "type");
        msgpack::write_uint(&mut out, ty);
        msgpack::write_str(&mut out, "nsp");
        msgpack::write_str(&mut out, nsp);
        if let Some(data) = data {
            msgpack::write_str(&mut out, "data");
            data(&mut out);
        }
        if let Some(id) = id {
            msgpack::write_str(&mut out, "id");
            msgpack::write_uint(&mut out, id);
        }
        out
    }

    #[test]
    fn decodes_what_the_reference_client_sends() {
        // notepack.encode({type: 2, nsp: "/", data: ["hi", 1, Buffer.from([1,2])], id: 7})
        let wire = [
            0x84, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa3, b'n', b's', b'p', 0xa1, b'/', 0xa4,
            b'd', b'a', b't', b'a', 0x93, 0xa2, b'h', b'i', 0x01, 0xc4, 0x02, 1, 2, 0xa2, b'i',
            b'd', 0x07,
        ];
        let p = decode_msgpack(&wire, &limits()).unwrap();
        assert_eq!(p.ty, PacketType::BinaryEvent);
        assert_eq!((p.nsp.as_str(), p.id), ("/", Some(7)));
        assert_eq!(p.event_name(), Some("hi"));
        assert_eq!(p.attachments, vec![Bytes::from_static(&[1, 2])]);
        assert_eq!(
            p.data.as_deref(),
            Some(r#"["hi",1,{"_placeholder":true,"num":0}]"#)
        );
    }

    #[test]
    fn connect_without_data_and_with_undefined() {
        let p = decode_msgpack(&packet(0, "/admin", None, None), &limits()).unwrap();
        assert_eq!(
            (p.ty, p.nsp.as_str(), p.data),
            (PacketType::Connect, "/admin", None)
        );
        let undefined = |o: &mut Vec<u8>| o.extend_from_slice(&[0xd4, 0, 0]);
        let p = decode_msgpack(&packet(0, "/", Some(&undefined), None), &limits()).unwrap();
        assert_eq!(p.data, None);
    }

    #[test]
    fn refuses_what_check_packet_refuses() {
        let arr = |o: &mut Vec<u8>| {
            msgpack::write_array_len(o, 1);
            msgpack::write_str(o, "e");
        };
        let s = |o: &mut Vec<u8>| msgpack::write_str(o, "x");
        let cases: [(Vec<u8>, SioError); 7] = [
            (packet(5, "/", Some(&arr), None), SioError::UnknownType),
            (packet(2, "nope", Some(&arr), None), SioError::BadNamespace),
            (
                packet(1, "/", Some(&s), None),
                SioError::InvalidPayload("DISCONNECT carries no data"),
            ),
            (vec![0x93, 1, 2, 3], SioError::UnknownType),
            (b"0".to_vec(), SioError::UnknownType),
            (
                vec![0x81],
                SioError::Msgpack("msgpack input ends inside a value"),
            ),
            (
                [packet(0, "/", None, None), vec![0]].concat(),
                SioError::Msgpack("bytes after the msgpack value"),
            ),
        ];
        for (wire, want) in cases {
            let got = decode_msgpack(&wire, &limits()).unwrap_err();
            if let SioError::InvalidPayload(_) = want {
                assert!(matches!(got, SioError::InvalidPayload(_)), "{got:?}");
            } else {
                assert_eq!(got, want, "{wire:?}");
            }
        }
        // A missing nsp, a string id.
        let mut no_nsp = Vec::new();
        msgpack::write_map_len(&mut no_nsp, 1);
        msgpack::write_str(&mut no_nsp, "type");
        msgpack::write_uint(&mut no_nsp, 0);
        assert_eq!(
            decode_msgpack(&no_nsp, &limits()),
            Err(SioError::BadNamespace)
        );
        let mut bad_id = packet(3, "/", Some(&arr), None);
        bad_id[0] += 1;
        msgpack::write_str(&mut bad_id, "id");
        msgpack::write_str(&mut bad_id, "1");
        assert_eq!(decode_msgpack(&bad_id, &limits()), Err(SioError::BadAckId));
    }

    #[test]
    fn limits_apply_as_to_json() {
        let bins = |n: usize, size: usize| {
            move |o: &mut Vec<u8>| {
                msgpack::write_array_len(o, n + 1);
                msgpack::write_str(o, "e");
                for _ in 0..n {
                    msgpack::write_bin(o, &vec![0; size]);
                }
            }
        };
        let l = limits();
        let ok = decode_msgpack(&packet(2, "/", Some(&bins(10, 1)), None), &l).unwrap();
        assert_eq!(ok.attachments.len(), 10);
        let many = decode_msgpack(&packet(2, "/", Some(&bins(11, 1)), None), &l);
        assert_eq!(many, Err(SioError::TooManyAttachments));
        let big = decode_msgpack(&packet(2, "/", Some(&bins(2, 600_000)), None), &l);
        assert_eq!(big, Err(SioError::AttachmentsTooLarge));
        let deep = |o: &mut Vec<u8>| {
            msgpack::write_array_len(o, 2);
            msgpack::write_str(o, "e");
            for _ in 0..l.max_depth {
                msgpack::write_array_len(o, 1);
            }
            msgpack::write_nil(o);
        };
        let got = decode_msgpack(&packet(2, "/", Some(&deep), None), &l);
        assert_eq!(got, Err(SioError::TooDeep));
    }

    #[test]
    fn encodes_as_the_reference_server_does() {
        // socket.emit("hi", 1, Buffer.from([9])) with ack id 3 on /chat.
        let mut text = Vec::new();
        let placeholder = br#"{"_placeholder":true,"num":0}"#;
        encode_event(&mut text, "/chat", Some(3), "hi", &[b"1", placeholder], 1);
        let mut out = Vec::new();
        encode_msgpack(&text, &[Bytes::from_static(&[9])], &mut out).unwrap();
        let mut want = Vec::new();
        msgpack::write_map_len(&mut want, 4);
        msgpack::write_str(&mut want, "type");
        msgpack::write_uint(&mut want, 2);
        msgpack::write_str(&mut want, "nsp");
        msgpack::write_str(&mut want, "/chat");
        msgpack::write_str(&mut want, "data");
        msgpack::write_array_len(&mut want, 3);
        msgpack::write_str(&mut want, "hi");
        msgpack::write_uint(&mut want, 1);
        msgpack::write_bin(&mut want, &[9]);
        msgpack::write_str(&mut want, "id");
        msgpack::write_uint(&mut want, 3);
        assert_eq!(out, want);
        // A disconnect on "/" still names its namespace and has no data.
        out.clear();
        encode_msgpack(b"1", &[], &mut out).unwrap();
        assert_eq!(out, packet(1, "/", None, None));
        // A placeholder without its attachment is refused, leaving `out` alone.
        assert_eq!(
            encode_msgpack(&text, &[], &mut out),
            Err(SioError::BadPlaceholder)
        );
        assert_eq!(out, packet(1, "/", None, None));
    }

    fn arb_json() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            any::<f64>()
                // Whole floats come back as integers, as in JavaScript, so they are left out.
                .prop_filter("finite, not whole", |f| f.is_finite() && f.fract() != 0.0)
                .prop_map(Json::from),
            ".{0,12}".prop_map(Json::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Json::Array),
                proptest::collection::btree_map("[a-z_]{0,6}", inner, 0..5)
                    .prop_map(|m| Json::Object(m.into_iter().collect())),
            ]
        })
    }

    /// One msgpack value of any kind notepack may send: every integer and float width, strings,
    /// bins, arrays, maps with string or integer keys, `undefined`, and other extensions.
    fn arb_msgpack() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just(vec![0xc0]),
            any::<bool>().prop_map(|b| vec![if b { 0xc3 } else { 0xc2 }]),
            any::<i64>().prop_map(|n| {
                let mut o = Vec::new();
                msgpack::write_int(&mut o, n);
                o
            }),
            any::<u64>().prop_map(|n| {
                let mut o = Vec::new();
                msgpack::write_uint(&mut o, n);
                o
            }),
            any::<f64>().prop_map(|f| {
                let mut o = Vec::new();
                msgpack::write_f64(&mut o, f);
                o
            }),
            any::<f32>().prop_map(|f| [&[0xca][..], &f.to_be_bytes()].concat()),
            ".{0,8}".prop_map(|s| {
                let mut o = Vec::new();
                msgpack::write_str(&mut o, &s);
                o
            }),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(|b| {
                let mut o = Vec::new();
                msgpack::write_bin(&mut o, &b);
                o
            }),
            Just(vec![0xd4, 0, 0]),
            Just(vec![0xd6, 0xff, 0, 0, 0, 1]),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(|items| {
                    let mut o = Vec::new();
                    msgpack::write_array_len(&mut o, items.len());
                    items.iter().for_each(|i| o.extend_from_slice(i));
                    o
                }),
                proptest::collection::vec(
                    (
                        prop_oneof!["[a-z_]{0,4}".prop_map(Ok), any::<i8>().prop_map(Err)],
                        inner
                    ),
                    0..4
                )
                .prop_map(|entries| {
                    let mut o = Vec::new();
                    msgpack::write_map_len(&mut o, entries.len());
                    for (k, v) in entries {
                        match k {
                            Ok(s) => msgpack::write_str(&mut o, &s),
                            Err(n) => msgpack::write_int(&mut o, i64::from(n)),
                        }
                        o.extend_from_slice(&v);
                    }
                    o
                }),
            ]
        })
    }

    /// An event's data: `[name, args...]`, so that most of these decode.
    fn arb_event_data() -> impl Strategy<Value = Vec<u8>> {
        ("[a-z]{1,6}", proptest::collection::vec(arb_msgpack(), 0..3)).prop_map(|(name, args)| {
            let mut o = Vec::new();
            msgpack::write_array_len(&mut o, 1 + args.len());
            msgpack::write_str(&mut o, &name);
            args.iter().for_each(|a| o.extend_from_slice(a));
            o
        })
    }

    proptest! {
        #[test]
        fn events_round_trip(
            nsp in "/[a-z]{0,8}",
            id in proptest::option::of(any::<u64>()),
            name in "[a-z]{1,8}",
            args in proptest::collection::vec(arb_json(), 0..4),
            bins in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 0..3),
        ) {
            let mut raw: Vec<Vec<u8>> = args.iter().map(|a| serde_json::to_vec(a).unwrap()).collect();
            raw.extend((0..bins.len()).map(|n| format!(r#"{{"_placeholder":true,"num":{n}}}"#).into_bytes()));
            let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
            let attachments: Vec<Bytes> = bins.into_iter().map(Bytes::from).collect();
            let mut text = Vec::new();
            encode_event(&mut text, &nsp, id, &name, &refs, attachments.len());
            let mut wire = Vec::new();
            encode_msgpack(&text, &attachments, &mut wire).unwrap();
            let back = decode_msgpack(&wire, &limits()).unwrap();
            prop_assert_eq!(back.nsp.as_str(), if nsp.len() > 1 { nsp.as_str() } else { "/" });
            prop_assert_eq!(back.id, id);
            prop_assert_eq!(back.event_name(), Some(name.as_str()));
            prop_assert_eq!(&back.attachments, &attachments);
            let sent: Json = serde_json::from_slice(&text[text.iter().position(|&b| b == b'[').unwrap()..]).unwrap();
            let got: Json = serde_json::from_str(back.data.as_deref().unwrap()).unwrap();
            prop_assert_eq!(got, sent);
            // Every cut of the message is refused, never a panic or a different packet.
            for cut in 0..wire.len() {
                prop_assert!(decode_msgpack(&wire[..cut], &limits()).is_err());
            }
        }

        /// What the fuzz target checks, on packets built value by value: any packet that
        /// decodes re-encodes to one that decodes to the same packet.
        #[test]
        fn decoded_packets_reencode_to_themselves(
            ty in 0u64..6,
            nsp in prop_oneof![Just("/"), Just("/a"), Just("x"), Just("/b,c")],
            data in proptest::option::of(prop_oneof![arb_msgpack(), arb_event_data()]),
            id in proptest::option::of(any::<u64>()),
        ) {
            let data = data.map(|d| move |o: &mut Vec<u8>| o.extend_from_slice(&d));
            let wire = packet(ty, nsp, data.as_ref().map(|d| d as Data<'_>), id);
            let Ok(p) = decode_msgpack(&wire, &limits()) else {
                return Ok(());
            };
            let mut text = Vec::new();
            encode_header(&mut text, p.ty, p.attachments.len(), &p.nsp, p.id);
            text.extend_from_slice(p.data.as_deref().unwrap_or_default().as_bytes());
            let mut again = Vec::new();
            encode_msgpack(&text, &p.attachments, &mut again).unwrap();
            prop_assert_eq!(decode_msgpack(&again, &limits()).unwrap(), p);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_msgpack(&bytes, &limits());
        }
    }
}
