//! Engine.IO v4 packets on the WebSocket transport: one packet per frame, borrowed from the frame.

use std::fmt;

/// Engine.IO packet type, sent as the ASCII digit `'0'..='6'` in front of the packet data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: the server's handshake packet, carrying JSON session parameters.
    Open,
    /// `1`: asks the peer to close the session.
    Close,
    /// `2`: heartbeat ping (sent by the server in v4) or upgrade probe (`2probe`, from the client).
    Ping,
    /// `3`: heartbeat pong (sent by the client) or probe answer (`3probe`, from the server).
    Pong,
    /// `4`: application data.
    Message,
    /// `5`: completes a transport upgrade.
    Upgrade,
    /// `6`: no operation; ends a pending poll during an upgrade.
    Noop,
}

impl PacketType {
    /// The wire digit of this type, `b'0'..=b'6'`.
    pub const fn as_byte(self) -> u8 {
        match self {
            Self::Open => b'0',
            Self::Close => b'1',
            Self::Ping => b'2',
            Self::Pong => b'3',
            Self::Message => b'4',
            Self::Upgrade => b'5',
            Self::Noop => b'6',
        }
    }

    /// The type for a wire digit, or `None` for anything outside `b'0'..=b'6'`.
    pub const fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'0' => Self::Open,
            b'1' => Self::Close,
            b'2' => Self::Ping,
            b'3' => Self::Pong,
            b'4' => Self::Message,
            b'5' => Self::Upgrade,
            b'6' => Self::Noop,
            _ => return None,
        })
    }
}

/// A packet borrowed from a WebSocket frame or a polling payload.
///
/// Message bytes stay mutable so the Socket.IO layer can parse JSON in place. Data after the type
/// digit of `Close`, `Upgrade` and `Noop` is ignored, as the reference server does.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Handshake data (JSON, see [`parse_open`](super::parse_open)).
    Open(&'a [u8]),
    /// Close request.
    Close,
    /// Ping with its optional data (`probe` during an upgrade).
    Ping(&'a [u8]),
    /// Pong with its optional data (`probe` during an upgrade).
    Pong(&'a [u8]),
    /// Text message. From [`PayloadDecoder`](super::PayloadDecoder) it is checked UTF-8; from
    /// [`decode_text`] it is as UTF-8 as the WebSocket layer made the frame.
    MessageText(&'a mut [u8]),
    /// Binary message: a WebSocket binary frame or a decoded `b<base64>` polling record.
    MessageBinary(&'a mut [u8]),
    /// Upgrade completion.
    Upgrade,
    /// No operation.
    Noop,
}

impl Packet<'_> {
    /// The packet's type; both message variants are [`PacketType::Message`].
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Open(_) => PacketType::Open,
            Self::Close => PacketType::Close,
            Self::Ping(_) => PacketType::Ping,
            Self::Pong(_) => PacketType::Pong,
            Self::MessageText(_) | Self::MessageBinary(_) => PacketType::Message,
            Self::Upgrade => PacketType::Upgrade,
            Self::Noop => PacketType::Noop,
        }
    }
}

/// Why bytes are not an Engine.IO packet, payload or open packet.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioError {
    /// A frame or payload record with no bytes at all (no type digit).
    Empty,
    /// The first byte is not a packet type digit `'0'..='6'` (nor `'b'` in a payload record).
    UnknownType(u8),
    /// A `b` payload record whose data is not valid base64.
    BadBase64,
    /// A text payload record that is not valid UTF-8.
    InvalidUtf8,
    /// The data of an open packet is not the expected handshake JSON.
    BadOpen,
    /// An Engine.IO v3 payload record whose length is missing, not a number, or longer than
    /// what follows.
    BadLength,
}

impl fmt::Display for EioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty engine.io packet"),
            Self::UnknownType(b) => write!(f, "unknown engine.io packet type byte 0x{b:02x}"),
            Self::BadBase64 => f.write_str("invalid base64 in engine.io binary packet"),
            Self::InvalidUtf8 => f.write_str("engine.io text packet is not valid UTF-8"),
            Self::BadOpen => f.write_str("invalid engine.io open packet"),
            Self::BadLength => f.write_str("bad record length in engine.io v3 payload"),
        }
    }
}

impl std::error::Error for EioError {}

/// Decodes a WebSocket text frame: the type digit followed by the data.
///
/// The frame is trusted to be UTF-8 already (RFC 6455 requires the WebSocket layer to check text
/// frames), so this does not validate it again.
pub fn decode_text(frame: &mut [u8]) -> Result<Packet<'_>, EioError> {
    let (&mut ty, data) = frame.split_first_mut().ok_or(EioError::Empty)?;
    from_parts(ty, data)
}

