//! The io_uring backend: completions instead of readiness. One multishot accept per listener,
//! one multishot receive per connection into the worker's provided-buffer ring, at most one
//! `sendmsg` in flight per connection (one submission per batch of queued slices), and a read
//! pending on the worker's eventfd for cross-thread wake-ups. The loop waits in
//! `io_uring_enter` with the timer wheel's next deadline as its timeout.
//!
//! With direct descriptors (`VOLLEY_URING_DIRECT`) accepts are single-shot, several in flight,
//! each writing the peer's address into its own buffer; connections live in the ring's file
//! table and are shut down and closed by submissions. One handed to another worker is first
//! installed as a plain descriptor, the only kind that can leave this ring.
//!
//! Memory the kernel may touch is owned here until the completion that releases it: receive
//! buffers come back with their completion and are recycled as soon as the connection logic
//! has parsed or copied their bytes; a send's buffers are clones held in its [`SendOp`]; the
//! eventfd's 8-byte buffer and the accepts' address buffers live as long as this backend. A
//! removed connection's socket is closed only after every queued submission naming its
//! descriptor reached the kernel, so a reused descriptor number can never receive another
//! connection's operation; a direct one is closed by a submission queued after them.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::types::{CancelBuilder, DestinationSlot, Fd, Fixed, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};
use slab::Slab;

use super::{Io, Wait, Worker};
use crate::runtime::conn::Conn;
use crate::runtime::listener::WorkerListener;
use crate::runtime::mailbox::{Envelope, Moving, Peers, Waker};
use crate::runtime::outq::{Flush, OutQueue};
use crate::runtime::service::{CloseReason, Service, TimerEntry, TimerKind};
use crate::runtime::sock::Sock;
use crate::runtime::tls::Tls;
use crate::runtime::uring::bufring::{BufRing, Lease};
use crate::runtime::uring::op::{Op, SendOp, MAX_SLOTS};
use crate::runtime::uring::Parts;

/// Most slices in one `sendmsg`.
const MAX_IOVECS: usize = 64;
/// Completions a batching wait returns for at once, before its window ends.
const BATCH_COMPLETIONS: u32 = 32;
/// A worker batches while a window would gather at least this many inputs at the recent rate.
const BUSY_INPUTS: u128 = 4;
/// How often that rate is measured.
const RATE_PERIOD: Duration = Duration::from_millis(1);

/// `IORING_ENTER_GETEVENTS` and `IORING_ENTER_EXT_ARG`.
const ENTER_GETEVENTS: u32 = 1;
const ENTER_EXT_ARG: u32 = 8;

/// The kernel's `io_uring_getevents_arg` (Linux 6.12 added `min_wait_usec`).
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}
/// Direct mode's accepts in flight at once (one per address buffer).
const DIRECT_ACCEPTS: usize = 8;

/// Builds an entry on a connection's socket: by descriptor, or by direct index.
macro_rules! on_sock {
    ($sock:expr, $target:ident => $build:expr) => {
        match $sock {
            Sock::Os(s) => {
                let $target = Fd(s.as_raw_fd());
                $build
            }
            Sock::Direct { index, .. } => {
                let $target = Fixed(*index);
                $build
            }
        }
    };
}

