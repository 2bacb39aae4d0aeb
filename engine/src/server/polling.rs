//! The HTTP long-polling side of a session: packets wait in a queue until the client's next GET
//! takes them as one payload (`\x1e`-separated, binary as `b` + base64). At most one GET is parked
//! at a time; it is answered as soon as something is queued.

use std::borrow::Cow;
use std::collections::VecDeque;

use crate::proto::eio::{self, PacketType};
use crate::proto::http::encoding::{self, ContentEncoding};
use crate::runtime::ConnId;

use super::out::Out;
use super::port::Port;

/// Content type of polling payloads, as the reference server sends them.
pub(crate) const PAYLOAD_CONTENT_TYPE: &str = "text/plain; charset=UTF-8";

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
}

impl Polling {
    pub fn new(limit: usize) -> Self {
        Polling {
            limit,
            ..Polling::default()
        }
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

    /// Writes the queued packets as one polling payload and empties the queue; true when one
    /// of them allows compression.
    pub fn encode(&mut self, out: &mut Vec<u8>) -> bool {
        for (i, p) in self.queue.drain(..).enumerate() {
            let first = i == 0;
            match p {
                Out::Text(b) => {
                    if !first {
                        out.push(eio::RECORD_SEPARATOR);
                    }
                    out.extend_from_slice(&b);
                }
                Out::Binary(b) => eio::encode_payload_binary(out, &b, first),
            }
        }
        self.bytes = 0;
        std::mem::take(&mut self.compress)
    }

    /// Answers the parked GET with everything queued, if there is both.
    pub fn flush(&mut self, cx: &mut dyn Port) {
        if self.queue.is_empty() {
            return;
        }
        if let Some(get) = self.get.take() {
            let mut body = Vec::with_capacity(self.bytes + self.queue.len());
            let compress = self.encode(&mut body);
            respond(cx, &get, &body, compress);
        }
    }

    /// Answers the parked GET with a noop (during an upgrade, and when the client closed).
    pub fn answer_all_with_noop(&mut self, cx: &mut dyn Port) {
        if let Some(get) = self.get.take() {
            respond(cx, &get, &[PacketType::Noop.as_byte()], false);
        }
    }

    /// Answers a parked GET with the close packet (the transport is closing).
    pub fn answer_all_with_close(&mut self, cx: &mut dyn Port) {
        if let Some(get) = self.get.take() {
            respond(cx, &get, &[PacketType::Close.as_byte()], false);
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
        let mut queued = Vec::new();
        let compress = self.encode(&mut queued);
        if !graceful {
            if let Some(get) = self.get.take() {
                if !queued.is_empty() {
                    queued.push(eio::RECORD_SEPARATOR);
                }
                queued.push(PacketType::Close.as_byte());
                respond(cx, &get, &queued, compress);
            }
            return None;
        }
        match self.get.take() {
            Some(get) if queued.is_empty() => {
                respond(cx, &get, &[PacketType::Close.as_byte()], false);
                None
            }
            Some(get) => {
                respond(cx, &get, &queued, compress);
                Some(Owed { queued: None })
            }
            None => Some(Owed {
                queued: (!queued.is_empty()).then_some((queued, compress)),
            }),
        }
    }
}

/// What an ended polling session still owes its client, served by its next GETs.
pub(crate) struct Owed {
    /// Packets queued before the end, for the next GET (and whether they allow compression);
    /// then the close packet.
    queued: Option<(Vec<u8>, bool)>,
}

impl Owed {
    /// The body for the next GET of the ended session, whether it allows compression, and
    /// whether it is the last.
    pub fn next_body(&mut self) -> (Vec<u8>, bool, bool) {
        match self.queued.take() {
            Some((body, compress)) => (body, compress, false),
            // A noop with the close packet appended, as the reference's polling transport
            // answers the first GET after its session closed.
            None => (
                vec![
                    PacketType::Noop.as_byte(),
                    eio::RECORD_SEPARATOR,
                    PacketType::Close.as_byte(),
                ],
                false,
                true,
            ),
        }
    }
}

/// Answers a GET with a polling payload, compressed when one of its packets allows it
/// (`compress`), the client accepts an encoding and the payload reaches the server's
/// `http_compression_threshold`, as the reference's polling transport decides.
pub(crate) fn respond(cx: &mut dyn Port, get: &ParkedGet, body: &[u8], compress: bool) {
    cx.state().parked.remove(&get.conn);
    let mut headers: Vec<(&str, &str)> = get.headers.iter().map(|(k, v)| (&**k, &**v)).collect();
    let mut compressed = Vec::new();
    let body = match get.encoding {
        Some(enc) if compress && body.len() >= cx.state().config.http_compression_threshold => {
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
        let mut p = Polling::new(0);
        p.push_with(Out::Text(Bytes::from_static(b"4hello")), true);
        p.push_with(Out::Binary(Bytes::from_static(&[1, 2, 3, 4])), true);
        p.push_with(Out::Text(Bytes::from_static(b"2")), true);
        let mut body = Vec::new();
        assert!(p.encode(&mut body));
        assert_eq!(body, b"4hello\x1ebAQIDBA==\x1e2");
        assert!(p.is_empty());
        assert_eq!(p.queued_bytes(), 0);
    }

    #[test]
    fn a_payload_allows_compression_when_one_of_its_packets_does() {
        let mut p = Polling::new(0);
        let mut body = Vec::new();
        p.push_with(Out::Text(Bytes::from_static(b"4a")), false);
        p.push_with(Out::Text(Bytes::from_static(b"4b")), false);
        assert!(!p.encode(&mut body));
        p.push_with(Out::Text(Bytes::from_static(b"4a")), false);
        p.push_with(Out::Text(Bytes::from_static(b"4b")), true);
        assert!(p.encode(&mut body));
        // The flag goes with the payload that took it.
        p.push_with(Out::Text(Bytes::from_static(b"4c")), false);
        assert!(!p.encode(&mut body));
        p.push_with(Out::Text(Bytes::from_static(b"4d")), true);
        p.drain();
        p.push_with(Out::Text(Bytes::from_static(b"4e")), false);
        assert!(!p.encode(&mut body));
    }

    #[test]
    fn the_bound_is_enforced() {
        let mut p = Polling::new(8);
        assert!(p.push_with(Out::Text(Bytes::from_static(b"4hello")), true));
        assert!(!p.push_with(Out::Text(Bytes::from_static(b"4world")), true));
        assert!(p.overflowed());
    }
}
