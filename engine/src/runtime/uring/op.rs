//! What one submission is for, packed into its 64-bit `user_data`, and the memory a send hands
//! the kernel.
//!
//! Layout: the top 8 bits are the kind; a receive carries the connection's slot (24 bits) and
//! generation (32 bits), so a completion that arrives after its connection's slot was reused
//! is recognised as stale, and so does a direct descriptor's install; a send carries the index
//! of its [`SendOp`], an accept the index of its address buffer.

use bytes::Bytes;

const KIND_SHIFT: u32 = 56;
const SLOT_SHIFT: u32 = 32;
const SLOT_MASK: u64 = (1 << 24) - 1;

/// Connection slots must stay below this to fit a receive's `user_data`.
pub(crate) const MAX_SLOTS: usize = 1 << 24;

const ACCEPT: u64 = 1;
const WAKE: u64 = 2;
const RECV: u64 = 3;
const SEND: u64 = 4;
const DETACHED: u64 = 5;
const INSTALL: u64 = 6;
const SHUTDOWN: u64 = 7;

/// A decoded `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// An accept on the listener: the multishot one (0), or direct mode's single-shot accept
    /// that writes into address buffer `n`.
    Accept(usize),
    /// The read of the worker's eventfd.
    Wake,
    /// The multishot receive of connection (`slot`, `gen`).
    Recv {
        /// Slot of the connection.
        slot: usize,
        /// Generation of the connection.
        gen: u32,
    },
    /// The send held in `SendOp` number `index`.
    Send(usize),
    /// The descriptor install of direct connection (`slot`, `gen`), which moves to another
    /// worker.
    Install {
        /// Slot of the connection.
        slot: usize,
        /// Generation of the connection.
        gen: u32,
    },
    /// The shutdown of direct descriptor `index` (its slot stays taken until it completes).
    Shutdown(u32),
    /// An operation whose completion carries nothing we need: a cancellation, a close, a
    /// shutdown, a refused connection's answer.
    Detached,
    /// Not ours (never submitted by this backend).
    Unknown,
}

impl Op {
    /// Packs the op into a `user_data`. Slots past [`MAX_SLOTS`] and send indexes past
    /// `u32::MAX` are refused by the caller before it gets here.
    pub fn encode(self) -> u64 {
        let kind = |k: u64| k << KIND_SHIFT;
        match self {
            Op::Accept(n) => kind(ACCEPT) | (n as u64 & u64::from(u32::MAX)),
            Op::Wake => kind(WAKE),
            Op::Recv { slot, gen } => kind(RECV) | conn(slot, gen),
            Op::Install { slot, gen } => kind(INSTALL) | conn(slot, gen),
            Op::Send(index) => kind(SEND) | (index as u64 & u64::from(u32::MAX)),
            Op::Shutdown(index) => kind(SHUTDOWN) | u64::from(index),
            Op::Detached => kind(DETACHED),
            Op::Unknown => 0,
        }
    }

    /// Unpacks a completion's `user_data`.
    pub fn decode(data: u64) -> Op {
        match data >> KIND_SHIFT {
            ACCEPT => Op::Accept((data & u64::from(u32::MAX)) as usize),
            WAKE => Op::Wake,
            RECV => Op::Recv {
                slot: ((data >> SLOT_SHIFT) & SLOT_MASK) as usize,
                gen: data as u32,
            },
            INSTALL => Op::Install {
                slot: ((data >> SLOT_SHIFT) & SLOT_MASK) as usize,
                gen: data as u32,
            },
            SEND => Op::Send((data & u64::from(u32::MAX)) as usize),
            SHUTDOWN => Op::Shutdown(data as u32),
            DETACHED => Op::Detached,
            _ => Op::Unknown,
        }
    }
}

/// A connection's slot and generation in the low 56 bits.
fn conn(slot: usize, gen: u32) -> u64 {
    ((slot as u64 & SLOT_MASK) << SLOT_SHIFT) | u64::from(gen)
}

