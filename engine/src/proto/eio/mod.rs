//! Engine.IO v4 (and v3 where it differs), sans-IO: packets, polling payloads, the open packet, session ids, handshake
//! checks and heartbeat timing.
//!
//! On WebSocket every frame is one packet: text frames are a type digit plus data
//! ([`decode_text`], [`encode_text`]); binary frames are binary messages ([`decode_binary`]).
//! On HTTP long-polling a body holds packets joined by `0x1e`, binary ones as `b` + base64
//! ([`PayloadDecoder`], [`encode_payload_text`], [`encode_payload_binary`]). Decoders borrow from
//! the caller's buffer and never allocate; the reference for unclear points is the Node
//! `engine.io` 6.x server. Engine.IO v3's different framing is in the `v3` module.

mod b64;
mod handshake;
mod heartbeat;
mod open;
mod packet;
mod payload;
mod sid;
mod v3;

pub use handshake::{check_handshake, check_query, EioVersion, HandshakeError, Transport};
pub use heartbeat::{ClientHeartbeat, Heartbeat, HeartbeatAction};
pub use open::{encode_open, parse_open, OpenInfo, OpenOwned, DEFAULT_MAX_PAYLOAD};
pub use packet::{decode_binary, decode_text, encode_text, EioError, Packet, PacketType};
pub use payload::{encode_payload_binary, encode_payload_text, PayloadDecoder, RECORD_SEPARATOR};
pub use sid::{Sid, SidHasher, SidMap, SidRng, SidSet, SID_LEN};
pub use v3::{
    decode_binary_v3, decode_text_v3, encode_binary_record_binary, encode_binary_record_text,
    encode_record_base64_v3, encode_record_v3, utf16_len, BinaryPayloadDecoderV3, PayloadDecoderV3,
    BINARY_MESSAGE_BYTE,
};
