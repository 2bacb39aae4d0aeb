//! A validating JSON scanner that builds no tree: one linear pass over the text checks the
//! grammar of RFC 8259, bounds the nesting depth with an explicit stack (no recursion), and
//! records where the elements of a top-level array start and end, so arguments are relayed as
//! the exact bytes the client sent (key order, escapes, lone surrogates and all, as the
//! reference server's `JSON.parse`/`JSON.stringify` round trip keeps them).
//!
//! Like JavaScript's `JSON.parse`, an escaped lone surrogate (`"\ud800"`) is valid: the grammar
//! allows any `\uXXXX`; only decoding it into a Rust string refuses it (serde_json's rule).

use std::borrow::Cow;
use std::ops::Range;

use super::SioError;

/// What the scan found at the top level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Root {
    Array,
    Object,
    String,
    /// A number, `true`, `false` or `null`.
    Scalar,
}

/// What a scan records besides validating.
#[derive(Debug, Default)]
pub(crate) struct Spans {
    /// Byte ranges of the top-level array's elements (empty unless the root is an array).
    pub items: Vec<Range<u32>>,
    /// Byte ranges of every object, when asked for (binary packets check their placeholders).
    pub objects: Option<Vec<Range<u32>>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    Array,
    Object,
}

/// Validates `json` (one value, whitespace around it allowed) nested at most `max_depth` deep.
/// Fills `spans.items` for a top-level array, and `spans.objects` if it is `Some`.
pub(crate) fn scan(json: &[u8], max_depth: usize, spans: &mut Spans) -> Result<Root, SioError> {
    if json.len() > u32::MAX as usize {
        return Err(SioError::Json);
    }
    let mut s = Scanner {
        json,
        pos: 0,
        stack: Vec::new(),
        object_starts: Vec::new(),
    };
    s.ws();
    let root = match s.peek() {
        Some(b'[') => Root::Array,
        Some(b'{') => Root::Object,
        Some(b'"') => Root::String,
        Some(_) => Root::Scalar,
        None => return Err(SioError::Json),
    };
    s.value_tree(max_depth, spans)?;
    s.ws();
    if s.pos != json.len() {
        return Err(SioError::Json);
    }
    Ok(root)
}

struct Scanner<'j> {
    json: &'j [u8],
    pos: usize,
    stack: Vec<Open>,
    object_starts: Vec<usize>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), SioError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(SioError::Json)
        }
    }

    /// One whole value starting at `pos` (whitespace skipped), containers walked iteratively.
    fn value_tree(&mut self, max_depth: usize, spans: &mut Spans) -> Result<(), SioError> {
        let record_objects = spans.objects.is_some();
        loop {
            // A value starts here.
            self.ws();
            let start = self.pos;
            if self.stack.len() == 1 && self.stack[0] == Open::Array {
                spans.items.push(start as u32..start as u32);
            }
            match self.peek().ok_or(SioError::Json)? {
                open @ (b'[' | b'{') => {
                    if self.stack.len() >= max_depth {
                        return Err(SioError::TooDeep);
                    }
                    self.pos += 1;
                    self.ws();
                    if open == b'[' {
                        self.stack.push(Open::Array);
                        if self.peek() != Some(b']') {
                            continue;
                        }
                        self.pos += 1;
                        self.stack.pop();
                    } else {
                        self.stack.push(Open::Object);
                        if record_objects {
                            self.object_starts.push(start);
                        }
                        if self.peek() != Some(b'}') {
                            self.key()?;
                            continue;
                        }
                        self.pos += 1;
                        self.close_object(spans);
                    }
                }
                b'"' => self.string()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(SioError::Json),
            }
            // A value ended: close containers until one wants another value.
            loop {
                self.end_item(spans);
                let Some(&top) = self.stack.last() else {
                    return Ok(());
                };
                self.ws();
                match (self.peek(), top) {
                    (Some(b','), Open::Array) => {
                        self.pos += 1;
                        break;
                    }
                    (Some(b','), Open::Object) => {
                        self.pos += 1;
                        self.ws();
                        self.key()?;
                        break;
                    }
                    (Some(b']'), Open::Array) => {
                        self.pos += 1;
                        self.stack.pop();
                    }
                    (Some(b'}'), Open::Object) => {
                        self.pos += 1;
                        self.close_object(spans);
                    }
                    _ => return Err(SioError::Json),
                }
            }
        }
    }

    /// Marks the end of a top-level array element that just ended at `pos`.
    fn end_item(&mut self, spans: &mut Spans) {
        if self.stack.len() == 1 && self.stack[0] == Open::Array {
            if let Some(last) = spans.items.last_mut() {
                last.end = self.pos as u32;
            }
        }
    }

    fn close_object(&mut self, spans: &mut Spans) {
        self.stack.pop();
        if let (Some(objects), Some(start)) = (spans.objects.as_mut(), self.object_starts.pop()) {
            objects.push(start as u32..self.pos as u32);
        }
    }

    /// An object key and its ':'.
    fn key(&mut self) -> Result<(), SioError> {
        if self.peek() != Some(b'"') {
            return Err(SioError::Json);
        }
        self.string()?;
        self.ws();
        self.eat(b':')
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), SioError> {
        if self.json.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(SioError::Json)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), SioError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(SioError::Json),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(SioError::Json);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(SioError::Json);
            }
        }
        Ok(())
    }

    /// A string from its opening quote. The text is UTF-8 already (checked by the caller), so
    /// only quotes, escapes and control characters matter.
    fn string(&mut self) -> Result<(), SioError> {
        self.pos += 1;
        loop {
            let rest = self.json.get(self.pos..).unwrap_or_default();
            let n = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .ok_or(SioError::Json)?;
            self.pos += n;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.pos += 1
                        }
                        Some(b'u') => {
                            let hex = self.json.get(self.pos + 1..self.pos + 5);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(SioError::Json);
                            }
                            self.pos += 5;
                        }
                        _ => return Err(SioError::Json),
                    }
                }
                _ => return Err(SioError::Json),
            }
        }
    }
}

