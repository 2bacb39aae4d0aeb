//! Per-connection write queue: ordered byte chunks flushed to the socket with vectored writes.
//!
//! Shared frames (one broadcast encoded once for thousands of sockets) are queued by reference
//! count, never copied. Small owned writes (control frames, acks) are copied into one growable
//! tail buffer so that a burst of them costs one iovec instead of one each. The tail is frozen
//! into a chunk (no copy) before anything is queued behind it and at each flush, which keeps the
//! byte order exactly the push order.

use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Most iovecs handed to one `write_vectored` call (Linux allows 1024; past a few dozen the
/// kernel copy, not the syscall, dominates).
const MAX_IOVECS: usize = 64;
/// Most bytes one coalesced chunk holds (see [`OutQueue::coalesce_front`]).
const COALESCE_BYTES: usize = 64 * 1024;
/// Chunks up to this size are copied when coalescing; larger ones are written as they are.
const COALESCE_CHUNK: usize = 4 * 1024;
/// Room for entries a drained queue keeps; past it the deque gives its memory back, so a reader
/// that once fell far behind does not hold it for the rest of its session.
const IDLE_ENTRIES: usize = 64;

/// Outcome of [`OutQueue::flush_to`] when no I/O error occurred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything queued was written; the queue is empty.
    Drained,
    /// The writer returned `WouldBlock`; wait for writability and flush again.
    Blocked,
}

/// An ordered queue of outgoing bytes for one connection.
///
/// The queue enforces no size limit itself: the connection compares
/// [`queued_bytes`](Self::queued_bytes) against its configured high-water mark after pushing
/// and applies backpressure or drops the peer.
#[derive(Debug, Default)]
pub struct OutQueue {
    /// Chunks in write order; the front one may be partly written (it is advanced in place).
    chunks: VecDeque<Bytes>,
    /// Bytes left in `chunks`.
    chunk_bytes: usize,
    /// Owned bytes queued after every chunk, not yet frozen.
    tail: BytesMut,
    /// Bumped by [`clear`](Self::clear), so a write that completes after the queue was dropped
    /// does not advance what was queued since.
    epoch: u64,
    /// Bytes that left the queue since it was made, written or dropped: the stream offset of
    /// the first byte still queued.
    left: u64,
    /// Bytes written from the front chunk so far: its buffer holds them until the whole chunk
    /// is written (a coalesced 64 KiB chunk written in parts holds all 64 KiB).
    front_written: usize,
}

impl OutQueue {
    /// Creates an empty queue; it allocates on the first push.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues a shared slice without copying it; empty slices are ignored.
    pub fn push_shared(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.seal_tail();
        self.chunk_bytes = self.chunk_bytes.saturating_add(bytes.len());
        self.chunks.push_back(bytes);
    }

    /// Copies small owned bytes into the coalescing tail, after everything queued so far.
    pub fn push_copy(&mut self, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
    }

    /// The coalescing tail, for encoders that write frames straight into the queue.
    ///
    /// Bytes appended here are sent after everything queued before the call. The tail only ever
    /// holds unsent bytes, so the caller may also truncate what it just appended (for example
    /// to undo a half-encoded frame); [`queued_bytes`](Self::queued_bytes) follows.
    pub fn tail_mut(&mut self) -> &mut BytesMut {
        &mut self.tail
    }

    /// Exact number of bytes still to be written, including the unsent part of a partly
    /// written chunk.
    pub fn queued_bytes(&self) -> usize {
        self.chunk_bytes.saturating_add(self.tail.len())
    }

    /// Memory the queue holds for its peer: the bytes still to write, what was written of the
    /// front chunk (its buffer is freed only once all of it is), plus the room for its
    /// entries (a `Bytes` per chunk, at the capacity the deque grew to), which with small
    /// broadcast frames is as much again as the bytes. A frame shared by many queues counts
    /// in each, as if each were its last holder. A drained queue counts nothing.
    pub fn footprint(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        self.queued_bytes()
            .saturating_add(self.front_written)
            .saturating_add(self.chunks.capacity() * std::mem::size_of::<Bytes>())
    }

