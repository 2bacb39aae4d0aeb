//! What permessage-deflate's state costs per connection, measured by counting the allocator's
//! live bytes: the compressor kept with context takeover, none kept without it, the
//! decompressor, and a compression bomb inflated against the limit (peak, not just the end).
//! One test, so no other thread allocates while it counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use volley::proto::ws::{Deflater, Inflater, WsError};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        // SAFETY: the caller's layout, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const KIB: usize = 1024;

/// Live bytes `f` leaves behind, and the most it had at once above the start.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let out = f();
    let after = LIVE.load(Relaxed);
    (
        out,
        after.saturating_sub(before),
        PEAK.load(Relaxed) - before,
    )
}

#[test]
fn state_per_connection_is_bounded() {
    let message: Vec<u8> = (0..2000u32)
        .flat_map(|i| format!("{{\"id\":{i},\"text\":\"hi\"}}").into_bytes())
        .collect();
    let mut compressed = Vec::with_capacity(message.len());

    for bits in [15u8, 9] {
        let mut d = Deflater::new(bits, false);
        let ((), kept, _) = measure(|| d.deflate(&message, &mut compressed));
        eprintln!(
            "compressor kept with context takeover, {bits} window bits: {} KiB",
            kept / KIB
        );
        assert!((100 * KIB..450 * KIB).contains(&kept), "{kept}");
    }

    let mut d = Deflater::new(15, true);
    compressed.clear();
    let ((), kept, peak) = measure(|| d.deflate(&message, &mut compressed));
    eprintln!(
        "without context takeover: {kept} B kept, {} KiB at the peak",
        peak / KIB
    );
    assert_eq!(kept, 0, "no compressor kept between messages");

    let mut i = Inflater::new(15, false);
    let mut out = Vec::with_capacity(message.len() + 64 * KIB);
    let (r, kept, _) = measure(|| {
        i.inflate(&compressed, &mut out, 1 << 20)?;
        i.finish(&mut out, 1 << 20)
    });
    r.unwrap();
    assert_eq!(out, message);
    eprintln!("decompressor kept: {} KiB", kept / KIB);
    assert!(kept < 64 * KIB, "{kept}");

    let mut bomb = Vec::new();
    Deflater::new(15, true).deflate(&vec![0u8; 64 << 20], &mut bomb);
    let mut i = Inflater::new(15, true);
    let mut out = Vec::new();
    let (r, _, peak) = measure(|| i.inflate(&bomb, &mut out, 1 << 20));
    assert_eq!(r, Err(WsError::TooBig));
    eprintln!(
        "a 64 MiB bomb against a 1 MiB limit peaked at {} KiB",
        peak / KIB
    );
    // The buffer grows by doubling up to the limit (a reallocation briefly holds the old one
    // too): bounded by the limit, never by what the bomb inflates to.
    assert!(peak < 3 << 20, "{peak}");
}
