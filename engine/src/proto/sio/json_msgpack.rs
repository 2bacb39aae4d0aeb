//! JSON text to msgpack in one pass, without a tree: the encoding half of the msgpack parser.
//!
//! A container's msgpack header needs its length, which JSON tells only at its end, so five
//! bytes (the widest header) are reserved and the content moved back once the length is known.
//! The container is then the last thing written, so each move costs its own size: O(n × depth).

use std::borrow::Cow;

use bytes::Bytes;

use super::SioError;
use crate::proto::msgpack;

/// Appends the JSON value `json` to `out` as msgpack. With `attachments`, an object whose
/// `_placeholder` is `true` becomes the `bin` of attachment `num` (socket.io-parser's rule: any
/// such object is a placeholder), and one whose `num` is not an attachment index is
/// [`SioError::BadPlaceholder`]. Integers become msgpack integers where they fit 64 bits,
/// other numbers 64-bit floats; escaped lone surrogates become U+FFFD. Input that is not one
/// JSON value is [`SioError::Json`]; on error `out` holds a partial value.
pub(super) fn json_to_msgpack(
    json: &[u8],
    attachments: Option<&[Bytes]>,
    out: &mut Vec<u8>,
) -> Result<(), SioError> {
    let mut r = Reader {
        s: json,
        pos: 0,
        attachments,
    };
    r.value(out)?;
    r.skip_ws();
    if r.pos != json.len() {
        return Err(SioError::Json);
    }
    Ok(())
}

/// The widest array or map header: a marker and a 32-bit length.
const RESERVED: usize = 5;

struct Reader<'a> {
    s: &'a [u8],
    pos: usize,
    attachments: Option<&'a [Bytes]>,
}