/// Where a direct accept writes its peer's address.
struct AcceptAddr {
    addr: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl AcceptAddr {
    fn new() -> Self {
        AcceptAddr {
            // SAFETY: sockaddr_storage is plain data; all-zero is a valid (unspecified) value.
            addr: unsafe { std::mem::zeroed() },
            len: 0,
        }
    }

    /// The address the kernel wrote, if it is IPv4 or IPv6 (and not cut short).
    fn peer(&self) -> Option<SocketAddr> {
        if (self.len as usize) < std::mem::size_of::<libc::sockaddr_in>() {
            return None;
        }
        // SAFETY: the kernel filled `addr` and `len` for this accept; socket2 reads only the
        // address its family names.
        unsafe { socket2::SockAddr::new(self.addr, self.len) }.as_socket()
    }
}

/// How often a connection moving to another worker tries again to get a descriptor.
const HANDOFF_RETRY: Duration = Duration::from_millis(100);
/// How long it keeps trying before it is closed: long enough to ride out a burst of
/// connections, short enough that its client's request fails rather than hangs.
const HANDOFF_WAIT: Duration = Duration::from_secs(10);

/// How long teardown waits for cancelled operations to complete before it gives up and leaks
/// the memory they may still write.
const TEARDOWN_WAIT: Duration = Duration::from_secs(2);

/// A connection handed to another worker, waiting until this ring has no operation left on it
/// (and, for a direct one, until it is installed as a plain descriptor).
struct Move {
    slot: usize,
    gen: u32,
    /// The plain descriptor; `None` while a direct one is being installed, or if that failed.
    sock: Option<TcpStream>,
    /// The direct slot that the install copies; closed once it completed.
    installing: Option<u32>,
    /// When an install first failed for lack of descriptors: it is tried again until
    /// [`HANDOFF_WAIT`] has passed since.
    starved_since: Option<Instant>,
    /// An install is waiting for the retry timer rather than in flight.
    install_parked: bool,
    input: Vec<u8>,
    /// Output not yet sent; the send in flight advances it (or `tls`'s records) when it
    /// completes.
    outq: OutQueue,
    /// The TLS session: input received meanwhile is decrypted through it.
    tls: Option<Box<Tls>>,
    to: usize,
    /// For the application ([`Envelope::Detach`]), not another worker.
    detach: bool,
    recv_live: bool,
    send_live: bool,
}

/// A worker's io_uring state.
pub(crate) struct UringIo {
    /// Declared first: dropped (after teardown) before the memory it may have written.
    ring: IoUring,
    /// The receive buffers; out of the backend only while a completion's buffer is lent.
    bufs: Option<BufRing>,
    /// Their group id, which receives name.
    bgid: u16,
    /// The worker's listeners, one per address; emptied when accepting stops for good.
    listeners: Vec<WorkerListener>,
    /// Direct mode (connections are direct descriptors): slots in the ring's file table (0 in
    /// plain mode), and those taken by open connections. An
    /// accept is armed only while a slot is free for it: the kernel takes the connection off
    /// the backlog before it looks for a slot, and closes it when there is none.
    slots: u32,
    slots_taken: u32,
    /// Direct mode: an accept was held back for lack of slots; a close re-arms it.
    held_back: bool,
    /// The table was reported full once (it fills and frees at every close while full).
    warned_full: bool,
    /// Direct slots with a shutdown in flight, and whether their close waits for it: the
    /// kernel runs a shutdown in a worker thread and looks the slot up only then, so closing
    /// the slot first could let a new connection take it and be shut down instead.
    shutting: Vec<(u32, bool)>,
    /// Which accepts are in flight, and how many. Accept `k` is on listener `k / per`, `per`
    /// being 1 (its multishot accept) or, in direct mode, [`DIRECT_ACCEPTS`] (its single-shot
    /// accepts, accept `k` writing into address buffer `k`).
    accept_live: Vec<bool>,
    accepts_live: u32,
    /// Direct mode's accept address buffers, boxed so they stay put.
    accept_addrs: Box<[AcceptAddr]>,
    /// The worker's eventfd (kept alive here too) and the buffer its pending read fills.
    waker: Arc<Waker>,
    wake_buf: Box<u64>,
    sends: Slab<SendOp>,
    spare: Vec<SendOp>,
    /// Submissions that did not fit the submission queue yet, in order.
    backlog: VecDeque<squeue::Entry>,
    /// Submissions made (or in `backlog`) whose last completion has not arrived.
    in_flight: usize,
    /// Sockets and listeners closed once every submission naming them has been submitted.
    graveyard: Vec<OwnedFd>,
    moves: Vec<Move>,
    /// A [`TimerKind::HandoffRetry`] is armed for the moves that wait for a descriptor.
    handoff_retry_armed: bool,
    /// Moves wait for descriptors: logged once when that begins and once when it ends.
    handoff_starved: bool,
    /// Completions taken from the queue, handled after the queue is released.
    cqes: Vec<cqueue::Entry>,
    /// How long a busy worker's wait may gather completions, in microseconds (0: off, or the
    /// kernel lacks `min_wait_usec`), and whether the worker is busy: input arrived fast
    /// enough over the last period that a window would gather several (see `note_turn`).
    batch_us: u32,
    busy: bool,
    period_start: Instant,
    period_inputs: u64,
}

impl UringIo {
    /// Asks for a plain descriptor for the direct one at `index`, of the connection moving
    /// out of `slot`.
    fn install(&mut self, slot: usize, gen: u32, index: u32) {
        let entry = opcode::FixedFdInstall::new(Fixed(index), 0)
            .build()
            .user_data(Op::Install { slot, gen }.encode());
        self.push(entry);
    }