/// Decodes a WebSocket binary frame, which is always a binary message carrying the whole frame.
pub fn decode_binary(frame: &mut [u8]) -> Packet<'_> {
    Packet::MessageBinary(frame)
}

/// Builds a packet from its type byte and data; shared with the polling payload decoder.
pub(super) fn from_parts(ty: u8, data: &mut [u8]) -> Result<Packet<'_>, EioError> {
    Ok(
        match PacketType::from_byte(ty).ok_or(EioError::UnknownType(ty))? {
            PacketType::Open => Packet::Open(data),
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(data),
            PacketType::Pong => Packet::Pong(data),
            PacketType::Message => Packet::MessageText(data),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        },
    )
}

/// Appends a WebSocket text frame body: the type digit, then `data` (which should be UTF-8).
///
/// Binary messages need no encoding on WebSocket: send the bytes as a binary frame.
pub fn encode_text(out: &mut Vec<u8>, ty: PacketType, data: &[u8]) {
    out.reserve(data.len().saturating_add(1));
    out.push(ty.as_byte());
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a copy of `s`; the copy lives until the end of the calling statement.
    macro_rules! text {
        ($s:expr) => {
            decode_text(&mut $s.as_bytes().to_vec())
        };
    }

    #[test]
    fn golden_text_frames() {
        assert_eq!(text!("1"), Ok(Packet::Close));
        assert_eq!(text!("2"), Ok(Packet::Ping(b"")));
        assert_eq!(text!("3"), Ok(Packet::Pong(b"")));
        assert_eq!(text!("2probe"), Ok(Packet::Ping(b"probe")));
        assert_eq!(text!("3probe"), Ok(Packet::Pong(b"probe")));
        assert_eq!(
            text!("4hello"),
            Ok(Packet::MessageText(&mut b"hello".clone()))
        );
        assert_eq!(text!("4"), Ok(Packet::MessageText(&mut [])));
        assert_eq!(text!("5"), Ok(Packet::Upgrade));
        assert_eq!(text!("6"), Ok(Packet::Noop));
        assert_eq!(
            text!(r#"0{"sid":"x"}"#),
            Ok(Packet::Open(br#"{"sid":"x"}"#))
        );
    }

    #[test]
    fn trailing_data_on_dataless_types_is_ignored() {
        assert_eq!(text!("1bye"), Ok(Packet::Close));
        assert_eq!(text!("5x"), Ok(Packet::Upgrade));
        assert_eq!(text!("6x"), Ok(Packet::Noop));
    }

    #[test]
    fn message_text_is_mutable_in_place() {
        let mut frame = *b"4abc";
        if let Ok(Packet::MessageText(m)) = decode_text(&mut frame) {
            m[0] = b'X';
        }
        assert_eq!(&frame, b"4Xbc");
    }

    #[test]
    fn bad_text_frames() {
        assert_eq!(text!(""), Err(EioError::Empty));
        assert_eq!(text!("9"), Err(EioError::UnknownType(b'9')));
        assert_eq!(text!("abc"), Err(EioError::UnknownType(b'a')));
        assert_eq!(text!("bAQIDBA=="), Err(EioError::UnknownType(b'b')));
    }

    #[test]
    fn binary_frames_are_messages() {
        let mut frame = [1u8, 2, 3, 4];
        assert_eq!(
            decode_binary(&mut frame),
            Packet::MessageBinary(&mut [1, 2, 3, 4])
        );
        assert_eq!(decode_binary(&mut []), Packet::MessageBinary(&mut []));
    }

    #[test]
    fn encode_golden() {
        let mut out = Vec::new();
        encode_text(&mut out, PacketType::Message, b"hello");
        assert_eq!(out, b"4hello");
        for (ty, wire) in [
            (PacketType::Open, "0"),
            (PacketType::Close, "1"),
            (PacketType::Ping, "2"),
            (PacketType::Pong, "3"),
            (PacketType::Upgrade, "5"),
            (PacketType::Noop, "6"),
        ] {
            out.clear();
            encode_text(&mut out, ty, b"");
            assert_eq!(out, wire.as_bytes());
        }
        out.clear();
        encode_text(&mut out, PacketType::Pong, b"probe");
        assert_eq!(out, b"3probe");
    }

    #[test]
    fn type_bytes_round_trip() {
        for b in 0..=u8::MAX {
            match PacketType::from_byte(b) {
                Some(ty) => assert_eq!(ty.as_byte(), b),
                None => assert!(!(b'0'..=b'6').contains(&b)),
            }
        }
    }
}