impl<'a> Reader<'a> {
    fn skip_ws(&mut self) {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Result<u8, SioError> {
        self.skip_ws();
        self.s.get(self.pos).copied().ok_or(SioError::Json)
    }

    fn expect(&mut self, byte: u8) -> Result<(), SioError> {
        if self.peek()? != byte {
            return Err(SioError::Json);
        }
        self.pos += 1;
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), SioError> {
        let end = self.pos + word.len();
        if self.s.get(self.pos..end) != Some(word) {
            return Err(SioError::Json);
        }
        self.pos = end;
        Ok(())
    }

    fn value(&mut self, out: &mut Vec<u8>) -> Result<(), SioError> {
        match self.peek()? {
            b'n' => {
                self.literal(b"null")?;
                msgpack::write_nil(out);
            }
            b't' => {
                self.literal(b"true")?;
                msgpack::write_bool(out, true);
            }
            b'f' => {
                self.literal(b"false")?;
                msgpack::write_bool(out, false);
            }
            b'"' => {
                let s = self.string()?;
                msgpack::write_str(out, &s);
            }
            b'[' => self.array(out)?,
            b'{' => self.object(out)?,
            _ => self.number(out)?,
        }
        Ok(())
    }

    fn array(&mut self, out: &mut Vec<u8>) -> Result<(), SioError> {
        self.pos += 1;
        let start = reserve(out);
        let mut len = 0;
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                self.value(out)?;
                len += 1;
                match self.peek()? {
                    b',' => self.pos += 1,
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(SioError::Json),
                }
            }
        }
        fill(out, start, len, msgpack::write_array_len);
        Ok(())
    }

    fn object(&mut self, out: &mut Vec<u8>) -> Result<(), SioError> {
        self.pos += 1;
        let start = reserve(out);
        let mut len = 0;
        // For placeholders: whether `_placeholder` is `true`, and `num` if an index.
        let (mut placeholder, mut num) = (false, None);
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                if self.peek()? != b'"' {
                    return Err(SioError::Json);
                }
                let key = self.string()?;
                msgpack::write_str(out, &key);
                self.expect(b':')?;
                let at = out.len();
                self.value(out)?;
                match &*key {
                    "_placeholder" => placeholder = out.get(at..) == Some(&[0xc3][..]),
                    "num" => num = read_uint(out.get(at..).unwrap_or_default()),
                    _ => {}
                }
                len += 1;
                match self.peek()? {
                    b',' => self.pos += 1,
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(SioError::Json),
                }
            }
        }
        if let (Some(attachments), true) = (self.attachments, placeholder) {
            let bin = num
                .and_then(|n| usize::try_from(n).ok())
                .and_then(|n| attachments.get(n))
                .ok_or(SioError::BadPlaceholder)?;
            out.truncate(start);
            msgpack::write_bin(out, bin);
            return Ok(());
        }
        fill(out, start, len, msgpack::write_map_len);
        Ok(())
    }

    fn number(&mut self, out: &mut Vec<u8>) -> Result<(), SioError> {
        let start = self.pos;
        let mut whole = true;
        while let Some(&b) = self.s.get(self.pos) {
            match b {
                b'0'..=b'9' | b'-' => {}
                b'.' | b'e' | b'E' | b'+' => whole = false,
                _ => break,
            }
            self.pos += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| SioError::Json)?;
        // Rust's number parsing accepts forms JSON does not ("01", "inf", "1."), so check the
        // grammar first.
        if !is_json_number(text) {
            return Err(SioError::Json);
        }
        if whole {
            if let Ok(n) = text.parse::<u64>() {
                msgpack::write_uint(out, n);
                return Ok(());
            }
            if let Ok(n) = text.parse::<i64>() {
                msgpack::write_int(out, n);
                return Ok(());
            }
        }
        let f: f64 = text.parse().map_err(|_| SioError::Json)?;
        msgpack::write_f64(out, f);
        Ok(())
    }

    /// A JSON string, unescaped; lone surrogates become U+FFFD.
    fn string(&mut self) -> Result<Cow<'a, str>, SioError> {
        let input: &'a [u8] = self.s;
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes.
        while let Some(&b) = self.s.get(self.pos) {
            match b {
                b'"' => {
                    let s =
                        std::str::from_utf8(&input[start..self.pos]).map_err(|_| SioError::Json)?;
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                b'\\' => break,
                _ => self.pos += 1,
            }
        }
        let mut buf: Vec<u16> = Vec::new();
        let mut s =
            String::from_utf8(self.s[start..self.pos].to_vec()).map_err(|_| SioError::Json)?;
        loop {
            let b = *self.s.get(self.pos).ok_or(SioError::Json)?;
            self.pos += 1;
            match b {
                b'"' => {
                    flush_utf16(&mut buf, &mut s);
                    return Ok(Cow::Owned(s));
                }
                b'\\' => {
                    let e = *self.s.get(self.pos).ok_or(SioError::Json)?;
                    self.pos += 1;
                    let c = match e {
                        b'u' => {
                            let hex = self.s.get(self.pos..self.pos + 4).ok_or(SioError::Json)?;
                            let hex = std::str::from_utf8(hex).map_err(|_| SioError::Json)?;
                            let unit = u16::from_str_radix(hex, 16).map_err(|_| SioError::Json)?;
                            self.pos += 4;
                            buf.push(unit);
                            continue;
                        }
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        _ => return Err(SioError::Json),
                    };
                    flush_utf16(&mut buf, &mut s);
                    s.push(c);
                }
                _ => {
                    flush_utf16(&mut buf, &mut s);
                    // Copy the run of plain bytes up to the next quote or escape.
                    let run_start = self.pos - 1;
                    while !matches!(self.s.get(self.pos), Some(b'"' | b'\\') | None) {
                        self.pos += 1;
                    }
                    let run = std::str::from_utf8(&self.s[run_start..self.pos])
                        .map_err(|_| SioError::Json)?;
                    s.push_str(run);
                }
            }
        }
    }
}

