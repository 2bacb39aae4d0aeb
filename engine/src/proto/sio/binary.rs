//! Binary packets: the serialisable placeholder, placeholder validation, and the assembler that
//! collects a BINARY_EVENT/BINARY_ACK header's attachments.

use bytes::Bytes;
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{Limits, OwnedPacket, Packet, SioError};

/// Stands for binary attachment `num` inside emitted arguments; serialises as
/// `{"_placeholder":true,"num":N}`. The attachment itself is sent as the N-th binary message
/// after the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Placeholder {
    num: usize,
}

impl Placeholder {
    /// The placeholder for attachment `num` (0-based, in send order).
    pub fn new(num: usize) -> Self {
        Self { num }
    }

    /// The attachment index this placeholder stands for.
    pub fn num(&self) -> usize {
        self.num
    }
}

impl Serialize for Placeholder {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Placeholder", 2)?;
        s.serialize_field("_placeholder", &true)?;
        s.serialize_field("num", &self.num)?;
        s.end()
    }
}

/// Collects the attachments announced by a BINARY_EVENT/BINARY_ACK header, each checked against
/// the limits, and yields the complete [`OwnedPacket`].
///
/// Placeholders are validated up front in [`start`](Self::start), so a packet that could never
/// be valid is refused before any attachment is buffered.
#[derive(Debug)]
pub struct BinaryAssembler {
    /// `None` once the packet has been handed out.
    packet: Option<OwnedPacket>,
    expected: usize,
    received_bytes: usize,
    max_bytes: usize,
}

impl BinaryAssembler {
    /// Starts collecting attachments for a binary header from [`decode`](super::decode).
    ///
    /// Errors: [`SioError::NotBinary`] for other packet types, [`SioError::TooManyAttachments`]
    /// past `limits.max_attachments`, [`SioError::BadPlaceholder`] when any
    /// `{"_placeholder":true,...}` object lacks an integer `num` in `0..attachments`.
    /// With 0 attachments the packet is complete at once: see [`is_complete`](Self::is_complete).
    pub fn start(header: Packet<'_>, limits: &Limits) -> Result<Self, SioError> {
        if !header.ty.is_binary() {
            return Err(SioError::NotBinary);
        }
        if header.attachments > limits.max_attachments {
            return Err(SioError::TooManyAttachments);
        }
        if let Some(data) = &header.data {
            check_placeholders(data.json(), &header.objects, header.attachments)?;
        }
        let expected = header.attachments;
        let mut packet = header.into_owned();
        packet.attachments.reserve_exact(expected);
        Ok(Self {
            packet: Some(packet),
            expected,
            received_bytes: 0,
            max_bytes: limits.max_attachment_bytes,
        })
    }

    /// Adds the next attachment (one binary Engine.IO message, copied). `Ok(Some(packet))` when
    /// it was the last one; the assembler is then spent and further attachments are
    /// [`SioError::UnexpectedBinary`]. [`SioError::AttachmentsTooLarge`] when the total passes
    /// `limits.max_attachment_bytes` (checked before copying).
    pub fn push(&mut self, attachment: &[u8]) -> Result<Option<OwnedPacket>, SioError> {
        self.admit(attachment.len())?;
        Ok(self.store(Bytes::copy_from_slice(attachment)))
    }

    /// [`push`](Self::push) for an attachment the caller already owns as [`Bytes`]: no copy.
    pub fn push_bytes(&mut self, attachment: Bytes) -> Result<Option<OwnedPacket>, SioError> {
        self.admit(attachment.len())?;
        Ok(self.store(attachment))
    }

    /// Attachments announced by the header.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// Attachments still to come (0 once complete or spent).
    pub fn remaining(&self) -> usize {
        self.packet
            .as_ref()
            .map_or(0, |p| self.expected.saturating_sub(p.attachments.len()))
    }

    /// Whether every attachment has arrived and the packet is still here to [`finish`]
    /// (only ever true for a header announcing 0 attachments, since [`push`] hands the packet
    /// out with the last one).
    ///
    /// [`finish`]: Self::finish
    /// [`push`]: Self::push
    pub fn is_complete(&self) -> bool {
        self.packet
            .as_ref()
            .is_some_and(|p| p.attachments.len() == self.expected)
    }

