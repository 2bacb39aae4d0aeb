//! Sans-IO WebSocket (RFC 6455) codec: frame headers, masking, message reassembly, UTF-8
//! validation of text and close reasons, and frame encoders.
//!
//! The one extension is permessage-deflate (RFC 7692, `deflate.rs`): with it negotiated, RSV1
//! marks a compressed message; any other RSV bit, or RSV1 without it, is a protocol error.
//! Everything here works on caller-owned byte slices: the runtime reads into a buffer, calls
//! [`Decoder::decode`] until it needs more bytes, and drains what was consumed.

mod close;
mod decoder;
mod deflate;
mod frame;
mod mask;
mod utf8;

#[cfg(test)]
mod proptests;

use std::fmt;

pub use close::{encode_close, CloseCode, CloseFrame};
pub use decoder::{compressed_limit, Decoded, Decoder, Message};
pub use deflate::{negotiate, Accepted, DeflateParams, Deflater, Inflater};
pub use frame::{
    encode_frame, encode_masked_frame, frame_header_len, frame_in_place, parse_frame_header,
    write_frame_header, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_SERVER_HEADER, RSV1,
};
pub use mask::apply_mask;

/// Which side we are: a server requires masked frames from the peer, a client requires unmasked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We accepted the connection; peer frames must be masked (RFC 6455 §5.1).
    Server,
    /// We opened the connection; peer frames must not be masked.
    Client,
}

/// Why a peer's bytes were refused. Each variant maps to the close code to send back.
///
/// After any error the connection must be failed: the decoder state is not meant to be reused.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsError {
    /// The bytes break a framing rule; the text says which one. Close code 1002.
    Protocol(&'static str),
    /// A text message or close reason is not valid UTF-8. Close code 1007.
    InvalidUtf8,
    /// A message is larger than the decoder's `max_payload` (inflated, when compressed). Close
    /// code 1009.
    TooBig,
    /// A compressed message is not valid DEFLATE data (permessage-deflate). Close code 1007,
    /// as Node's `ws` answers.
    BadCompression,
}

impl WsError {
    /// The close code to send to the peer when failing the connection for this error.
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::Protocol(_) => CloseCode::PROTOCOL_ERROR,
            Self::InvalidUtf8 | Self::BadCompression => CloseCode::INVALID_PAYLOAD,
            Self::TooBig => CloseCode::TOO_BIG,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Protocol(why) => write!(f, "websocket protocol error: {why}"),
            Self::InvalidUtf8 => f.write_str("websocket text or close reason is not valid UTF-8"),
            Self::TooBig => f.write_str("websocket message exceeds the maximum payload size"),
            Self::BadCompression => {
                f.write_str("websocket compressed message is not valid deflate")
            }
        }
    }
}

impl std::error::Error for WsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_close_codes() {
        assert_eq!(WsError::Protocol("x").close_code(), CloseCode(1002));
        assert_eq!(WsError::InvalidUtf8.close_code(), CloseCode(1007));
        assert_eq!(WsError::TooBig.close_code(), CloseCode(1009));
    }

    #[test]
    fn errors_display_their_reason() {
        assert_eq!(
            WsError::Protocol("RSV bit set").to_string(),
            "websocket protocol error: RSV bit set"
        );
        assert!(WsError::TooBig.to_string().contains("maximum payload"));
    }
}