    /// Takes over a worker's ring (enabled from this, the worker's, thread), its listeners and
    /// its eventfd waker, and arms the accepts and the wake-up read.
    pub fn new(
        parts: Parts,
        listeners: Vec<WorkerListener>,
        waker: Arc<Waker>,
        batch: Duration,
    ) -> io::Result<Self> {
        parts.enable()?;
        let Parts {
            ring, bufs, direct, ..
        } = parts;
        let per = if direct.is_some() { DIRECT_ACCEPTS } else { 1 };
        let accepts = listeners.len() * per;
        let addrs = if direct.is_some() { accepts } else { 0 };
        let mut io = UringIo {
            ring,
            bgid: bufs.bgid(),
            bufs: Some(bufs),
            listeners,
            slots: direct.unwrap_or(0),
            slots_taken: 0,
            held_back: false,
            warned_full: false,
            shutting: Vec::new(),
            accept_live: vec![false; accepts],
            accepts_live: 0,
            accept_addrs: (0..addrs).map(|_| AcceptAddr::new()).collect(),
            waker,
            wake_buf: Box::new(0),
            sends: Slab::new(),
            spare: Vec::new(),
            backlog: VecDeque::new(),
            in_flight: 0,
            graveyard: Vec::new(),
            moves: Vec::new(),
            handoff_retry_armed: false,
            handoff_starved: false,
            cqes: Vec::with_capacity(1024),
            batch_us: 0,
            busy: false,
            period_start: Instant::now(),
            period_inputs: 0,
        };
        if io.ring.params().is_feature_min_timeout() {
            io.batch_us = u32::try_from(batch.as_micros()).unwrap_or(u32::MAX);
        }
        if io.waker.eventfd_raw().is_none() {
            return Err(io::Error::other("io_uring worker needs an eventfd waker"));
        }
        io.arm_accept();
        io.arm_wake();
        Ok(io)
    }

    /// Queues a submission; it reaches the kernel at the next submit.
    fn push(&mut self, entry: squeue::Entry) {
        self.in_flight += 1;
        if self.backlog.is_empty() {
            // SAFETY: every entry built here points only at memory this backend keeps alive
            // until the entry's last completion (see the module documentation).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
        }
        self.backlog.push_back(entry);
    }

    /// Whether connections are direct descriptors.
    fn direct(&self) -> bool {
        self.slots > 0
    }

    /// The listener of accept `k` if accepting has not stopped and `k` is idle.
    fn idle_accept(&self, k: usize) -> Option<&WorkerListener> {
        let per = if self.direct() { DIRECT_ACCEPTS } else { 1 };
        let l = self.listeners.get(k / per)?;
        (self.accept_live.get(k) == Some(&false)).then_some(l)
    }

    /// Records whether accept `k` is in flight.
    fn set_accept_live(&mut self, k: usize, live: bool) {
        if let Some(l) = self.accept_live.get_mut(k) {
            if *l != live {
                *l = live;
                if live {
                    self.accepts_live += 1;
                } else {
                    self.accepts_live -= 1;
                }
            }
        }
    }

    /// Arms every accept not in flight.
    fn arm_accept(&mut self) {
        for k in 0..self.accept_live.len() {
            if self.direct() {
                self.arm_direct_accept(k);
                continue;
            }
            let Some(l) = self.idle_accept(k) else {
                continue;
            };
            let fd = Fd(l.socket.as_raw_fd());
            // A shared socket gets a single-shot accept (see `listener`): re-armed after each
            // connection, it queues behind the other workers' accepts.
            let entry = if l.shared {
                opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
                    .flags(libc::SOCK_CLOEXEC)
                    .build()
            } else {
                opcode::AcceptMulti::new(fd)
                    .flags(libc::SOCK_CLOEXEC)
                    .build()
            };
            let entry = entry.user_data(Op::Accept(k).encode());
            self.push(entry);
            self.set_accept_live(k, true);
        }
    }

    /// Arms direct accept `n` (a single-shot accept: a multishot one would write every peer's
    /// address into the same buffer).
    fn arm_direct_accept(&mut self, n: usize) {
        let Some(fd) = self.idle_accept(n).map(|l| l.socket.as_raw_fd()) else {
            return;
        };
        let reserved = self.slots_taken + self.accepts_live;
        if reserved >= self.slots {
            if !self.warned_full {
                tracing::warn!(
                    slots = self.slots,
                    "direct descriptor table full (the open-file limit); new connections wait in the backlog while it is"
                );
                self.warned_full = true;
            }
            self.held_back = true;
            return;
        }
        let Some(a) = self.accept_addrs.get_mut(n) else {
            return;
        };
        a.len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // The buffer is boxed in `accept_addrs`, which lives as long as this backend; teardown
        // waits for the accept's completion before it is freed.
        let (addr, len) = (
            &mut a.addr as *mut libc::sockaddr_storage,
            &mut a.len as *mut _,
        );
        let entry = opcode::Accept::new(Fd(fd), addr.cast(), len)
            .file_index(Some(DestinationSlot::auto_target()))
            .build()
            .user_data(Op::Accept(n).encode());
        self.push(entry);
        self.set_accept_live(n, true);
    }

    /// The peer address direct accept `n` reported.
    fn accepted_peer(&self, n: usize) -> Option<SocketAddr> {
        self.accept_addrs.get(n).and_then(AcceptAddr::peer)
    }

    /// Queues an operation whose completion is ignored.
    fn push_detached(&mut self, entry: squeue::Entry) {
        self.push(entry.user_data(Op::Detached.encode()));
    }

