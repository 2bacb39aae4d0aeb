//! HTTP response compression (`Content-Encoding: gzip` or `deflate`): which encoding a request's
//! `Accept-Encoding` asks for, and the compression itself.
//!
//! The choice follows the reference server, whose polling transport asks the `accepts` module
//! (`negotiator` 0.6) for `["gzip", "deflate"]`: each offered encoding takes the quality of the
//! most specific entry that names it (its own name, else `*`); an encoding of quality 0 is
//! refused; the highest quality wins, then the more specific entry, then the entry earlier in
//! the header, then gzip before deflate. No header, or one that names neither (nor `*`), means
//! no compression. `deflate` is the zlib format (RFC 1950), as Node's `zlib.createDeflate`
//! writes it and browsers read it.
//!
//! Compression keeps one compressor per encoding per thread and resets it between bodies, so a
//! worker allocates the compressor's state (tens to hundreds of KiB) once, on its first
//! compressed response, not once per response.

use std::cell::RefCell;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// A `Content-Encoding` Volley writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentEncoding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950).
    Deflate,
}

impl ContentEncoding {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
        }
    }
}

/// The encoding to answer a request with `Accept-Encoding: accept` (`None`: the header was
/// absent), as the reference's `accepts(req).encodings(["gzip", "deflate"])` chooses it;
/// `None` when the body must go uncompressed.
pub fn negotiate(accept: Option<&str>) -> Option<ContentEncoding> {
    let accept = accept?;
    // (quality, specificity, position in the header) of the best entry for each encoding.
    let mut best: [Option<(f64, u8, usize)>; 2] = [None, None];
    for (pos, entry) in accept.split(',').enumerate() {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or("").trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            continue;
        }
        let q = parts
            .map(str::trim)
            .find_map(|p| p.strip_prefix("q="))
            .map_or(Some(1.0), parse_quality);
        let q = q.unwrap_or(f64::NAN);
        for (i, enc) in ["gzip", "deflate"].iter().enumerate() {
            let s = if name.eq_ignore_ascii_case(enc) {
                1
            } else if name == "*" {
                0
            } else {
                continue;
            };
            // The most specific entry, then the higher quality, then the later entry, as
            // negotiator's `getEncodingPriority` keeps it.
            let replace = match best[i] {
                None => true,
                Some((bq, bs, _)) => s > bs || (s == bs && (q.is_nan() || bq.is_nan() || q >= bq)),
            };
            if replace {
                best[i] = Some((q, s, pos));
            }
        }
    }
    let mut chosen: Option<(ContentEncoding, (f64, u8, usize))> = None;
    for (i, enc) in [ContentEncoding::Gzip, ContentEncoding::Deflate]
        .into_iter()
        .enumerate()
    {
        let Some(p) = best[i] else { continue };
        // Only `q > 0` is acceptable, which a quality that is not a number is not.
        if p.0.is_nan() || p.0 <= 0.0 {
            continue;
        }
        let better = match chosen {
            None => true,
            Some((_, c)) => p.0 > c.0 || (p.0 == c.0 && (p.1 > c.1 || (p.1 == c.1 && p.2 < c.2))),
        };
        if better {
            chosen = Some((enc, p));
        }
    }
    chosen.map(|(enc, _)| enc)
}

/// A quality value as JavaScript's `parseFloat` reads it (the longest leading number);
/// `None` (not a number) when there is none.
fn parse_quality(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let bytes = s.as_bytes();
    let mut end = 0;
    let mut dot = false;
    while end < bytes.len() {
        match bytes[end] {
            b'0'..=b'9' => {}
            b'.' if !dot => dot = true,
            b'+' | b'-' if end == 0 => {}
            _ => break,
        }
        end += 1;
    }
    s[..end].parse().ok()
}

thread_local! {
    /// This thread's compressors: raw deflate (wrapped as gzip here) and zlib.
    static COMPRESSORS: RefCell<[Option<Compress>; 2]> = const { RefCell::new([None, None]) };
}

