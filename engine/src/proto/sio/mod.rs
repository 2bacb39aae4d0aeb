//! Socket.IO v5 packets, sans-IO.
//!
//! One packet is the text of one Engine.IO message (after the Engine.IO `4`):
//! `<type>[<attachments>-][<nsp>,][<ack id>][<JSON data>]`, e.g. `2/admin,12["foo",1]`.
//! Binary packets (`5`, `6`) announce `<attachments>` binary Engine.IO messages that follow
//! them, referenced from the JSON by `{"_placeholder":true,"num":N}` objects.
//!
//! - [`decode`] parses a packet's header, validates its JSON in one pass without building a
//!   tree (arguments stay the exact bytes sent, so relays keep them), and applies
//!   socket.io-parser's payload rules; [`BinaryAssembler`] then collects a binary packet's attachments.
//! - [`Args`] is the handler's view of event/ack arguments.
//! - `encode_*` append packets straight into a caller's frame buffer.
//! - [`decode_msgpack`] and [`encode_msgpack`] carry the same packets in the wire format of
//!   npm `socket.io-msgpack-parser`, transcoding to and from the form above.
//!
//! Deliberately stricter than socket.io-parser 4.x: an ack id is refused on CONNECT,
//! DISCONNECT and CONNECT_ERROR and required on ACK; events and acks must carry data;
//! event names must be strings; CONNECT_ERROR must carry data; a binary attachment count needs at
//! least one digit.

mod binary;
mod decode;
mod encode;
mod error;
mod json;
mod json_msgpack;
mod limits;
mod msgpack;
mod packet;
mod ser;
mod value;

pub use binary::{BinaryAssembler, Placeholder};
pub use decode::decode;
pub use encode::{
    encode_ack, encode_connect, encode_connect_error, encode_connect_request, encode_connect_v2,
    encode_disconnect, encode_error_v2, encode_event, encode_event_ser, encode_header, push_offset,
    write_json_str,
};
pub use error::SioError;
pub use limits::Limits;
pub use msgpack::{decode_msgpack, encode_msgpack, transcode_msgpack, MsgpackText};
pub use packet::{is_reserved_event, OwnedPacket, Packet, PacketType};
pub use ser::{write_args, write_value, ArgList, SerError};
pub use value::{Args, ValueRef};