    /// Closes a socket on which no operation of this ring remains queued: a plain one at once,
    /// a direct one by a submission.
    fn discard(&mut self, sock: Sock) {
        if let Sock::Direct { index, .. } = sock {
            if let Some(s) = self.shutting.iter_mut().find(|s| s.0 == index) {
                s.1 = true;
                return;
            }
            self.close_slot(index);
        }
    }

    /// A direct socket's shutdown completed: its slot may be closed now.
    fn shut(&mut self, index: u32) {
        if let Some(i) = self.shutting.iter().position(|s| s.0 == index) {
            if self.shutting.swap_remove(i).1 {
                self.close_slot(index);
            }
        }
    }

    /// Closes direct slot `index` and makes it available to accepts.
    fn close_slot(&mut self, index: u32) {
        // Queued before any accept armed from now on, so the slot is free for it.
        self.push_detached(opcode::Close::new(Fixed(index)).build());
        self.slots_taken = self.slots_taken.saturating_sub(1);
        if std::mem::take(&mut self.held_back) {
            self.arm_accept();
        }
    }

    fn arm_wake(&mut self) {
        let Some(fd) = self.waker.eventfd_raw() else {
            return;
        };
        let buf: *mut u64 = &mut *self.wake_buf;
        let entry = opcode::Read::new(Fd(fd), buf.cast(), 8)
            .build()
            .user_data(Op::Wake.encode());
        self.push(entry);
    }

    fn arm_recv(&mut self, slot: usize, conn: &mut Conn) {
        let bgid = self.bgid;
        let entry = on_sock!(&conn.sock, t => opcode::RecvMulti::new(t, bgid).build()).user_data(
            Op::Recv {
                slot,
                gen: conn.gen,
            }
            .encode(),
        );
        self.push(entry);
        conn.recv_live = true;
    }

    fn cancel(&mut self, op: Op) {
        self.push_detached(opcode::AsyncCancel::new(op.encode()).build());
    }

    /// Counts a turn's input completions (receives, accepts) and, once a period is over,
    /// decides whether the worker is busy: whether a batching window would gather at least
    /// [`BUSY_INPUTS`] of them at the period's rate. An idle or lightly loaded worker thus
    /// never holds a message back; a loaded one takes many per wake-up.
    fn note_turn(&mut self, inputs: u64, now: Instant) {
        self.period_inputs += inputs;
        let elapsed = now.saturating_duration_since(self.period_start);
        if elapsed >= RATE_PERIOD {
            self.busy = is_busy(self.period_inputs, elapsed, self.batch_us);
            self.period_inputs = 0;
            self.period_start = now;
        }
    }

    /// Moves the backlog into the submission queue, submits, and waits up to `timeout` for at
    /// least one completion. Closes the graveyard once nothing queued can name its descriptors.
    ///
    /// A busy worker's wait asks the kernel (`min_wait_usec`) for [`BATCH_COMPLETIONS`]
    /// completions within its batching window and for any one after it, so a wake-up serves a
    /// batch instead of a message or two. Otherwise, or when the backlog forbids waiting, one
    /// completion ends the wait.
    fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        loop {
            {
                let mut sq = self.ring.submission();
                while let Some(entry) = self.backlog.front() {
                    // SAFETY: as in `push`.
                    if unsafe { sq.push(entry) }.is_err() {
                        break;
                    }
                    self.backlog.pop_front();
                }
            }
            if self.backlog.is_empty() {
                break;
            }
            match self.ring.submit() {
                Ok(_) => {}
                // The completion queue is full: handle completions, then submit the rest.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // Sockets of removed connections close before the wait, not after it: a peer waiting
        // for our FIN (it half-closed) must not wait for the next wake-up. Once everything
        // queued reached the kernel, no submission can name their descriptors any more.
        if !self.graveyard.is_empty() && self.backlog.is_empty() {
            match self.ring.submit() {
                Ok(_) => self.graveyard.clear(),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EINTR)) => {}
                Err(e) => return Err(e),
            }
        }
        let wait = if self.backlog.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        let res = if self.busy && wait != Some(Duration::ZERO) {
            let ts = wait.map(Timespec::from);
            let arg = GeteventsArg {
                sigmask: 0,
                sigmask_sz: 0,
                min_wait_usec: self.batch_us,
                ts: ts.as_ref().map_or(0, |t| t as *const Timespec as u64),
            };
            let pending = self.ring.submission().len() as u32;
            // SAFETY: `arg` and the timespec it points to outlive the call.
            unsafe {
                self.ring.submitter().enter(
                    pending,
                    BATCH_COMPLETIONS,
                    ENTER_GETEVENTS | ENTER_EXT_ARG,
                    Some(&arg),
                )
            }
        } else {
            match wait {
                Some(t) => {
                    let ts = Timespec::from(t);
                    let args = SubmitArgs::new().timespec(&ts);
                    self.ring.submitter().submit_with_args(1, &args)
                }
                None => self.ring.submit_and_wait(1),
            }
        };
        match res {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) => {}
            Err(e) => return Err(e),
        }
        if self.backlog.is_empty() && self.ring.submission().is_empty() {
            self.graveyard.clear();
        }
        Ok(())
    }

    /// Bookkeeping for a completion: one fewer operation in flight when it was the last.
    fn completed(&mut self, flags: u32) {
        if !cqueue::more(flags) {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }

    /// Cancels everything and waits for the kernel to finish with our memory. Returns whether
    /// it did; if not, the memory must not be freed.
    fn teardown(&mut self) -> bool {
        self.in_flight = self.in_flight.saturating_sub(self.backlog.len());
        self.backlog.clear();
        self.push_detached(opcode::AsyncCancel2::new(CancelBuilder::any()).build());
        let deadline = Instant::now() + TEARDOWN_WAIT;
        while self.in_flight > 0 {
            let now = Instant::now();
            if now >= deadline || self.submit_and_wait(Some(deadline - now)).is_err() {
                return false;
            }
            let cqes: Vec<cqueue::Entry> = self.ring.completion().collect();
            for cqe in cqes {
                self.completed(cqe.flags());
                if let Op::Send(index) = Op::decode(cqe.user_data()) {
                    self.sends.try_remove(index);
                }
            }
        }
        if let Some(bufs) = self.bufs.as_ref() {
            let _ = self.ring.submitter().unregister_buf_ring(bufs.bgid());
        }
        true
    }
}

