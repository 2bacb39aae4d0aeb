//! Encoding: every encoder appends one packet's text straight into the caller's frame buffer
//! (`out`), with no intermediate `String`. The text is what follows the Engine.IO `4`; the
//! caller writes that framing byte (or not, for a binary attachment) itself.

use bytes::Bytes;
use serde::Serialize;

use super::{PacketType, SioError};

/// Appends `s` as a JSON string literal (quoted, with `"`, `\` and control characters escaped).
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(bytes.get(run_start..i).unwrap_or_default());
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                run_start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(bytes.get(run_start..i).unwrap_or_default());
        out.extend_from_slice(escape);
        run_start = i + 1;
    }
    out.extend_from_slice(bytes.get(run_start..).unwrap_or_default());
    out.push(b'"');
}

const HEX: [u8; 16] = *b"0123456789abcdef";

/// Appends `n` in decimal.
fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `n % 10` is below 10, so the cast is lossless.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends the header `<type>[<attachments>-][<nsp>,][<id>]`. The attachment count is written
/// only for binary types, the namespace only when it is not `"/"` (or empty); `nsp` must start
/// with `/` and hold no `,`.
pub fn encode_header(
    out: &mut Vec<u8>,
    ty: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
) {
    out.push(ty.digit());
    if ty.is_binary() {
        // usize is at most 64 bits on every target Rust supports.
        write_u64(out, attachments as u64);
        out.push(b'-');
    }
    if !nsp.is_empty() && nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        write_u64(out, id);
    }
}

/// Appends an EVENT, `2[/nsp,][id]["event",arg,...]`, or a BINARY_EVENT when `attachments > 0`
/// (then `attachments` binary messages must follow it). Each of `args` must already be valid
/// JSON (binary args as [`Placeholder`](super::Placeholder)s).
pub fn encode_event(
    out: &mut Vec<u8>,
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &[&[u8]],
    attachments: usize,
) {
    encode_header(out, event_type(attachments), attachments, nsp, id);
    out.push(b'[');
    write_json_str(out, event);
    for arg in args {
        out.push(b',');
        out.extend_from_slice(arg);
    }
    out.push(b']');
}

/// [`encode_event`] with the arguments serialised from any `Serialize` value (see
/// [`write_args`](super::write_args): a tuple or array is several arguments, `()` none, any
/// other value one). `attachments` holds the attachments the arguments' placeholders already
/// refer to; binary values found while serialising are appended to it, and the header counts
/// them all. On error `out` and `attachments` are left as they were.
pub fn encode_event_ser<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &T,
    attachments: &mut Vec<Bytes>,
) -> Result<(), SioError> {
    let rollback = out.len();
    let given = attachments.len();
    encode_header(out, event_type(given), given, nsp, id);
    let body = out.len();
    out.push(b'[');
    write_json_str(out, event);
    let comma = out.len();
    out.push(b',');
    match super::write_args(out, attachments, args) {
        Ok(0) => out.truncate(comma),
        Ok(_) => {}
        Err(e) => {
            out.truncate(rollback);
            attachments.truncate(given);
            return Err(SioError::Serialize(e.0));
        }
    }
    out.push(b']');
    if attachments.len() != given {
        // Binary values turned up: the header must announce them (rare, so rebuilt here).
        let packet = out.split_off(body);
        out.truncate(rollback);
        encode_header(
            out,
            event_type(attachments.len()),
            attachments.len(),
            nsp,
            id,
        );
        out.extend_from_slice(&packet);
    }
    Ok(())
}

/// Appends an ACK, `3[/nsp,]<id>[args...]`, or a BINARY_ACK when `attachments > 0`.
/// `args_json_array` must be a JSON array; empty means `[]`.
pub fn encode_ack(
    out: &mut Vec<u8>,
    nsp: &str,
    id: u64,
    args_json_array: &[u8],
    attachments: usize,
) {
    let ty = if attachments > 0 {
        PacketType::BinaryAck
    } else {
        PacketType::Ack
    };
    encode_header(out, ty, attachments, nsp, Some(id));
    if args_json_array.is_empty() {
        out.extend_from_slice(b"[]");
    } else {
        out.extend_from_slice(args_json_array);
    }
}

/// Appends the server's CONNECT reply, `0[/nsp,]{"sid":"<sid>"[,"pid":"<pid>"]}`; `pid` is the
/// private session id sent when connection state recovery is on, as the reference sends it.
pub fn encode_connect(out: &mut Vec<u8>, nsp: &str, sid: &str, pid: Option<&str>) {
    encode_header(out, PacketType::Connect, 0, nsp, None);
    out.extend_from_slice(b"{\"sid\":");
    write_json_str(out, sid);
    if let Some(pid) = pid {
        out.extend_from_slice(b",\"pid\":");
        write_json_str(out, pid);
    }
    out.push(b'}');
}

