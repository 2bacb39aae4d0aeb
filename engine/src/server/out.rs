//! An Engine.IO packet ready to send on either transport.

use bytes::Bytes;

/// An Engine.IO packet ready to send on either transport: text packets include their type
/// digit (`4hello`, `2`), binary ones are the raw message.
#[derive(Clone, Debug)]
pub(crate) enum Out {
    Text(Bytes),
    Binary(Bytes),
}

impl Out {
    /// The packet's bytes.
    pub fn bytes(&self) -> &Bytes {
        match self {
            Out::Text(b) | Out::Binary(b) => b,
        }
    }
}
