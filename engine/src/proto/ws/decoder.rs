//! The frame decoder: validates each frame, unmasks it in place and reassembles fragments.

use super::close::{parse_close_payload, CloseFrame};
use super::deflate::Inflater;
use super::frame::{parse_frame_header, FrameHeader, OpCode};
use super::mask::apply_mask;
use super::utf8::IncrementalUtf8;
use super::{Role, WsError};

/// Reassembly capacity kept between messages; a larger buffer is freed once its message has been
/// delivered, so one big message does not pin memory for the connection's lifetime.
const RETAINED_CAPACITY: usize = 64 * 1024;

/// Largest compressed frame accepted for messages limited to `max_payload` inflated bytes:
/// DEFLATE can grow incompressible data by 5 bytes per 64 KiB stored block, so a message of
/// `max_payload` bytes always fits.
pub fn compressed_limit(max_payload: usize) -> usize {
    max_payload.saturating_add(max_payload / 8192 + 64)
}

/// A complete message. Text payloads are already UTF-8 validated. Data payloads are mutable (the
/// unmasking happened in place; a raw WebSocket handler may reuse the buffer).
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message; the bytes are valid UTF-8.
    Text(&'a mut [u8]),
    /// A binary message.
    Binary(&'a mut [u8]),
    /// A ping; answer with a pong carrying the same bytes.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame; `None` when it carried no status code.
    Close(Option<CloseFrame<'a>>),
}

/// What one [`Decoder::decode`] call produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Bytes of the input the frame used; drain them before the next call. Zero means the frame
    /// is incomplete and the input was left untouched.
    pub consumed: usize,
    /// The message the frame completed, if any.
    pub message: Option<Message<'a>>,
}

impl Decoded<'_> {
    const NEED_MORE: Self = Decoded {
        consumed: 0,
        message: None,
    };
}

/// Decodes frames one at a time and reassembles fragmented messages.
///
/// Control frames are limited to 125 bytes by the protocol and are not counted against
/// `max_payload`. After an error the connection must be failed; the decoder is not meant to be
/// reused (it stays panic-free if it is).
#[derive(Debug)]
pub struct Decoder {
    role: Role,
    max_payload: usize,
    /// Payload of the fragmented message in progress (or just delivered, see `delivered`).
    fragments: Vec<u8>,
    /// Opcode of the fragmented message in progress: `Text` or `Binary`.
    fragment_opcode: Option<OpCode>,
    utf8: IncrementalUtf8,
    /// `fragments` holds a message handed out by the last call; clear it on the next one.
    delivered: bool,
    /// Bytes the last incomplete frame still needed, as far as its header told.
    pending: usize,
    /// permessage-deflate's decompressor, when the extension was negotiated.
    inflater: Option<Inflater>,
    /// The message in progress is compressed: its fragments are inflated into `fragments`.
    compressed: bool,
}

impl Decoder {
    /// Creates a decoder for our side of the connection. `max_payload` is the largest data
    /// message (after reassembly) accepted; anything larger fails with [`WsError::TooBig`].
    pub fn new(role: Role, max_payload: usize) -> Self {
        Self {
            role,
            max_payload,
            fragments: Vec::new(),
            fragment_opcode: None,
            utf8: IncrementalUtf8::default(),
            delivered: false,
            pending: 0,
            inflater: None,
            compressed: false,
        }
    }

    /// Accepts compressed messages (RSV1 set on their first frame), inflated with `inflater`:
    /// `max_payload` then limits the inflated size, and a compressed frame may be at most
    /// [`compressed_limit`] of it.
    pub fn with_inflater(mut self, inflater: Inflater) -> Self {
        self.inflater = Some(inflater);
        self
    }

