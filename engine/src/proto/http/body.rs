//! Incremental body decoding for `Content-Length`, chunked and read-until-close framing.

use super::{BodyKind, HttpError};

/// Longest chunk extension accepted on one chunk-size line; we ignore extensions, so this only
/// bounds how long a peer can keep us reading nothing.
const MAX_CHUNK_EXT: usize = 1024;
/// Longest trailer section accepted; trailers are read and discarded.
const MAX_TRAILERS: usize = 8192;

/// Decodes one message body fed in arbitrary pieces, refusing bodies larger than a cap.
///
/// Chunk extensions and trailer fields are checked for framing and then discarded. After an
/// error every further [`feed`](Self::feed) returns the same error.
#[derive(Debug, Clone)]
pub struct BodyReader {
    state: State,
    max: usize,
    /// Body bytes declared so far (sum of chunk sizes, or bytes seen when reading to close).
    total: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// `Content-Length` body with this many bytes still to come (never 0).
    Length(usize),
    /// Reading chunk-size hex digits.
    Size {
        size: usize,
        digits: usize,
    },
    /// Skipping a chunk extension after the size.
    Ext {
        size: usize,
        len: usize,
    },
    /// Saw CR ending the chunk-size line.
    SizeLf {
        size: usize,
    },
    /// Inside chunk data with this many bytes to come (never 0).
    Data(usize),
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart {
        len: usize,
    },
    /// Inside a trailer line.
    Trailer {
        len: usize,
    },
    /// Saw CR ending a trailer line.
    TrailerLf {
        len: usize,
    },
    /// Saw CR of the final empty line.
    EndLf,
    /// Body runs until the connection closes.
    UntilClose,
    Done,
    Failed(HttpError),
}

impl BodyReader {
    /// Starts reading a body framed as `kind`, at most `max` decoded bytes.
    ///
    /// Fails with `BodyTooLarge` at once when a `Content-Length` exceeds `max`.
    pub fn new(kind: &BodyKind, max: usize) -> Result<Self, HttpError> {
        let state = match *kind {
            BodyKind::None | BodyKind::Length(0) => State::Done,
            BodyKind::Length(n) if n > max => return Err(HttpError::BodyTooLarge),
            BodyKind::Length(n) => State::Length(n),
            BodyKind::Chunked => State::Size { size: 0, digits: 0 },
            BodyKind::UntilClose => State::UntilClose,
        };
        Ok(BodyReader {
            state,
            max,
            total: 0,
        })
    }

    /// Consumes body bytes from the front of `buf`, appending decoded bytes to `out`.
    ///
    /// Returns `(consumed, done)`. Bytes past the end of the body are left unconsumed (they
    /// belong to the next message). Fails with `BodyTooLarge` as soon as the declared or
    /// received size passes the cap, or `Malformed` on broken chunked framing.
    pub fn feed(&mut self, buf: &[u8], out: &mut Vec<u8>) -> Result<(usize, bool), HttpError> {
        let mut pos = 0usize;
        loop {
            match &self.state {
                State::Done => return Ok((pos, true)),
                State::Failed(err) => return Err(err.clone()),
                _ => {}
            }
            let rest = buf.get(pos..).unwrap_or(&[]);
            if rest.is_empty() {
                return Ok((pos, false));
            }
            match self.step(rest, out) {
                Ok(used) => pos = pos.saturating_add(used),
                Err(err) => {
                    self.state = State::Failed(err.clone());
                    return Err(err);
                }
            }
        }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Tells the reader the peer closed the connection. A read-until-close body is then
    /// complete; any other unfinished body is truncated (`Malformed`).
    pub fn finish(&mut self) -> Result<(), HttpError> {
        match &self.state {
            State::Done => Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                Ok(())
            }
            State::Failed(err) => Err(err.clone()),
            _ => Err(HttpError::Malformed("body truncated")),
        }
    }