    /// The stream offset of the first byte still queued: every byte before it was written (or
    /// dropped by [`clear`](Self::clear)).
    pub fn left(&self) -> u64 {
        self.left
    }

    /// The stream offset just past the last byte queued.
    pub fn end(&self) -> u64 {
        self.left + self.queued_bytes() as u64
    }

    /// Whether nothing is left to write.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.tail.is_empty()
    }

    /// Writes queued bytes with `write_vectored` (up to 64 slices per call; `write` for a single
    /// slice) until the queue is drained or the writer returns `WouldBlock`.
    ///
    /// A partial write is resumed at the exact byte on the next call; `Interrupted` is retried.
    /// Any other error is returned with the unwritten bytes still queued. A writer that accepts
    /// zero bytes yields `WriteZero`, and one that claims more bytes than it was given yields
    /// `InvalidData` (nothing is consumed), since either means the stream is broken.
    pub fn flush_to<W: Write>(&mut self, w: &mut W) -> io::Result<Flush> {
        self.seal_tail();
        while !self.chunks.is_empty() {
            self.coalesce_front();
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let mut count = 0;
            let mut offered = 0usize;
            for (slice, chunk) in slices.iter_mut().zip(&self.chunks) {
                *slice = IoSlice::new(chunk);
                count += 1;
                offered = offered.saturating_add(chunk.len());
            }
            // One slice is a plain `send` on a socket: no iovec for the kernel to import.
            let result = if count == 1 {
                w.write(&slices[0])
            } else {
                w.write_vectored(&slices[..count])
            };
            let written = match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) if n > offered => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "writer reported more bytes than it was given",
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) => return Err(e),
            };
            self.consume(written);
        }
        Ok(Flush::Drained)
    }

    /// Drops everything queued (the connection is closing).
    pub fn clear(&mut self) {
        self.left += self.queued_bytes() as u64;
        self.chunks.clear();
        self.chunks.shrink_to(IDLE_ENTRIES);
        self.front_written = 0;
        self.chunk_bytes = 0;
        self.tail.clear();
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// For writers that complete later (io_uring): appends to `out` clones of the first `max`
    /// queued chunks (reference counts, no copy) and returns how many bytes they hold. The
    /// chunks stay queued until [`advance`](Self::advance) reports them written, so the clones
    /// keep the memory alive for the kernel even if the queue is cleared meanwhile.
    pub fn batch(&mut self, out: &mut Vec<Bytes>, max: usize) -> usize {
        self.seal_tail();
        self.coalesce_front();
        let mut bytes = 0usize;
        for chunk in self.chunks.iter().take(max) {
            bytes = bytes.saturating_add(chunk.len());
            out.push(chunk.clone());
        }
        bytes
    }

    /// Removes `n` bytes written from a [`batch`](Self::batch) taken in epoch `epoch`. Does
    /// nothing if the queue was cleared since (those bytes are no longer queued); `n` larger
    /// than what is queued empties the chunks.
    pub fn advance(&mut self, epoch: u64, n: usize) {
        if epoch == self.epoch {
            self.consume(n);
        }
    }

    /// Changes each time the queue is cleared; see [`advance`](Self::advance).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Removes `n` written bytes from the front; `n` never exceeds what was offered.
    fn consume(&mut self, mut n: usize) {
        self.left += n.min(self.chunk_bytes) as u64;
        self.chunk_bytes = self.chunk_bytes.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if n < front.len() {
                front.advance(n);
                self.front_written += n;
                break;
            }
            n -= front.len();
            self.chunks.pop_front();
            self.front_written = 0;
        }
        if self.chunks.is_empty() {
            self.chunks.shrink_to(IDLE_ENTRIES);
        }
    }

    /// For a reader that fell behind (more chunks queued than one write takes), copies the
    /// small chunks at the front into one, up to [`COALESCE_BYTES`]: the next write carries
    /// that much in one slice instead of a few kilobytes in 64 (a broadcast frame per slice),
    /// which keeps the cost per delivered byte flat however far behind the reader is, and the
    /// queue holds one entry for them. Byte order and count are unchanged. Called only with
    /// no write in flight (io_uring takes a batch only after the last send completed).
    fn coalesce_front(&mut self) {
        if self.chunks.len() <= MAX_IOVECS {
            return;
        }
        let (mut n, mut bytes) = (0, 0usize);
        for chunk in &self.chunks {
            if chunk.len() > COALESCE_CHUNK || bytes + chunk.len() > COALESCE_BYTES {
                break;
            }
            bytes += chunk.len();
            n += 1;
        }
        if n < 2 {
            return;
        }
        let mut merged = BytesMut::with_capacity(bytes);
        for chunk in self.chunks.drain(..n) {
            merged.extend_from_slice(&chunk);
        }
        self.chunks.push_front(merged.freeze());
    }

    /// Freezes the tail into a chunk. `split` shares the tail's allocation, so once the chunk is
    /// written and dropped the tail can reclaim that buffer instead of allocating a new one.
    fn seal_tail(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        let chunk = self.tail.split().freeze();
        self.chunk_bytes = self.chunk_bytes.saturating_add(chunk.len());
        self.chunks.push_back(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Accept(usize),
        WouldBlock,
        Interrupted,
        Fail,
    }

    /// Accepts bytes as scripted; `WouldBlock` once the script runs out.
    #[derive(Default)]
    struct MockWriter {
        out: Vec<u8>,
        script: VecDeque<Step>,
        /// Start pointer and length of every slice offered, in order.
        offered: Vec<(*const u8, usize)>,
        max_slices: usize,
        /// Calls through `write` (a plain `send` on a socket) rather than `write_vectored`.
        plain_writes: usize,
    }

    impl MockWriter {
        fn scripted(steps: impl IntoIterator<Item = Step>) -> Self {
            Self {
                script: steps.into_iter().collect(),
                ..Self::default()
            }
        }
    }

    impl Write for MockWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.plain_writes += 1;
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.max_slices = self.max_slices.max(bufs.len());
            self.offered
                .extend(bufs.iter().map(|b| (b.as_ptr(), b.len())));
            let mut budget = match self.script.pop_front() {
                Some(Step::Accept(n)) => n,
                Some(Step::Interrupted) => return Err(io::ErrorKind::Interrupted.into()),
                Some(Step::Fail) => return Err(io::ErrorKind::BrokenPipe.into()),
                Some(Step::WouldBlock) | None => return Err(io::ErrorKind::WouldBlock.into()),
            };
            let mut written = 0;
            for buf in bufs {
                let take = budget.min(buf.len());
                self.out.extend_from_slice(&buf[..take]);
                written += take;
                budget -= take;
            }
            Ok(written)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_slice_is_a_plain_write_and_more_are_vectored() {
        let mut q = OutQueue::new();
        q.push_shared(Bytes::from_static(b"one"));
        let mut w = MockWriter::scripted([Step::Accept(100)]);
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        assert_eq!((w.plain_writes, w.out.as_slice()), (1, &b"one"[..]));
        q.push_shared(Bytes::from_static(b"two"));
        q.push_shared(Bytes::from_static(b"three"));
        let mut w = MockWriter::scripted([Step::Accept(100)]);
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        assert_eq!((w.plain_writes, w.max_slices), (0, 2));
        assert_eq!(w.out, b"twothree");
    }

    #[test]
    fn preserves_order_across_push_kinds() {
        let mut q = OutQueue::new();
        q.push_copy(b"ab");
        q.push_shared(Bytes::from_static(b"cd"));
        q.tail_mut().extend_from_slice(b"ef");
        q.push_copy(b"gh");
        q.push_shared(Bytes::new());
        q.push_shared(Bytes::from_static(b"ij"));
        q.push_copy(b"k");
        assert_eq!(q.queued_bytes(), 11);
        let mut out = Vec::new();
        assert_eq!(q.flush_to(&mut out).unwrap(), Flush::Drained);
        assert_eq!(out, b"abcdefghijk");
        assert!(q.is_empty());
        assert_eq!(q.queued_bytes(), 0);
    }

    #[test]
    fn small_copies_coalesce_into_one_slice() {
        let mut q = OutQueue::new();
        q.push_copy(b"3");
        q.push_copy(b"40");
        q.tail_mut().extend_from_slice(b"42[\"ack\"]");
        let mut w = MockWriter::scripted([Step::Accept(100)]);
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        assert_eq!(w.out, b"34042[\"ack\"]");
        assert_eq!(w.offered.len(), 1);
    }

    #[test]
    fn shared_bytes_are_not_copied() {
        let frame = Bytes::from(vec![7u8; 100]);
        let mut q = OutQueue::new();
        q.push_copy(b"x");
        q.push_shared(frame.clone());
        assert_eq!(q.chunks.back().map(|c| c.as_ptr()), Some(frame.as_ptr()));

        let mut w = MockWriter::scripted([Step::Accept(4)]);
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Blocked);
        // One byte of the tail and three of the frame went out; the rest resumes in place.
        assert_eq!(w.offered[1], (frame.as_ptr(), 100));
        assert_eq!(
            q.chunks.front().map(|c| c.as_ptr()),
            Some(frame[3..].as_ptr())
        );
        assert_eq!(q.queued_bytes(), 97);

        w.script.push_back(Step::Accept(1000));
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        assert_eq!(w.offered.last(), Some(&(frame[3..].as_ptr(), 97)));
        assert_eq!(w.out.len(), 101);
    }

    #[test]
    fn partial_writes_keep_exact_count() {
        let mut q = OutQueue::new();
        q.push_shared(Bytes::from_static(b"hello "));
        q.push_copy(b"world");
        let mut w = MockWriter::scripted([Step::Accept(3), Step::Accept(5), Step::WouldBlock]);
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Blocked);
        assert_eq!(w.out, b"hello wo");
        assert_eq!(q.queued_bytes(), 3);
        q.push_copy(b"!");
        assert_eq!(q.queued_bytes(), 4);
        w.script.push_back(Step::Accept(2));
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Blocked);
        assert_eq!(q.queued_bytes(), 2);
        w.script.push_back(Step::Accept(2));
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        assert_eq!(w.out, b"hello world!");
    }

    #[test]
    fn the_footprint_counts_entries_and_a_drained_queue_gives_them_back() {
        let mut q = OutQueue::new();
        assert_eq!(q.footprint(), 0);
        let frame = Bytes::from_static(&[1u8; 64]);
        for _ in 0..1000 {
            q.push_shared(frame.clone());
        }
        let entries = q.chunks.capacity();
        assert!(entries >= 1000);
        assert_eq!(
            q.footprint(),
            64_000 + entries * std::mem::size_of::<Bytes>()
        );
        assert!(
            q.footprint() >= 96_000,
            "entries cost half as much again as 64-byte frames"
        );
        // A partial write coalesces the front into one buffer, which holds what was written
        // of it until all of it is.
        let before = q.footprint();
        let mut w = MockWriter::scripted([Step::Accept(100)]);
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Blocked);
        assert_eq!(q.queued_bytes(), 63_900);
        assert_eq!(q.front_written, 100);
        assert_eq!(
            q.footprint(),
            before,
            "the written part is held until the chunk is done"
        );
        w.script.push_back(Step::Accept(63_900));
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        assert_eq!(q.footprint(), 0);
        assert!(q.chunks.capacity() <= IDLE_ENTRIES);
        for _ in 0..1000 {
            q.push_shared(frame.clone());
        }
        q.clear();
        assert_eq!(q.footprint(), 0);
        assert!(q.chunks.capacity() <= IDLE_ENTRIES);
    }

    #[test]
    fn retries_interrupted_and_reports_errors() {
        let mut q = OutQueue::new();
        q.push_copy(b"abc");
        let mut w = MockWriter::scripted([Step::Interrupted, Step::Accept(1), Step::Fail]);
        let err = q.flush_to(&mut w).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(w.out, b"a");
        assert_eq!(q.queued_bytes(), 2);

        struct Zero;
        impl Write for Zero {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = q.flush_to(&mut Zero).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);

        struct Liar;
        impl Write for Liar {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                Ok(buf.len() + 1)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = q.flush_to(&mut Liar).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(q.queued_bytes(), 2);

        q.clear();
        assert!(q.is_empty());
        assert_eq!(q.flush_to(&mut Zero).unwrap(), Flush::Drained);
    }

    #[test]
    fn batches_advance_in_place_and_ignore_cleared_epochs() {
        let mut q = OutQueue::new();
        q.push_copy(b"ab");
        q.push_shared(Bytes::from_static(b"cdef"));
        q.push_copy(b"g");
        let mut out = Vec::new();
        assert_eq!(q.batch(&mut out, 64), 7);
        assert_eq!(out, [&b"ab"[..], b"cdef", b"g"]);
        let epoch = q.epoch();
        q.advance(epoch, 3);
        assert_eq!(q.queued_bytes(), 4);
        out.clear();
        assert_eq!(q.batch(&mut out, 1), 3);
        assert_eq!(out, [&b"def"[..]]);
        q.clear();
        q.push_copy(b"new");
        // A write of the old queue completing late must not eat the new bytes.
        q.advance(epoch, 3);
        assert_eq!(q.queued_bytes(), 3);
        assert_ne!(q.epoch(), epoch);
        q.advance(q.epoch(), 100);
        out.clear();
        assert_eq!(q.batch(&mut out, 64), 3);
        q.advance(q.epoch(), 100);
        assert!(q.is_empty());
        assert_eq!(q.queued_bytes(), 0);
    }

    #[test]
    fn offers_at_most_64_slices_per_call() {
        let mut q = OutQueue::new();
        // Frames too large to coalesce: each is offered as it is, shared, not copied.
        let frame = Bytes::from(vec![9u8; COALESCE_CHUNK + 1]);
        for _ in 0..200 {
            q.push_shared(frame.clone());
        }
        let mut w = MockWriter::scripted(std::iter::repeat(Step::Accept(usize::MAX)).take(10));
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        assert_eq!(w.max_slices, MAX_IOVECS);
        assert_eq!(w.out, frame.repeat(200));
        assert!(w.offered.iter().all(|&(ptr, _)| ptr == frame.as_ptr()));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Shared(Vec<u8>),
        Copy(Vec<u8>),
        Tail(Vec<u8>),
        Flush(Vec<Step>),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1usize..40).prop_map(Step::Accept),
            1 => Just(Step::WouldBlock),
            1 => Just(Step::Interrupted),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        let bytes = || prop::collection::vec(any::<u8>(), 0..50);
        prop_oneof![
            bytes().prop_map(Op::Shared),
            bytes().prop_map(Op::Copy),
            bytes().prop_map(Op::Tail),
            prop::collection::vec(step(), 0..8).prop_map(Op::Flush),
        ]
    }

    /// Twelve bytes for frame `i`.
    fn small(i: usize) -> Vec<u8> {
        format!("frame {i:05};").into_bytes()
    }

    #[test]
    fn a_reader_behind_gets_its_small_chunks_in_one_slice() {
        let mut q = OutQueue::new();
        let mut pushed = Vec::new();
        for i in 0..100 {
            pushed.extend(small(i));
            q.push_shared(Bytes::from(small(i)));
        }
        // A large chunk is written as it is and ends the coalesced run.
        pushed.extend([7u8; 8192]);
        q.push_shared(Bytes::from(vec![7u8; 8192]));
        for i in 100..200 {
            pushed.extend(small(i));
            q.push_shared(Bytes::from(small(i)));
        }
        let mut w = MockWriter::scripted([Step::Accept(1_000_000), Step::Accept(1_000_000)]);
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        // 201 chunks: the first 100 become one slice, then the large one and 62 small ones;
        // the 38 left go as they are (too few to coalesce). Every byte arrives in order.
        let lens: Vec<usize> = w.offered.iter().map(|(_, l)| *l).collect();
        assert_eq!(lens.len(), MAX_IOVECS + 38);
        assert_eq!(lens[..3], [1200, 8192, 12]);
        assert_eq!(w.out, pushed);
    }

    #[test]
    fn coalescing_stops_at_64_kib_and_resumes_after_a_partial_write() {
        let mut q = OutQueue::new();
        let mut pushed = Vec::new();
        for i in 0..12_000 {
            pushed.extend(small(i));
            q.push_shared(Bytes::from(small(i)));
        }
        // 144,000 bytes in 12-byte chunks: slices of 65,532 bytes (5461 chunks) each.
        let mut w = MockWriter::scripted([Step::Accept(1000), Step::WouldBlock]);
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Blocked);
        assert_eq!(w.offered[0].1, 5461 * 12);
        assert_eq!(q.queued_bytes(), 144_000 - 1000);
        w.script = std::iter::repeat(Step::Accept(usize::MAX / 2))
            .take(10)
            .collect();
        assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
        // Slices offered: 64 for the partial write and 64 for the WouldBlock, then three writes:
        // the rest of the first 65,532 bytes with the 63 small chunks after it, the next 5461
        // coalesced with 63 more, and the last 952 coalesced into one slice.
        assert_eq!(w.offered.len(), 64 + 64 + 64 + 64 + 1);
        assert_eq!(w.out, pushed);
    }

    #[test]
    fn a_batch_for_a_reader_behind_is_one_buffer() {
        let mut q = OutQueue::new();
        let mut pushed = Vec::new();
        for i in 0..500 {
            pushed.extend(small(i));
            q.push_shared(Bytes::from(small(i)));
        }
        let mut out = Vec::new();
        assert_eq!(q.batch(&mut out, MAX_IOVECS), 6000);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0][..], pushed[..]);
        q.advance(q.epoch(), 6000);
        assert!(q.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn delivers_exactly_what_was_pushed(ops in prop::collection::vec(op(), 0..300)) {
            let mut q = OutQueue::new();
            let mut w = MockWriter::default();
            let mut pushed = Vec::new();
            for op in ops {
                match op {
                    Op::Shared(b) => {
                        pushed.extend_from_slice(&b);
                        q.push_shared(Bytes::from(b));
                    }
                    Op::Copy(b) => {
                        pushed.extend_from_slice(&b);
                        q.push_copy(&b);
                    }
                    Op::Tail(b) => {
                        pushed.extend_from_slice(&b);
                        q.tail_mut().extend_from_slice(&b);
                    }
                    Op::Flush(steps) => {
                        w.script = steps.into();
                        let flushed = q.flush_to(&mut w).unwrap();
                        prop_assert_eq!(flushed == Flush::Drained, q.is_empty());
                        prop_assert!(pushed.starts_with(&w.out));
                    }
                }
                prop_assert_eq!(q.queued_bytes(), pushed.len() - w.out.len());
                prop_assert_eq!(q.is_empty(), pushed.len() == w.out.len());
            }
            w.script = std::iter::repeat(Step::Accept(64)).take(pushed.len() + 1).collect();
            prop_assert_eq!(q.flush_to(&mut w).unwrap(), Flush::Drained);
            prop_assert_eq!(w.out, pushed);
            prop_assert!(w.max_slices <= MAX_IOVECS);
        }
    }
}
