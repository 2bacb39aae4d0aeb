//! The handler-facing view of an event's (or ack's) arguments: each one the exact JSON text the
//! client sent, plus the binary attachments, with serde_json deserialisation per argument.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::binary::placeholder_index;
use super::{OwnedPacket, Packet, PacketType, SioError};

/// One JSON value as the client sent it (validated): read it with the accessors, decode it into
/// any type with [`ValueRef::deserialize`], or relay it unchanged with [`ValueRef::json`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueRef<'v> {
    json: &'v str,
}

impl<'v> ValueRef<'v> {
    /// Wraps text that the JSON scanner validated as one value.
    pub(crate) fn new(json: &'v str) -> Self {
        Self { json }
    }

    /// The value's JSON text, byte for byte as received.
    pub fn json(&self) -> &'v str {
        self.json
    }

    /// The string, if this is a JSON string that decodes to one (borrowed when it has no
    /// escapes; `None` for a lone surrogate, which Rust strings cannot hold).
    pub fn as_str(&self) -> Option<Cow<'v, str>> {
        let inner = self.json.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(self.json)
            .ok()
            .map(Cow::Owned)
    }

    /// The number as `i64`, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.json.parse().ok()
    }

    /// The number as `u64`, if it is a non-negative integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.json.parse().ok()
    }

    /// Any JSON number as `f64` (the nearest one).
    pub fn as_f64(&self) -> Option<f64> {
        match self.json.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => self.json.parse().ok(),
            _ => None,
        }
    }

    /// The boolean, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self.json {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Whether this is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.json == "null"
    }

    /// The attachment index, if this is a `{"_placeholder":true,"num":N}` object.
    pub fn placeholder_num(&self) -> Option<usize> {
        placeholder_index(self.json).ok().flatten()
    }

    /// Deserialises this value into `T` by serde_json's rules;
    /// [`SioError::Deserialize`] with serde_json's message when it does not fit.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, SioError> {
        serde_json::from_str(self.json).map_err(|e| SioError::Deserialize(e.to_string()))
    }

    /// Appends this value's JSON text.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.json.as_bytes());
    }
}

/// Emits the value's JSON text unchanged (serde_json's raw value, which Volley's emits and
/// serde_json both copy verbatim).
impl serde::Serialize for ValueRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        const TOKEN: &str = "$serde_json::private::RawValue";
        let mut s = serializer.serialize_struct(TOKEN, 1)?;
        s.serialize_field(TOKEN, self.json)?;
        s.end()
    }
}

/// The arguments of an event (after its name) or of an ack, plus the packet's binary
/// attachments. Empty for packet types without arguments.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    json: &'a str,
    items: &'a [Range<u32>],
    attachments: &'a [Bytes],
}

impl<'a> Args<'a> {
    /// The arguments of a packet (no attachments: a binary packet's attachments live in the
    /// [`OwnedPacket`] its assembler yields).
    pub fn from_packet(packet: &'a Packet<'_>) -> Self {
        Self {
            json: packet.data.map_or("", |d| d.json()),
            items: args_of(packet.ty, &packet.items),
            attachments: &[],
        }
    }

    /// The arguments of a packet with the attachments that go with it.
    pub fn with_attachments(packet: &'a Packet<'_>, attachments: &'a [Bytes]) -> Self {
        Self {
            attachments,
            ..Self::from_packet(packet)
        }
    }

