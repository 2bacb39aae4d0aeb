//! The HTTP long-polling side of a session: packets wait in a queue until the client's next GET
//! takes them as one payload (`\x1e`-separated, binary as `b` + base64; Engine.IO v3 frames them
//! by length instead, see [`Framing`]). At most one GET is parked at a time; it is answered as
//! soon as something is queued.

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::proto::eio::{self, PacketType};
use crate::proto::http::encoding::{self, ContentEncoding};
use crate::runtime::ConnId;

use super::out::Out;
use super::port::Port;

/// Content type of polling payloads, as the reference server sends them.
pub(crate) const PAYLOAD_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";

/// Content type of Engine.IO v3 binary payloads.
const BINARY_CONTENT_TYPE: &str = "application/octet-stream";

/// How a polling session frames its payloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Engine.IO v4: records separated by `0x1e`, binary as `b` + base64.
    #[default]
    V4,
    /// Engine.IO v3: `<length>:<packet>` records, binary as `b4` + base64; with `binary` (the
    /// client did not ask for `b64`), a payload holding a binary message goes out as a binary
    /// payload instead, as the reference's `encodePayload(packets, supportsBinary)` does.
    V3 { binary: bool },
}

/// One polling answer's body.
pub(crate) struct Payload {
    pub bytes: Vec<u8>,
    /// Whether one of its packets allows compression.
    pub compress: bool,
    /// Whether it is an Engine.IO v3 binary payload (`application/octet-stream`).
    pub binary: bool,
}

/// Response headers: names and values, most of them static.
pub(crate) type Headers = Vec<(Cow<'static, str>, Cow<'static, str>)>;

/// A parked GET: the connection and how to answer it.
pub(crate) struct ParkedGet {
    pub conn: ConnId,
    pub keep_alive: bool,
    /// The response headers (content type, CORS...), computed when the request arrived.
    pub headers: Headers,
    /// How the answer may be compressed: what the request's `Accept-Encoding` accepts, `None`
    /// when nothing is or the server's `http_compression` is off.
    pub encoding: Option<ContentEncoding>,
}

#[derive(Default)]
pub(crate) struct Polling {
    queue: VecDeque<Out>,
    bytes: usize,
    /// Bound on `bytes` (the server's `max_buffered`); 0 until set.
    limit: usize,
    overflowed: bool,
    /// Whether a queued packet allows compression (the reference compresses a payload when
    /// one of its packets has the `compress` option).
    compress: bool,
    pub get: Option<ParkedGet>,
    /// The POST whose body is being read.
    pub post: Option<ConnId>,
    framing: Framing,
}

impl Polling {
    pub fn new(limit: usize, framing: Framing) -> Self {
        Polling {
            limit,
            framing,
            ..Polling::default()
        }
    }

    /// Whether this session speaks Engine.IO v3 (its POST bodies are v3 payloads).
    pub fn is_v3(&self) -> bool {
        self.framing != Framing::V4
    }

    /// Queues a packet, allowing its payload to be compressed or not; false (and the session
    /// must end) when the client lets more than the limit pile up.
    pub fn push_with(&mut self, out: Out, compress: bool) -> bool {
        let len = match &out {
            Out::Text(b) | Out::Binary(b) => b.len(),
        };
        self.bytes += len;
        if self.limit > 0 && self.bytes > self.limit {
            self.overflowed = true;
            return false;
        }
        self.queue.push_back(out);
        self.compress |= compress;
        true
    }

    pub fn queued_bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the queue passed its bound.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The queued packets, oldest first.
    pub fn queued(&self) -> impl Iterator<Item = &Out> {
        self.queue.iter()
    }

    /// Takes every queued packet (to move them to a WebSocket after an upgrade).
    pub fn drain(&mut self) -> Vec<Out> {
        self.bytes = 0;
        self.compress = false;
        self.queue.drain(..).collect()
    }

