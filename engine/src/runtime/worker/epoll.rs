//! The epoll backend (through mio): readiness events, edge-triggered. Reads go to a buffer the
//! worker lends to whichever connection is being parsed; writes are `send` (one slice) or
//! `writev` calls until the socket would block, then wait for a writable event.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::net::TcpListener;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::{Io, Wait, Worker};
use crate::runtime::conn::Conn;
use crate::runtime::handle::{Envelope, Peers};
use crate::runtime::outq::Flush;
use crate::runtime::service::Service;
use crate::runtime::sock::Sock;

/// Token of the worker's listener.
const LISTENER: Token = Token(0);
/// Token of the worker's mio waker.
pub(crate) const WAKER: Token = Token(1);
/// Connection slot `k` is registered as token `k + FIRST_CONN`.
const FIRST_CONN: usize = 2;
/// Size of the read buffer a worker lends to the connection being parsed.
const READ_BUF: usize = 64 * 1024;

/// A worker's epoll state: its poll, its listener and the buffer it reads into.
pub(crate) struct EpollIo {
    poll: Poll,
    listener: Option<TcpListener>,
    rbuf: Vec<u8>,
}

impl EpollIo {
    /// Wraps a poll whose waker uses [`WAKER`]; registers `listener` (if this worker has one)
    /// with it.
    pub fn new(poll: Poll, mut listener: Option<TcpListener>) -> io::Result<Self> {
        if let Some(l) = listener.as_mut() {
            poll.registry().register(l, LISTENER, Interest::READABLE)?;
        }
        Ok(EpollIo {
            poll,
            listener,
            rbuf: vec![0; READ_BUF],
        })
    }

    fn registry(&self) -> &Registry {
        self.poll.registry()
    }
}

impl Io for EpollIo {
    const INLINE_WRITES: bool = true;

    fn open(&mut self, slot: usize, conn: &mut Conn) -> io::Result<()> {
        // Only io_uring workers accept direct sockets, and they never hand them to another.
        let fd = conn.sock.raw_fd().ok_or(io::ErrorKind::Unsupported)?;
        self.registry().register(
            &mut SourceFd(&fd),
            Token(slot + FIRST_CONN),
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    fn flush(&mut self, _slot: usize, conn: &mut Conn) -> io::Result<Flush> {
        conn.outq.flush_to(&mut &conn.sock)
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
        peers: &Peers<M>,
    ) {
        if let Sock::Os(sock) = conn.sock {
            let _ = self.registry().deregister(&mut SourceFd(&sock.as_raw_fd()));
            // A refused hand-off means the owner is gone (shutting down): the socket closes
            // here.
            let _ = peers.send(to, Envelope::Adopt(sock, input, conn.outq));
        }
    }

    fn stop_accepting(&mut self) {
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
    }

    fn resume_accepting(&mut self) {
        // Registering a listener with connections pending reports it readable at the next poll.
        if let Some(l) = self.listener.as_mut() {
            let _ = self
                .poll
                .registry()
                .register(l, LISTENER, Interest::READABLE);
        }
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
                    eprintln!("volley: worker {} poll failed: {e}", self.index);
                    return;
                }
            }
            self.now = Instant::now();
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKER => self.drain_mailbox(),
                    Token(t) => {
                        let slot = t - FIRST_CONN;
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

    fn accept(&mut self) {
        loop {
            let Some(listener) = self.io.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                // The socket stays non-blocking: it keeps working under any worker.
                Ok((sock, _)) => self.admit(Sock::Os(TcpStream::from(sock))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if let Some(l) = self.io.listener.as_mut() {
                        let _ = self.io.poll.registry().deregister(l);
                    }
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
            // or frame appends to its own, which saves copying the tail of every large frame.
            if !conn.inbuf.is_empty() {
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
