//! A provided-buffer ring: a pool of equal receive buffers the kernel picks from when a multishot
//! receive completes, so no buffer is tied to an idle connection. A buffer belongs to the
//! kernel from the moment it is published on the ring until a completion names it, and to us
//! from then until [`BufRing::recycle`] publishes it again.

use std::alloc::{self, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::IoUring;

/// Alignment the kernel requires of the ring of entries.
const PAGE: usize = 4096;

/// The buffers of one worker and the ring that lends them to the kernel.
pub(crate) struct BufRing {
    /// `count` ring entries, page-aligned, shared with the kernel.
    entries: NonNull<BufRingEntry>,
    entries_layout: Layout,
    /// `count * size` bytes of buffers; buffer `bid` starts at `bid * size`.
    mem: NonNull<u8>,
    mem_layout: Layout,
    count: u16,
    size: u32,
    /// Our copy of the ring's tail: the next entry to publish.
    tail: u16,
    /// The buffer group id receives name.
    bgid: u16,
}

// SAFETY: the ring only holds pointers to its own allocations; moving it to the worker thread
// that uses it moves their ownership along.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Allocates `count` buffers of `size` bytes (`count` a power of two, at most 32768) for
    /// buffer group `bgid`, all of them published.
    pub fn new(count: u16, size: u32, bgid: u16) -> io::Result<BufRing> {
        let invalid = |what| io::Error::new(io::ErrorKind::InvalidInput, what);
        if !count.is_power_of_two() || count > 32768 || size == 0 {
            return Err(invalid(
                "buffer ring: count must be a power of two up to 32768",
            ));
        }
        let entries_layout = Layout::from_size_align(
            usize::from(count) * std::mem::size_of::<BufRingEntry>(),
            PAGE,
        )
        .map_err(|_| invalid("buffer ring too large"))?;
        let total = usize::from(count)
            .checked_mul(size as usize)
            .ok_or_else(|| invalid("buffer ring too large"))?;
        let mem_layout =
            Layout::from_size_align(total, PAGE).map_err(|_| invalid("buffer ring too large"))?;
        // SAFETY: both layouts have a non-zero size (count and size are non-zero).
        let (entries, mem) = unsafe {
            (
                alloc::alloc_zeroed(entries_layout),
                alloc::alloc(mem_layout),
            )
        };
        let (Some(entries), Some(mem)) = (NonNull::new(entries.cast()), NonNull::new(mem)) else {
            // SAFETY: each pointer is freed only if it was allocated, with its own layout.
            unsafe {
                if !entries.is_null() {
                    alloc::dealloc(entries, entries_layout);
                }
                if !mem.is_null() {
                    alloc::dealloc(mem, mem_layout);
                }
            }
            return Err(io::ErrorKind::OutOfMemory.into());
        };
        let mut ring = BufRing {
            entries,
            entries_layout,
            mem,
            mem_layout,
            count,
            size,
            tail: 0,
            bgid,
        };
        for bid in 0..count {
            ring.put(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// The buffer group id to name in receives.
    pub fn bgid(&self) -> u16 {
        self.bgid
    }

    /// Registers the ring with `ring`'s kernel side.
    pub fn register(&self, ring: &IoUring) -> io::Result<()> {
        // SAFETY: the entries stay allocated until `self` is dropped, and the owner drops it only
        // after unregistering it or after the ring is gone (see `UringIo`'s teardown).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                self.entries.as_ptr() as u64,
                self.count,
                self.bgid,
                0,
            )
        }
    }

    /// Where buffer `bid` holds the `len` bytes a completion reported, if both are in range.
    pub fn filled(&self, bid: u16, len: usize) -> Option<NonNull<u8>> {
        if bid >= self.count || len > self.size as usize {
            return None;
        }
        let offset = usize::from(bid) * self.size as usize;
        // SAFETY: `offset` is below `count * size`, inside the buffer allocation.
        NonNull::new(unsafe { self.mem.as_ptr().add(offset) })
    }

    /// Buffer `bid`, which a completion handed over holding `len` bytes, lent until the lease
    /// drops and gives it back to the kernel. `None` for an unknown buffer, and for a length past
    /// its size (given back at once).
    pub fn lease(&mut self, bid: u16, len: usize) -> Option<Lease<'_>> {
        if bid >= self.count {
            return None;
        }
        if len > self.size as usize {
            self.recycle(bid);
            return None;
        }
        Some(Lease {
            ring: self,
            bid,
            len,
        })
    }

    /// Gives buffer `bid` back to the kernel once its bytes were parsed or copied.
    pub fn recycle(&mut self, bid: u16) {
        if bid < self.count {
            self.put(bid);
            self.publish();
        }
    }

    /// The bytes of leased buffer `bid`.
    fn leased(&self, bid: u16, len: usize) -> &[u8] {
        let ptr = self.filled(bid, len).expect("a leased buffer is in range");
        // SAFETY: the completion handed buffer `bid` over, so the kernel does not write it until
        // it is recycled, which only the lease's drop does; `filled` checked the range.
        unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len) }
    }

    /// [`BufRing::leased`], writable: the lease holds the ring mutably, so no other slice of
    /// the buffer exists.
    fn leased_mut(&mut self, bid: u16, len: usize) -> &mut [u8] {
        let ptr = self.filled(bid, len).expect("a leased buffer is in range");
        // SAFETY: as in `leased`, and `&mut self` rules out any other borrow of the buffer.
        unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), len) }
    }

    /// Writes buffer `bid` into the next free entry (not yet visible to the kernel).
    fn put(&mut self, bid: u16) {
        let index = usize::from(self.tail & (self.count - 1));
        let addr = self.mem.as_ptr() as u64 + u64::from(bid) * u64::from(self.size);
        // SAFETY: `index < count`; the entry at the tail is not owned by the kernel, which only
        // reads entries below the published tail.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        entry.set_addr(addr);
        entry.set_len(self.size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every entry written so far visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field lives inside the first entry, which is part of our allocation;
        // the kernel reads it concurrently, hence the atomic release store.
        unsafe {
            let tail = BufRingEntry::tail(self.entries.as_ptr()) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Gives up the memory without freeing it: used when the kernel may still write to it.
    pub fn leak(self) {
        std::mem::forget(self);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both pointers come from `alloc` with these layouts and are freed once.
        unsafe {
            alloc::dealloc(self.entries.as_ptr().cast(), self.entries_layout);
            alloc::dealloc(self.mem.as_ptr(), self.mem_layout);
        }
    }
}

/// A receive buffer lent to the worker by its completion ([`BufRing::lease`]): the bytes it
/// received, for as long as the lease lives; dropping it recycles the buffer.
pub(crate) struct Lease<'r> {
    ring: &'r mut BufRing,
    bid: u16,
    len: usize,
}

impl std::ops::Deref for Lease<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.ring.leased(self.bid, self.len)
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.ring.leased_mut(self.bid, self.len)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.ring.recycle(self.bid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_shapes() {
        assert!(BufRing::new(3, 16, 0).is_err());
        assert!(BufRing::new(4, 0, 0).is_err());
    }

    #[test]
    fn publishes_every_buffer_and_recycles_in_ring_order() {
        let mut ring = BufRing::new(4, 16, 7).unwrap();
        assert_eq!(ring.bgid(), 7);
        assert_eq!(ring.tail, 4);
        // SAFETY: reading back our own entries in a test, with no kernel attached.
        let read = |r: &BufRing, i: usize| unsafe { &*r.entries.as_ptr().add(i) };
        for bid in 0..4u16 {
            let e = read(&ring, usize::from(bid));
            assert_eq!(e.bid(), bid);
            assert_eq!(e.len(), 16);
            assert_eq!(e.addr(), ring.filled(bid, 16).unwrap().as_ptr() as u64);
        }
        ring.recycle(2);
        // The fifth entry wraps to index 0; the shared tail counts on.
        assert_eq!(read(&ring, 0).bid(), 2);
        assert_eq!(ring.tail, 5);
        ring.recycle(9);
        assert_eq!(ring.tail, 5, "an unknown buffer id is ignored");
    }

    #[test]
    fn a_lease_lends_the_bytes_and_gives_the_buffer_back_when_dropped() {
        let mut ring = BufRing::new(4, 16, 0).unwrap();
        {
            let mut lease = ring.lease(1, 5).unwrap();
            lease.copy_from_slice(b"hello");
            assert_eq!(&*lease, b"hello");
        }
        assert_eq!(ring.tail, 5, "dropping the lease recycled the buffer");
        assert!(ring.lease(4, 1).is_none(), "an unknown buffer");
        assert_eq!(ring.tail, 5);
        assert!(ring.lease(2, 17).is_none(), "a length past the buffer");
        assert_eq!(ring.tail, 6, "the buffer went back at once");
    }

    #[test]
    fn filled_checks_bounds() {
        let ring = BufRing::new(2, 8, 0).unwrap();
        assert!(ring.filled(1, 8).is_some());
        assert!(ring.filled(1, 9).is_none());
        assert!(ring.filled(2, 1).is_none());
        let a = ring.filled(0, 1).unwrap().as_ptr() as usize;
        let b = ring.filled(1, 1).unwrap().as_ptr() as usize;
        assert_eq!(b - a, 8);
    }
}