    /// Writes the queued packets as one polling payload and empties the queue.
    pub fn encode(&mut self) -> Payload {
        let mut out = Vec::with_capacity(self.bytes + 4 * self.queue.len());
        let binary = match self.framing {
            Framing::V4 => {
                for (i, p) in self.queue.drain(..).enumerate() {
                    let first = i == 0;
                    match p {
                        Out::Text(b) => {
                            if !first {
                                out.push(eio::RECORD_SEPARATOR);
                            }
                            out.extend_from_slice(&b);
                        }
                        Out::Binary(b) => eio::encode_payload_binary(&mut out, &b, first),
                    }
                }
                false
            }
            Framing::V3 { binary } => {
                let binary = binary && self.queue.iter().any(|p| matches!(p, Out::Binary(_)));
                for p in self.queue.drain(..) {
                    match (binary, p) {
                        (false, Out::Text(b)) => eio::encode_record_v3(&mut out, &b),
                        (false, Out::Binary(b)) => eio::encode_record_base64_v3(&mut out, &b),
                        (true, Out::Text(b)) => eio::encode_binary_record_text(&mut out, &b),
                        (true, Out::Binary(b)) => eio::encode_binary_record_binary(&mut out, &b),
                    }
                }
                binary
            }
        };
        self.bytes = 0;
        Payload {
            bytes: out,
            compress: std::mem::take(&mut self.compress),
            binary,
        }
    }

    /// A payload of the one packet `ty` (no data), framed for this session.
    fn control(&self, ty: PacketType) -> Payload {
        let mut bytes = Vec::with_capacity(3);
        self.append_control(&mut bytes, ty, false);
        Payload {
            bytes,
            compress: false,
            binary: false,
        }
    }

    /// Appends packet `ty` (no data) to payload `out` (a binary one when `binary`).
    fn append_control(&self, out: &mut Vec<u8>, ty: PacketType, binary: bool) {
        match self.framing {
            Framing::V4 => {
                if !out.is_empty() {
                    out.push(eio::RECORD_SEPARATOR);
                }
                out.push(ty.as_byte());
            }
            Framing::V3 { .. } if binary => eio::encode_binary_record_text(out, &[ty.as_byte()]),
            Framing::V3 { .. } => eio::encode_record_v3(out, &[ty.as_byte()]),
        }
    }

    /// Answers the parked GET with everything queued, if there is both.
    pub fn flush(&mut self, cx: &mut dyn Port) {
        if self.queue.is_empty() {
            return;
        }
        if let Some(get) = self.get.take() {
            let payload = self.encode();
            respond(cx, &get, &payload);
        }
    }

    /// Answers the parked GET with a noop (during an upgrade, and when the client closed).
    pub fn answer_all_with_noop(&mut self, cx: &mut dyn Port) {
        if let Some(get) = self.get.take() {
            respond(cx, &get, &self.control(PacketType::Noop));
        }
    }

    /// Answers a parked GET with the close packet (the transport is closing).
    pub fn answer_all_with_close(&mut self, cx: &mut dyn Port) {
        if let Some(get) = self.get.take() {
            respond(cx, &get, &self.control(PacketType::Close));
        }
    }

    /// The session ended. After a server's close (`graceful`), as the reference does, what is
    /// queued goes out first and the close packet after it: a parked GET gets the queued
    /// packets (or `1` when there are none), and whatever is still owed — the queue when no GET
    /// was parked, the close packet — waits for the client's next GET in the returned
    /// [`Owed`]. After an error a parked GET gets what is queued and `1`, and nothing is owed
    /// (the next GET gets 400, as from the reference); after the client's own close, a noop.
    pub fn finish(
        &mut self,
        cx: &mut dyn Port,
        client_closed: bool,
        graceful: bool,
    ) -> Option<Owed> {
        if client_closed {
            self.answer_all_with_noop(cx);
            return None;
        }
        let mut queued = self.encode();
        if !graceful {
            if let Some(get) = self.get.take() {
                self.append_control(&mut queued.bytes, PacketType::Close, queued.binary);
                respond(cx, &get, &queued);
            }
            return None;
        }
        let end = self.control(PacketType::Noop);
        let mut end = end.bytes;
        self.append_control(&mut end, PacketType::Close, false);
        match self.get.take() {
            Some(get) if queued.bytes.is_empty() => {
                respond(cx, &get, &self.control(PacketType::Close));
                None
            }
            Some(get) => {
                respond(cx, &get, &queued);
                Some(Owed { queued: None, end })
            }
            None => Some(Owed {
                queued: (!queued.bytes.is_empty()).then_some(queued),
                end,
            }),
        }
    }
}

/// What an ended polling session still owes its client, served by its next GETs.
pub(crate) struct Owed {
    /// Packets queued before the end, for the next GET; then the close packet.
    queued: Option<Payload>,
    /// The last body: a noop with the close packet appended, as the reference's polling
    /// transport answers the first GET after its session closed.
    end: Vec<u8>,
}

impl Owed {
    /// The body for the next GET of the ended session, and whether it is the last.
    pub fn next_body(&mut self) -> (Payload, bool) {
        match self.queued.take() {
            Some(payload) => (payload, false),
            None => (
                Payload {
                    bytes: std::mem::take(&mut self.end),
                    compress: false,
                    binary: false,
                },
                true,
            ),
        }
    }
}

