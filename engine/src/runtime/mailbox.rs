//! Reaching workers from other threads: one crossbeam channel and one waker per worker (a mio
//! waker for epoll, an eventfd the ring reads for io_uring). A sender only wakes a worker that is
//! not already due to drain its channel, so a burst of messages costs one wake-up system call,
//! not one per message. Each mailbox counts what waits in it, so a producer on another thread
//! can ask whether a worker has room ([`Peers::has_room`]) and pace itself; the workers' own
//! sends are never refused (a worker that waited on another could deadlock with it).

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use super::outq::OutQueue;
use super::tls::Tls;

/// Interrupts a worker's wait for I/O.
pub(crate) enum Waker {
    /// Registered with the worker's mio poll.
    Mio(mio::Waker),
    /// An eventfd the worker's ring keeps a read pending on.
    EventFd(OwnedFd),
}

impl Waker {
    /// A new eventfd waker. It is blocking so that a ring's read of it waits for a write
    /// instead of failing with EAGAIN; a write blocks only if the counter is about to overflow,
    /// which 2^64 wake-ups never reach.
    pub fn eventfd() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a descriptor we now own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        Ok(Waker::EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The eventfd's descriptor, for the ring's read (none for a mio waker).
    pub fn eventfd_raw(&self) -> Option<RawFd> {
        match self {
            Waker::Mio(_) => None,
            Waker::EventFd(fd) => Some(fd.as_raw_fd()),
        }
    }

    fn wake(&self) -> io::Result<()> {
        match self {
            Waker::Mio(w) => w.wake(),
            Waker::EventFd(fd) => {
                let one: u64 = 1;
                // SAFETY: writes the 8 bytes of a live local to a descriptor we own.
                let n = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            }
        }
    }
}

/// What travels to a worker.
pub(crate) enum Envelope<M> {
    /// A message for the service.
    Post(M),
    /// Stop accepting, close every connection, flush and exit.
    Shutdown,
    /// Take over a connection from another worker.
    Adopt(Box<Moving>),
    /// Give a connection of this worker to the application ([`Service::on_detach`]), once no
    /// operation of the worker is pending on it.
    ///
    /// [`Service::on_detach`]: super::Service::on_detach
    Detach(Box<Moving>),
}

/// A connection leaving its worker.
pub(crate) struct Moving {
    pub sock: TcpStream,
    /// Input it had not parsed (plaintext, on a TLS connection).
    pub input: Vec<u8>,
    /// Output it had not sent yet (answers to earlier requests on the same connection).
    pub outq: OutQueue,
    /// Its TLS session, which goes wherever the connection goes.
    pub tls: Option<Box<Tls>>,
}

impl<M> Envelope<M> {
    /// A connection leaving its worker: [`Envelope::Detach`] for the application, else
    /// [`Envelope::Adopt`] for the worker it is sent to.
    pub(crate) fn moved(detach: bool, moving: Moving) -> Self {
        if detach {
            Envelope::Detach(Box::new(moving))
        } else {
            Envelope::Adopt(Box::new(moving))
        }
    }
}

struct Peer<M> {
    tx: Sender<Envelope<M>>,
    waker: Arc<Waker>,
    /// Set by senders when they wake the worker, cleared by the worker before it drains.
    wake_pending: Arc<AtomicBool>,
    /// Messages sent and not yet taken by the worker.
    depth: Arc<AtomicUsize>,
}

/// The worker's end of its mailbox.
pub(crate) struct Mailbox<M> {
    rx: Receiver<Envelope<M>>,
    pub wake_pending: Arc<AtomicBool>,
    depth: Arc<AtomicUsize>,
}

impl<M> Mailbox<M> {
    /// The next message, if one waits.
    pub fn try_recv(&self) -> Option<Envelope<M>> {
        let env = self.rx.try_recv().ok()?;
        self.depth.fetch_sub(1, Ordering::Relaxed);
        Some(env)
    }

