//! The one error type of the Socket.IO packet layer.

use std::fmt;

/// Why a Socket.IO packet (or one of its attachments) was refused.
///
/// Every malformed input maps to one of these; decoding never panics.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SioError {
    /// The message had no bytes at all.
    Empty,
    /// The first byte is not a packet type digit `0`..=`6`.
    UnknownType,
    /// The namespace is not valid UTF-8.
    BadNamespace,
    /// The ack id overflows `u64`, is missing on an ACK, or appears on a packet type that
    /// takes none (CONNECT, DISCONNECT, CONNECT_ERROR).
    BadAckId,
    /// A binary packet lacks its `<digits>-` attachment count.
    BadAttachments,
    /// A binary packet announces more attachments than [`Limits::max_attachments`](super::Limits).
    TooManyAttachments,
    /// The JSON is well formed but not what this packet type carries; the text says what.
    InvalidPayload(&'static str),
    /// The data is not valid JSON.
    Json,
    /// A msgpack packet (see [`decode_msgpack`](super::decode_msgpack)) is not one well-formed
    /// msgpack value, or holds a value JSON cannot carry; the text says what.
    Msgpack(&'static str),
    /// The JSON nests deeper than [`Limits::max_depth`](super::Limits).
    TooDeep,
    /// A `{"_placeholder":true,...}` object whose `num` is not an integer in
    /// `0..attachments`.
    BadPlaceholder,
    /// The attachments together exceed [`Limits::max_attachment_bytes`](super::Limits).
    AttachmentsTooLarge,
    /// An attachment arrived that no binary packet is waiting for.
    UnexpectedBinary,
    /// A [`BinaryAssembler`](super::BinaryAssembler) was started from a packet that is neither
    /// BINARY_EVENT nor BINARY_ACK.
    NotBinary,
    /// The binary packet was finished before all its attachments arrived.
    MissingAttachments,
    /// An argument index past the end of the arguments.
    MissingArg(usize),
    /// An argument did not deserialise into the requested type; the text is the serde message.
    Deserialize(String),
    /// Encoding arguments with serde failed, or they did not serialise to a JSON array.
    Serialize(String),
}

impl fmt::Display for SioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty socket.io packet"),
            Self::UnknownType => f.write_str("unknown socket.io packet type"),
            Self::BadNamespace => f.write_str("namespace is not valid UTF-8"),
            Self::BadAckId => f.write_str("invalid ack id"),
            Self::BadAttachments => f.write_str("Illegal attachments"),
            Self::TooManyAttachments => f.write_str("too many attachments"),
            Self::InvalidPayload(why) => write!(f, "invalid payload: {why}"),
            Self::Json => f.write_str("invalid JSON"),
            Self::Msgpack(why) => write!(f, "invalid msgpack packet: {why}"),
            Self::TooDeep => f.write_str("JSON nested too deep"),
            Self::BadPlaceholder => f.write_str("invalid binary placeholder"),
            Self::AttachmentsTooLarge => f.write_str("attachments too large"),
            Self::UnexpectedBinary => f.write_str("unexpected binary attachment"),
            Self::NotBinary => f.write_str("packet is not a binary packet"),
            Self::MissingAttachments => f.write_str("binary packet is missing attachments"),
            Self::MissingArg(i) => write!(f, "no argument at index {i}"),
            Self::Deserialize(why) => write!(f, "argument did not deserialise: {why}"),
            Self::Serialize(why) => write!(f, "arguments did not serialise: {why}"),
        }
    }
}

impl std::error::Error for SioError {}
