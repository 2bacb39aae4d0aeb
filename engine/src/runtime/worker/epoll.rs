//! The epoll backend (through mio): readiness events, edge-triggered. Reads go to a buffer the
//! worker lends to whichever connection is being parsed; writes are `send` (one slice) or
//! `writev` calls until the socket would block, then wait for a writable event.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;

use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::{Io, Wait, Worker};
use crate::runtime::conn::Conn;
use crate::runtime::mailbox::{Envelope, Moving, Peers};
use crate::runtime::outq::Flush;
use crate::runtime::service::Service;
use crate::runtime::sock::Sock;

/// Token of the worker's mio waker.
pub(crate) const WAKER: Token = Token(0);
/// Listener `l` is registered as token `l + FIRST_LISTENER`; connection slot `k` as token
/// `k + EpollIo::first_conn`, past the listeners.
const FIRST_LISTENER: usize = 1;
/// Size of the read buffer a worker lends to the connection being parsed.
const READ_BUF: usize = 64 * 1024;

/// A worker's epoll state: its poll, its listeners (one per address; emptied at shutdown) and
/// the buffer it reads into.
pub(crate) struct EpollIo {
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// Token of connection slot 0.
    first_conn: usize,
    rbuf: Vec<u8>,
}

impl EpollIo {
    /// Wraps a poll whose waker uses [`WAKER`]; registers this worker's `listeners` with it.
    pub fn new(poll: Poll, listeners: Vec<TcpListener>) -> io::Result<Self> {
        let mut io = EpollIo {
            poll,
            first_conn: FIRST_LISTENER + listeners.len(),
            listeners,
            rbuf: vec![0; READ_BUF],
        };
        io.register_listeners()?;
        Ok(io)
    }

    fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// Registers every listener (each one tried); the first error, if any.
    fn register_listeners(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for (l, listener) in self.listeners.iter_mut().enumerate() {
            let token = Token(l + FIRST_LISTENER);
            let r = self
                .poll
                .registry()
                .register(listener, token, Interest::READABLE);
            result = result.and(r);
        }
        result
    }

    fn deregister_listeners(&mut self) {
        for l in &mut self.listeners {
            let _ = self.poll.registry().deregister(l);
        }
    }
}

impl Io for EpollIo {
    const INLINE_WRITES: bool = true;

    fn open(&mut self, slot: usize, conn: &mut Conn) -> io::Result<()> {
        // Only io_uring workers accept direct sockets, and they never hand them to another.
        let fd = conn.sock.raw_fd().ok_or(io::ErrorKind::Unsupported)?;
        self.registry().register(
            &mut SourceFd(&fd),
            Token(slot + self.first_conn),
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    fn flush(&mut self, _slot: usize, conn: &mut Conn) -> io::Result<Flush> {
        conn.write_now()
    }

    fn close(&mut self, _slot: usize, conn: Conn) {
        if let Some(fd) = conn.sock.raw_fd() {
            let _ = self.registry().deregister(&mut SourceFd(&fd));
        }
    }

    fn reject(&mut self, sock: Sock, answer: &'static [u8]) {
        // Best effort: a fresh socket's send buffer takes these few bytes at once.
        let _ = (&sock).write(answer);
    }

    fn shutdown_write(&mut self, conn: &mut Conn) {
        let _ = conn.sock.shutdown(Shutdown::Write);
    }

    fn hand_off<M: Send>(
        &mut self,
        _slot: usize,
        conn: Conn,
        input: Vec<u8>,
        to: usize,
        detach: bool,
        peers: &Peers<M>,
    ) -> bool {
        if let Sock::Os(sock) = conn.sock {
            let _ = self.registry().deregister(&mut SourceFd(&sock.as_raw_fd()));
            // A refused hand-off means the owner is gone (shutting down): the socket closes
            // here, and the caller counts it.
            let moving = Moving {
                sock,
                input,
                outq: conn.outq,
                tls: conn.tls,
            };
            return peers.send(to, Envelope::moved(detach, moving));
        }
        // Direct descriptors belong to io_uring; one here could not move.
        false
    }

    fn stop_accepting(&mut self) {
        self.deregister_listeners();
        self.listeners.clear();
    }

    fn resume_accepting(&mut self) {
        // Registering a listener with connections pending reports it readable at the next poll.
        let _ = self.register_listeners();
    }
}

impl<S: Service> Worker<S, EpollIo> {
    /// Runs the loop until shutdown completes.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = match self.wait() {
                Wait::Exit => return,
                Wait::For(t) => t,
            };
            if let Err(e) = self.io.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    tracing::error!(worker = self.index, error = %e, "epoll wait failed; worker stops");
                    return;
                }
            }
            self.now = self.io.now();
            for ev in events.iter() {
                match ev.token() {
                    WAKER => self.drain_mailbox(),
                    Token(t) if t < self.io.first_conn => self.accept(t - FIRST_LISTENER),
                    Token(t) => {
                        let slot = t - self.io.first_conn;
                        if ev.is_writable() {
                            if let Some(c) = self.conns.get_mut(slot) {
                                c.blocked = false;
                            }
                            self.flush(slot);
                        }
                        if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                            self.read(slot);
                        }
                    }
                }
                self.finish_closes();
            }
            self.end_turn();
        }
    }

    /// Accepts every connection waiting on listener `l`.
    fn accept(&mut self, l: usize) {
        loop {
            let Some(listener) = self.io.listeners.get(l) else {
                return;
            };
            match listener.accept() {
                // The socket stays non-blocking: it keeps working under any worker.
                Ok((sock, _)) => self.admit(Sock::Os(TcpStream::from(sock))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or memory: every listener rests until the retry.
                    self.io.deregister_listeners();
                    self.pause_accepting(&e);
                    return;
                }
            }
        }
    }

    /// Reads everything the socket has, parsing as it goes. Edge-triggered: stop only at
    /// WouldBlock, EOF or when the connection is gone.
    fn read(&mut self, slot: usize) {
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            // An idle connection parses straight from the lent buffer; one with a partial head
            // or frame appends to its own, which saves copying the tail of every large frame
            // (not under TLS: `inbuf` holds plaintext there).
            if !conn.inbuf.is_empty() && conn.tls.is_none() {
                let len = conn.inbuf.len();
                conn.inbuf.resize(len + READ_BUF, 0);
                let r = (&conn.sock).read(&mut conn.inbuf[len..]);
                conn.inbuf.truncate(len + *r.as_ref().unwrap_or(&0));
                match r {
                    Ok(0) => return self.on_eof(slot),
                    Ok(_) => self.reparse_slot(slot),
                    Err(e) => {
                        if !self.read_failed(slot, e) {
                            return;
                        }
                    }
                }
                continue;
            }
            match (&conn.sock).read(&mut self.io.rbuf) {
                Ok(0) => return self.on_eof(slot),
                Ok(n) => {
                    let mut buf = std::mem::take(&mut self.io.rbuf);
                    if let Some(data) = buf.get_mut(..n) {
                        self.ingest(slot, data);
                    }
                    self.io.rbuf = buf;
                }
                Err(e) => {
                    if !self.read_failed(slot, e) {
                        return;
                    }
                }
            }
        }
    }

    /// Handles a failed read; returns whether to read again.
    fn read_failed(&mut self, slot: usize, e: io::Error) -> bool {
        match e.kind() {
            io::ErrorKind::Interrupted => true,
            io::ErrorKind::WouldBlock => false,
            kind => {
                self.remove(slot, crate::runtime::service::CloseReason::Io(kind));
                false
            }
        }
    }
}
