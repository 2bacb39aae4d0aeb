//! Resource limits applied while decoding Socket.IO packets.

/// Bounds on what one Socket.IO packet may cost to decode.
///
/// Defaults: `max_attachments` 10, `max_attachment_bytes` 1 000 000 (the Engine.IO
/// `maxPayload` default, summed over all attachments of one packet), `max_depth` 1000.
/// The deadline for the attachments of a binary packet to arrive is the runtime's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most binary attachments one packet may announce; more is
    /// [`SioError::TooManyAttachments`](super::SioError::TooManyAttachments). Default 10.
    pub max_attachments: usize,
    /// Most bytes all attachments of one packet may carry together; more is
    /// [`SioError::AttachmentsTooLarge`](super::SioError::AttachmentsTooLarge). Default 1 000 000.
    pub max_attachment_bytes: usize,
    /// Deepest JSON nesting (arrays and objects) accepted; the outer array counts as 1. Deeper is
    /// [`SioError::TooDeep`](super::SioError::TooDeep). The decoder's scan keeps its own stack,
    /// so any depth costs O(n) time and no recursion; decoding an argument into a Rust type
    /// follows serde_json, which refuses nesting past 128 with a clear error. Default 1000.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attachments: 10,
            max_attachment_bytes: 1_000_000,
            max_depth: 1000,
        }
    }
}
