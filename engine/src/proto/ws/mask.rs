//! Payload masking (RFC 6455 §5.3): XOR with a 4-byte key, the same operation both ways.

/// XORs `buf` in place with `mask`, where `buf[0]` sits at byte `offset` of the frame payload
/// (so a payload can be unmasked in pieces). Masking and unmasking are the same operation.
///
/// Whole 8-byte words are XORed as `u64`, the remainder byte by byte.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    // Rotating the key by the offset lets every word below start at key index 0.
    let mut key = mask;
    key.rotate_left(offset % 4);
    let word_key = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);

    let mut words = buf.chunks_exact_mut(8);
    for chunk in &mut words {
        if let Ok(bytes) = <[u8; 8]>::try_from(&*chunk) {
            let word = u64::from_ne_bytes(bytes) ^ word_key;
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
    }
    // Each word covers exactly two key periods, so the tail starts at key index 0 again.
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(buf: &mut [u8], mask: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= mask[(offset + i) % 4];
        }
    }

    #[test]
    fn rfc_hello_example() {
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    #[test]
    fn empty_buffer_is_untouched() {
        let mut payload: [u8; 0] = [];
        apply_mask(&mut payload, [1, 2, 3, 4], 3);
        assert!(payload.is_empty());
    }

    #[test]
    fn offset_continues_the_key_sequence() {
        let mask = [0xa1, 0xb2, 0xc3, 0xd4];
        let original: Vec<u8> = (0u8..=40).collect();
        let mut whole = original.clone();
        apply_mask(&mut whole, mask, 0);
        let mut pieces = original;
        let (head, tail) = pieces.split_at_mut(7);
        apply_mask(head, mask, 0);
        apply_mask(tail, mask, 7);
        assert_eq!(whole, pieces);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_bytewise_reference(
            data in proptest::collection::vec(any::<u8>(), 0..100),
            mask in any::<[u8; 4]>(),
            offset in 0usize..16,
        ) {
            let mut fast = data.clone();
            apply_mask(&mut fast, mask, offset);
            let mut slow = data.clone();
            naive(&mut slow, mask, offset);
            prop_assert_eq!(&fast, &slow);
            apply_mask(&mut fast, mask, offset);
            prop_assert_eq!(fast, data);
        }
    }
}