/// Appends `offset` as the last argument of the EVENT packet `out` ends with (`...]` becomes
/// `...,"<offset>"]`), as the reference's session-aware adapter pushes a kept packet's offset
/// onto its data; the client reads it back as the offset it has reached.
pub fn push_offset(out: &mut Vec<u8>, offset: &str) {
    if out.last() == Some(&b']') {
        out.pop();
        out.push(b',');
        write_json_str(out, offset);
        out.push(b']');
    }
}

/// Appends a client CONNECT request, `0[/nsp,][auth]`; `auth` must be a JSON object.
pub fn encode_connect_request(out: &mut Vec<u8>, nsp: &str, auth_json: Option<&[u8]>) {
    encode_header(out, PacketType::Connect, 0, nsp, None);
    if let Some(auth) = auth_json {
        out.extend_from_slice(auth);
    }
}

/// Appends a CONNECT_ERROR, `4[/nsp,]{"message":"<message>"[,"data":<data>]}`; `data` must be
/// valid JSON.
pub fn encode_connect_error(out: &mut Vec<u8>, nsp: &str, message: &str, data: Option<&[u8]>) {
    encode_header(out, PacketType::ConnectError, 0, nsp, None);
    out.extend_from_slice(b"{\"message\":");
    write_json_str(out, message);
    if let Some(data) = data {
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data);
    }
    out.push(b'}');
}

/// Appends the Socket.IO v2 CONNECT reply (to an Engine.IO v3 client), `0[/nsp,]`: v2 sends
/// no payload (the client derives its socket id from the Engine.IO one).
pub fn encode_connect_v2(out: &mut Vec<u8>, nsp: &str) {
    encode_header(out, PacketType::Connect, 0, nsp, None);
}

/// Appends the Socket.IO v2 refusal of a connect: the ERROR packet (type `4`, v2's number for
/// what v5 calls CONNECT_ERROR), `4[/nsp,]<data>`, carrying the error's `data` (JSON) when it
/// has one that JavaScript holds true, else its message as a JSON string, as the reference's
/// `err.data || err.message`.
pub fn encode_error_v2(out: &mut Vec<u8>, nsp: &str, message: &str, data: Option<&[u8]>) {
    encode_header(out, PacketType::ConnectError, 0, nsp, None);
    let falsy = |d: &[u8]| matches!(d, b"null" | b"false" | b"0" | b"\"\"" | b"-0");
    match data.filter(|d| !falsy(d)) {
        Some(d) => out.extend_from_slice(d),
        None => write_json_str(out, message),
    }
}

/// Appends a DISCONNECT, `1[/nsp,]`.
pub fn encode_disconnect(out: &mut Vec<u8>, nsp: &str) {
    encode_header(out, PacketType::Disconnect, 0, nsp, None);
}