    /// Hands out the packet once complete; [`SioError::MissingAttachments`] while attachments
    /// are still due or after [`push`](Self::push) already handed it out.
    pub fn finish(mut self) -> Result<OwnedPacket, SioError> {
        if !self.is_complete() {
            return Err(SioError::MissingAttachments);
        }
        self.packet.take().ok_or(SioError::MissingAttachments)
    }

    fn admit(&mut self, len: usize) -> Result<(), SioError> {
        if self.remaining() == 0 {
            return Err(SioError::UnexpectedBinary);
        }
        self.received_bytes = self
            .received_bytes
            .checked_add(len)
            .filter(|&total| total <= self.max_bytes)
            .ok_or(SioError::AttachmentsTooLarge)?;
        Ok(())
    }

    /// Stores an admitted attachment; hands the packet out when it was the last.
    fn store(&mut self, attachment: Bytes) -> Option<OwnedPacket> {
        let packet = self.packet.as_mut()?;
        packet.attachments.push(attachment);
        if packet.attachments.len() == self.expected {
            self.packet.take()
        } else {
            None
        }
    }
}

/// Checks that every placeholder object (spans from the decoder) refers to one of `attachments`.
fn check_placeholders(
    json: &str,
    objects: &[std::ops::Range<u32>],
    attachments: usize,
) -> Result<(), SioError> {
    for r in objects {
        let object = json
            .get(r.start as usize..r.end as usize)
            .unwrap_or_default();
        match placeholder_index(object) {
            Ok(Some(num)) if num < attachments => {}
            Ok(None) => {}
            _ => return Err(SioError::BadPlaceholder),
        }
    }
    Ok(())
}

/// The keys of an object that make it a placeholder; other keys are skipped unparsed.
#[derive(serde::Deserialize)]
struct Probe {
    #[serde(rename = "_placeholder", default)]
    placeholder: Option<serde_json::Value>,
    #[serde(default)]
    num: Option<serde_json::Value>,
}

