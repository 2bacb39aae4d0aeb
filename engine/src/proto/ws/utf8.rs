//! UTF-8 validation of text messages that arrive in fragments.

use super::WsError;

/// Validates a growing buffer as bytes are appended, so invalid text fails on the fragment that
/// breaks it instead of at the end of the message.
///
/// Only the unchecked suffix is scanned each time: at most 3 bytes of an incomplete trailing
/// code point are scanned twice.
#[derive(Debug, Default)]
pub(super) struct IncrementalUtf8 {
    /// Length of the prefix known to be complete, valid UTF-8.
    checked: usize,
}

impl IncrementalUtf8 {
    /// Checks the bytes of `buf` past the validated prefix. `buf` must be the same buffer as in
    /// earlier calls with bytes only appended. An incomplete code point at the end is fine as long
    /// as it can still be completed.
    pub(super) fn feed(&mut self, buf: &[u8]) -> Result<(), WsError> {
        let rest = buf.get(self.checked..).ok_or(WsError::InvalidUtf8)?;
        match std::str::from_utf8(rest) {
            Ok(_) => self.checked = buf.len(),
            // `error_len() == None` means the input ended inside a code point that is a valid
            // prefix so far; anything else can never become valid.
            Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
            Err(_) => return Err(WsError::InvalidUtf8),
        }
        Ok(())
    }

    /// Checks the last bytes of the message: no code point may be left incomplete.
    pub(super) fn finish(&mut self, buf: &[u8]) -> Result<(), WsError> {
        self.feed(buf)?;
        if self.checked == buf.len() {
            Ok(())
        } else {
            Err(WsError::InvalidUtf8)
        }
    }

    /// Forgets the buffer, ready for the next message.
    pub(super) fn reset(&mut self) {
        self.checked = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<(), WsError> {
        let mut v = IncrementalUtf8::default();
        let mut buf = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            let cut = cut.clamp(start, bytes.len());
            buf.extend_from_slice(&bytes[start..cut]);
            v.feed(&buf)?;
            start = cut;
        }
        buf.extend_from_slice(&bytes[start..]);
        v.finish(&buf)
    }

    #[test]
    fn code_point_split_across_pieces_is_valid() {
        let text = "κόσμε 𝄞".as_bytes();
        for cut in 0..=text.len() {
            assert_eq!(feed_in_pieces(text, &[cut]), Ok(()), "cut {cut}");
        }
    }

    #[test]
    fn fails_on_the_piece_that_breaks_it() {
        let mut v = IncrementalUtf8::default();
        assert_eq!(v.feed(b"ok \xce"), Ok(()));
        assert_eq!(v.feed(b"ok \xce\xba"), Ok(()));
        assert_eq!(v.feed(b"ok \xce\xba\xff"), Err(WsError::InvalidUtf8));
    }

    #[test]
    fn impossible_prefixes_fail_at_once() {
        for bad in [&b"\xf5"[..], b"\xc0", b"\xe0\x80", b"\xed\xa0", b"\xf4\x90"] {
            assert_eq!(
                IncrementalUtf8::default().feed(bad),
                Err(WsError::InvalidUtf8),
                "{bad:x?}"
            );
        }
    }

    #[test]
    fn truncated_code_point_fails_at_finish() {
        let mut v = IncrementalUtf8::default();
        assert_eq!(v.feed(b"a\xf0\x9d\x84"), Ok(()));
        assert_eq!(v.finish(b"a\xf0\x9d\x84"), Err(WsError::InvalidUtf8));
        v.reset();
        assert_eq!(v.finish(b"a\xf0\x9d\x84\x9e"), Ok(()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn agrees_with_whole_buffer_validation(
            bytes in proptest::collection::vec(any::<u8>(), 0..24),
            cuts in proptest::collection::vec(0usize..24, 0..4),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let expected = std::str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(feed_in_pieces(&bytes, &cuts).is_ok(), expected);
        }

        #[test]
        fn valid_text_passes_any_split(
            text in "\\PC{0,12}",
            cuts in proptest::collection::vec(0usize..48, 0..4),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(feed_in_pieces(text.as_bytes(), &cuts), Ok(()));
        }
    }
}
