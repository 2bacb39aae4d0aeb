//! Session ids that name their owning worker, so any worker can route a request by sid alone.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use sha1::{Digest, Sha1};

/// Length of a sid in characters.
pub const SID_LEN: usize = 20;

/// Random bytes per sid: 96 bits make a guess or a collision hopeless.
const RANDOM_LEN: usize = 12;

/// Raw bytes behind a sid: random, worker index (big-endian), check byte.
const RAW_LEN: usize = 15;

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < URL_SAFE.len() {
        table[URL_SAFE[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// A session id: 20 URL-safe base64 characters encoding 12 random bytes, the owning worker's
/// index and a check byte.
///
/// The check byte is no secret; it only lets [`Sid::parse`] turn away almost all garbage or
/// mistyped ids before a session lookup or a cross-worker hop.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sid([u8; SID_LEN]);

impl Hash for Sid {
    /// Hashes the first eight characters only: they encode six of the random bytes, plenty to
    /// tell sids apart, and equal sids still hash alike.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

/// The hasher of [`SidMap`] and [`SidSet`]: one folded multiply instead of SipHash. Sids are
/// drawn from the OS's randomness by the server, and only the server inserts them, so nobody
/// can choose keys that collide; what a keyed hash would add here is only its cost (it was the
/// top user-space item of a broadcast's delivery loop). Other keys are folded a byte at a time.
#[derive(Clone, Copy, Default)]
pub struct SidHasher(u64);

/// An odd constant with well-spread bits (2^64 / golden ratio).
const FOLD: u64 = 0x9e37_79b9_7f4a_7c15;

fn fold(x: u64) -> u64 {
    let m = u128::from(x) * u128::from(FOLD);
    (m as u64) ^ ((m >> 64) as u64)
}

impl Hasher for SidHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = fold(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = fold(self.0 ^ n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map keyed by session id, hashed with [`SidHasher`].
pub type SidMap<V> = HashMap<Sid, V, BuildHasherDefault<SidHasher>>;

/// A set of session ids, hashed with [`SidHasher`].
pub type SidSet = HashSet<Sid, BuildHasherDefault<SidHasher>>;

impl Sid {
    /// Makes a fresh sid owned by `worker`, drawing randomness from `rng`.
    pub fn generate(worker: u16, rng: &mut SidRng) -> Sid {
        let random = rng.take();
        let [w0, w1] = worker.to_be_bytes();
        let mut raw = [0u8; RAW_LEN];
        for (dst, src) in raw.iter_mut().zip(random.iter().chain(&[w0, w1])) {
            *dst = *src;
        }
        raw[RAW_LEN - 1] = check_byte(&raw);
        Sid(encode(&raw))
    }

    /// Parses a sid from a query value; `None` unless it has the right length, alphabet and
    /// check byte.
    pub fn parse(s: &str) -> Option<Sid> {
        Self::from_bytes(s.as_bytes())
    }

    /// Like [`Sid::parse`], for a query value still in bytes.
    pub fn from_bytes(b: &[u8]) -> Option<Sid> {
        let chars: [u8; SID_LEN] = b.try_into().ok()?;
        let raw = decode(&chars)?;
        (raw.last() == Some(&check_byte(&raw))).then_some(Sid(chars))
    }

    /// A socket id another server made (a Node server's, or a Volley server's with other
    /// workers), taken over by a socket restored here: any 20 URL-safe base64 characters, as
    /// the reference's `base64id` makes them, check byte unchecked. The worker it names may
    /// not exist here: route it with [`Sid::home`].
    pub fn adopt(s: &str) -> Option<Sid> {
        let chars: [u8; SID_LEN] = s.as_bytes().try_into().ok()?;
        decode(&chars)?;
        Some(Sid(chars))
    }

    /// The worker, of `workers`, that messages for this id go to first: the one it names, or
    /// for an adopted id naming none here, one picked from it (that worker forwards them to
    /// the socket's own, see `Recovery::worker_of`).
    pub fn home(&self, workers: usize) -> usize {
        usize::from(self.worker()) % workers.max(1)
    }

    /// Index of the worker that owns this session.
    pub fn worker(&self) -> u16 {
        // A sid is only built by `generate` or a validating parse, so decoding cannot fail.
        match decode(&self.0) {
            Some(raw) => u16::from_be_bytes([raw[RANDOM_LEN], raw[RANDOM_LEN + 1]]),
            None => 0,
        }
    }

    /// The sid as text.
    pub fn as_str(&self) -> &str {
        // Always ASCII: only alphabet characters ever get into a `Sid`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The sid as ASCII bytes.
    pub fn as_bytes(&self) -> &[u8; SID_LEN] {
        &self.0
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Mixes the worker index and random bytes into one byte; the last raw byte is ignored.
fn check_byte(raw: &[u8; RAW_LEN]) -> u8 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in raw.iter().take(RAW_LEN - 1) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let [a, b, c, d] = h.to_le_bytes();
    a ^ b ^ c ^ d
}

fn encode(raw: &[u8; RAW_LEN]) -> [u8; SID_LEN] {
    let mut out = [0u8; SID_LEN];
    for (group, dst) in raw.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
        let &[a, b, c] = group else { continue };
        let acc = u32::from_be_bytes([0, a, b, c]);
        for (i, d) in dst.iter_mut().enumerate() {
            *d = URL_SAFE[((acc >> (18 - 6 * i)) & 0x3f) as usize];
        }
    }
    out
}

fn decode(chars: &[u8; SID_LEN]) -> Option<[u8; RAW_LEN]> {
    let mut raw = [0u8; RAW_LEN];
    for (quad, dst) in chars.chunks_exact(4).zip(raw.chunks_exact_mut(3)) {
        let mut acc = 0u32;
        for &c in quad {
            let v = DECODE[usize::from(c)];
            if v == INVALID {
                return None;
            }
            acc = (acc << 6) | u32::from(v);
        }
        let [_, a, b, c] = acc.to_be_bytes();
        dst.copy_from_slice(&[a, b, c]);
    }
    Some(raw)
}

/// Sids drawn per `getrandom` call, so handshakes almost never make a syscall.
const BUFFERED_SIDS: usize = 256;

/// A per-worker buffer of CSPRNG bytes for [`Sid::generate`].
///
/// It holds 256 sids' worth of randomness (about 3 KiB) and refills from `getrandom` when empty.
/// Should a refill ever fail, it derives the next buffer by hashing a secret key drawn at creation
/// (and never put in a sid) with a counter, so sids stay unguessable and `generate` never fails.
pub struct SidRng {
    buf: [u8; RANDOM_LEN * BUFFERED_SIDS],
    pos: usize,
    key: [u8; 32],
    rekeys: u64,
}

impl SidRng {
    /// Seeds a new buffer from the OS; fails only if the OS has no randomness to give.
    pub fn new() -> Result<Self, getrandom::Error> {
        let mut rng = Self {
            buf: [0; RANDOM_LEN * BUFFERED_SIDS],
            pos: 0,
            key: [0; 32],
            rekeys: 0,
        };
        getrandom::getrandom(&mut rng.key)?;
        getrandom::getrandom(&mut rng.buf)?;
        Ok(rng)
    }

    fn take(&mut self) -> [u8; RANDOM_LEN] {
        let mut next = self.buf.get(self.pos..self.pos + RANDOM_LEN);
        if next.is_none() {
            self.refill();
            next = self.buf.get(..RANDOM_LEN);
        }
        let mut out = [0u8; RANDOM_LEN];
        if let Some(bytes) = next {
            out.copy_from_slice(bytes);
        }
        self.pos = self.pos.saturating_add(RANDOM_LEN);
        out
    }

    fn refill(&mut self) {
        if getrandom::getrandom(&mut self.buf).is_err() {
            self.rekey();
        }
        self.pos = 0;
    }

    fn rekey(&mut self) {
        self.rekeys = self.rekeys.wrapping_add(1);
        for (i, block) in self.buf.chunks_mut(20).enumerate() {
            let digest = Sha1::new()
                .chain_update(self.key)
                .chain_update(self.rekeys.to_le_bytes())
                .chain_update((i as u64).to_le_bytes())
                .finalize();
            for (dst, src) in block.iter_mut().zip(digest.iter()) {
                *dst = *src;
            }
        }
    }
}

impl fmt::Debug for SidRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The buffer holds future sids; never print it.
        f.debug_struct("SidRng")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    /// A Node server's socket id (base64id: 20 URL-safe characters, no check byte) is adopted
    /// as it is, and routed to a worker that exists; a malformed one is not.
    #[test]
    fn ids_of_other_servers_are_adopted_and_routed_here() {
        let node = "ZtO6vJGmz0-Yj8xtAAAB";
        assert!(Sid::parse(node).is_none(), "no check byte");
        let sid = Sid::adopt(node).expect("adopted");
        assert_eq!(sid.as_str(), node);
        assert!(sid.home(3) < 3);
        assert!(Sid::adopt("short").is_none());
        assert!(Sid::adopt("ZtO6vJGmz0+Yj8xtAAAB").is_none(), "not URL-safe");
        let mut rng = SidRng::new().unwrap();
        let own = Sid::generate(2, &mut rng);
        assert_eq!(Sid::adopt(own.as_str()), Some(own));
        assert_eq!(own.home(4), 2);
    }

    #[test]
    fn sid_hashes_spread_over_the_bits_hash_tables_use() {
        let mut rng = SidRng::new().unwrap();
        let build = BuildHasherDefault::<SidHasher>::default();
        let sids: Vec<Sid> = (0..65_536).map(|_| Sid::generate(3, &mut rng)).collect();
        let hashes: Vec<u64> = sids.iter().map(|s| build.hash_one(s)).collect();
        // Equal sids hash alike; distinct ones (almost surely) do not.
        assert_eq!(
            build.hash_one(sids[0]),
            build.hash_one(Sid::parse(sids[0].as_str()).unwrap())
        );
        assert_eq!(hashes.iter().collect::<HashSet<_>>().len(), hashes.len());
        // hashbrown picks the bucket from the low bits and its tag from the top 7: both must be
        // even. 64 per bucket expected; a skewed hash would leave buckets empty or doubled.
        let mut low = [0u32; 1024];
        let mut top = [0u32; 128];
        for h in &hashes {
            low[(h & 1023) as usize] += 1;
            top[(h >> 57) as usize] += 1;
        }
        assert!(
            low.iter().all(|&n| (16..=112).contains(&n)),
            "low bits: {low:?}"
        );
        assert!(
            top.iter().all(|&n| (384..=640).contains(&n)),
            "top bits: {top:?}"
        );
    }

    #[test]
    fn ten_thousand_unique_url_safe_sids() {
        let mut rng = SidRng::new().unwrap();
        let mut seen = HashSet::new();
        for i in 0..10_000u32 {
            let worker = (i % 7) as u16 * 9000;
            let sid = Sid::generate(worker, &mut rng);
            let s = sid.as_str();
            assert_eq!(s.len(), SID_LEN);
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            assert_eq!(sid.worker(), worker);
            assert_eq!(Sid::parse(s), Some(sid));
            assert!(seen.insert(sid));
        }
    }

    #[test]
    fn worker_extremes_round_trip() {
        let mut rng = SidRng::new().unwrap();
        for worker in [0, 1, 255, 256, u16::MAX] {
            let sid = Sid::generate(worker, &mut rng);
            assert_eq!(Sid::parse(sid.as_str()).map(|s| s.worker()), Some(worker));
        }
    }

    #[test]
    fn parse_rejects_bad() {
        let mut rng = SidRng::new().unwrap();
        let good = Sid::generate(3, &mut rng);
        let s = good.as_str();
        assert_eq!(Sid::parse(""), None);
        assert_eq!(Sid::parse(&s[..19]), None);
        assert_eq!(Sid::parse(&format!("{s}A")), None);
        assert_eq!(Sid::parse(&format!("{}+", &s[..19])), None);
        assert_eq!(Sid::parse(&format!("{}=", &s[..19])), None);
        assert_eq!(Sid::parse("lv_VI97HAXpY6yYWAAA\u{e9}"), None);
        // Changing any one character breaks the check byte or the worker it names.
        let mut flipped = 0;
        for i in 0..SID_LEN {
            let mut b = *good.as_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            if Sid::from_bytes(&b).is_none() {
                flipped += 1;
            }
        }
        assert!(
            flipped >= SID_LEN - 2,
            "only {flipped} single-char edits rejected"
        );
        let forged = (0..1000)
            .filter(|i| Sid::parse(&format!("{i:0>20}")).is_some())
            .count();
        assert!(forged < 20, "{forged} of 1000 arbitrary ids accepted");
    }

    #[test]
    fn refill_and_rekey_keep_sids_fresh() {
        let mut rng = SidRng::new().unwrap();
        let mut seen = HashSet::new();
        for _ in 0..BUFFERED_SIDS * 2 + 3 {
            assert!(seen.insert(Sid::generate(1, &mut rng)));
        }
        let before = rng.buf;
        rng.rekey();
        assert_ne!(rng.buf, before);
        let first = rng.buf;
        rng.rekey();
        assert_ne!(rng.buf, first);
        rng.pos = 0;
        for _ in 0..BUFFERED_SIDS {
            assert!(seen.insert(Sid::generate(1, &mut rng)));
        }
    }
}
