//! Frame headers (RFC 6455 §5.2): parsing with early rejection, and the frame encoders.

use super::mask::apply_mask;
use super::WsError;

/// Largest payload a control frame (close, ping, pong) may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The RSV1 bit of a frame's first byte: with permessage-deflate, the first frame of a
/// compressed message carries it (RFC 7692 §6).
pub const RSV1: u8 = 0x40;

/// A frame opcode (RFC 6455 §5.2). Reserved opcodes have no variant: they fail to convert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: a later fragment of a text or binary message.
    Continuation,
    /// 0x1: first (or only) frame of a UTF-8 text message.
    Text,
    /// 0x2: first (or only) frame of a binary message.
    Binary,
    /// 0x8: connection close, optionally with a code and reason.
    Close,
    /// 0x9: ping; the peer answers with a pong carrying the same payload.
    Ping,
    /// 0xA: pong, solicited or not.
    Pong,
}

impl OpCode {
    /// True for close, ping and pong, which may not be fragmented and carry at most
    /// [`MAX_CONTROL_PAYLOAD`] bytes.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

impl TryFrom<u8> for OpCode {
    type Error = WsError;

    /// Converts the low 4 bits of the first header byte; reserved values (3-7, 11-15) and
    /// values above 15 are protocol errors.
    fn try_from(value: u8) -> Result<Self, WsError> {
        match value {
            0x0 => Ok(Self::Continuation),
            0x1 => Ok(Self::Text),
            0x2 => Ok(Self::Binary),
            0x8 => Ok(Self::Close),
            0x9 => Ok(Self::Ping),
            0xA => Ok(Self::Pong),
            _ => Err(WsError::Protocol("reserved opcode")),
        }
    }
}

impl From<OpCode> for u8 {
    fn from(op: OpCode) -> u8 {
        match op {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }
}

/// A parsed frame header. Its role-independent rules are already checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN bit: this is the last frame of its message.
    pub fin: bool,
    /// RSV1 bit: a compressed message's first frame, where permessage-deflate was negotiated.
    pub rsv1: bool,
    /// The frame's opcode.
    pub opcode: OpCode,
    /// Masking key, present when the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    /// Declared payload length (below 2^63).
    pub payload_len: u64,
    /// Bytes the header itself occupies (2 to 14).
    pub header_len: usize,
}

/// Parses the frame header at the front of `buf`.
///
/// Returns `Ok(None)` while the header is incomplete. Rules that need only the bytes already
/// present are checked at once, so a bad first byte fails without waiting for more: RSV2 or RSV3
/// set (no extension defines them), reserved opcodes, fragmented or over-long control frames,
/// and a 64-bit length with its top bit set are [`WsError::Protocol`]. Non-minimal length
/// encodings are accepted. Masking rules and RSV1 (whether permessage-deflate was negotiated)
/// are left to the decoder.
pub fn parse_frame_header(buf: &[u8]) -> Result<Option<FrameHeader>, WsError> {
    let Some(&b0) = buf.first() else {
        return Ok(None);
    };
    if b0 & 0x30 != 0 {
        return Err(WsError::Protocol(
            "RSV2 or RSV3 set without a negotiated extension",
        ));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = OpCode::try_from(b0 & 0x0f)?;
    if opcode.is_control() && !fin {
        return Err(WsError::Protocol("fragmented control frame"));
    }
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    let len7 = b1 & 0x7f;
    if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
        return Err(WsError::Protocol("control frame payload over 125 bytes"));
    }
    let (payload_len, len_end) = match len7 {
        126 => match array::<2>(buf, 2) {
            Some(bytes) => (u64::from(u16::from_be_bytes(bytes)), 4),
            None => return Ok(None),
        },
        127 => match array::<8>(buf, 2) {
            Some(bytes) => {
                let len = u64::from_be_bytes(bytes);
                if len >> 63 != 0 {
                    return Err(WsError::Protocol(
                        "64-bit payload length has its top bit set",
                    ));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    let (mask, header_len) = if b1 & 0x80 != 0 {
        match array::<4>(buf, len_end) {
            Some(key) => (Some(key), len_end + 4),
            None => return Ok(None),
        }
    } else {
        (None, len_end)
    };
    Ok(Some(FrameHeader {
        fin,
        rsv1: b0 & RSV1 != 0,
        opcode,
        mask,
        payload_len,
        header_len,
    }))
}

/// Copies `N` bytes of `buf` starting at `at`, or `None` if they have not all arrived.
fn array<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Bytes a frame header takes for a payload of `payload_len` bytes: 2, plus 2 or 8 for the
/// extended length (payloads of 126+ and 65536+ bytes), plus 4 when masked.
pub fn frame_header_len(payload_len: usize, masked: bool) -> usize {
    let len_bytes = match payload_len {
        0..=125 => 0,
        126..=0xffff => 2,
        _ => 8,
    };
    2 + len_bytes + if masked { 4 } else { 0 }
}

/// Appends a frame header with the minimal length encoding. RSV bits are zero.
///
/// A `mask` sets the MASK bit and writes the key; the caller masks the payload itself (see
/// [`apply_mask`]). Control frames must be final and at most [`MAX_CONTROL_PAYLOAD`] bytes; this
/// writer does not police that.
pub fn write_frame_header(
    out: &mut Vec<u8>,
    opcode: OpCode,
    fin: bool,
    payload_len: usize,
    mask: Option<[u8; 4]>,
) {
    let b0 = if fin { 0x80 } else { 0 } | u8::from(opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload_len {
        0..=125 => out.extend_from_slice(&[b0, mask_bit | payload_len as u8]),
        126..=0xffff => {
            out.extend_from_slice(&[b0, mask_bit | 126]);
            out.extend_from_slice(&(payload_len as u16).to_be_bytes());
        }
        _ => {
            out.extend_from_slice(&[b0, mask_bit | 127]);
            out.extend_from_slice(&(payload_len as u64).to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
}

/// Room to leave in front of a payload that [`frame_in_place`] will frame: the longest header
/// of an unmasked frame.
pub const MAX_SERVER_HEADER: usize = 10;

/// Frames, without copying, a payload written into `buf[MAX_SERVER_HEADER..]`: writes the
/// final, unmasked header into the reserved room right before the payload and returns the index
/// where the frame starts. Lets encoders write straight into one buffer before the payload's
/// length is known.
pub fn frame_in_place(buf: &mut [u8], opcode: OpCode) -> usize {
    let len = buf.len().saturating_sub(MAX_SERVER_HEADER);
    let start = MAX_SERVER_HEADER - frame_header_len(len, false);
    let b0 = 0x80 | u8::from(opcode);
    if let Some(room) = buf.get_mut(start..MAX_SERVER_HEADER) {
        match len {
            0..=125 => room.copy_from_slice(&[b0, len as u8]),
            126..=0xffff => {
                let l = (len as u16).to_be_bytes();
                room.copy_from_slice(&[b0, 126, l[0], l[1]]);
            }
            _ => {
                room[0] = b0;
                room[1] = 127;
                room[2..].copy_from_slice(&(len as u64).to_be_bytes());
            }
        }
    }
    start
}

/// Appends one final, unmasked frame: what a server sends.
pub fn encode_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    out.reserve(frame_header_len(payload.len(), false) + payload.len());
    write_frame_header(out, opcode, true, payload.len(), None);
    out.extend_from_slice(payload);
}

/// Appends one final frame masked with `mask`: what a client sends. The key must come from a
/// strong random source for each frame (RFC 6455 §5.3); choosing it is the caller's job.
pub fn encode_masked_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8], mask: [u8; 4]) {
    out.reserve(frame_header_len(payload.len(), true) + payload.len());
    write_frame_header(out, opcode, true, payload.len(), Some(mask));
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask, 0);
}

#[cfg(test)]
mod tests {
    #[test]
    fn frame_in_place_matches_encode_frame() {
        for len in [0usize, 1, 125, 126, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut want = Vec::new();
            super::encode_frame(&mut want, super::OpCode::Binary, &payload);
            let mut buf = vec![0u8; super::MAX_SERVER_HEADER];
            buf.extend_from_slice(&payload);
            let start = super::frame_in_place(&mut buf, super::OpCode::Binary);
            assert_eq!(&buf[start..], &want[..], "length {len}");
        }
    }

    use super::*;

    #[test]
    fn opcode_round_trips_and_rejects_reserved() {
        for op in [
            OpCode::Continuation,
            OpCode::Text,
            OpCode::Binary,
            OpCode::Close,
            OpCode::Ping,
            OpCode::Pong,
        ] {
            assert_eq!(OpCode::try_from(u8::from(op)), Ok(op));
        }
        for reserved in (3..=7).chain(11..=15).chain([16, 0xff]) {
            assert!(matches!(
                OpCode::try_from(reserved),
                Err(WsError::Protocol(_))
            ));
        }
    }

    #[test]
    fn header_needs_all_its_bytes() {
        let frame = [0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4];
        for len in 0..frame.len() {
            assert_eq!(parse_frame_header(&frame[..len]), Ok(None), "len {len}");
        }
        let header = parse_frame_header(&frame).unwrap().unwrap();
        assert_eq!(
            header,
            FrameHeader {
                fin: true,
                rsv1: false,
                opcode: OpCode::Binary,
                mask: Some([1, 2, 3, 4]),
                payload_len: 256,
                header_len: 8,
            }
        );
    }

    #[test]
    fn bad_first_byte_fails_before_the_rest_arrives() {
        for b0 in [0xA1, 0x91, 0xE1] {
            assert!(matches!(
                parse_frame_header(&[b0]),
                Err(WsError::Protocol(_))
            ));
        }
        assert!(parse_frame_header(&[0x83]).is_err());
        assert!(parse_frame_header(&[0x09]).is_err());
    }

    #[test]
    fn control_frame_length_limit() {
        assert!(parse_frame_header(&[0x89, 125]).unwrap().is_some());
        assert!(parse_frame_header(&[0x89, 126]).is_err());
        assert!(parse_frame_header(&[0x8A, 127]).is_err());
    }

    #[test]
    fn sixty_four_bit_length_top_bit_is_refused() {
        let mut frame = vec![0x82, 0x7F];
        frame.extend_from_slice(&(1u64 << 63).to_be_bytes());
        assert!(matches!(
            parse_frame_header(&frame),
            Err(WsError::Protocol(_))
        ));
        let mut frame = vec![0x82, 0x7F];
        frame.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
        assert_eq!(
            parse_frame_header(&frame).unwrap().unwrap().payload_len,
            u64::MAX >> 1
        );
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        let header = parse_frame_header(&[0x81, 0x7E, 0x00, 0x05])
            .unwrap()
            .unwrap();
        assert_eq!((header.payload_len, header.header_len), (5, 4));
        let header = parse_frame_header(&[0x81, 0x7F, 0, 0, 0, 0, 0, 0, 0, 5])
            .unwrap()
            .unwrap();
        assert_eq!((header.payload_len, header.header_len), (5, 10));
    }

    #[test]
    fn header_lengths_match_what_is_written() {
        for len in [0, 1, 125, 126, 127, 0xffff, 0x1_0000, 1 << 20] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let mut out = Vec::new();
                write_frame_header(&mut out, OpCode::Binary, true, len, mask);
                assert_eq!(out.len(), frame_header_len(len, mask.is_some()));
                let header = parse_frame_header(&out).unwrap().unwrap();
                assert_eq!(header.payload_len, len as u64);
                assert_eq!(header.header_len, out.len());
                assert_eq!(header.mask, mask);
            }
        }
    }

    #[test]
    fn golden_server_frames() {
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Text, b"Hello");
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);

        out.clear();
        write_frame_header(&mut out, OpCode::Text, false, 3, None);
        out.extend_from_slice(b"Hel");
        write_frame_header(&mut out, OpCode::Continuation, true, 2, None);
        out.extend_from_slice(b"lo");
        assert_eq!(out, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);

        out.clear();
        encode_frame(&mut out, OpCode::Binary, &[0xAB; 256]);
        assert_eq!(out[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(out.len(), 4 + 256);

        out.clear();
        encode_frame(&mut out, OpCode::Binary, &vec![0xCD; 65536]);
        assert_eq!(
            out[..10],
            [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]
        );
        assert_eq!(out.len(), 10 + 65536);
    }

    #[test]
    fn golden_masked_frames() {
        let mut out = Vec::new();
        encode_masked_frame(&mut out, OpCode::Text, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            out,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        out.clear();
        encode_masked_frame(&mut out, OpCode::Pong, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            out,
            [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }
}