impl Drop for UringIo {
    fn drop(&mut self) {
        if !self.teardown() {
            tracing::error!("io_uring operations outlived the worker; leaking their buffers");
            if let Some(bufs) = self.bufs.take() {
                bufs.leak();
            }
            std::mem::forget(std::mem::take(&mut self.sends));
            std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
            std::mem::forget(std::mem::take(&mut self.accept_addrs));
        }
    }
}

impl Io for UringIo {
    const INLINE_WRITES: bool = false;

    fn open(&mut self, slot: usize, conn: &mut Conn) -> io::Result<()> {
        if slot >= MAX_SLOTS {
            return Err(io::Error::other("too many connections on one worker"));
        }
        self.arm_recv(slot, conn);
        Ok(())
    }

    fn flush(&mut self, slot: usize, conn: &mut Conn) -> io::Result<Flush> {
        if conn.send_live {
            return Ok(Flush::Blocked);
        }
        conn.seal();
        if conn.wire().is_empty() {
            return Ok(Flush::Drained);
        }
        if self.sends.len() >= u32::MAX as usize {
            return Err(io::Error::other("too many sends in flight"));
        }
        let mut op = self.spare.pop().unwrap_or_else(SendOp::new);
        op.offered = conn.wire().batch(&mut op.bufs, MAX_IOVECS);
        op.slot = slot;
        op.gen = conn.gen;
        op.epoch = conn.wire().epoch();
        // One slice (the common reply) goes as a plain send: it skips copying and checking a
        // message header in the kernel.
        let entry = match op.bufs.as_slice() {
            [one] => on_sock!(&conn.sock, t => opcode::Send::new(t, one.as_ptr(), one.len() as u32)
                .flags(libc::MSG_NOSIGNAL)
                .build()),
            _ => {
                let msg = op.prepare();
                on_sock!(&conn.sock, t => opcode::SendMsg::new(t, msg)
                    .flags(libc::MSG_NOSIGNAL as u32)
                    .build())
            }
        };
        let index = self.sends.insert(op);
        let entry = entry.user_data(Op::Send(index).encode());
        self.push(entry);
        conn.send_live = true;
        Ok(Flush::Blocked)
    }

    fn close(&mut self, slot: usize, conn: Conn) {
        if conn.recv_live {
            self.cancel(Op::Recv {
                slot,
                gen: conn.gen,
            });
        }
        match conn.sock {
            Sock::Os(s) => self.graveyard.push(s.into()),
            direct => self.discard(direct),
        }
    }

    fn reject(&mut self, sock: Sock, answer: &'static [u8]) {
        match sock {
            // Best effort: a fresh socket's send buffer takes these few bytes at once.
            Sock::Os(s) => {
                let _ = (&s).write(answer);
            }
            Sock::Direct { index, .. } => {
                // Hard-linked: the close runs even when the send fails. `answer` is static.
                let send = opcode::Send::new(Fixed(index), answer.as_ptr(), answer.len() as u32)
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
                    .flags(squeue::Flags::IO_HARDLINK);
                self.push_detached(send);
                self.discard(Sock::Direct { index, peer: None });
            }
        }
    }

