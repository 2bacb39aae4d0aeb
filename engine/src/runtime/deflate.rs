//! permessage-deflate on the send path: compressing one connection's message, and a frame
//! shared by many connections (a broadcast) compressed once for all those whose compressor
//! keeps no context, since their output depends on the message alone.

use bytes::Bytes;

use super::conn::Conn;
use super::service::LARGE_FRAME;
use crate::proto::ws;

/// The shared frame most recently compressed for connections without context takeover, one
/// result per window size: a broadcast reaches a worker's members one after another, so one
/// frame is all that needs remembering.
#[derive(Default)]
pub(crate) struct SharedDeflate {
    /// The plain frame the entries were made from. Holding it keeps its allocation alive, so
    /// no other frame can show up at the same address while it is remembered.
    source: Option<Bytes>,
    /// Compressed frames of `source`, by the window bits they were made with.
    made: Vec<(u8, Bytes)>,
}

impl SharedDeflate {
    /// The compressed frame of `frame` for window size `bits`, made by `make` only the first
    /// time it is asked for.
    fn get_or_make(&mut self, frame: &Bytes, bits: u8, make: impl FnOnce() -> Bytes) -> Bytes {
        let same = self
            .source
            .as_ref()
            .is_some_and(|s| s.as_ptr() == frame.as_ptr() && s.len() == frame.len());
        if !same {
            self.source = Some(frame.clone());
            self.made.clear();
        }
        if let Some((_, done)) = self.made.iter().find(|(b, _)| *b == bits) {
            return done.clone();
        }
        let done = make();
        self.made.push((bits, done.clone()));
        done
    }
}

/// Queues `payload` as one compressed data frame when `c` negotiated permessage-deflate and
/// the payload has at least `threshold` bytes; false (nothing queued) otherwise. Control
/// frames are never compressed (RFC 7692 §6.1).
pub(crate) fn push_compressed(
    c: &mut Conn,
    opcode: ws::OpCode,
    payload: &[u8],
    threshold: usize,
) -> bool {
    let Some(deflater) = c.deflate.as_mut() else {
        return false;
    };
    if opcode.is_control() || payload.len() < threshold {
        return false;
    }
    let frame = compressed_frame(deflater, opcode, payload);
    if frame.len() > LARGE_FRAME {
        c.outq.push_shared(frame);
    } else {
        c.outq.push_copy(&frame);
    }
    true
}

/// Queues the shared, already framed `frame` compressed when `c` negotiated permessage-deflate
/// and its payload has at least `threshold` bytes: made once per window size for connections
/// without context takeover (kept in `cache`), by each connection's own compressor otherwise.
/// False (nothing queued) when it goes as it is.
pub(crate) fn push_shared_compressed(
    c: &mut Conn,
    frame: &Bytes,
    threshold: usize,
    cache: &mut SharedDeflate,
) -> bool {
    let Some(deflater) = c.deflate.as_mut() else {
        return false;
    };
    let Ok(Some(h)) = ws::parse_frame_header(frame) else {
        return false;
    };
    let payload = &frame[h.header_len.min(frame.len())..];
    let plain_data = h.fin && !h.rsv1 && h.mask.is_none() && !h.opcode.is_control();
    if !plain_data || payload.len() < threshold {
        return false;
    }
    match deflater.stateless_bits() {
        Some(bits) => {
            let done = cache.get_or_make(frame, bits, || {
                compressed_frame(deflater, h.opcode, payload)
            });
            c.outq.push_shared(done);
            true
        }
        None => push_compressed(c, h.opcode, payload, threshold),
    }
}

/// One final server frame, RSV1 set, carrying `payload` compressed by `deflater`.
fn compressed_frame(deflater: &mut ws::Deflater, opcode: ws::OpCode, payload: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(ws::MAX_SERVER_HEADER + payload.len() / 2 + 64);
    frame.resize(ws::MAX_SERVER_HEADER, 0);
    deflater.deflate(payload, &mut frame);
    let start = ws::frame_in_place(&mut frame, opcode);
    frame[start] |= ws::RSV1;
    Bytes::from(frame).slice(start..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_frame_is_compressed_once_per_window_size() {
        let mut cache = SharedDeflate::default();
        let a = Bytes::from(vec![1u8; 2000]);
        let b = Bytes::from(vec![2u8; 2000]);
        let mut made = 0;
        let mut make = |tag: u8| {
            made += 1;
            Bytes::from(vec![tag])
        };
        let first = cache.get_or_make(&a, 15, || make(1));
        let again = cache.get_or_make(&a, 15, || make(2));
        assert_eq!(first.as_ptr(), again.as_ptr(), "the same bytes, shared");
        assert_eq!(cache.get_or_make(&a, 10, || make(3))[..], [3]);
        assert_eq!(cache.get_or_make(&a, 15, || make(4))[..], [1]);
        // A different frame starts over.
        assert_eq!(cache.get_or_make(&b, 15, || make(5))[..], [5]);
        assert_eq!(made, 3);
    }
}