    /// Decodes at most one frame from the front of `buf`.
    ///
    /// - Incomplete frame: `consumed == 0`, no message, and `buf` is untouched; call again with
    ///   more bytes appended. A header that already breaks a rule, or announces a message over
    ///   `max_payload`, fails at once instead of waiting for its payload.
    /// - A complete unfragmented data frame or a control frame: unmasked in place, and the
    ///   message borrows `buf`.
    /// - A non-final fragment: its payload is copied into the decoder; no message.
    /// - The final fragment: the message borrows the decoder's reassembly buffer.
    /// - A compressed message's frames are inflated into the reassembly buffer, which the
    ///   message borrows.
    /// - Control frames between fragments are returned at once.
    ///
    /// The result borrows both `self` and `buf`: copy out `consumed`, handle the message, then
    /// drain. On error, fail the connection with [`WsError::close_code`].
    pub fn decode<'a>(&'a mut self, buf: &'a mut [u8]) -> Result<Decoded<'a>, WsError> {
        if self.delivered {
            self.release_message();
        }
        self.pending = 0;
        let Some(header) = parse_frame_header(buf)? else {
            return Ok(Decoded::NEED_MORE);
        };
        self.check_header(&header)?;
        // `check_header` bounded the payload by `max_payload` or 125, so these cannot overflow;
        // the checked forms keep that true even if a caller passes `usize::MAX`.
        let payload_len = usize::try_from(header.payload_len).map_err(|_| WsError::TooBig)?;
        let frame_len = header
            .header_len
            .checked_add(payload_len)
            .ok_or(WsError::TooBig)?;
        let available = buf.len();
        let Some(payload) = buf.get_mut(header.header_len..frame_len) else {
            self.pending = frame_len.saturating_sub(available);
            return Ok(Decoded::NEED_MORE);
        };
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }

        let message = match header.opcode {
            OpCode::Ping => Some(Message::Ping(payload)),
            OpCode::Pong => Some(Message::Pong(payload)),
            OpCode::Close => Some(Message::Close(parse_close_payload(payload)?)),
            OpCode::Text | OpCode::Binary if header.rsv1 => {
                self.fragment_opcode = Some(header.opcode);
                self.compressed = true;
                self.append_fragment(payload, header.fin)?
            }
            OpCode::Text if header.fin => {
                std::str::from_utf8(payload).map_err(|_| WsError::InvalidUtf8)?;
                Some(Message::Text(payload))
            }
            OpCode::Binary if header.fin => Some(Message::Binary(payload)),
            OpCode::Text | OpCode::Binary => {
                self.fragment_opcode = Some(header.opcode);
                self.append_fragment(payload, false)?;
                None
            }
            OpCode::Continuation => self.append_fragment(payload, header.fin)?,
        };
        Ok(Decoded {
            consumed: frame_len,
            message,
        })
    }

    /// Bytes held for the fragmented message in progress (the reassembly buffer); 0 between
    /// messages.
    pub fn buffered_fragment_bytes(&self) -> usize {
        if self.delivered {
            0
        } else {
            self.fragments.len()
        }
    }

    /// Bytes the frame at the front of the last buffer passed to [`decode`](Self::decode) still
    /// needs, as announced by its header; lets the caller reserve room. 0 when that call completed
    /// a frame or had not yet seen a whole header.
    pub fn pending_frame_bytes(&self) -> usize {
        self.pending
    }

    /// Applies the rules that depend on our role, the fragmentation state and `max_payload`.
    fn check_header(&self, header: &FrameHeader) -> Result<(), WsError> {
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(WsError::Protocol("unmasked frame from client")),
            (Role::Client, true) => return Err(WsError::Protocol("masked frame from server")),
            _ => {}
        }
        if header.rsv1 {
            match header.opcode {
                _ if self.inflater.is_none() => {
                    return Err(WsError::Protocol("RSV1 set without permessage-deflate"))
                }
                OpCode::Text | OpCode::Binary => {}
                _ => {
                    return Err(WsError::Protocol(
                        "RSV1 set on a control or continuation frame",
                    ))
                }
            }
        }
        let compressed = header.rsv1 || (header.opcode == OpCode::Continuation && self.compressed);
        let already = match (header.opcode, self.fragment_opcode) {
            (OpCode::Continuation, None) => {
                return Err(WsError::Protocol("continuation without a started message"))
            }
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(WsError::Protocol("new message inside a fragmented message"))
            }
            (OpCode::Continuation, Some(_)) => self.fragments.len(),
            (OpCode::Text | OpCode::Binary, None) => 0,
            (OpCode::Close | OpCode::Ping | OpCode::Pong, _) => return Ok(()),
        };
        // A compressed frame's own size says little of its message's; the inflater counts that.
        let limit = if compressed {
            compressed_limit(self.max_payload)
        } else {
            self.max_payload.saturating_sub(already)
        };
        let limit = u64::try_from(limit).unwrap_or(u64::MAX);
        if header.payload_len > limit {
            return Err(WsError::TooBig);
        }
        Ok(())
    }

    /// Adds a fragment's payload to the reassembly buffer. On the final fragment returns the
    /// whole message, borrowing that buffer.
    fn append_fragment(
        &mut self,
        payload: &[u8],
        fin: bool,
    ) -> Result<Option<Message<'_>>, WsError> {
        match &mut self.inflater {
            Some(inflater) if self.compressed => {
                inflater.inflate(payload, &mut self.fragments, self.max_payload)?;
                if fin {
                    inflater.finish(&mut self.fragments, self.max_payload)?;
                    self.compressed = false;
                }
            }
            _ => self.fragments.extend_from_slice(payload),
        }
        let opcode = if fin {
            self.fragment_opcode.take()
        } else {
            self.fragment_opcode
        };
        if opcode == Some(OpCode::Text) {
            if fin {
                self.utf8.finish(&self.fragments)?;
            } else {
                self.utf8.feed(&self.fragments)?;
            }
        }
        if !fin {
            return Ok(None);
        }
        self.delivered = true;
        Ok(match opcode {
            Some(OpCode::Text) => Some(Message::Text(&mut self.fragments)),
            _ => Some(Message::Binary(&mut self.fragments)),
        })
    }

    /// Drops the message handed out by the previous call.
    fn release_message(&mut self) {
        if self.fragments.capacity() > RETAINED_CAPACITY {
            self.fragments = Vec::new();
        } else {
            self.fragments.clear();
        }
        self.utf8.reset();
        self.delivered = false;
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::write_frame_header;
    use super::super::CloseCode;
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A frame as a client sends it: masked with `KEY`.
    fn client_frame(opcode: OpCode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame_header(&mut out, opcode, fin, payload.len(), Some(KEY));
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], KEY, 0);
        out
    }

    fn server() -> Decoder {
        Decoder::new(Role::Server, 1 << 20)
    }

    fn err(dec: &mut Decoder, bytes: &[u8]) -> WsError {
        dec.decode(&mut bytes.to_vec()).unwrap_err()
    }

    fn protocol_error(dec: &mut Decoder, bytes: &[u8]) {
        let e = err(dec, bytes);
        assert_eq!(
            e.close_code(),
            CloseCode::PROTOCOL_ERROR,
            "{e:?} for {bytes:x?}"
        );
    }

    #[test]
    fn rfc_single_frame_unmasked_text_client_role() {
        let mut dec = Decoder::new(Role::Client, 1024);
        let mut buf = vec![0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let d = dec.decode(&mut buf).unwrap();
        assert_eq!(d.consumed, 7);
        assert!(matches!(d.message, Some(Message::Text(t)) if t == b"Hello"));
    }

    #[test]
    fn rfc_single_frame_masked_text_server_role() {
        let mut dec = server();
        let mut buf = vec![
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let d = dec.decode(&mut buf).unwrap();
        assert_eq!(d.consumed, 11);
        assert!(matches!(d.message, Some(Message::Text(t)) if t == b"Hello"));
        assert_eq!(&buf[6..], b"Hello", "unmasked in place");
    }

    #[test]
    fn rfc_fragmented_unmasked_text() {
        let mut dec = Decoder::new(Role::Client, 1024);
        let mut first = vec![0x01, 0x03, 0x48, 0x65, 0x6c];
        let d = dec.decode(&mut first).unwrap();
        assert_eq!((d.consumed, d.message), (5, None));
        assert_eq!(dec.buffered_fragment_bytes(), 3);
        let mut last = vec![0x80, 0x02, 0x6c, 0x6f];
        let d = dec.decode(&mut last).unwrap();
        assert_eq!(d.consumed, 4);
        assert!(matches!(d.message, Some(Message::Text(t)) if t == b"Hello"));
        assert_eq!(dec.buffered_fragment_bytes(), 0);
    }

    #[test]
    fn rfc_unmasked_ping_and_masked_pong() {
        let mut client = Decoder::new(Role::Client, 1024);
        let mut ping = vec![0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        let d = client.decode(&mut ping).unwrap();
        assert_eq!(d.consumed, 7);
        assert_eq!(d.message, Some(Message::Ping(b"Hello")));

        let mut pong = vec![
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut dec = server();
        let d = dec.decode(&mut pong).unwrap();
        assert_eq!(d.consumed, 11);
        assert_eq!(d.message, Some(Message::Pong(b"Hello")));
    }

    #[test]
    fn rfc_256_byte_and_64_kib_binary() {
        for (len, header) in [
            (256usize, &[0x82u8, 0x7E, 0x01, 0x00][..]),
            (65536, &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0][..]),
        ] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut buf = header.to_vec();
            buf.extend_from_slice(&payload);
            let mut dec = Decoder::new(Role::Client, 1 << 20);
            let d = dec.decode(&mut buf).unwrap();
            assert_eq!(d.consumed, header.len() + len);
            assert!(matches!(d.message, Some(Message::Binary(b)) if *b == payload[..]));
        }
    }

    #[test]
    fn incomplete_frame_leaves_buffer_untouched() {
        let frame = client_frame(OpCode::Binary, true, &[7u8; 300]);
        let mut dec = server();
        for len in 0..frame.len() {
            let mut buf = frame[..len].to_vec();
            assert_eq!(dec.decode(&mut buf).unwrap(), Decoded::NEED_MORE);
            assert_eq!(buf, frame[..len], "prefix of {len} bytes was modified");
            let expected = if len < 8 { 0 } else { frame.len() - len };
            assert_eq!(dec.pending_frame_bytes(), expected, "len {len}");
        }
        let mut buf = frame.clone();
        buf.extend_from_slice(&[0x81]);
        let d = dec.decode(&mut buf).unwrap();
        assert_eq!(d.consumed, frame.len());
        assert!(matches!(d.message, Some(Message::Binary(b)) if *b == [7u8; 300]));
        assert_eq!(dec.pending_frame_bytes(), 0);
    }

    #[test]
    fn masking_must_match_the_role() {
        protocol_error(&mut server(), &[0x81, 0x02, b'h', b'i']);
        let masked = client_frame(OpCode::Text, true, b"hi");
        protocol_error(&mut Decoder::new(Role::Client, 1024), &masked);
    }

    #[test]
    fn rsv_bits_and_reserved_opcodes_are_refused() {
        for b0 in [0xC1, 0xA1, 0x91] {
            protocol_error(&mut server(), &[b0, 0x80, 0, 0, 0, 0]);
        }
        for op in (3..=7).chain(11..=15) {
            protocol_error(&mut server(), &[0x80 | op, 0x80, 0, 0, 0, 0]);
        }
    }

    #[test]
    fn control_frame_rules() {
        let big_ping = client_frame(OpCode::Ping, true, &[0; 126]);
        protocol_error(&mut server(), &big_ping);
        let fragmented_ping = client_frame(OpCode::Ping, false, b"x");
        protocol_error(&mut server(), &fragmented_ping);
        protocol_error(&mut server(), &client_frame(OpCode::Close, true, &[0x03]));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 2000, 5000] {
            let close = client_frame(OpCode::Close, true, &code.to_be_bytes());
            protocol_error(&mut server(), &close);
        }
        let bad_reason = client_frame(OpCode::Close, true, &[0x03, 0xE8, 0xC3, 0x28]);
        assert_eq!(err(&mut server(), &bad_reason), WsError::InvalidUtf8);
    }

    #[test]
    fn close_frames_decode() {
        let mut buf = client_frame(OpCode::Close, true, b"");
        let mut dec = server();
        let d = dec.decode(&mut buf).unwrap();
        assert_eq!(d.message, Some(Message::Close(None)));

        let mut buf = client_frame(OpCode::Close, true, b"\x0b\xb8done");
        let mut dec = server();
        let d = dec.decode(&mut buf).unwrap();
        assert_eq!(
            d.message,
            Some(Message::Close(Some(CloseFrame {
                code: CloseCode(3000),
                reason: "done"
            })))
        );
    }

    #[test]
    fn fragmentation_order_rules() {
        protocol_error(
            &mut server(),
            &client_frame(OpCode::Continuation, true, b"x"),
        );

        for second in [OpCode::Text, OpCode::Binary] {
            let mut dec = server();
            let mut first = client_frame(OpCode::Binary, false, b"ab");
            assert_eq!(dec.decode(&mut first).unwrap().message, None);
            protocol_error(&mut dec, &client_frame(second, true, b"cd"));
        }
    }

    #[test]
    fn control_frames_interleave_with_fragments() {
        let mut dec = server();
        let mut stream = client_frame(OpCode::Text, false, b"he");
        stream.extend(client_frame(OpCode::Ping, true, b"p"));
        stream.extend(client_frame(OpCode::Continuation, false, b"l"));
        stream.extend(client_frame(OpCode::Pong, true, b""));
        stream.extend(client_frame(OpCode::Continuation, true, b"lo"));

        let mut at = 0;
        let mut seen = Vec::new();
        while at < stream.len() {
            let d = dec.decode(&mut stream[at..]).unwrap();
            assert!(d.consumed > 0);
            at += d.consumed;
            match d.message {
                Some(Message::Ping(p)) => seen.push(format!("ping {p:?}")),
                Some(Message::Pong(p)) => seen.push(format!("pong {p:?}")),
                Some(Message::Text(t)) => seen.push(format!("text {}", String::from_utf8_lossy(t))),
                Some(other) => panic!("unexpected {other:?}"),
                None => {}
            }
        }
        assert_eq!(seen, ["ping [112]", "pong []", "text hello"]);
    }

    #[test]
    fn top_bit_of_64_bit_length_is_refused() {
        let mut frame = vec![0x82, 0xFF];
        frame.extend_from_slice(&(1u64 << 63).to_be_bytes());
        frame.extend_from_slice(&KEY);
        protocol_error(&mut server(), &frame);
    }

    #[test]
    fn non_minimal_length_is_accepted() {
        let mut frame = vec![0x82, 0xFE, 0x00, 0x03];
        frame.extend_from_slice(&KEY);
        let start = frame.len();
        frame.extend_from_slice(b"abc");
        apply_mask(&mut frame[start..], KEY, 0);
        let mut dec = server();
        let d = dec.decode(&mut frame).unwrap();
        assert!(matches!(d.message, Some(Message::Binary(b)) if b == b"abc"));
    }

    #[test]
    fn oversized_frame_is_refused_from_its_header() {
        let mut header = vec![0x82, 0xFF];
        header.extend_from_slice(&(1u64 << 62).to_be_bytes());
        header.extend_from_slice(&KEY);
        assert_eq!(err(&mut server(), &header), WsError::TooBig);

        let mut dec = Decoder::new(Role::Server, 10);
        let header = &client_frame(OpCode::Text, true, &[b'a'; 11])[..6];
        assert_eq!(err(&mut dec, header), WsError::TooBig);
        let mut exact = client_frame(OpCode::Text, true, &[b'a'; 10]);
        assert!(dec.decode(&mut exact).unwrap().message.is_some());
    }

    #[test]
    fn reassembled_size_is_limited() {
        let mut dec = Decoder::new(Role::Server, 10);
        let mut first = client_frame(OpCode::Binary, false, &[0; 6]);
        dec.decode(&mut first).unwrap();
        let second = client_frame(OpCode::Continuation, true, &[0; 5]);
        assert_eq!(err(&mut dec, &second[..6]), WsError::TooBig);
    }

    #[test]
    fn invalid_utf8_text_is_refused() {
        let bad = client_frame(OpCode::Text, true, b"\xce\xba\xff");
        assert_eq!(err(&mut server(), &bad), WsError::InvalidUtf8);
    }

    #[test]
    fn utf8_is_checked_across_fragments_and_fails_fast() {
        let mut dec = server();
        let mut a = client_frame(
            OpCode::Text,
            false,
            "x\u{1D11E}".as_bytes().get(..3).unwrap(),
        );
        assert_eq!(dec.decode(&mut a).unwrap().message, None);
        let mut b = client_frame(OpCode::Continuation, true, &"\u{1D11E}".as_bytes()[2..]);
        let d = dec.decode(&mut b).unwrap();
        assert!(matches!(d.message, Some(Message::Text(t)) if t == "x\u{1D11E}".as_bytes()));

        let mut dec = server();
        let mut first = client_frame(OpCode::Text, false, b"ok\xff");
        assert_eq!(dec.decode(&mut first).unwrap_err(), WsError::InvalidUtf8);

        let mut dec = server();
        let mut first = client_frame(OpCode::Text, false, b"ok\xe2\x82");
        dec.decode(&mut first).unwrap();
        let last = client_frame(OpCode::Continuation, true, b"");
        assert_eq!(err(&mut dec, &last), WsError::InvalidUtf8);
    }

    #[test]
    fn binary_fragments_skip_utf8_checks() {
        let mut dec = server();
        let mut first = client_frame(OpCode::Binary, false, b"\xff");
        dec.decode(&mut first).unwrap();
        let mut last = client_frame(OpCode::Continuation, true, b"\xfe");
        let d = dec.decode(&mut last).unwrap();
        assert!(matches!(d.message, Some(Message::Binary(b)) if b == b"\xff\xfe"));
    }

    #[test]
    fn big_reassembly_buffer_is_released_after_delivery() {
        let mut dec = server();
        let big = vec![1u8; RETAINED_CAPACITY + 1];
        let mut first = client_frame(OpCode::Binary, false, &big);
        dec.decode(&mut first).unwrap();
        let mut last = client_frame(OpCode::Continuation, true, b"");
        dec.decode(&mut last).unwrap();
        let mut ping = client_frame(OpCode::Ping, true, b"");
        dec.decode(&mut ping).unwrap();
        assert_eq!(dec.fragments.capacity(), 0);
        assert_eq!(dec.buffered_fragment_bytes(), 0);
    }
}
