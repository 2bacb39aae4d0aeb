//! Query strings: `application/x-www-form-urlencoded` pairs and percent-decoding.

use std::borrow::Cow;

/// Splits a raw query (`a=1&b=x%2Fy`) into percent-decoded `(name, value)` pairs.
///
/// Empty elements (`a=1&&b`) are skipped; an element without `=` has an empty value. Decoding
/// follows [`percent_decode`]. Borrows from `query` whenever nothing needed decoding.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .split('&')
        .filter(|element| !element.is_empty())
        .map(|element| {
            let (name, value) = element.split_once('=').unwrap_or((element, ""));
            (percent_decode(name), percent_decode(value))
        })
}

/// Decodes `%XX` escapes and `+` (as a space) in a query component.
///
/// A `%` not followed by two hex digits is kept as is, and decoded bytes that are not UTF-8
/// become U+FFFD, so decoding never fails. Borrows `s` when it holds neither `%` nor `+`.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'+' => out.push(b' '),
            b'%' => match (tail.first().and_then(hex), tail.get(1).and_then(hex)) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    rest = tail.get(2..).unwrap_or(&[]);
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(err) => Cow::Owned(String::from_utf8_lossy(err.as_bytes()).into_owned()),
    }
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn engine_io_query() {
        let pairs: Vec<_> = query_pairs("EIO=4&transport=websocket&sid=abc%2Fdef").collect();
        assert_eq!(
            pairs,
            [
                (Cow::Borrowed("EIO"), Cow::Borrowed("4")),
                ("transport".into(), "websocket".into()),
                ("sid".into(), Cow::Owned("abc/def".to_owned())),
            ]
        );
        assert!(matches!(pairs[0].1, Cow::Borrowed(_)));
    }

    #[test]
    fn odd_elements() {
        let pairs: Vec<_> = query_pairs("a&&b=&=c&d=1=2").collect();
        assert_eq!(
            pairs,
            [
                (Cow::Borrowed("a"), Cow::Borrowed("")),
                ("b".into(), "".into()),
                ("".into(), "c".into()),
                ("d".into(), "1=2".into()),
            ]
        );
        assert_eq!(query_pairs("").count(), 0);
    }

    #[test]
    fn decoding_rules() {
        assert_eq!(percent_decode("a+b%20c"), "a b c");
        assert_eq!(percent_decode("%E2%9C%93"), "\u{2713}");
        assert_eq!(percent_decode("%2b%2B"), "++");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("%%41"), "%A");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decoding_inverts_full_encoding(s in "\\PC{0,40}") {
            let encoded: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(percent_decode(&encoded), s.as_str());
        }
    }
}
