//! Packet types and the decoded packet shapes, borrowed and owned.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;

use super::ValueRef;

/// The seven Socket.IO v5 packet types; the discriminant is the wire digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: connect to a namespace (client: optional auth object; server: `{"sid":..}`).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event, `["name", args...]`.
    Event,
    /// `3`: the reply to an event that carried an ack id, `[args...]`.
    Ack,
    /// `4`: the server refused a namespace connection.
    ConnectError,
    /// `5`: an event whose arguments hold binary placeholders; attachments follow.
    BinaryEvent,
    /// `6`: an ack whose arguments hold binary placeholders; attachments follow.
    BinaryAck,
}

impl PacketType {
    /// The type for a wire digit (`b'0'`..=`b'6'`), if any.
    pub fn from_digit(digit: u8) -> Option<Self> {
        Some(match digit {
            b'0' => Self::Connect,
            b'1' => Self::Disconnect,
            b'2' => Self::Event,
            b'3' => Self::Ack,
            b'4' => Self::ConnectError,
            b'5' => Self::BinaryEvent,
            b'6' => Self::BinaryAck,
            _ => return None,
        })
    }

    /// The wire digit of this type, as an ASCII byte.
    pub fn digit(self) -> u8 {
        match self {
            Self::Connect => b'0',
            Self::Disconnect => b'1',
            Self::Event => b'2',
            Self::Ack => b'3',
            Self::ConnectError => b'4',
            Self::BinaryEvent => b'5',
            Self::BinaryAck => b'6',
        }
    }

    /// BINARY_EVENT or BINARY_ACK: the header carries an attachment count.
    pub fn is_binary(self) -> bool {
        matches!(self, Self::BinaryEvent | Self::BinaryAck)
    }

    /// EVENT or BINARY_EVENT: data is `["name", args...]`.
    pub fn is_event(self) -> bool {
        matches!(self, Self::Event | Self::BinaryEvent)
    }

    /// ACK or BINARY_ACK: data is `[args...]` and an ack id is required.
    pub fn is_ack(self) -> bool {
        matches!(self, Self::Ack | Self::BinaryAck)
    }
}

/// Event names with a meaning of their own in Socket.IO (and Node's EventEmitter); they are
/// refused in incoming EVENT packets and must not be emitted.
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is reserved: `connect`, `connect_error`, `disconnect`, `disconnecting`,
/// `newListener` or `removeListener`. Such events are refused on input and must not be emitted.
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// A packet decoded from the text of an Engine.IO message (the bytes after the Engine.IO `4`).
/// The JSON is validated, not parsed into a tree: `data` is the exact text the client sent, and
/// the arguments are spans of it, so a relay sends the same bytes on.
///
/// For binary types this is only the header: hand it to
/// [`BinaryAssembler::start`](super::BinaryAssembler::start) to collect the attachments.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    /// The packet type.
    pub ty: PacketType,
    /// The namespace, `"/"` when the wire carried none.
    pub nsp: &'a str,
    /// The ack id; always `Some` for ACK/BINARY_ACK, always `None` for CONNECT, DISCONNECT and
    /// CONNECT_ERROR.
    pub id: Option<u64>,
    /// Announced binary attachments; 0 for non-binary types.
    pub attachments: usize,
    /// The JSON payload as sent, already checked against the packet type: CONNECT `None` or an
    /// object, DISCONNECT `None`, CONNECT_ERROR an object or string, events a non-empty array
    /// starting with a non-reserved string name, acks an array.
    pub data: Option<ValueRef<'a>>,
    /// The event name, unescaped (lone surrogates become U+FFFD).
    pub(crate) name: Option<Cow<'a, str>>,
    /// Spans of the data array's elements, within `data`.
    pub(crate) items: Vec<Range<u32>>,
    /// Spans of every object in `data` (binary packets only, for their placeholders).
    pub(crate) objects: Vec<Range<u32>>,
}

impl<'a> Packet<'a> {
    /// For EVENT/BINARY_EVENT: the event name (first array item). `None` for other types.
    pub fn event_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Copies the packet out of the input buffer, with no attachments.
    pub fn into_owned(self) -> OwnedPacket {
        OwnedPacket {
            ty: self.ty,
            nsp: self.nsp.to_owned(),
            id: self.id,
            data: self.data.map(|d| d.json().to_owned()),
            name: self.name.map(Cow::into_owned),
            items: self.items,
            attachments: Vec::new(),
        }
    }
}

/// A packet that owns its data: a binary packet with its attachments, as
/// [`BinaryAssembler`](super::BinaryAssembler) yields it, or any packet via
/// [`Packet::into_owned`].
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedPacket {
    /// The packet type; binary types keep their type (BINARY_EVENT stays BINARY_EVENT).
    pub ty: PacketType,
    /// The namespace.
    pub nsp: String,
    /// The ack id (see [`Packet::id`]).
    pub id: Option<u64>,
    /// The JSON payload as sent; placeholders stay in place (see [`super::Args::binary`]).
    pub data: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) items: Vec<Range<u32>>,
    /// The binary attachments in placeholder `num` order.
    pub attachments: Vec<Bytes>,
}

impl OwnedPacket {
    /// For BINARY_EVENT (or EVENT): the event name. `None` for other types.
    pub fn event_name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_digits_round_trip() {
        for digit in b'0'..=b'6' {
            let ty = PacketType::from_digit(digit).unwrap();
            assert_eq!(ty.digit(), digit);
        }
        assert_eq!(PacketType::from_digit(b'7'), None);
        assert_eq!(PacketType::from_digit(b'/'), None);
        assert!(PacketType::BinaryAck.is_binary() && PacketType::BinaryAck.is_ack());
        assert!(PacketType::BinaryEvent.is_event() && !PacketType::Event.is_binary());
    }

    #[test]
    fn reserved_events() {
        for name in [
            "connect",
            "connect_error",
            "disconnect",
            "disconnecting",
            "newListener",
            "removeListener",
        ] {
            assert!(is_reserved_event(name), "{name}");
        }
        assert!(!is_reserved_event("message"));
        assert!(!is_reserved_event("Connect"));
    }

    #[test]
    fn into_owned_keeps_every_field() {
        let buf = br#"2/chat,9["hello",{"a":1}]"#.to_vec();
        let packet = super::super::decode(&buf, &super::super::Limits::default()).unwrap();
        let owned = packet.into_owned();
        assert_eq!(owned.ty, PacketType::Event);
        assert_eq!((owned.nsp.as_str(), owned.id), ("/chat", Some(9)));
        assert_eq!(owned.event_name(), Some("hello"));
        assert!(owned.attachments.is_empty());
    }
}