    fn shutdown_write(&mut self, conn: &mut Conn) {
        match &conn.sock {
            Sock::Os(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            Sock::Direct { index, .. } => {
                let entry = opcode::Shutdown::new(Fixed(*index), libc::SHUT_WR)
                    .build()
                    .user_data(Op::Shutdown(*index).encode());
                self.push(entry);
                self.shutting.push((*index, false));
            }
        }
    }

    fn hand_off<M: Send>(
        &mut self,
        slot: usize,
        conn: Conn,
        input: Vec<u8>,
        to: usize,
        detach: bool,
        peers: &Peers<M>,
    ) -> bool {
        let (sock, installing) = match conn.sock {
            Sock::Os(s) => (Some(s), None),
            Sock::Direct { index, .. } => (None, Some(index)),
        };
        if installing.is_none() && !conn.recv_live && !conn.send_live {
            if let Some(sock) = sock {
                let moving = Moving {
                    sock,
                    input,
                    outq: conn.outq,
                    tls: conn.tls,
                };
                return peers.send(to, Envelope::moved(detach, moving));
            }
            return false;
        }
        if conn.recv_live {
            self.cancel(Op::Recv {
                slot,
                gen: conn.gen,
            });
        }
        if let Some(index) = installing {
            self.install(slot, conn.gen, index);
        }
        self.moves.push(Move {
            slot,
            gen: conn.gen,
            sock,
            installing,
            starved_since: None,
            install_parked: false,
            input,
            outq: conn.outq,
            tls: conn.tls,
            to,
            detach,
            recv_live: conn.recv_live,
            send_live: conn.send_live,
        });
        true
    }

    fn stop_accepting(&mut self) {
        for k in 0..self.accept_live.len() {
            if self.accept_live[k] {
                self.cancel(Op::Accept(k));
            }
        }
        for l in std::mem::take(&mut self.listeners) {
            self.graveyard.push(l.socket.into());
        }
    }

    fn resume_accepting(&mut self) {
        self.arm_accept();
    }

    fn retry_handoffs(&mut self) {
        self.handoff_retry_armed = false;
        let parked: Vec<(usize, u32, u32)> = self
            .moves
            .iter_mut()
            .filter(|m| m.install_parked)
            .filter_map(|m| {
                m.install_parked = false;
                Some((m.slot, m.gen, m.installing?))
            })
            .collect();
        for (slot, gen, index) in parked {
            self.install(slot, gen, index);
        }
    }
}

/// Whether `inputs` arriving in `elapsed` mean a batching window of `window_us` would gather
/// at least [`BUSY_INPUTS`] of them.
fn is_busy(inputs: u64, elapsed: Duration, window_us: u32) -> bool {
    window_us > 0 && u128::from(inputs) * u128::from(window_us) >= BUSY_INPUTS * elapsed.as_micros()
}

/// Whether a failed completion `res` means the process is out of descriptors (or the kernel
/// out of memory for them): a condition that passes when connections close.
fn is_starvation(res: i32) -> bool {
    matches!(-res, libc::EMFILE | libc::ENFILE | libc::ENOMEM)
}

/// The error a negative completion result stands for.
fn errno(res: i32) -> io::Error {
    io::Error::from_raw_os_error(res.saturating_neg())
}

impl<S: Service> Worker<S, UringIo> {
    /// Runs the loop until shutdown completes.
    pub fn run(mut self) {
        loop {
            let timeout = match self.wait() {
                Wait::Exit => return,
                Wait::For(t) => t,
            };
            if let Err(e) = self.io.submit_and_wait(timeout) {
                tracing::error!(worker = self.index, error = %e, "io_uring wait failed; worker stops");
                return;
            }
            self.now = self.io.now();
            let mut cqes = std::mem::take(&mut self.io.cqes);
            cqes.extend(self.io.ring.completion());
            let mut inputs = 0;
            for cqe in cqes.drain(..) {
                self.io.completed(cqe.flags());
                inputs += u64::from(self.complete(cqe.user_data(), cqe.result(), cqe.flags()));
                self.finish_closes();
            }
            self.io.cqes = cqes;
            self.io.note_turn(inputs, self.now);
            self.end_turn();
        }
    }

    /// Handles one completion; returns whether it was input (a receive or an accept), which
    /// the batching decision counts.
    fn complete(&mut self, data: u64, res: i32, flags: u32) -> bool {
        match Op::decode(data) {
            Op::Accept(n) => {
                self.accepted(n, res, flags);
                return true;
            }
            Op::Recv { slot, gen } => {
                self.received(slot, gen, res, flags);
                return true;
            }
            Op::Wake => {
                self.drain_mailbox();
                self.io.arm_wake();
            }
            Op::Send(index) => self.sent(index, res),
            Op::Install { slot, gen } => self.installed(slot, gen, res),
            Op::Shutdown(index) => self.io.shut(index),
            Op::Detached | Op::Unknown => {}
        }
        false
    }