/// Appends the `\u` escapes gathered in `buf` to `s`, lone surrogates as U+FFFD.
fn flush_utf16(buf: &mut Vec<u16>, s: &mut String) {
    s.extend(char::decode_utf16(buf.drain(..)).map(|c| c.unwrap_or('\u{fffd}')));
}

/// Reserves room for a container header at the end of `out`; returns where it starts.
fn reserve(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; RESERVED]);
    start
}

/// Writes the shortest header for `len` items at `start` and moves the content back to it.
fn fill(out: &mut Vec<u8>, start: usize, len: usize, write: fn(&mut Vec<u8>, usize)) {
    let mut header = Vec::with_capacity(RESERVED);
    write(&mut header, len);
    let content = start + RESERVED;
    out.copy_within(content.., start + header.len());
    out.truncate(out.len() - (RESERVED - header.len()));
    out[start..start + header.len()].copy_from_slice(&header);
}

/// The unsigned integer a msgpack value written by [`msgpack::write_uint`] holds.
fn read_uint(b: &[u8]) -> Option<u64> {
    let (&marker, rest) = b.split_first()?;
    let be = |n: usize| -> Option<u64> {
        (rest.len() == n).then(|| rest.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    match marker {
        0x00..=0x7f if rest.is_empty() => Some(u64::from(marker)),
        0xcc => be(1),
        0xcd => be(2),
        0xce => be(4),
        0xcf => be(8),
        _ => None,
    }
}

/// Whether `t` follows JSON's number grammar: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`.
fn is_json_number(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let from = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > from
    };
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn convert(json: &str) -> Result<Vec<u8>, SioError> {
        let mut out = Vec::new();
        json_to_msgpack(json.as_bytes(), None, &mut out).map(|()| out)
    }

    #[test]
    fn values_as_notepack_writes_them() {
        assert_eq!(convert("null").unwrap(), [0xc0]);
        assert_eq!(convert(" [1, -1, 1.5, true] ").unwrap(), {
            let mut v = vec![0x94, 0x01, 0xff, 0xcb];
            v.extend_from_slice(&1.5f64.to_be_bytes());
            v.push(0xc3);
            v
        });
        assert_eq!(
            convert(r#"{"a":"b"}"#).unwrap(),
            [0x81, 0xa1, b'a', 0xa1, b'b']
        );
        let long: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let out = convert(&format!("[{}]", long.join(","))).unwrap();
        assert_eq!(&out[..3], &[0xdc, 0, 20]);
        assert_eq!(out.len(), 3 + 20);
    }

    #[test]
    fn strings_unescape_and_lone_surrogates_become_replacement() {
        let mut want = Vec::new();
        msgpack::write_str(&mut want, "a\"\n\u{e9}\u{1f600}\u{fffd}x");
        assert_eq!(
            convert(r#""a\"\n\u00e9\ud83d\ude00\ud800x""#).unwrap(),
            want
        );
    }

    #[test]
    fn placeholders_become_bins_in_any_key_order() {
        let bins = [Bytes::from_static(b"ab")];
        let mut out = Vec::new();
        json_to_msgpack(br#"[{"num":0,"_placeholder":true}]"#, Some(&bins), &mut out).unwrap();
        assert_eq!(out, [0x91, 0xc4, 2, b'a', b'b']);
        out.clear();
        let bad = json_to_msgpack(br#"{"_placeholder":true,"num":1}"#, Some(&bins), &mut out);
        assert_eq!(bad, Err(SioError::BadPlaceholder));
        // Without attachments such an object is just an object.
        assert_eq!(convert(r#"{"_placeholder":true}"#).unwrap()[0], 0x81);
    }

    #[test]
    fn refuses_what_is_not_json() {
        for bad in [
            "", "[01]", "[1,]", "{\"a\"}", "01x", "1.", "inf", "[1 2]", "\"open", "nul", "{} {}",
        ] {
            assert_eq!(convert(bad), Err(SioError::Json), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut out = Vec::new();
            let _ = json_to_msgpack(&bytes, Some(&[]), &mut out);
        }
    }
}