    /// Whether nothing waits.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

/// Senders to every worker; cheap to clone and `Send`, so any thread can hold one.
pub struct Peers<M> {
    peers: Arc<[Peer<M>]>,
    /// Messages a mailbox holds before [`Peers::has_room`] says no.
    capacity: usize,
}

impl<M> Clone for Peers<M> {
    fn clone(&self) -> Self {
        Peers {
            peers: self.peers.clone(),
            capacity: self.capacity,
        }
    }
}

impl<M: Send> Peers<M> {
    /// Builds the mailboxes of `wakers.len()` workers, each with room for `capacity` messages
    /// (at least one) as [`Peers::has_room`] counts it.
    pub(crate) fn new(wakers: Vec<Arc<Waker>>, capacity: usize) -> (Self, Vec<Mailbox<M>>) {
        let mut peers = Vec::with_capacity(wakers.len());
        let mut boxes = Vec::with_capacity(wakers.len());
        for waker in wakers {
            let (tx, rx) = crossbeam_channel::unbounded();
            let wake_pending = Arc::new(AtomicBool::new(false));
            let depth = Arc::new(AtomicUsize::new(0));
            peers.push(Peer {
                tx,
                waker,
                wake_pending: wake_pending.clone(),
                depth: depth.clone(),
            });
            boxes.push(Mailbox {
                rx,
                wake_pending,
                depth,
            });
        }
        (
            Peers {
                peers: peers.into(),
                capacity: capacity.max(1),
            },
            boxes,
        )
    }

    /// Whether every worker's mailbox holds fewer than its capacity of messages (the
    /// `mailbox_capacity` setting): a producer on another thread that asks before it sends
    /// keeps each mailbox within it, give or take what producers send at the same moment.
    pub fn has_room(&self) -> bool {
        self.peers
            .iter()
            .all(|p| p.depth.load(Ordering::Relaxed) < self.capacity)
    }

    /// Number of workers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no workers (never true for a running server).
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    pub(crate) fn send(&self, worker: usize, env: Envelope<M>) -> bool {
        let Some(peer) = self.peers.get(worker) else {
            return false;
        };
        // Counted before it can be taken, so the count never goes below zero.
        peer.depth.fetch_add(1, Ordering::Relaxed);
        if peer.tx.send(env).is_err() {
            peer.depth.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        if !peer.wake_pending.swap(true, Ordering::AcqRel) {
            // A failed wake means the worker's poll is gone: it has exited.
            let _ = peer.waker.wake();
        }
        true
    }

    /// Sends `msg` to worker `worker`; false if that worker has stopped.
    pub fn post(&self, worker: usize, msg: M) -> bool {
        self.send(worker, Envelope::Post(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(workers: usize, capacity: usize) -> (Peers<u32>, Vec<Mailbox<u32>>) {
        let wakers = (0..workers)
            .map(|_| Arc::new(Waker::eventfd().expect("eventfd")))
            .collect();
        Peers::new(wakers, capacity)
    }

    #[test]
    fn a_full_mailbox_has_no_room_until_its_worker_takes_a_message() {
        let (peers, boxes) = peers(2, 2);
        assert!(peers.has_room());
        assert!(peers.post(1, 1));
        assert!(peers.has_room(), "one of two");
        assert!(peers.post(1, 2));
        assert!(!peers.has_room(), "worker 1 holds its capacity");
        // Sends are never refused: only the question changes.
        assert!(peers.post(1, 3));
        assert!(matches!(boxes[1].try_recv(), Some(Envelope::Post(1))));
        assert!(!peers.has_room(), "two still wait");
        assert!(matches!(boxes[1].try_recv(), Some(Envelope::Post(2))));
        assert!(peers.has_room());
        assert!(matches!(boxes[1].try_recv(), Some(Envelope::Post(3))));
        assert!(boxes[1].try_recv().is_none());
        assert!(boxes[0].try_recv().is_none());
    }

    #[test]
    fn a_stopped_worker_does_not_count_what_it_never_got() {
        let (peers, boxes) = peers(1, 1);
        drop(boxes);
        assert!(!peers.post(0, 7));
        assert!(peers.has_room());
    }
}