/// Appends `data` compressed as `encoding` to `out` (compression level 6, zlib's default and
/// Node's).
pub fn compress(encoding: ContentEncoding, data: &[u8], out: &mut Vec<u8>) {
    COMPRESSORS.with(|c| {
        let mut c = c.borrow_mut();
        let slot = &mut c[encoding as usize];
        let z = slot.get_or_insert_with(|| {
            Compress::new(Compression::default(), encoding == ContentEncoding::Deflate)
        });
        z.reset();
        match encoding {
            ContentEncoding::Gzip => {
                // RFC 1952: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
                out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
                deflate_into(z, data, out);
                let mut crc = Crc::new();
                crc.update(data);
                out.extend_from_slice(&crc.sum().to_le_bytes());
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            }
            ContentEncoding::Deflate => deflate_into(z, data, out),
        }
    });
}

/// Runs `z` over all of `data` to the end of the stream, appending to `out`.
fn deflate_into(z: &mut Compress, data: &[u8], out: &mut Vec<u8>) {
    // zlib's compressBound, plus room for the zlib header and trailer.
    out.reserve(data.len() + (data.len() >> 12) + (data.len() >> 14) + 32);
    let start = z.total_in();
    loop {
        let consumed = (z.total_in() - start) as usize;
        let status = z
            .compress_vec(&data[consumed..], out, FlushCompress::Finish)
            .expect("deflate of an in-memory buffer cannot fail");
        if status == Status::StreamEnd {
            return;
        }
        // Out of room (the bound above makes this rare): grow and go on.
        out.reserve(out.capacity().max(256));
    }
}

#[cfg(test)]
mod tests {
    use super::ContentEncoding::{Deflate, Gzip};
    use super::*;
    use flate2::read::{GzDecoder, ZlibDecoder};
    use std::io::Read;

    #[test]
    fn the_reference_choice_of_encoding() {
        let cases: &[(Option<&str>, Option<ContentEncoding>)] = &[
            (None, None),
            (Some(""), None),
            (Some("identity"), None),
            (Some("br"), None),
            (Some("gzip, deflate"), Some(Gzip)),
            (Some("deflate, gzip"), Some(Deflate)),
            (Some("deflate"), Some(Deflate)),
            (Some("gzip, deflate, br, zstd"), Some(Gzip)),
            (Some("GZIP"), Some(Gzip)),
            (Some("*"), Some(Gzip)),
            (Some("gzip;q=0.5, deflate"), Some(Deflate)),
            (Some("gzip;q=0.8, deflate;q=0.9"), Some(Deflate)),
            (Some("gzip; q=1.0, deflate; q=0.5"), Some(Gzip)),
            (Some("gzip;q=0, deflate;q=0"), None),
            (Some("gzip;q=0"), None),
            (Some("gzip;q=0, *"), Some(Deflate)),
            (Some("*;q=0"), None),
            (Some("*;q=0, deflate"), Some(Deflate)),
            // An exact entry wins over `*` whatever their qualities.
            (Some("*;q=1, gzip;q=0.1"), Some(Deflate)),
            (Some("br;q=1, gzip;q=0.2, deflate;q=0.1"), Some(Gzip)),
            (Some("gzip;q=abc, deflate"), Some(Deflate)),
            (Some("gzip;q=0.5abc, deflate;q=0.4"), Some(Gzip)),
            (Some("  , gzip ,"), Some(Gzip)),
        ];
        for (header, want) in cases {
            assert_eq!(negotiate(*header), *want, "Accept-Encoding: {header:?}");
        }
    }

    #[test]
    fn bodies_decompress_to_what_went_in() {
        let json: Vec<u8> = (0..2000)
            .flat_map(|i| format!("42[\"chat\",{{\"n\":{i}}}]\u{1e}").into_bytes())
            .collect();
        for data in [&b""[..], b"4hello", &json, &vec![7u8; 200_000]] {
            let mut gz = b"kept".to_vec();
            compress(Gzip, data, &mut gz);
            assert_eq!(&gz[..4], b"kept");
            let mut back = Vec::new();
            GzDecoder::new(&gz[4..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data);

            let mut z = Vec::new();
            compress(Deflate, data, &mut z);
            let mut back = Vec::new();
            ZlibDecoder::new(&z[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
            if data.len() > 1000 {
                assert!(z.len() < data.len() / 4, "{} -> {}", data.len(), z.len());
            }
        }
    }
}