/// The text of a validated JSON string token (quotes included), unescaped; `None` if the token
/// is not a string. Borrowed when it holds no escape; a lone surrogate becomes U+FFFD, as Rust
/// strings cannot hold one (used for event names, which select a handler).
pub(crate) fn unescape_lossy(token: &str) -> Option<Cow<'_, str>> {
    let inner = token.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut units: Vec<u16> = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush_units(&mut units, &mut out);
            out.push(c);
            continue;
        }
        match chars.next()? {
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                units.push(u16::from_str_radix(&hex, 16).ok()?);
            }
            e => {
                flush_units(&mut units, &mut out);
                out.push(match e {
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    other => other,
                });
            }
        }
    }
    flush_units(&mut units, &mut out);
    Some(Cow::Owned(out))
}

fn flush_units(units: &mut Vec<u16>, out: &mut String) {
    out.extend(char::decode_utf16(units.drain(..)).map(|c| c.unwrap_or('\u{fffd}')));
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ok(json: &str) -> (Root, Vec<String>) {
        let mut spans = Spans::default();
        let root = scan(json.as_bytes(), 64, &mut spans).unwrap_or_else(|e| panic!("{json}: {e}"));
        let items = spans
            .items
            .iter()
            .map(|r| json[r.start as usize..r.end as usize].to_string())
            .collect();
        (root, items)
    }

    fn err(json: &str) -> SioError {
        scan(json.as_bytes(), 64, &mut Spans::default()).unwrap_err()
    }

    #[test]
    fn top_level_items_are_exact_spans() {
        let (root, items) =
            ok(r#" [ "chat" , {"b":1,"a":[2, 3]} ,"\ud800b", -1.5e3,true,null,[] ] "#);
        assert_eq!(root, Root::Array);
        assert_eq!(
            items,
            [
                r#""chat""#,
                r#"{"b":1,"a":[2, 3]}"#,
                r#""\ud800b""#,
                "-1.5e3",
                "true",
                "null",
                "[]"
            ]
        );
        assert_eq!(ok("[]"), (Root::Array, vec![]));
        assert_eq!(ok(r#"{"k":[1]}"#).0, Root::Object);
        assert_eq!(ok(r#""s""#).0, Root::String);
        assert_eq!(ok("0").0, Root::Scalar);
    }

    #[test]
    fn lone_surrogates_are_valid_json() {
        ok(r#"["a\ud800b","\udc00","\uDBFF\uDFFF"]"#);
    }

    #[test]
    fn malformed_json_is_refused() {
        for bad in [
            "",
            " ",
            "[",
            "]",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{a:1}",
            "{\"a\":1,}",
            "[1 2]",
            "01",
            "1.",
            "-",
            "1e",
            ".5",
            "+1",
            "tru",
            "nul",
            "\"abc",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"\\u12\"",
            "\"a\u{1}b\"",
            "[1]]",
            "[1]x",
            "{\"a\":1}}",
            "[}",
            "{]",
        ] {
            assert_eq!(err(bad), SioError::Json, "{bad:?}");
        }
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = "[".repeat(1_000_000);
        assert_eq!(
            scan(deep.as_bytes(), 1000, &mut Spans::default()),
            Err(SioError::TooDeep)
        );
        let fine = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(scan(fine.as_bytes(), 1000, &mut Spans::default()).is_ok());
        let objects = format!("{}1{}", "{\"k\":".repeat(3), "}".repeat(3));
        assert!(scan(objects.as_bytes(), 3, &mut Spans::default()).is_ok());
        assert_eq!(
            scan(objects.as_bytes(), 2, &mut Spans::default()),
            Err(SioError::TooDeep)
        );
        // Brackets inside strings are not nesting.
        assert!(scan(br#"["[[[\"{{{"]"#, 1, &mut Spans::default()).is_ok());
    }

    #[test]
    fn objects_are_recorded_when_asked() {
        let json = r#"["e",{"_placeholder":true,"num":0},[{"x":{}}]]"#;
        let mut spans = Spans {
            objects: Some(Vec::new()),
            ..Spans::default()
        };
        scan(json.as_bytes(), 8, &mut spans).unwrap();
        let mut objects: Vec<&str> = spans
            .objects
            .unwrap()
            .iter()
            .map(|r| &json[r.start as usize..r.end as usize])
            .collect();
        objects.sort();
        assert_eq!(
            objects,
            [r#"{"_placeholder":true,"num":0}"#, r#"{"x":{}}"#, "{}"]
        );
    }

    #[test]
    fn string_tokens_unescape() {
        assert_eq!(unescape_lossy(r#""plain""#), Some(Cow::Borrowed("plain")));
        assert_eq!(
            unescape_lossy(r#""a\"b\u00e9\n\ud83d\ude00\/""#).as_deref(),
            Some("a\"bé\n😀/")
        );
        assert_eq!(
            unescape_lossy(r#""a\ud800b""#).as_deref(),
            Some("a\u{fffd}b")
        );
        assert_eq!(unescape_lossy(r#""\udc00""#).as_deref(), Some("\u{fffd}"));
        assert_eq!(unescape_lossy("12"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn unescaping_agrees_with_serde_json(s in ".{0,16}") {
            let token = serde_json::to_string(&s).unwrap();
            let back = unescape_lossy(&token).map(Cow::into_owned);
            prop_assert_eq!(back, Some(s));
        }

        /// Agrees with serde_json on what is JSON (for text without lone surrogates, which
        /// serde_json refuses and JavaScript accepts).
        #[test]
        fn agrees_with_serde_json(text in r#"[\[\]{}",:a-z0-9.eE+\- \\]{0,24}"#) {
            let ours = scan(text.as_bytes(), 128, &mut Spans::default()).is_ok();
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
            prop_assert_eq!(ours, theirs, "{}", text);
        }

        #[test]
        fn items_of_serialised_arrays_round_trip(items in proptest::collection::vec(
            prop_oneof![
                any::<i64>().prop_map(|n| serde_json::json!(n)),
                ".{0,8}".prop_map(|s| serde_json::json!(s)),
                (".{0,4}", any::<bool>()).prop_map(|(k, b)| serde_json::json!({ k: [b, null] })),
            ],
            0..6,
        )) {
            let text = serde_json::to_string(&items).unwrap();
            let mut spans = Spans::default();
            prop_assert_eq!(scan(text.as_bytes(), 8, &mut spans), Ok(Root::Array));
            let back: Vec<serde_json::Value> = spans
                .items
                .iter()
                .map(|r| serde_json::from_str(&text[r.start as usize..r.end as usize]).unwrap())
                .collect();
            prop_assert_eq!(back, items);
        }
    }
}