/// Answers a GET with a polling payload, compressed when one of its packets allows it, the
/// client accepts an encoding and the payload reaches the server's
/// `http_compression_threshold`, as the reference's polling transport decides.
pub(crate) fn respond(cx: &mut dyn Port, get: &ParkedGet, payload: &Payload) {
    cx.state().parked.remove(&get.conn);
    let mut headers: Vec<(&str, &str)> = get.headers.iter().map(|(k, v)| (&**k, &**v)).collect();
    if payload.binary {
        for (k, v) in headers.iter_mut() {
            if k.eq_ignore_ascii_case("Content-Type") {
                *v = BINARY_CONTENT_TYPE;
            }
        }
    }
    let mut compressed = Vec::new();
    let body = &payload.bytes[..];
    let body = match get.encoding {
        Some(enc)
            if payload.compress && body.len() >= cx.state().config.http_compression_threshold =>
        {
            encoding::compress(enc, body, &mut compressed);
            headers.push(("Content-Encoding", enc.as_str()));
            &compressed[..]
        }
        _ => body,
    };
    cx.respond(get.conn, 200, &headers, body, get.keep_alive);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn payload_joins_text_and_base64_binary() {
        let mut p = Polling::new(0, Framing::V4);
        p.push_with(Out::Text(Bytes::from_static(b"4hello")), true);
        p.push_with(Out::Binary(Bytes::from_static(&[1, 2, 3, 4])), true);
        p.push_with(Out::Text(Bytes::from_static(b"2")), true);
        let payload = p.encode();
        assert!(payload.compress && !payload.binary);
        assert_eq!(payload.bytes, b"4hello\x1ebAQIDBA==\x1e2");
        assert!(p.is_empty());
        assert_eq!(p.queued_bytes(), 0);
    }

    fn v3_payload(binary: bool) -> Payload {
        let mut p = Polling::new(0, Framing::V3 { binary });
        p.push_with(Out::Text(Bytes::from_static(b"4hi")), true);
        p.push_with(Out::Binary(Bytes::from_static(&[1, 2, 3, 4])), true);
        p.encode()
    }

    #[test]
    fn v3_payloads_are_length_framed_or_binary() {
        let text = v3_payload(false);
        assert!(!text.binary);
        assert_eq!(text.bytes, b"3:4hi10:b4AQIDBA==");
        let binary = v3_payload(true);
        assert!(binary.binary);
        assert_eq!(
            binary.bytes,
            [0, 3, 255, b'4', b'h', b'i', 1, 5, 255, 4, 1, 2, 3, 4]
        );
        // Text alone stays a text payload even for a client that takes binary.
        let mut p = Polling::new(0, Framing::V3 { binary: true });
        p.push_with(Out::Text(Bytes::from_static("4€".as_bytes())), true);
        let only_text = p.encode();
        assert!(!only_text.binary);
        assert_eq!(only_text.bytes, "2:4€".as_bytes());
        assert_eq!(p.control(PacketType::Noop).bytes, b"1:6");
        let mut bytes = binary.bytes.clone();
        p.append_control(&mut bytes, PacketType::Close, true);
        assert_eq!(bytes[binary.bytes.len()..], [0, 1, 255, b'1']);
    }

    #[test]
    fn a_payload_allows_compression_when_one_of_its_packets_does() {
        let mut p = Polling::new(0, Framing::V4);
        p.push_with(Out::Text(Bytes::from_static(b"4a")), false);
        p.push_with(Out::Text(Bytes::from_static(b"4b")), false);
        assert!(!p.encode().compress);
        p.push_with(Out::Text(Bytes::from_static(b"4a")), false);
        p.push_with(Out::Text(Bytes::from_static(b"4b")), true);
        assert!(p.encode().compress);
        // The flag goes with the payload that took it.
        p.push_with(Out::Text(Bytes::from_static(b"4c")), false);
        assert!(!p.encode().compress);
        p.push_with(Out::Text(Bytes::from_static(b"4d")), true);
        p.drain();
        p.push_with(Out::Text(Bytes::from_static(b"4e")), false);
        assert!(!p.encode().compress);
    }

    #[test]
    fn the_bound_is_enforced() {
        let mut p = Polling::new(8, Framing::V4);
        assert!(p.push_with(Out::Text(Bytes::from_static(b"4hello")), true));
        assert!(!p.push_with(Out::Text(Bytes::from_static(b"4world")), true));
        assert!(p.overflowed());
    }
}