    /// Advances over a non-empty `rest`, returning how many bytes it used (at least one).
    fn step(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Result<usize, HttpError> {
        match self.state {
            State::Length(remaining) => {
                let used = copy_prefix(rest, remaining, out);
                self.state = match remaining.saturating_sub(used) {
                    0 => State::Done,
                    left => State::Length(left),
                };
                return Ok(used);
            }
            State::Data(remaining) => {
                let used = copy_prefix(rest, remaining, out);
                self.state = match remaining.saturating_sub(used) {
                    0 => State::DataCr,
                    left => State::Data(left),
                };
                return Ok(used);
            }
            State::UntilClose => {
                self.total = self
                    .total
                    .checked_add(rest.len())
                    .filter(|t| *t <= self.max)
                    .ok_or(HttpError::BodyTooLarge)?;
                out.extend_from_slice(rest);
                return Ok(rest.len());
            }
            _ => {}
        }
        let Some(&byte) = rest.first() else {
            return Ok(0);
        };
        self.state = self.next_state(byte)?;
        Ok(1)
    }

    /// The chunked-framing transition on one byte.
    fn next_state(&mut self, byte: u8) -> Result<State, HttpError> {
        const BAD_SIZE: HttpError = HttpError::Malformed("invalid chunk size line");
        const NO_CRLF: HttpError = HttpError::Malformed("missing CRLF in chunked body");
        Ok(match (&self.state, byte) {
            (&State::Size { size, digits }, _) if byte.is_ascii_hexdigit() => {
                let digit = usize::from(hex_value(byte));
                let size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(HttpError::BodyTooLarge)?;
                // Refuse as soon as the declared size passes the cap, before any data.
                match self.total.checked_add(size) {
                    Some(total) if total <= self.max => {}
                    _ => return Err(HttpError::BodyTooLarge),
                }
                State::Size {
                    size,
                    digits: digits.saturating_add(1),
                }
            }
            (&State::Size { digits: 0, .. }, _) => return Err(BAD_SIZE),
            (&State::Size { size, .. }, b'\r') => State::SizeLf { size },
            (&State::Size { size, .. }, b';' | b' ' | b'\t') => State::Ext { size, len: 1 },
            (State::Size { .. }, _) => return Err(BAD_SIZE),
            (&State::Ext { size, .. }, b'\r') => State::SizeLf { size },
            (State::Ext { .. }, b'\n') => return Err(BAD_SIZE),
            (&State::Ext { len, .. }, _) if len >= MAX_CHUNK_EXT => {
                return Err(HttpError::Malformed("chunk extension too long"))
            }
            (&State::Ext { size, len }, _) => State::Ext { size, len: len + 1 },
            (&State::SizeLf { size: 0 }, b'\n') => State::TrailerStart { len: 0 },
            (&State::SizeLf { size }, b'\n') => {
                self.total = self.total.saturating_add(size);
                State::Data(size)
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size { size: 0, digits: 0 },
            (State::TrailerStart { .. }, b'\r') => State::EndLf,
            (State::EndLf, b'\n') => State::Done,
            (State::TrailerStart { .. } | State::Trailer { .. }, b'\n') => return Err(NO_CRLF),
            (&State::TrailerStart { len } | &State::Trailer { len }, _) => {
                let len = len.saturating_add(1);
                if len > MAX_TRAILERS {
                    return Err(HttpError::HeadTooLarge);
                }
                if byte == b'\r' {
                    State::TrailerLf { len }
                } else {
                    State::Trailer { len }
                }
            }
            (&State::TrailerLf { len }, b'\n') => State::TrailerStart { len },
            _ => return Err(NO_CRLF),
        })
    }
}

/// Appends up to `limit` bytes of `rest` to `out` and returns how many.
fn copy_prefix(rest: &[u8], limit: usize, out: &mut Vec<u8>) -> usize {
    let take = rest.get(..limit).unwrap_or(rest);
    out.extend_from_slice(take);
    take.len()
}

fn hex_value(byte: u8) -> u8 {
    match byte {
        b'0'..=b'9' => byte - b'0',
        b'a'..=b'f' => byte - b'a' + 10,
        b'A'..=b'F' => byte - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(
        kind: BodyKind,
        max: usize,
        wire: &[u8],
    ) -> Result<(Vec<u8>, usize, bool), HttpError> {
        let mut reader = BodyReader::new(&kind, max)?;
        let mut out = Vec::new();
        let (used, done) = reader.feed(wire, &mut out)?;
        Ok((out, used, done))
    }

    #[test]
    fn content_length_body_stops_at_its_end() {
        let (out, used, done) = read_all(BodyKind::Length(5), 5, b"hello GET /").unwrap();
        assert_eq!((out.as_slice(), used, done), (&b"hello"[..], 5, true));
        let (out, used, done) = read_all(BodyKind::Length(5), 5, b"hel").unwrap();
        assert_eq!((out.as_slice(), used, done), (&b"hel"[..], 3, false));
        assert_eq!(
            read_all(BodyKind::None, 0, b"xyz").unwrap(),
            (vec![], 0, true)
        );
        assert_eq!(
            read_all(BodyKind::Length(0), 0, b"").unwrap(),
            (vec![], 0, true)
        );
    }

    #[test]
    fn content_length_over_the_cap_is_413() {
        let err = BodyReader::new(&BodyKind::Length(1_000_001), 1_000_000).unwrap_err();
        assert_eq!((err.clone(), err.status()), (HttpError::BodyTooLarge, 413));
        assert!(BodyReader::new(&BodyKind::Length(1_000_000), 1_000_000).is_ok());
    }

    #[test]
    fn chunked_golden() {
        let wire = b"4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\nNEXT";
        let (out, used, done) = read_all(BodyKind::Chunked, 100, wire).unwrap();
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!((used, done), (wire.len() - 4, true));
    }

    #[test]
    fn chunked_extensions_and_trailers_are_skipped() {
        let wire = b"3;name=\"v\"\r\nabc\r\n1 ; x\r\nd\r\n0\r\nExpires: never\r\nX: y\r\n\r\n";
        let (out, used, done) = read_all(BodyKind::Chunked, 4, wire).unwrap();
        assert_eq!(
            (out.as_slice(), used, done),
            (&b"abcd"[..], wire.len(), true)
        );
        let upper = b"A\r\n0123456789\r\n0\r\n\r\n";
        assert_eq!(
            read_all(BodyKind::Chunked, 10, upper).unwrap().0,
            b"0123456789"
        );
    }

    #[test]
    fn chunk_sizes_over_the_cap_fail_before_data() {
        assert_eq!(
            read_all(BodyKind::Chunked, 15, b"10\r\n"),
            Err(HttpError::BodyTooLarge)
        );
        assert_eq!(
            read_all(BodyKind::Chunked, 15, b"10"),
            Err(HttpError::BodyTooLarge)
        );
        let two = b"8\r\n12345678\r\n8\r\n";
        assert_eq!(
            read_all(BodyKind::Chunked, 15, two),
            Err(HttpError::BodyTooLarge)
        );
        let huge = b"ffffffffffffffffffff\r\n";
        assert_eq!(
            read_all(BodyKind::Chunked, usize::MAX, huge),
            Err(HttpError::BodyTooLarge)
        );
    }

    #[test]
    fn broken_chunked_framing_is_400() {
        let cases: [&[u8]; 10] = [
            b"zz\r\n",
            b"\r\n",
            b";ext\r\n",
            b"-1\r\n",
            b"4\nWiki\r\n",
            b"4\r\nWikiX",
            b"4\r\nWiki\rX",
            b"4\r\nWiki\n",
            b"0\r\nX: y\n",
            b"0\r\n\rX",
        ];
        for wire in cases {
            let err = read_all(BodyKind::Chunked, 100, wire).unwrap_err();
            assert_eq!(err.status(), 400, "{:?}", String::from_utf8_lossy(wire));
        }
        let long_ext = [&b"1;"[..], &[b'x'; MAX_CHUNK_EXT]].concat();
        assert!(read_all(BodyKind::Chunked, 100, &long_ext).is_err());
    }

    #[test]
    fn errors_are_sticky_and_truncation_is_reported() {
        let mut reader = BodyReader::new(&BodyKind::Chunked, 100).unwrap();
        let mut out = Vec::new();
        assert!(reader.feed(b"x", &mut out).is_err());
        assert!(reader.feed(b"0\r\n\r\n", &mut out).is_err());

        let mut reader = BodyReader::new(&BodyKind::Length(4), 100).unwrap();
        assert_eq!(reader.feed(b"ab", &mut out), Ok((2, false)));
        assert_eq!(reader.finish(), Err(HttpError::Malformed("body truncated")));
        assert_eq!(reader.feed(b"cd", &mut out), Ok((2, true)));
        assert!(reader.is_done());
        assert_eq!(reader.finish(), Ok(()));
    }

    #[test]
    fn until_close_reads_everything_within_the_cap() {
        let mut reader = BodyReader::new(&BodyKind::UntilClose, 5).unwrap();
        let mut out = Vec::new();
        assert_eq!(reader.feed(b"abc", &mut out), Ok((3, false)));
        assert_eq!(reader.feed(b"de", &mut out), Ok((2, false)));
        assert_eq!(reader.feed(b"f", &mut out), Err(HttpError::BodyTooLarge));
        let mut reader = BodyReader::new(&BodyKind::UntilClose, 5).unwrap();
        assert_eq!(reader.feed(b"abc", &mut out), Ok((3, false)));
        assert_eq!(reader.finish(), Ok(()));
        assert!(reader.is_done());
    }

    /// Chunk-encodes `body` cutting it at `cuts`, with an extension and a trailer mixed in.
    fn chunk_encode(body: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        points.push(0);
        points.push(body.len());
        points.sort_unstable();
        points.dedup();
        let mut wire = Vec::new();
        for (i, pair) in points.windows(2).enumerate() {
            let chunk = &body[pair[0]..pair[1]];
            let ext = if i % 2 == 1 { ";k=v" } else { "" };
            wire.extend_from_slice(format!("{:x}{ext}\r\n", chunk.len()).as_bytes());
            wire.extend_from_slice(chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        wire
    }

    /// Feeds `wire` split at `splits`, returning the decoded body and total bytes consumed.
    fn feed_split(
        kind: BodyKind,
        max: usize,
        wire: &[u8],
        splits: &[usize],
    ) -> (Vec<u8>, usize, bool) {
        let mut points: Vec<usize> = splits.iter().map(|s| s % (wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        let mut reader = BodyReader::new(&kind, max).unwrap();
        let mut out = Vec::new();
        let (mut consumed, mut done) = (0, false);
        for end in points {
            // Unconsumed bytes stay in the caller's buffer and come back with the next piece.
            let (used, finished) = reader.feed(&wire[consumed..end], &mut out).unwrap();
            consumed += used;
            done = finished;
        }
        (out, consumed, done)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn chunked_split_anywhere_decodes_the_same(
            body in prop::collection::vec(any::<u8>(), 0..300),
            cuts in prop::collection::vec(any::<usize>(), 0..6),
            splits in prop::collection::vec(any::<usize>(), 0..12),
            tail in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut wire = chunk_encode(&body, &cuts);
            let framed = wire.len();
            wire.extend_from_slice(&tail);
            let (out, consumed, done) = feed_split(BodyKind::Chunked, body.len(), &wire, &splits);
            prop_assert_eq!(out, body);
            prop_assert_eq!(consumed, framed);
            prop_assert!(done);
        }

        #[test]
        fn length_split_anywhere_decodes_the_same(
            body in prop::collection::vec(any::<u8>(), 0..300),
            splits in prop::collection::vec(any::<usize>(), 0..12),
            tail in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let wire = [body.as_slice(), &tail].concat();
            let (out, consumed, done) = feed_split(BodyKind::Length(body.len()), body.len(), &wire, &splits);
            prop_assert_eq!(out, body.clone());
            prop_assert_eq!(consumed, body.len());
            prop_assert!(done);
        }

        #[test]
        fn arbitrary_chunked_input_never_panics_or_overruns(
            wire in prop::collection::vec(any::<u8>(), 0..200),
            max in 0usize..64,
        ) {
            let mut reader = BodyReader::new(&BodyKind::Chunked, max).unwrap();
            let mut out = Vec::new();
            if let Ok((used, _)) = reader.feed(&wire, &mut out) {
                prop_assert!(used <= wire.len());
                prop_assert!(out.len() <= max);
            }
        }
    }
}
