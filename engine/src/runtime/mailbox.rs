//! Reaching workers from other threads: one crossbeam channel and one waker per worker (a mio
//! waker for epoll, an eventfd the ring reads for io_uring). A sender only wakes a worker that is
//! not already due to drain its channel, so a burst of messages costs one wake-up system call,
//! not one per message.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
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
}

/// The worker's end of its mailbox.
pub(crate) struct Mailbox<M> {
    pub rx: Receiver<Envelope<M>>,
    pub wake_pending: Arc<AtomicBool>,
}

/// Senders to every worker; cheap to clone and `Send`, so any thread can hold one.
pub struct Peers<M> {
    peers: Arc<[Peer<M>]>,
}

impl<M> Clone for Peers<M> {
    fn clone(&self) -> Self {
        Peers {
            peers: self.peers.clone(),
        }
    }
}

impl<M: Send> Peers<M> {
    /// Builds the mailboxes of `wakers.len()` workers.
    pub(crate) fn new(wakers: Vec<Arc<Waker>>) -> (Self, Vec<Mailbox<M>>) {
        let mut peers = Vec::with_capacity(wakers.len());
        let mut boxes = Vec::with_capacity(wakers.len());
        for waker in wakers {
            let (tx, rx) = crossbeam_channel::unbounded();
            let wake_pending = Arc::new(AtomicBool::new(false));
            peers.push(Peer {
                tx,
                waker,
                wake_pending: wake_pending.clone(),
            });
            boxes.push(Mailbox { rx, wake_pending });
        }
        (
            Peers {
                peers: peers.into(),
            },
            boxes,
        )
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
        if peer.tx.send(env).is_err() {
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