/// For the JSON text of one value: `Ok(None)` if it is not a placeholder, `Ok(Some(num))` for
/// one with a non-negative integer `num`, `Err(())` for a placeholder whose `num` is not one.
/// Like socket.io-parser, only `"_placeholder": true` (the boolean) marks a placeholder.
pub(super) fn placeholder_index(json: &str) -> Result<Option<usize>, ()> {
    if !json.starts_with('{') || !json.contains("placeholder") {
        return Ok(None);
    }
    let Ok(probe) = serde_json::from_str::<Probe>(json) else {
        return Ok(None);
    };
    if probe.placeholder != Some(serde_json::Value::Bool(true)) {
        return Ok(None);
    }
    let num = probe.num.as_ref().and_then(serde_json::Value::as_u64);
    match num.and_then(|n| usize::try_from(n).ok()) {
        Some(n) => Ok(Some(n)),
        None => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode, PacketType};
    use super::*;

    fn start(text: &str, limits: &Limits) -> Result<BinaryAssembler, SioError> {
        let buf = text.as_bytes().to_vec();
        let header = decode(&buf, limits)?;
        BinaryAssembler::start(header, limits)
    }

    #[test]
    fn binary_event_from_the_spec() {
        let limits = Limits::default();
        let mut asm = start(r#"51-["baz",{"_placeholder":true,"num":0}]"#, &limits).unwrap();
        assert_eq!(
            (asm.expected(), asm.remaining(), asm.is_complete()),
            (1, 1, false)
        );
        let packet = asm.push(&[1, 2, 3]).unwrap().unwrap();
        assert_eq!(packet.ty, PacketType::BinaryEvent);
        assert_eq!((packet.nsp.as_str(), packet.id), ("/", None));
        assert_eq!(packet.event_name(), Some("baz"));
        assert_eq!(packet.attachments, vec![Bytes::from_static(&[1, 2, 3])]);
        // The placeholder stays in the JSON for the handler to resolve by index.
        assert_eq!(
            packet.data.as_deref(),
            Some(r#"["baz",{"_placeholder":true,"num":0}]"#)
        );
        assert_eq!(asm.remaining(), 0);
        assert_eq!(asm.push(b"x").unwrap_err(), SioError::UnexpectedBinary);
    }

    #[test]
    fn binary_ack_from_the_spec_with_several_attachments() {
        let limits = Limits::default();
        let text =
            r#"62-/admin,15[{"_placeholder":true,"num":1},{"x":{"_placeholder":true,"num":0}}]"#;
        let mut asm = start(text, &limits).unwrap();
        assert_eq!(asm.push(b"first").unwrap(), None);
        assert_eq!(asm.remaining(), 1);
        let packet = asm
            .push_bytes(Bytes::from_static(b"second"))
            .unwrap()
            .unwrap();
        assert_eq!(packet.ty, PacketType::BinaryAck);
        assert_eq!((packet.nsp.as_str(), packet.id), ("/admin", Some(15)));
        assert_eq!(packet.attachments.len(), 2);
        assert_eq!(packet.attachments[1].as_ref(), b"second");
    }

    #[test]
    fn zero_attachments_complete_at_once() {
        let asm = start(r#"50-["e",1]"#, &Limits::default()).unwrap();
        assert!(asm.is_complete());
        let packet = asm.finish().unwrap();
        assert!(packet.attachments.is_empty());
        assert_eq!(packet.event_name(), Some("e"));

        let mut asm = start(r#"50-["e"]"#, &Limits::default()).unwrap();
        assert_eq!(asm.push(b"x").unwrap_err(), SioError::UnexpectedBinary);
    }

    #[test]
    fn finish_before_complete_is_an_error() {
        let asm = start(
            r#"51-["e",{"_placeholder":true,"num":0}]"#,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(asm.finish().unwrap_err(), SioError::MissingAttachments);
    }

    #[test]
    fn placeholders_are_validated() {
        let limits = Limits::default();
        for bad in [
            r#"51-["a",{"_placeholder":true,"num":7}]"#,
            r#"51-["a",{"_placeholder":true,"num":1}]"#,
            r#"51-["a",{"_placeholder":true,"num":"0"}]"#,
            r#"51-["a",{"_placeholder":true,"num":1.5}]"#,
            r#"51-["a",{"_placeholder":true,"num":0.0}]"#,
            r#"51-["a",{"_placeholder":true,"num":-1}]"#,
            r#"51-["a",{"_placeholder":true,"num":null}]"#,
            r#"51-["a",{"_placeholder":true}]"#,
            r#"51-["a",[[{"_placeholder":true,"num":18446744073709551615}]]]"#,
            r#"50-["a",{"_placeholder":true,"num":0}]"#,
        ] {
            assert_eq!(
                start(bad, &limits).unwrap_err(),
                SioError::BadPlaceholder,
                "{bad}"
            );
        }
        // Only `"_placeholder":true` marks a placeholder, as in socket.io-parser.
        for fine in [
            r#"51-["a",{"_placeholder":false,"num":7}]"#,
            r#"51-["a",{"_placeholder":"true","num":"x"}]"#,
            r#"51-["a",{"num":9}]"#,
        ] {
            assert!(start(fine, &limits).is_ok(), "{fine}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_attachments: 2,
            max_attachment_bytes: 10,
            max_depth: 32,
        };
        assert_eq!(
            start(r#"53-["a"]"#, &limits).unwrap_err(),
            SioError::TooManyAttachments
        );
        let mut asm = start(r#"52-["a"]"#, &limits).unwrap();
        assert_eq!(asm.push(&[0; 6]).unwrap(), None);
        assert_eq!(
            asm.push(&[0; 5]).unwrap_err(),
            SioError::AttachmentsTooLarge
        );

        // A hand-built header past the limit is refused too.
        let buf = br#"52-["a"]"#.to_vec();
        let header = decode(&buf, &Limits::default()).unwrap();
        let tight = Limits {
            max_attachments: 1,
            ..Limits::default()
        };
        assert_eq!(
            BinaryAssembler::start(header, &tight).unwrap_err(),
            SioError::TooManyAttachments
        );
    }

    #[test]
    fn non_binary_headers_are_refused() {
        let buf = br#"2["a"]"#.to_vec();
        let header = decode(&buf, &Limits::default()).unwrap();
        assert_eq!(
            BinaryAssembler::start(header, &Limits::default()).unwrap_err(),
            SioError::NotBinary
        );
    }

    #[test]
    fn placeholder_serialises_like_socket_io() {
        assert_eq!(
            serde_json::to_string(&Placeholder::new(3)).unwrap(),
            r#"{"_placeholder":true,"num":3}"#
        );
        assert_eq!(Placeholder::new(3).num(), 3);
    }
}
