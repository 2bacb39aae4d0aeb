//! The load scenarios, one file each, and what they share: settings, payload stamping, request
//! tracking and the Socket.IO connection wrapper.

pub mod broadcast;
pub mod echo;
pub mod hold;
pub mod requests;
pub mod sio_conn;
pub mod ws_echo;

use volley::client::ConnectOptions;

use crate::net::Target;

/// What every connection of a run needs to know. Counts and rates are for the whole run (all
/// processes), so pacing is the same whichever process a connection lives in.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The server.
    pub target: Target,
    /// Socket.IO connection options (host, path, handshake timeout).
    pub sio: ConnectOptions,
    /// Socket.IO namespace joined.
    pub nsp: String,
    /// Payload bytes per message (at least [`MIN_PAYLOAD`]).
    pub payload: usize,
    /// Requests kept in flight per connection in closed-loop mode.
    pub in_flight: u32,
    /// Messages (or broadcasts) per second over the whole run; `None` is closed loop.
    pub rate: Option<f64>,
    /// Connections in the whole run.
    pub connections: u64,
    /// A request unanswered this long counts as a timeout, ns.
    pub request_timeout_ns: u64,
    /// Event the echo scenario emits with an ack.
    pub event: String,
    /// Room the broadcast scenario joins.
    pub room: String,
    /// Connections with a global index below this send broadcasts.
    pub senders: u64,
    /// Connections offer permessage-deflate and require it (`--deflate`).
    pub deflate: bool,
    /// Payloads are padded with words, not `x` (`--words`).
    pub words: bool,
}

/// Smallest payload: room for the hex-stamped fields.
pub const MIN_PAYLOAD: usize = 48;

/// Appends `fields` as 16 hex digits each, padded to `size` bytes with `x`, or with words when
/// `words` (see [`pad_with_words`]); JSON-safe text.
pub fn stamp(out: &mut Vec<u8>, fields: &[u64], size: usize, words: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let start = out.len();
    for field in fields {
        for shift in (0..16).rev() {
            out.push(HEX[((field >> (shift * 4)) & 0xf) as usize]);
        }
    }
    let target = start + size.max(fields.len() * 16);
    if words {
        pad_with_words(out, target, fields.iter().fold(0, |a, f| a ^ f));
    } else {
        out.resize(target, b'x');
    }
}

/// Pads `out` to `len` bytes with words of a small vocabulary, picked by a generator seeded with
/// `seed`: text that compresses about as chat messages do, rather than without limit.
pub fn pad_with_words(out: &mut Vec<u8>, len: usize, seed: u64) {
    const WORDS: &[&str] = &[
        "the", "meeting", "moved", "to", "room", "at", "noon", "please", "bring", "laptop",
        "deploy", "finished", "green", "build", "latency", "is", "fine", "now", "thanks", "price",
        "update", "order", "shipped", "user", "joined", "left", "channel", "alert", "cpu", "high",
        "on", "node", "seven", "resolved", "ticket", "review", "merged", "main",
    ];
    let mut x = seed | 1;
    while out.len() < len {
        // xorshift64: cheap, and the same text for the same seed.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(b' ');
        out.extend_from_slice(WORDS[(x % WORDS.len() as u64) as usize].as_bytes());
    }
    out.truncate(len);
}

/// Reads `N` fields written by [`stamp`] from the start of `bytes`.
pub fn read_stamp<const N: usize>(bytes: &[u8]) -> Option<[u64; N]> {
    let mut fields = [0u64; N];
    for (i, field) in fields.iter_mut().enumerate() {
        let hex = bytes.get(i * 16..i * 16 + 16)?;
        let text = std::str::from_utf8(hex).ok()?;
        *field = u64::from_str_radix(text, 16).ok()?;
    }
    Some(fields)
}

/// The contents of the first string in a JSON array that starts with one, e.g. `["abc",1]`
/// gives `abc`. Only for strings without escapes, which is what [`stamp`] writes.
pub fn first_string(args_json: &[u8]) -> Option<&[u8]> {
    let rest = args_json.strip_prefix(b"[\"")?;
    let end = rest.iter().position(|b| *b == b'"')?;
    let s = rest.get(..end)?;
    (!s.contains(&b'\\')).then_some(s)
}

/// The earlier of two optional deadlines.
pub fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Bytes queued for a socket, written from the front.
#[derive(Debug, Default)]
pub struct Outbuf {
    buf: Vec<u8>,
    pos: usize,
}

impl Outbuf {
    /// The buffer to append to.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Unsent bytes, if any.
    pub fn pending(&self) -> Option<&[u8]> {
        self.buf.get(self.pos..).filter(|b| !b.is_empty())
    }

    /// `n` bytes were written.
    pub fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trip_and_padding() {
        let mut out = b"[\"".to_vec();
        stamp(&mut out, &[1, u64::MAX, 0xabc], 64, false);
        assert_eq!(out.len(), 2 + 64);
        assert_eq!(
            &out[2..],
            b"0000000000000001ffffffffffffffff0000000000000abcxxxxxxxxxxxxxxxx"
        );
        assert_eq!(read_stamp::<3>(&out[2..]), Some([1, u64::MAX, 0xabc]));
        let mut short = Vec::new();
        stamp(&mut short, &[5, 6], 1, false);
        assert_eq!(short.len(), 32, "never shorter than the fields");
        assert_eq!(read_stamp::<3>(&short), None);
        assert_eq!(read_stamp::<1>(b"zzzzzzzzzzzzzzzz"), None);
    }

    #[test]
    fn word_padding_is_text_of_the_size_and_repeats_per_seed() {
        let mut a = Vec::new();
        stamp(&mut a, &[3, 4], 300, true);
        assert_eq!(a.len(), 300);
        assert_eq!(read_stamp::<2>(&a), Some([3, 4]));
        assert!(a[32..].iter().all(|b| b.is_ascii_lowercase() || *b == b' '));
        assert!(
            a[32..]
                .split(|b| *b == b' ')
                .filter(|w| !w.is_empty())
                .count()
                > 30
        );
        let mut b = Vec::new();
        stamp(&mut b, &[3, 4], 300, true);
        assert_eq!(a, b);
    }

    #[test]
    fn first_string_of_args() {
        assert_eq!(first_string(br#"["abc",1]"#), Some(&b"abc"[..]));
        assert_eq!(first_string(br#"["abc"]"#), Some(&b"abc"[..]));
        assert_eq!(first_string(br#"[1,"abc"]"#), None);
        assert_eq!(first_string(br#"["a\"b"]"#), None);
        assert_eq!(first_string(br#"["unterminated"#), None);
        assert_eq!(first_string(b""), None);
    }

    #[test]
    fn earliest_of_optional_deadlines() {
        assert_eq!(earliest(Some(3), Some(2)), Some(2));
        assert_eq!(earliest(None, Some(2)), Some(2));
        assert_eq!(earliest(Some(3), None), Some(3));
        assert_eq!(earliest(None, None), None);
    }

    #[test]
    fn outbuf_drains() {
        let mut o = Outbuf::default();
        assert_eq!(o.pending(), None);
        o.buf().extend_from_slice(b"hello");
        o.advance(2);
        assert_eq!(o.pending(), Some(&b"llo"[..]));
        o.advance(100);
        assert_eq!(o.pending(), None);
    }
}