    fn accepted(&mut self, n: usize, res: i32, flags: u32) {
        if res >= 0 {
            let sock = if self.io.direct() {
                self.io.slots_taken += 1;
                Sock::Direct {
                    index: res as u32,
                    peer: self.io.accepted_peer(n),
                }
            } else {
                // SAFETY: a successful accept completion carries a new descriptor that nothing
                // else owns.
                Sock::Os(unsafe { TcpStream::from_raw_fd(res as RawFd) })
            };
            if self.shutdown_deadline.is_none() {
                self.admit(sock);
            } else {
                self.io.discard(sock);
            }
        }
        if cqueue::more(flags) {
            return;
        }
        self.io.set_accept_live(n, false);
        if self.io.listeners.is_empty() || res == -libc::ECANCELED {
            return;
        }
        match res.saturating_neg() {
            // Out of descriptors, table slots or memory: this accept rests, and once none is
            // left in flight accepting pauses and resumes after a back-off.
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                if self.io.accepts_live == 0 {
                    self.pause_accepting(&errno(res));
                }
            }
            // A direct accept is single-shot; a multishot accept also ends on transient errors
            // and when the completion queue overflowed: arm it again at once.
            _ if self.io.direct() => self.io.arm_direct_accept(n),
            _ => self.io.arm_accept(),
        }
    }

