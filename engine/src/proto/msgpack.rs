//! MessagePack as notepack.io writes it (the format of `@socket.io/redis-adapter` on Redis and
//! of `socket.io-msgpack-parser` on the wire): a decoder into a borrowed value tree and the
//! writers the adapter and the Socket.IO msgpack codec need.

use std::fmt;

/// Deepest nesting [`decode`] accepts (event arguments are user data, so this is a guard
/// against stack exhaustion, not a format limit); [`decode_max_depth`] takes another bound.
const MAX_DEPTH: usize = 64;

/// A decoded value; strings and binaries borrow from the input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    /// `nil` (also what notepack writes for `undefined`).
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A float (32-bit floats widened).
    Float(f64),
    /// A UTF-8 string.
    Str(&'a str),
    /// A byte string (a Node `Buffer`).
    Bin(&'a [u8]),
    /// An array.
    Array(Vec<Value<'a>>),
    /// A map, in wire order.
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// An extension (type, data); notepack uses type -1 for dates.
    Ext(i8, &'a [u8]),
}

#[cfg(test)]
impl<'a> Value<'a> {
    /// The value under string key `key` of a map.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if *s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Input that is not one complete MessagePack value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MsgpackError {
    /// The input ends inside a value.
    Truncated,
    /// `0xc1`, the one byte MessagePack never uses.
    Reserved,
    /// A string that is not UTF-8.
    BadUtf8,
    /// Nested deeper than the bound given to the decoder.
    TooDeep,
    /// Bytes left after the value.
    Trailing,
}

impl MsgpackError {
    /// What is wrong, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            MsgpackError::Truncated => "msgpack input ends inside a value",
            MsgpackError::Reserved => "msgpack reserved byte 0xc1",
            MsgpackError::BadUtf8 => "msgpack string is not UTF-8",
            MsgpackError::TooDeep => "msgpack nested too deep",
            MsgpackError::Trailing => "bytes after the msgpack value",
        }
    }
}

impl fmt::Display for MsgpackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for MsgpackError {}

/// Decodes `buf`, which must hold exactly one value nested at most [`MAX_DEPTH`] deep.
pub(crate) fn decode(buf: &[u8]) -> Result<Value<'_>, MsgpackError> {
    decode_max_depth(buf, MAX_DEPTH)
}

