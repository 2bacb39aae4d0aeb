//! Engine.IO v3 (`EIO=3`, the protocol of Socket.IO 2.x clients), sans-IO: only what differs
//! from v4 on the wire. Polling payloads frame packets by length instead of separating them
//! ([`PayloadDecoderV3`], [`encode_record_v3`], [`encode_record_base64_v3`]), or, for clients
//! that take binary, as binary payloads ([`BinaryPayloadDecoderV3`],
//! [`encode_binary_record_text`], [`encode_binary_record_binary`]); WebSocket binary frames
//! carry a raw type byte ([`decode_binary_v3`], [`BINARY_MESSAGE_BYTE`]), and text frames may
//! carry base64 binary ([`decode_text_v3`]). Packet types, text
//! frames and the open packet are v4's. The reference is the Node `engine.io` 6.x server's
//! `parser-v3`.

mod binary;
mod text;

pub use binary::{
    decode_binary_v3, encode_binary_record_binary, encode_binary_record_text,
    BinaryPayloadDecoderV3, BINARY_MESSAGE_BYTE,
};
pub use text::{
    decode_text_v3, encode_record_base64_v3, encode_record_v3, utf16_len, PayloadDecoderV3,
};