fn event_type(attachments: usize) -> PacketType {
    if attachments > 0 {
        PacketType::BinaryEvent
    } else {
        PacketType::Event
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{decode, Limits, Placeholder};
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// What the reference sends a Socket.IO v2 client (socket.io `dist/socket.js` `_onconnect`
    /// and `dist/namespace.js` with `conn.protocol === 3`).
    #[test]
    fn golden_v2_packets() {
        assert_eq!(text(|o| encode_connect_v2(o, "/")), "0");
        assert_eq!(text(|o| encode_connect_v2(o, "/chat")), "0/chat,");
        assert_eq!(
            text(|o| encode_error_v2(o, "/", "not authorized", None)),
            r#"4"not authorized""#
        );
        assert_eq!(
            text(|o| encode_error_v2(o, "/chat", "no", Some(br#"{"code":7}"#))),
            r#"4/chat,{"code":7}"#
        );
        assert_eq!(
            text(|o| encode_error_v2(o, "/", "m", Some(b"null"))),
            r#"4"m""#
        );
    }

    #[test]
    fn golden_spec_packets() {
        assert_eq!(text(|o| encode_connect_request(o, "/", None)), "0");
        assert_eq!(
            text(|o| encode_connect(o, "/", "a", Some("p"))),
            r#"0{"sid":"a","pid":"p"}"#
        );
        let mut event = Vec::new();
        encode_event_ser(&mut event, "/", None, "e", &(1,), &mut Vec::new()).unwrap();
        push_offset(&mut event, "7");
        assert_eq!(event, br#"2["e",1,"7"]"#);
        event.clear();
        encode_event_ser(&mut event, "/", None, "e", &(), &mut Vec::new()).unwrap();
        push_offset(&mut event, "8");
        assert_eq!(event, br#"2["e","8"]"#);
        assert_eq!(
            text(|o| encode_connect_request(o, "/admin", None)),
            "0/admin,"
        );
        assert_eq!(
            text(|o| encode_connect_request(o, "/admin", Some(br#"{"token":"123"}"#))),
            r#"0/admin,{"token":"123"}"#
        );
        assert_eq!(
            text(|o| encode_connect(o, "/", "oSO0OpakMV_3jnilAAAA", None)),
            r#"0{"sid":"oSO0OpakMV_3jnilAAAA"}"#
        );
        assert_eq!(
            text(|o| encode_connect(o, "/admin", "oSO0OpakMV_3jnilAAAA", None)),
            r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#
        );
        assert_eq!(
            text(|o| encode_connect_error(o, "/", "Not authorized", None)),
            r#"4{"message":"Not authorized"}"#
        );
        assert_eq!(
            text(|o| encode_connect_error(o, "/admin", "no", Some(br#"{"code":3}"#))),
            r#"4/admin,{"message":"no","data":{"code":3}}"#
        );
        assert_eq!(text(|o| encode_disconnect(o, "/admin")), "1/admin,");
        assert_eq!(text(|o| encode_disconnect(o, "/")), "1");
        assert_eq!(
            text(|o| encode_event(o, "/", None, "foo", &[], 0)),
            r#"2["foo"]"#
        );
        assert_eq!(
            text(|o| encode_event(o, "/admin", None, "bar", &[], 0)),
            r#"2/admin,["bar"]"#
        );
        assert_eq!(
            text(|o| encode_event(o, "/", Some(12), "foo", &[], 0)),
            r#"212["foo"]"#
        );
        assert_eq!(
            text(|o| encode_event(o, "", Some(1), "x", &[b"1", br#"{"a":[]}"#], 0)),
            r#"21["x",1,{"a":[]}]"#
        );
        assert_eq!(
            text(|o| encode_ack(o, "/admin", 13, br#"["bar"]"#, 0)),
            r#"3/admin,13["bar"]"#
        );
        assert_eq!(text(|o| encode_ack(o, "/", 0, b"", 0)), "30[]");
        assert_eq!(
            text(|o| encode_event(
                o,
                "/",
                None,
                "baz",
                &[br#"{"_placeholder":true,"num":0}"#],
                1
            )),
            r#"51-["baz",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(
            text(|o| encode_ack(o, "/admin", 15, br#"[{"_placeholder":true,"num":0}]"#, 1)),
            r#"61-/admin,15[{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(
            text(|o| encode_header(o, PacketType::BinaryEvent, 12, "/a", Some(7))),
            "512-/a,7"
        );
    }

    #[test]
    fn encoders_append_to_existing_frame_bytes() {
        let mut out = b"4".to_vec();
        encode_event(&mut out, "/", None, "foo", &[], 0);
        assert_eq!(out, br#"42["foo"]"#);
    }

    #[test]
    fn json_string_escaping() {
        assert_eq!(text(|o| write_json_str(o, "")), r#""""#);
        assert_eq!(text(|o| write_json_str(o, "plain é ✓")), r#""plain é ✓""#);
        assert_eq!(
            text(|o| write_json_str(o, "q\"b\\n\nr\rt\tb\u{8}f\u{c}z\u{0}e\u{1f}")),
            r#""q\"b\\n\nr\rt\tb\bf\fz\u0000e\u001f""#
        );
        let s = "\"\u{1}x\\";
        let encoded = text(|o| write_json_str(o, s));
        assert_eq!(serde_json::from_str::<String>(&encoded).unwrap(), s);
    }

    #[test]
    fn serde_events() {
        let mut out = Vec::new();
        let mut none = Vec::new();
        encode_event_ser(&mut out, "/", Some(3), "msg", &(1, "two", [3.5]), &mut none).unwrap();
        assert_eq!(out, br#"23["msg",1,"two",[3.5]]"#);

        out.clear();
        encode_event_ser(&mut out, "/chat", None, "ping", &(), &mut none).unwrap();
        assert_eq!(out, br#"2/chat,["ping"]"#);

        out.clear();
        let no_args: [u8; 0] = [];
        encode_event_ser(&mut out, "/", None, "ping", &no_args, &mut none).unwrap();
        assert_eq!(out, br#"2["ping"]"#);

        out.clear();
        encode_event_ser(&mut out, "/", None, "one", "text", &mut none).unwrap();
        assert_eq!(out, br#"2["one","text"]"#);

        out.clear();
        let mut given = vec![Bytes::from_static(b"a")];
        let args = ("a.bin", Placeholder::new(0));
        encode_event_ser(&mut out, "/", None, "file", &args, &mut given).unwrap();
        assert_eq!(out, br#"51-["file","a.bin",{"_placeholder":true,"num":0}]"#);

        // Binary values are numbered after the given attachments; the header counts all.
        out.clear();
        let args = (Placeholder::new(0), Bytes::from_static(b"b"));
        encode_event_ser(&mut out, "/x", Some(1), "two", &args, &mut given).unwrap();
        assert_eq!(
            out,
            br#"52-/x,1["two",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
        );
        assert_eq!(given.len(), 2);
    }

    #[test]
    fn serde_errors_leave_out_untouched() {
        let mut out = b"4".to_vec();
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1], Bytes::from_static(b"z"));
        let mut attachments = Vec::new();
        let err = encode_event_ser(
            &mut out,
            "/",
            None,
            "e",
            &(Bytes::new(), map),
            &mut attachments,
        );
        assert!(matches!(err, Err(SioError::Serialize(_))));
        assert_eq!(out, b"4");
        assert!(attachments.is_empty());
    }

    /// A JSON value of bounded depth, built from serde_json so the encoder sees valid JSON.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            (-1.0e9f64..1.0e9).prop_map(serde_json::Value::from),
            ".*".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(".{0,8}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn event_name() -> impl Strategy<Value = String> {
        ".{0,16}".prop_filter("reserved", |n| !is_reserved(n))
    }

    fn is_reserved(name: &str) -> bool {
        super::super::is_reserved_event(name)
    }

    fn namespace() -> impl Strategy<Value = String> {
        prop_oneof![Just("/".to_owned()), "/[^,]{0,12}"]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn event_round_trip(
            name in event_name(),
            args in proptest::collection::vec(json_value(), 0..5),
            nsp in namespace(),
            id in proptest::option::of(any::<u64>()),
        ) {
            let raw: Vec<Vec<u8>> = args.iter().map(|a| serde_json::to_vec(a).unwrap()).collect();
            let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
            let mut out = Vec::new();
            encode_event(&mut out, &nsp, id, &name, &refs, 0);

            // A Vec is one argument, so the list goes through serde as raw values.
            let raws: Vec<Box<serde_json::value::RawValue>> = raw
                .iter()
                .map(|r| serde_json::value::RawValue::from_string(String::from_utf8(r.clone()).unwrap()).unwrap())
                .collect();
            let mut via_serde = Vec::new();
            let mut att = Vec::new();
            match raws.as_slice() {
                [] => encode_event_ser(&mut via_serde, &nsp, id, &name, &(), &mut att),
                [a] => encode_event_ser(&mut via_serde, &nsp, id, &name, a, &mut att),
                [a, b] => encode_event_ser(&mut via_serde, &nsp, id, &name, &(a, b), &mut att),
                [a, b, c] => encode_event_ser(&mut via_serde, &nsp, id, &name, &(a, b, c), &mut att),
                [a, b, c, d, ..] => encode_event_ser(&mut via_serde, &nsp, id, &name, &(a, b, c, d), &mut att),
            }.unwrap();
            prop_assert_eq!(&out, &via_serde);

            let p = decode(&out, &Limits::default()).unwrap();
            prop_assert_eq!(p.ty, PacketType::Event);
            prop_assert_eq!(p.nsp, nsp.as_str());
            prop_assert_eq!(p.id, id);
            prop_assert_eq!(p.event_name(), Some(name.as_str()));
            let decoded: Vec<serde_json::Value> = (0..p.args().len())
                .map(|i| p.args().deserialize(i).unwrap())
                .collect();
            prop_assert_eq!(decoded, args);
        }

        #[test]
        fn ack_round_trip(
            args in proptest::collection::vec(json_value(), 0..5),
            nsp in namespace(),
            id in any::<u64>(),
        ) {
            let body = serde_json::to_vec(&args).unwrap();
            let mut out = Vec::new();
            encode_ack(&mut out, &nsp, id, &body, 0);
            let p = decode(&out, &Limits::default()).unwrap();
            prop_assert_eq!((p.ty, p.nsp, p.id), (PacketType::Ack, nsp.as_str(), Some(id)));
            let back: serde_json::Value = p.data.unwrap().deserialize().unwrap();
            prop_assert_eq!(back, serde_json::Value::Array(args));
        }

        #[test]
        fn connect_error_round_trip(nsp in namespace(), message in ".{0,32}") {
            let mut out = Vec::new();
            encode_connect_error(&mut out, &nsp, &message, None);
            let p = decode(&out, &Limits::default()).unwrap();
            prop_assert_eq!((p.ty, p.nsp), (PacketType::ConnectError, nsp.as_str()));
            let got: serde_json::Value = p.data.unwrap().deserialize().unwrap();
            prop_assert_eq!(got["message"].as_str(), Some(message.as_str()));
        }
    }
}