/// [`decode`] with nesting bounded by `max_depth` (the outer value is depth 0). Decoding
/// recurses once per level, so the bound also bounds the stack used.
pub(crate) fn decode_max_depth(buf: &[u8], max_depth: usize) -> Result<Value<'_>, MsgpackError> {
    let mut r = Reader {
        buf,
        pos: 0,
        max_depth,
    };
    let v = r.value(0)?;
    if r.pos != buf.len() {
        return Err(MsgpackError::Trailing);
    }
    Ok(v)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MsgpackError> {
        let end = self.pos.checked_add(n).ok_or(MsgpackError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(MsgpackError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], MsgpackError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.be::<1>()?[0])
    }

    fn len(&mut self, bytes: usize) -> Result<usize, MsgpackError> {
        let n = match bytes {
            1 => u64::from(self.u8()?),
            2 => u64::from(u16::from_be_bytes(self.be()?)),
            _ => u64::from(u32::from_be_bytes(self.be()?)),
        };
        usize::try_from(n).map_err(|_| MsgpackError::Truncated)
    }

    fn str(&mut self, len: usize) -> Result<Value<'a>, MsgpackError> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(Value::Str)
            .map_err(|_| MsgpackError::BadUtf8)
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value<'a>, MsgpackError> {
        // Every item takes at least one byte, which bounds what a lying length reserves.
        let mut items = Vec::with_capacity(len.min(self.buf.len().saturating_sub(self.pos)));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value<'a>, MsgpackError> {
        let room = self.buf.len().saturating_sub(self.pos) / 2;
        let mut entries = Vec::with_capacity(len.min(room));
        for _ in 0..len {
            let k = self.value(depth + 1)?;
            let v = self.value(depth + 1)?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }

    fn ext(&mut self, len: usize) -> Result<Value<'a>, MsgpackError> {
        let ty = i8::from_be_bytes(self.be()?);
        Ok(Value::Ext(ty, self.take(len)?))
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, MsgpackError> {
        if depth > self.max_depth {
            return Err(MsgpackError::TooDeep);
        }
        let b = self.u8()?;
        Ok(match b {
            0x00..=0x7f => Value::UInt(u64::from(b)),
            0x80..=0x8f => self.map(usize::from(b & 0x0f), depth)?,
            0x90..=0x9f => self.array(usize::from(b & 0x0f), depth)?,
            0xa0..=0xbf => self.str(usize::from(b & 0x1f))?,
            0xc0 => Value::Nil,
            0xc1 => return Err(MsgpackError::Reserved),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let n = self.len(1 << (b - 0xc4))?;
                Value::Bin(self.take(n)?)
            }
            0xc7..=0xc9 => {
                let n = self.len(1 << (b - 0xc7))?;
                self.ext(n)?
            }
            0xca => Value::Float(f64::from(f32::from_be_bytes(self.be()?))),
            0xcb => Value::Float(f64::from_be_bytes(self.be()?)),
            0xcc => Value::UInt(u64::from(self.u8()?)),
            0xcd => Value::UInt(u64::from(u16::from_be_bytes(self.be()?))),
            0xce => Value::UInt(u64::from(u32::from_be_bytes(self.be()?))),
            0xcf => Value::UInt(u64::from_be_bytes(self.be()?)),
            0xd0 => int(i64::from(i8::from_be_bytes(self.be()?))),
            0xd1 => int(i64::from(i16::from_be_bytes(self.be()?))),
            0xd2 => int(i64::from(i32::from_be_bytes(self.be()?))),
            0xd3 => int(i64::from_be_bytes(self.be()?)),
            0xd4..=0xd8 => self.ext(1 << (b - 0xd4))?,
            0xd9..=0xdb => {
                let n = self.len(1 << (b - 0xd9))?;
                self.str(n)?
            }
            0xdc | 0xdd => {
                let n = self.len(if b == 0xdc { 2 } else { 4 })?;
                self.array(n, depth)?
            }
            0xde | 0xdf => {
                let n = self.len(if b == 0xde { 2 } else { 4 })?;
                self.map(n, depth)?
            }
            0xe0..=0xff => Value::Int(i64::from(i8::from_be_bytes([b]))),
        })
    }
}

/// Signed integers that are not negative decode as `UInt`, so equal numbers compare equal
/// whichever width the encoder chose.
fn int(n: i64) -> Value<'static> {
    match u64::try_from(n) {
        Ok(u) => Value::UInt(u),
        Err(_) => Value::Int(n),
    }
}

/// Appends `nil`.
pub(crate) fn write_nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

/// Appends a boolean.
pub(crate) fn write_bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xc3 } else { 0xc2 });
}