    /// The arguments and attachments of an owned packet.
    pub fn from_owned(packet: &'a OwnedPacket) -> Self {
        Self {
            json: packet.data.as_deref().unwrap_or_default(),
            items: args_of(packet.ty, &packet.items),
            attachments: &packet.attachments,
        }
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Argument `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<ValueRef<'a>> {
        let r = self.items.get(i)?;
        self.json
            .get(r.start as usize..r.end as usize)
            .map(ValueRef::new)
    }

    /// The arguments in order.
    pub fn iter(&self) -> impl Iterator<Item = ValueRef<'a>> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// Deserialises argument `i` into `T`; [`SioError::MissingArg`] past the end.
    pub fn deserialize<T: DeserializeOwned>(&self, i: usize) -> Result<T, SioError> {
        self.get(i).ok_or(SioError::MissingArg(i))?.deserialize()
    }

    /// The attachment a placeholder's `num` points at.
    pub fn binary(&self, num: usize) -> Option<&[u8]> {
        self.attachments.get(num).map(|b| b.as_ref())
    }

    /// All attachments, in placeholder `num` order.
    pub fn attachments(&self) -> &[Bytes] {
        self.attachments
    }

    /// Writes the arguments back as a JSON array body (e.g. to echo them): `[a,b,...]`, the
    /// text between the first and the last argument exactly as received.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        if let (Some(first), Some(last)) = (self.items.first(), self.items.last()) {
            let text = self.json.get(first.start as usize..last.end as usize);
            out.extend_from_slice(text.unwrap_or_default().as_bytes());
        }
        out.push(b']');
    }
}

/// The argument spans of a packet's data array: after the name for events, all of it for acks.
fn args_of(ty: PacketType, items: &[Range<u32>]) -> &[Range<u32>] {
    if ty.is_event() {
        items.get(1..).unwrap_or_default()
    } else if ty.is_ack() {
        items
    } else {
        &[]
    }
}

impl<'a> Packet<'a> {
    /// The arguments of this event or ack; see [`Args::from_packet`].
    pub fn args(&self) -> Args<'_> {
        Args::from_packet(self)
    }
}

impl OwnedPacket {
    /// The arguments and attachments of this event or ack; see [`Args::from_owned`].
    pub fn args(&self) -> Args<'_> {
        Args::from_owned(self)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::super::{decode, BinaryAssembler, Limits};
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Msg {
        text: String,
        n: u32,
    }

    #[test]
    fn event_args_skip_the_name() {
        let buf = br#"2["chat",{"text":"hi","n":2},7,"s",true,null,-3,2.5]"#.to_vec();
        let p = decode(&buf, &Limits::default()).unwrap();
        let args = p.args();
        assert_eq!(args.len(), 7);
        assert!(!args.is_empty());
        assert_eq!(
            args.deserialize::<Msg>(0).unwrap(),
            Msg {
                text: "hi".into(),
                n: 2
            }
        );
        assert_eq!(args.get(1).and_then(|v| v.as_u64()), Some(7));
        assert_eq!(args.get(2).and_then(|v| v.as_str()).as_deref(), Some("s"));
        assert_eq!(args.get(3).and_then(|v| v.as_bool()), Some(true));
        assert!(args.get(4).is_some_and(|v| v.is_null()));
        assert_eq!(args.get(5).and_then(|v| v.as_i64()), Some(-3));
        assert_eq!(args.get(6).and_then(|v| v.as_f64()), Some(2.5));
        assert!(args.get(7).is_none());
        assert_eq!(
            args.deserialize::<u8>(9).unwrap_err(),
            SioError::MissingArg(9)
        );
        assert!(matches!(
            args.deserialize::<Msg>(1).unwrap_err(),
            SioError::Deserialize(_)
        ));
        assert!(args.attachments().is_empty());
    }

    #[test]
    fn echo_writes_the_args_back() {
        let buf = br#"2["echo",{"a":[1,"x\"y"]},false]"#.to_vec();
        let p = decode(&buf, &Limits::default()).unwrap();
        let mut out = Vec::new();
        p.args().write_json(&mut out);
        assert_eq!(out, br#"[{"a":[1,"x\"y"]},false]"#);

        let buf = br#"2["none"]"#.to_vec();
        let p = decode(&buf, &Limits::default()).unwrap();
        assert!(p.args().is_empty());
        out.clear();
        p.args().write_json(&mut out);
        assert_eq!(out, b"[]");
    }

    #[test]
    fn ack_args_are_the_whole_array() {
        let buf = br#"35["a",1]"#.to_vec();
        let p = decode(&buf, &Limits::default()).unwrap();
        assert_eq!(p.args().len(), 2);
        assert_eq!(p.args().deserialize::<String>(0).unwrap(), "a");

        let buf = br#"0{"token":"t"}"#.to_vec();
        let p = decode(&buf, &Limits::default()).unwrap();
        assert!(p.args().is_empty());
    }

    #[test]
    fn owned_args_resolve_placeholders_to_attachments() {
        let buf =
            br#"52-["up","name",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#
                .to_vec();
        let header = decode(&buf, &Limits::default()).unwrap();
        let mut asm = BinaryAssembler::start(header, &Limits::default()).unwrap();
        assert!(asm.push(b"zero").unwrap().is_none());
        let packet = asm.push(b"one").unwrap().unwrap();
        let args = packet.args();
        assert_eq!(args.len(), 3);
        assert_eq!(args.deserialize::<String>(0).unwrap(), "name");
        let first = args.get(1).and_then(|v| v.placeholder_num());
        assert_eq!(first, Some(1));
        assert_eq!(first.and_then(|n| args.binary(n)), Some(&b"one"[..]));
        let second = args.get(2).and_then(|v| v.placeholder_num());
        assert_eq!(second.and_then(|n| args.binary(n)), Some(&b"zero"[..]));
        assert_eq!(args.get(0).and_then(|v| v.placeholder_num()), None);
        assert!(args.binary(2).is_none());
        assert_eq!(args.attachments().len(), 2);

        let mut out = Vec::new();
        args.write_json(&mut out);
        assert_eq!(
            out,
            br#"["name",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#
        );
    }

    #[test]
    fn borrowed_placeholders_are_recognised() {
        let buf =
            br#"2["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":-1}]"#.to_vec();
        let p = decode(&buf, &Limits::default()).unwrap();
        assert_eq!(p.args().get(0).and_then(|v| v.placeholder_num()), Some(0));
        assert_eq!(p.args().get(1).and_then(|v| v.placeholder_num()), None);
        // A plain EVENT has no attachments to point into.
        assert!(p.args().binary(0).is_none());
    }
}
