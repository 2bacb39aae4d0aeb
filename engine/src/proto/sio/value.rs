//! The handler-facing view of an event's (or ack's) arguments: borrowed or owned JSON plus the
//! binary attachments, with serde deserialisation per argument.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use simd_json::prelude::*;
use simd_json::{BorrowedValue, OwnedValue};

use super::binary::{borrowed_placeholder_index, owned_placeholder_index};
use super::{OwnedPacket, Packet, PacketType, SioError};

/// One argument, borrowed from a [`Packet`] or an [`OwnedPacket`].
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'v> {
    /// From a packet parsed in place.
    Borrowed(&'v BorrowedValue<'v>),
    /// From an owned (e.g. assembled binary) packet.
    Owned(&'v OwnedValue),
}

impl<'v> ValueRef<'v> {
    /// The string, if this is a JSON string.
    pub fn as_str(&self) -> Option<&'v str> {
        match *self {
            Self::Borrowed(v) => v.as_str(),
            Self::Owned(v) => v.as_str(),
        }
    }

    /// The number as `i64`, if it is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Self::Borrowed(v) => v.as_i64(),
            Self::Owned(v) => v.as_i64(),
        }
    }

    /// The number as `u64`, if it is a non-negative integer that fits.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::Borrowed(v) => v.as_u64(),
            Self::Owned(v) => v.as_u64(),
        }
    }

    /// Any JSON number as `f64`.
    pub fn cast_f64(&self) -> Option<f64> {
        match *self {
            Self::Borrowed(v) => v.cast_f64(),
            Self::Owned(v) => v.cast_f64(),
        }
    }

    /// The boolean, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Borrowed(v) => v.as_bool(),
            Self::Owned(v) => v.as_bool(),
        }
    }

    /// Whether this is JSON `null`.
    pub fn is_null(&self) -> bool {
        match *self {
            Self::Borrowed(v) => v.is_null(),
            Self::Owned(v) => v.is_null(),
        }
    }

    /// The attachment index, if this is a `{"_placeholder":true,"num":N}` object.
    pub fn placeholder_num(&self) -> Option<usize> {
        match *self {
            Self::Borrowed(v) => borrowed_placeholder_index(v),
            Self::Owned(v) => owned_placeholder_index(v),
        }
    }

    /// Deserialises this argument into `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, SioError> {
        let result = match *self {
            Self::Borrowed(v) => simd_json::serde::from_refborrowed_value(v),
            Self::Owned(v) => simd_json::serde::from_refowned_value(v),
        };
        result.map_err(|e| SioError::Deserialize(e.to_string()))
    }

    /// Appends this argument as JSON.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Writing into a Vec<u8> cannot fail, so the io::Result carries nothing.
        let _ = match *self {
            Self::Borrowed(v) => v.write(out),
            Self::Owned(v) => v.write(out),
        };
    }
}

#[derive(Clone, Copy, Debug)]
enum Items<'a> {
    Borrowed(&'a [BorrowedValue<'a>]),
    Owned(&'a [OwnedValue]),
}

/// The arguments of an event (after its name) or of an ack, plus the packet's binary
/// attachments. Empty for packet types without arguments.
#[derive(Clone, Copy, Debug)]
pub struct Args<'a> {
    items: Items<'a>,
    attachments: &'a [Bytes],
}

impl<'a> Args<'a> {
    /// The arguments of a packet parsed in place (no attachments: a binary packet's attachments
    /// live in the [`OwnedPacket`] its assembler yields).
    pub fn from_packet(packet: &'a Packet<'_>) -> Self {
        let items = match &packet.data {
            Some(BorrowedValue::Array(items)) => args_of(packet.ty, items.as_slice()),
            _ => &[],
        };
        Self {
            items: Items::Borrowed(items),
            attachments: &[],
        }
    }

    /// The arguments and attachments of an owned packet.
    pub fn from_owned(packet: &'a OwnedPacket) -> Self {
        let items = match &packet.data {
            Some(OwnedValue::Array(items)) => args_of(packet.ty, items.as_slice()),
            _ => &[],
        };
        Self {
            items: Items::Owned(items),
            attachments: &packet.attachments,
        }
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        match self.items {
            Items::Borrowed(items) => items.len(),
            Items::Owned(items) => items.len(),
        }
    }

    /// Whether there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Argument `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<ValueRef<'_>> {
        match self.items {
            Items::Borrowed(items) => items.get(i).map(ValueRef::Borrowed),
            Items::Owned(items) => items.get(i).map(ValueRef::Owned),
        }
    }

    /// The arguments in order.
    pub fn iter(&self) -> impl Iterator<Item = ValueRef<'_>> + '_ {
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

    /// Writes the arguments back as a JSON array body (e.g. to echo them): `[a,b,...]`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, arg) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            arg.write_json(out);
        }
        out.push(b']');
    }
}

/// The argument items of a packet's data array: after the name for events, all of it for acks.
fn args_of<T>(ty: PacketType, items: &[T]) -> &[T] {
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
        let mut buf = br#"2["chat",{"text":"hi","n":2},7,"s",true,null,-3,2.5]"#.to_vec();
        let p = decode(&mut buf, &Limits::default()).unwrap();
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
        assert_eq!(args.get(2).and_then(|v| v.as_str()), Some("s"));
        assert_eq!(args.get(3).and_then(|v| v.as_bool()), Some(true));
        assert!(args.get(4).is_some_and(|v| v.is_null()));
        assert_eq!(args.get(5).and_then(|v| v.as_i64()), Some(-3));
        assert_eq!(args.get(6).and_then(|v| v.cast_f64()), Some(2.5));
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
        let mut buf = br#"2["echo",{"a":[1,"x\"y"]},false]"#.to_vec();
        let p = decode(&mut buf, &Limits::default()).unwrap();
        let mut out = Vec::new();
        p.args().write_json(&mut out);
        assert_eq!(out, br#"[{"a":[1,"x\"y"]},false]"#);

        let mut buf = br#"2["none"]"#.to_vec();
        let p = decode(&mut buf, &Limits::default()).unwrap();
        assert!(p.args().is_empty());
        out.clear();
        p.args().write_json(&mut out);
        assert_eq!(out, b"[]");
    }

    #[test]
    fn ack_args_are_the_whole_array() {
        let mut buf = br#"35["a",1]"#.to_vec();
        let p = decode(&mut buf, &Limits::default()).unwrap();
        assert_eq!(p.args().len(), 2);
        assert_eq!(p.args().deserialize::<String>(0).unwrap(), "a");

        let mut buf = br#"0{"token":"t"}"#.to_vec();
        let p = decode(&mut buf, &Limits::default()).unwrap();
        assert!(p.args().is_empty());
    }

    #[test]
    fn owned_args_resolve_placeholders_to_attachments() {
        let mut buf =
            br#"52-["up","name",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#
                .to_vec();
        let header = decode(&mut buf, &Limits::default()).unwrap();
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
        let mut buf =
            br#"2["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":-1}]"#.to_vec();
        let p = decode(&mut buf, &Limits::default()).unwrap();
        assert_eq!(p.args().get(0).and_then(|v| v.placeholder_num()), Some(0));
        assert_eq!(p.args().get(1).and_then(|v| v.placeholder_num()), None);
        // A plain EVENT has no attachments to point into.
        assert!(p.args().binary(0).is_none());
    }
}