/// Appends a non-negative integer in its shortest form.
pub(crate) fn write_uint(out: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        out.push(n as u8);
    } else if let Ok(b) = u8::try_from(n) {
        out.extend_from_slice(&[0xcc, b]);
    } else if let Ok(s) = u16::try_from(n) {
        out.push(0xcd);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(w) = u32::try_from(n) {
        out.push(0xce);
        out.extend_from_slice(&w.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends an integer in its shortest form.
pub(crate) fn write_int(out: &mut Vec<u8>, n: i64) {
    match u64::try_from(n) {
        Ok(u) => write_uint(out, u),
        Err(_) if n >= -32 => out.push(n as u8),
        Err(_) if n >= i64::from(i8::MIN) => out.extend_from_slice(&[0xd0, n as u8]),
        Err(_) if n >= i64::from(i16::MIN) => {
            out.push(0xd1);
            out.extend_from_slice(&(n as i16).to_be_bytes());
        }
        Err(_) if n >= i64::from(i32::MIN) => {
            out.push(0xd2);
            out.extend_from_slice(&(n as i32).to_be_bytes());
        }
        Err(_) => {
            out.push(0xd3);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// Appends a 64-bit float.
pub(crate) fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xcb);
    out.extend_from_slice(&f.to_be_bytes());
}

/// Appends a length header: the fix form (`base | len`) up to `fix_max`, else the 8-bit form
/// where the type has one, else 16 or 32 bits.
fn write_len(
    out: &mut Vec<u8>,
    len: usize,
    fix: Option<(u8, usize)>,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
) {
    if let Some((base, _)) = fix.filter(|&(_, max)| len <= max) {
        // Every fix form's maximum fits in the low bits of one byte.
        out.push(base | len as u8);
    } else if let (Some(m), Ok(b)) = (m8, u8::try_from(len)) {
        out.extend_from_slice(&[m, b]);
    } else if let Ok(s) = u16::try_from(len) {
        out.push(m16);
        out.extend_from_slice(&s.to_be_bytes());
    } else {
        // Redis refuses messages over 512 MiB long before a u32 length overflows.
        out.push(m32);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
}

/// Appends a string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    write_len(out, s.len(), Some((0xa0, 31)), Some(0xd9), 0xda, 0xdb);
    out.extend_from_slice(s.as_bytes());
}

/// Appends a byte string.
pub(crate) fn write_bin(out: &mut Vec<u8>, b: &[u8]) {
    write_len(out, b.len(), None, Some(0xc4), 0xc5, 0xc6);
    out.extend_from_slice(b);
}

/// Appends an array header; `len` values must follow.
pub(crate) fn write_array_len(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, Some((0x90, 15)), None, 0xdc, 0xdd);
}

/// Appends a map header; `len` key/value pairs must follow.
pub(crate) fn write_map_len(out: &mut Vec<u8>, len: usize) {
    write_len(out, len, Some((0x80, 15)), None, 0xde, 0xdf);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// notepack.io's `encode(["abc", {type: 2, data: ["ev", 1.5, -3], nsp: "/"}, Buffer[1,2]])`.
    const NOTEPACK: &[u8] = b"\x93\xa3abc\x83\xa4type\x02\xa4data\x93\xa2ev\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xfd\xa3nsp\xa1/\xc4\x02\x01\x02";

    #[test]
    fn decodes_what_notepack_writes() {
        let v = decode(NOTEPACK).unwrap();
        let items = v.as_array().unwrap();
        assert_eq!(items[0], Value::Str("abc"));
        assert_eq!(items[1].get("type"), Some(&Value::UInt(2)));
        assert_eq!(items[1].get("nsp").and_then(Value::as_str), Some("/"));
        assert_eq!(
            items[1].get("data"),
            Some(&Value::Array(vec![
                Value::Str("ev"),
                Value::Float(1.5),
                Value::Int(-3)
            ]))
        );
        assert_eq!(items[2], Value::Bin(&[1, 2]));
    }

    #[test]
    fn writes_what_notepack_writes() {
        let mut out = Vec::new();
        write_array_len(&mut out, 3);
        write_str(&mut out, "abc");
        write_map_len(&mut out, 3);
        write_str(&mut out, "type");
        write_uint(&mut out, 2);
        write_str(&mut out, "data");
        write_array_len(&mut out, 3);
        write_str(&mut out, "ev");
        write_f64(&mut out, 1.5);
        write_int(&mut out, -3);
        write_str(&mut out, "nsp");
        write_str(&mut out, "/");
        write_bin(&mut out, &[1, 2]);
        assert_eq!(out, NOTEPACK);
    }

    #[test]
    fn length_forms() {
        let mut out = Vec::new();
        write_str(&mut out, &"x".repeat(32));
        assert_eq!(&out[..2], &[0xd9, 32]);
        out.clear();
        write_array_len(&mut out, 16);
        assert_eq!(out, [0xdc, 0, 16]);
        out.clear();
        write_map_len(&mut out, 70_000);
        assert_eq!(out, [0xdf, 0, 1, 0x11, 0x70]);
        out.clear();
        write_bin(&mut out, &[0; 300]);
        assert_eq!(&out[..3], &[0xc5, 1, 44]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(decode(b""), Err(MsgpackError::Truncated));
        assert_eq!(decode(b"\xc1"), Err(MsgpackError::Reserved));
        assert_eq!(decode(b"\xa2\xff\xfe"), Err(MsgpackError::BadUtf8));
        assert_eq!(decode(b"\x01\x02"), Err(MsgpackError::Trailing));
        assert_eq!(
            decode(b"\xdd\xff\xff\xff\xff"),
            Err(MsgpackError::Truncated)
        );
        assert_eq!(decode(&[0x91; 100]), Err(MsgpackError::TooDeep));
        assert_eq!(decode(b"\xd4\xff\x00"), Ok(Value::Ext(-1, &[0])));
    }

    fn arb_value() -> impl Strategy<Value = OwnedValue> {
        let leaf = prop_oneof![
            Just(OwnedValue::Nil),
            any::<bool>().prop_map(OwnedValue::Bool),
            any::<i64>().prop_map(OwnedValue::Int),
            any::<u64>().prop_map(OwnedValue::UInt),
            any::<f64>()
                .prop_filter("NaN", |f| !f.is_nan())
                .prop_map(OwnedValue::Float),
            ".{0,40}".prop_map(OwnedValue::Str),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(OwnedValue::Bin),
        ];
        leaf.prop_recursive(4, 64, 20, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..20).prop_map(OwnedValue::Array),
                proptest::collection::vec(("[a-z]{0,5}", inner), 0..20).prop_map(OwnedValue::Map),
            ]
        })
    }

    #[derive(Debug, Clone)]
    enum OwnedValue {
        Nil,
        Bool(bool),
        Int(i64),
        UInt(u64),
        Float(f64),
        Str(String),
        Bin(Vec<u8>),
        Array(Vec<OwnedValue>),
        Map(Vec<(String, OwnedValue)>),
    }

    fn write(out: &mut Vec<u8>, v: &OwnedValue) {
        match v {
            OwnedValue::Nil => write_nil(out),
            OwnedValue::Bool(b) => write_bool(out, *b),
            OwnedValue::Int(n) => write_int(out, *n),
            OwnedValue::UInt(n) => write_uint(out, *n),
            OwnedValue::Float(f) => write_f64(out, *f),
            OwnedValue::Str(s) => write_str(out, s),
            OwnedValue::Bin(b) => write_bin(out, b),
            OwnedValue::Array(items) => {
                write_array_len(out, items.len());
                items.iter().for_each(|i| write(out, i));
            }
            OwnedValue::Map(entries) => {
                write_map_len(out, entries.len());
                for (k, v) in entries {
                    write_str(out, k);
                    write(out, v);
                }
            }
        }
    }

    fn same(a: &OwnedValue, b: &Value<'_>) -> bool {
        match (a, b) {
            (OwnedValue::Nil, Value::Nil) => true,
            (OwnedValue::Bool(x), Value::Bool(y)) => x == y,
            (OwnedValue::Int(x), Value::Int(y)) => x == y,
            (OwnedValue::Int(x), Value::UInt(y)) => u64::try_from(*x) == Ok(*y),
            (OwnedValue::UInt(x), Value::UInt(y)) => x == y,
            (OwnedValue::Float(x), Value::Float(y)) => x == y,
            (OwnedValue::Str(x), Value::Str(y)) => x == y,
            (OwnedValue::Bin(x), Value::Bin(y)) => x.as_slice() == *y,
            (OwnedValue::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
            }
            (OwnedValue::Map(x), Value::Map(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((k, v), (kb, vb))| *kb == Value::Str(k) && same(v, vb))
            }
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn values_round_trip(v in arb_value()) {
            let mut out = Vec::new();
            write(&mut out, &v);
            let back = decode(&out).unwrap();
            prop_assert!(same(&v, &back), "{:?} came back as {:?}", v, back);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn truncations_are_errors(v in arb_value()) {
            let mut out = Vec::new();
            write(&mut out, &v);
            for cut in 0..out.len() {
                prop_assert!(decode(&out[..cut]).is_err());
            }
        }
    }
}
