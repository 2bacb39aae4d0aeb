//! Standard-alphabet base64 for `b` polling records, decoding in place.
//!
//! The `base64` crate only decodes into a separate buffer; decoding into the front of the record's
//! own bytes lets a binary message borrow from the request body without a copy or allocation.

use super::EioError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Marks bytes outside the alphabet in [`DECODE`].
const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

fn sextet(c: u8) -> Result<u32, EioError> {
    match DECODE[usize::from(c)] {
        INVALID => Err(EioError::BadBase64),
        v => Ok(u32::from(v)),
    }
}

/// Decodes base64 text in `buf` into `buf`'s prefix and returns the decoded length.
///
/// Padding is optional, but when present it must make the length a multiple of four. Unused bits
/// of the last character are ignored, as browsers' `atob` does.
pub(super) fn decode_in_place(buf: &mut [u8]) -> Result<usize, EioError> {
    let mut len = buf.len();
    while len > 0 && buf.len() - len < 2 && buf.get(len - 1) == Some(&b'=') {
        len -= 1;
    }
    if (len < buf.len() && buf.len() % 4 != 0) || len % 4 == 1 {
        return Err(EioError::BadBase64);
    }
    let mut written = 0;
    let mut read = 0;
    // Output position never passes input position (3 bytes out per 4 in), so each quad is read
    // before its bytes are overwritten.
    while read < len {
        let end = len.min(read.saturating_add(4));
        let quad = buf.get(read..end).ok_or(EioError::BadBase64)?;
        let mut acc = 0u32;
        for &c in quad {
            acc = (acc << 6) | sextet(c)?;
        }
        let out_len = quad.len() - 1;
        acc <<= 6 * (4 - quad.len());
        let bytes = acc.to_be_bytes();
        let src = bytes.get(1..=out_len).ok_or(EioError::BadBase64)?;
        buf.get_mut(written..written + out_len)
            .ok_or(EioError::BadBase64)?
            .copy_from_slice(src);
        written += out_len;
        read = end;
    }
    Ok(written)
}

/// Appends the padded base64 encoding of `data` to `out`.
pub(super) fn encode(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len().div_ceil(3).saturating_mul(4));
    let sym = |acc: u32, shift: u32| ALPHABET[((acc >> shift) & 0x3f) as usize];
    let chunks = data.chunks_exact(3);
    let rest = chunks.remainder();
    for chunk in chunks {
        let &[a, b, c] = chunk else { continue };
        let acc = u32::from_be_bytes([0, a, b, c]);
        out.extend_from_slice(&[sym(acc, 18), sym(acc, 12), sym(acc, 6), sym(acc, 0)]);
    }
    match *rest {
        [a] => {
            let acc = u32::from(a) << 16;
            out.extend_from_slice(&[sym(acc, 18), sym(acc, 12), b'=', b'=']);
        }
        [a, b] => {
            let acc = u32::from_be_bytes([0, a, b, 0]);
            out.extend_from_slice(&[sym(acc, 18), sym(acc, 12), sym(acc, 6), b'=']);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    fn decode(s: &str) -> Result<Vec<u8>, EioError> {
        let mut buf = s.as_bytes().to_vec();
        let n = decode_in_place(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    #[test]
    fn golden() {
        assert_eq!(decode("AQIDBA=="), Ok(vec![1, 2, 3, 4]));
        assert_eq!(decode("AQIDBA"), Ok(vec![1, 2, 3, 4]));
        assert_eq!(decode("AQID"), Ok(vec![1, 2, 3]));
        assert_eq!(decode("AQI="), Ok(vec![1, 2]));
        assert_eq!(decode(""), Ok(vec![]));
        assert_eq!(decode("aGVsbG8gd29ybGQ="), Ok(b"hello world".to_vec()));
        let mut out = Vec::new();
        encode(&mut out, &[1, 2, 3, 4]);
        assert_eq!(out, b"AQIDBA==");
    }

    #[test]
    fn rejects_bad_base64() {
        for bad in [
            "A", "AQIDB", "AQ=", "AQIDBA=", "AQ===", "A=QI", "AQ-_", "AQ I", "====", "=",
        ] {
            assert_eq!(decode(bad), Err(EioError::BadBase64), "{bad:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_base64_crate(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut out = Vec::new();
            encode(&mut out, &data);
            let std = base64::engine::general_purpose::STANDARD;
            let expected = std.encode(&data);
            prop_assert_eq!(&out, expected.as_bytes());
            let n = decode_in_place(&mut out).unwrap();
            prop_assert_eq!(&out[..n], &data[..]);
            let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&data);
            prop_assert_eq!(decode(&unpadded), Ok(data));
        }

        #[test]
        fn never_panics(mut bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(n) = decode_in_place(&mut bytes) {
                prop_assert!(n <= bytes.len());
            }
        }
    }
}
