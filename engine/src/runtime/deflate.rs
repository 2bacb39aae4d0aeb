//! permessage-deflate on the send path: compressing one connection's message, and a frame
//! shared by many connections (a broadcast) compressed once per window size for all of them.
//! A receiver whose compressor keeps its context gets that frame too, made without context,
//! and its compressor forgets what it sent before: compressing a broadcast once per receiver
//! cost 20 times the CPU per delivery of a plain broadcast (benches/RESULTS.md), and RFC 7692
//! lets a sender do without its context whenever it likes. The price is a broadcast compressed
//! without the history of earlier messages (3.0x instead of 4.3x on 2 KiB of chat JSON).

use bytes::Bytes;

use super::conn::Conn;
use super::service::LARGE_FRAME;
use crate::proto::ws;

/// The shared frame most recently compressed, one result per window size: a broadcast reaches a
/// worker's members one after another, so one frame is all that needs remembering.
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
/// and its payload has at least `threshold` bytes: made once per window size without context
/// (kept in `cache`); a compressor that keeps its context forgets it, as the peer now holds a
/// message it did not make. False (nothing queued) when it goes as it is.
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
    let bits = deflater.window_bits();
    let done = cache.get_or_make(frame, bits, || {
        compressed_frame(&mut ws::Deflater::new(bits, true), h.opcode, payload)
    });
    deflater.forget_context();
    c.outq.push_shared(done);
    true
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
    use crate::proto::ws::{Decoder, Message, Role};
    use crate::runtime::sock::Sock;

    /// A connection that negotiated permessage-deflate with context takeover and 15 bits.
    fn conn(listener: &std::net::TcpListener) -> Conn {
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (sock, _) = listener.accept().unwrap();
        let mut c = Conn::new(Sock::Os(sock), 1, None);
        c.deflate = Some(Box::new(ws::Deflater::new(15, false)));
        c
    }

    /// Everything queued on `c`.
    fn queued(c: &mut Conn) -> Vec<Bytes> {
        let mut out = Vec::new();
        c.outq.batch(&mut out, 64);
        out
    }

    /// Receivers that keep their context share one compressed broadcast, and what each
    /// compresses itself afterwards still inflates in the context the peer keeps.
    #[test]
    fn a_broadcast_is_compressed_once_for_receivers_that_keep_their_context() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut a, mut b) = (conn(&listener), conn(&listener));
        let text = |n: usize| {
            (0..n)
                .map(|i| format!("{{\"user\":\"u{}\",\"text\":\"hello there\"}}", i % 7))
                .collect::<String>()
        };
        let (first, news, second) = (text(40), text(60), text(50));
        let mut plain = Vec::new();
        ws::encode_frame(&mut plain, ws::OpCode::Text, news.as_bytes());
        let shared = Bytes::from(plain);
        let mut cache = SharedDeflate::default();
        for c in [&mut a, &mut b] {
            assert!(push_compressed(c, ws::OpCode::Text, first.as_bytes(), 0));
            assert!(push_shared_compressed(c, &shared, 0, &mut cache));
            assert!(push_compressed(c, ws::OpCode::Text, second.as_bytes(), 0));
        }
        let (qa, qb) = (queued(&mut a), queued(&mut b));
        assert_eq!(qa.len(), 3);
        assert_eq!(
            qa[1].as_ptr(),
            qb[1].as_ptr(),
            "one compressed broadcast, shared"
        );
        assert!(qa[1].len() < news.len() / 3, "{}", qa[1].len());
        let mut wire: Vec<u8> = qa.iter().flat_map(|b| b.iter().copied()).collect();
        let mut dec =
            Decoder::new(Role::Client, 1 << 20).with_inflater(ws::Inflater::new(15, false));
        let mut got = Vec::new();
        let mut pos = 0;
        while pos < wire.len() {
            let d = dec.decode(&mut wire[pos..]).unwrap();
            pos += d.consumed;
            if let Some(Message::Text(t)) = d.message {
                got.push(String::from_utf8(t.to_vec()).unwrap());
            }
        }
        assert_eq!(got, [first, news, second]);
    }

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
