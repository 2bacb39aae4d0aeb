//! A small, fast PRNG (SplitMix64) for WebSocket mask keys and handshake nonces.
//!
//! RFC 6455 asks for unpredictable mask keys so that a page's script cannot steer the bytes a
//! proxy sees; a native client has no hostile script in its process, so a per-connection seed
//! from the OS (see [`Rng::from_os`]) followed by a cheap generator is enough, and it costs no
//! syscall per frame.

/// SplitMix64: one add and three multiply-xor-shift steps per 64 bits.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator starting from `seed`; equal seeds give equal sequences (handy in tests).
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator seeded from the operating system, or from the clock and a stack address when
    /// the OS source fails (the keys need not be secret, only varied).
    pub fn from_os() -> Self {
        let mut seed = [0u8; 8];
        if getrandom::getrandom(&mut seed).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let local = 0u8;
            let addr = std::ptr::addr_of!(local) as usize as u64;
            seed = ((nanos as u64) ^ addr.rotate_left(32)).to_le_bytes();
        }
        Self::new(u64::from_le_bytes(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A WebSocket mask key.
    pub fn mask(&mut self) -> [u8; 4] {
        let [a, b, c, d, ..] = self.next_u64().to_le_bytes();
        [a, b, c, d]
    }

    /// 16 random bytes, e.g. the `Sec-WebSocket-Key` nonce.
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        out
    }

    /// A float uniformly drawn from `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // The top 53 bits fill an f64 mantissa exactly.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 0, as in the reference C implementation.
        let mut rng = Rng::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn masks_vary_and_floats_stay_in_range() {
        let mut rng = Rng::new(42);
        let a = rng.mask();
        let b = rng.mask();
        assert_ne!(a, b);
        assert_ne!(rng.bytes16(), rng.bytes16());
        for _ in 0..1000 {
            let f = rng.next_f64();
            assert!((0.0..1.0).contains(&f));
        }
        assert!(Rng::from_os().next_u64() != Rng::from_os().next_u64());
    }
}