/// One send (or `sendmsg`) in flight: the connection it writes for, and every buffer the kernel reads.
/// Reused from a pool, so a send allocates nothing once the pool is warm.
pub(crate) struct SendOp {
    pub slot: usize,
    pub gen: u32,
    /// The write queue's epoch when the batch was taken (see `OutQueue::advance`).
    pub epoch: u64,
    /// Bytes offered to the kernel.
    pub offered: usize,
    /// Clones of the queued chunks: they keep the bytes alive until the completion, even if
    /// the connection and its queue are gone by then.
    pub bufs: Vec<Bytes>,
    iovecs: Vec<libc::iovec>,
    /// Boxed so its address stays put while the op moves in and out of the pool.
    msg: Box<libc::msghdr>,
}

// SAFETY: the raw pointers in `iovecs` and `msg` point into `bufs` and `iovecs`, which the op
// owns; they travel together.
unsafe impl Send for SendOp {}

impl SendOp {
    /// An empty op for the pool.
    pub fn new() -> SendOp {
        SendOp {
            slot: 0,
            gen: 0,
            epoch: 0,
            offered: 0,
            bufs: Vec::new(),
            iovecs: Vec::new(),
            // SAFETY: msghdr is plain data; all-zero is a valid empty header.
            msg: Box::new(unsafe { std::mem::zeroed() }),
        }
    }

    /// Points the message header at `bufs` (filled by the caller) and returns it for the
    /// submission. The header and the iovecs stay valid until `bufs` changes or the op drops.
    pub fn prepare(&mut self) -> *const libc::msghdr {
        self.iovecs.clear();
        self.iovecs.extend(self.bufs.iter().map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        }));
        // SAFETY: as in `new`, a zeroed msghdr is valid; then only the iovec fields are set.
        *self.msg = unsafe { std::mem::zeroed() };
        self.msg.msg_iov = self.iovecs.as_mut_ptr();
        self.msg.msg_iovlen = self.iovecs.len();
        &*self.msg
    }

    /// Drops the buffers (keeping the allocations) so the op can go back to the pool.
    pub fn reset(&mut self) {
        self.bufs.clear();
        self.iovecs.clear();
        self.offered = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fixed_kinds_round_trip() {
        for op in [
            Op::Accept(0),
            Op::Accept(5),
            Op::Wake,
            Op::Shutdown(9),
            Op::Detached,
            Op::Send(0),
            Op::Send(7),
        ] {
            assert_eq!(Op::decode(op.encode()), op);
        }
        assert_eq!(Op::decode(0), Op::Unknown);
        assert_eq!(Op::decode(u64::MAX), Op::Unknown);
        assert_eq!(Op::Recv { slot: 1, gen: 2 }.encode(), 0x0300_0001_0000_0002);
    }

    #[test]
    fn prepare_points_at_every_buffer() {
        let mut op = SendOp::new();
        op.bufs.push(Bytes::from_static(b"abc"));
        op.bufs.push(Bytes::from_static(b"de"));
        let msg = op.prepare();
        // SAFETY: `msg` and its iovecs are owned by `op`, alive for this test.
        let (iov, n) = unsafe { ((*msg).msg_iov, (*msg).msg_iovlen) };
        assert_eq!(n, 2);
        // SAFETY: as above; two iovecs were written.
        let second = unsafe { *iov.add(1) };
        assert_eq!(second.iov_len, 2);
        assert_eq!(second.iov_base as *const u8, op.bufs[1].as_ptr());
        op.reset();
        assert!(op.bufs.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn receives_round_trip(slot in 0..MAX_SLOTS, gen in any::<u32>()) {
            prop_assert_eq!(Op::decode(Op::Recv { slot, gen }.encode()), Op::Recv { slot, gen });
            prop_assert_eq!(
                Op::decode(Op::Install { slot, gen }.encode()),
                Op::Install { slot, gen }
            );
        }

        #[test]
        fn any_user_data_decodes_without_panic(data in any::<u64>()) {
            let _ = Op::decode(data);
        }
    }
}