    /// A direct connection moving to another worker got its plain descriptor, or did not: for
    /// lack of descriptors the install is tried again every [`HANDOFF_RETRY`] for up to
    /// [`HANDOFF_WAIT`] (the connection waits, as accepts wait in the backlog); past that, or
    /// for any other error, the connection is closed with its direct slot.
    fn installed(&mut self, slot: usize, gen: u32, res: i32) {
        let Some(i) = self
            .io
            .moves
            .iter()
            .position(|m| m.slot == slot && m.gen == gen)
        else {
            return;
        };
        let now = self.io.now();
        let m = &mut self.io.moves[i];
        if res < 0 && is_starvation(res) {
            let since = *m.starved_since.get_or_insert(now);
            if now.duration_since(since) < HANDOFF_WAIT {
                if since == now {
                    self.counters.handoff_waits.fetch_add(1, Ordering::Relaxed);
                }
                if !self.io.handoff_starved {
                    self.io.handoff_starved = true;
                    tracing::warn!(
                        worker = self.index,
                        error = %errno(res),
                        "connections moving to another worker wait for descriptors"
                    );
                }
                m.install_parked = true;
                if !self.io.handoff_retry_armed {
                    self.io.handoff_retry_armed = true;
                    self.timers.arm(
                        now + HANDOFF_RETRY,
                        TimerEntry {
                            slot: usize::MAX,
                            gen: 0,
                            kind: TimerKind::HandoffRetry,
                        },
                    );
                }
                return;
            }
        }
        if let Some(index) = m.installing.take() {
            self.io.discard(Sock::Direct { index, peer: None });
        }
        if res >= 0 {
            // SAFETY: a successful install completion carries a new descriptor that nothing
            // else owns.
            self.io.moves[i].sock = Some(unsafe { TcpStream::from_raw_fd(res as RawFd) });
            // Over only when no move that waited still waits (one retried in this round is
            // in flight, not parked).
            let waiting = |m: &Move| m.starved_since.is_some() && m.installing.is_some();
            if self.io.handoff_starved && !self.io.moves.iter().any(waiting) {
                self.io.handoff_starved = false;
                tracing::info!(
                    worker = self.index,
                    "connections move between workers again"
                );
            }
        } else {
            self.counters
                .handoff_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                worker = self.index,
                error = %errno(res),
                "could not hand a connection over; closed"
            );
        }
        self.finish_move(i);
    }

    fn received(&mut self, slot: usize, gen: u32, res: i32, flags: u32) {
        // The receive buffer is lent for this completion only: the ring leaves the backend
        // while the bytes are parsed, and the lease's drop gives the buffer back.
        let mut bufs = self.io.bufs.take();
        let lease = match (cqueue::buffer_select(flags), bufs.as_mut()) {
            (Some(bid), Some(ring)) => ring.lease(bid, usize::try_from(res).unwrap_or(0)),
            _ => None,
        };
        self.received_into(slot, gen, res, flags, lease);
        self.io.bufs = bufs;
    }

    fn received_into(
        &mut self,
        slot: usize,
        gen: u32,
        res: i32,
        flags: u32,
        lease: Option<Lease<'_>>,
    ) {
        let last = !cqueue::more(flags);
        if let Some(conn) = self.conn_at(slot, gen) {
            if last {
                conn.recv_live = false;
            }
            match res {
                0 => self.on_eof(slot),
                n if n > 0 => match lease {
                    Some(mut data) => self.ingest(slot, &mut data),
                    None => self.remove(slot, CloseReason::Io(io::ErrorKind::InvalidData)),
                },
                // Out of buffers: they come back as completions are handled; re-armed below.
                _ if res == -libc::ENOBUFS || res == -libc::ECANCELED => {}
                _ => self.remove(slot, CloseReason::Io(errno(res).kind())),
            }
            if last && res != 0 {
                if let Some(conn) = self.conns.get_mut(slot).filter(|c| c.gen == gen) {
                    if !conn.recv_live {
                        self.io.arm_recv(slot, conn);
                    }
                }
            }
        } else if let Some(i) = self
            .io
            .moves
            .iter()
            .position(|m| m.slot == slot && m.gen == gen)
        {
            if let Some(data) = lease.filter(|_| res > 0) {
                let m = &mut self.io.moves[i];
                match &mut m.tls {
                    // Refused input leaves the session broken; the next owner's reads fail.
                    Some(tls) => drop(tls.decrypt(&data, &mut m.input)),
                    None => m.input.extend_from_slice(&data),
                }
            }
            if last {
                self.io.moves[i].recv_live = false;
                self.finish_move(i);
            }
        }
    }

    fn sent(&mut self, index: usize, res: i32) {
        let Some(mut op) = self.io.sends.try_remove(index) else {
            return;
        };
        let (slot, gen, epoch, offered) = (op.slot, op.gen, op.epoch, op.offered);
        op.reset();
        self.io.spare.push(op);
        if let Some(conn) = self.conn_at(slot, gen) {
            conn.send_live = false;
            conn.blocked = false;
            match res {
                0 if offered > 0 => self.remove(slot, CloseReason::Io(io::ErrorKind::WriteZero)),
                n if n >= 0 => {
                    // The socket took less than offered: its buffer is full, the peer behind.
                    if (n as usize) < offered {
                        conn.refused = true;
                    }
                    conn.wire().advance(epoch, n as usize);
                    self.flush(slot);
                }
                _ if res == -libc::EINTR || res == -libc::EAGAIN => self.flush(slot),
                _ => self.remove(slot, CloseReason::Io(errno(res).kind())),
            }
        } else if let Some(i) = self
            .io
            .moves
            .iter()
            .position(|m| m.slot == slot && m.gen == gen)
        {
            let m = &mut self.io.moves[i];
            m.send_live = false;
            if res > 0 {
                crate::runtime::tls::wire(&mut m.outq, &mut m.tls).advance(epoch, res as usize);
            }
            self.finish_move(i);
        }
    }

    /// Hands over a moving connection once nothing of this ring is pending on it.
    fn finish_move(&mut self, i: usize) {
        let done = self
            .io
            .moves
            .get(i)
            .is_some_and(|m| !m.recv_live && !m.send_live && m.installing.is_none());
        if done {
            let m = self.io.moves.swap_remove(i);
            match m.sock {
                Some(sock) => {
                    let moving = Moving {
                        sock,
                        input: m.input,
                        outq: m.outq,
                        tls: m.tls,
                    };
                    let envelope = Envelope::moved(m.detach, moving);
                    if !self.peers.send(m.to, envelope) {
                        self.handoff_lost();
                    }
                }
                // The install failed (counted then): the connection is gone, and so is its
                // place in the open count it carried.
                None => {
                    self.counters.open.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batching_starts_only_under_load() {
        let ms = Duration::from_millis(1);
        // 140,000 messages a second: 7 per 50 us window.
        assert!(is_busy(140, ms, 50));
        // One client in ping-pong, 15,000 a second: under one per window.
        assert!(!is_busy(15, ms, 50));
        // Exactly four per window is busy; a longer period needs proportionally more.
        assert!(is_busy(80, ms, 50));
        assert!(!is_busy(79, ms, 50));
        assert!(!is_busy(140, 10 * ms, 50));
        // A zero window turns batching off at any rate; an idle period is never busy.
        assert!(!is_busy(1_000_000, ms, 0));
        assert!(!is_busy(0, Duration::from_secs(5), 50));
    }

    #[test]
    fn peer_addresses_decode_from_sockaddr_storage() {
        let mut a = AcceptAddr::new();
        assert_eq!(a.peer(), None, "an empty buffer has no address");
        let v4: SocketAddr = "10.1.2.3:4567".parse().unwrap();
        let (storage, len) = socket_storage(v4);
        a.addr = storage;
        a.len = len;
        assert_eq!(a.peer(), Some(v4));
        let v6: SocketAddr = "[2001:db8::7]:443".parse().unwrap();
        let (storage, len) = socket_storage(v6);
        a.addr = storage;
        a.len = len;
        assert_eq!(a.peer(), Some(v6));
        a.len = 4;
        assert_eq!(a.peer(), None, "a truncated address is refused");
    }

    /// What the kernel writes for `addr`.
    fn socket_storage(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        let sa = socket2::SockAddr::from(addr);
        // SAFETY: sockaddr_storage is plain data; the copy is at most its size.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = sa.len() as usize;
        // SAFETY: both regions are at least `len` bytes and do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                sa.as_ptr().cast::<u8>(),
                (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
                len,
            );
        }
        (storage, sa.len())
    }
}
