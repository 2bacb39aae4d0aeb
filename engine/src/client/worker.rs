//! The client thread: a mio loop that owns the socket, the [`ClientConn`], the timers and the
//! reconnection schedule. What to do with commands and connection events lives in
//! `dispatch.rs`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::time::Instant;

use crossbeam_channel::Receiver;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::backoff::Backoff;
use super::handle::ClientHandle;
use super::options::ClientOptions;
use super::rng::Rng;
use super::shared::Command;
use super::{AckError, ClientConn, DisconnectReason};

/// The token of the loop's waker; connections use 1, 2, ... so events of a dropped socket
/// never reach its successor.
pub(super) const WAKER: Token = Token(0);

/// Bytes read per `read` call.
const READ_CHUNK: usize = 16 * 1024;

/// Manager-level callbacks (see [`ClientBuilder`](super::ClientBuilder)).
#[derive(Default)]
pub(super) struct Callbacks {
    pub open: Option<Box<dyn FnMut() + Send>>,
    pub close: Option<Box<dyn FnMut(DisconnectReason) + Send>>,
    pub reconnect_attempt: Option<Box<dyn FnMut(u32) + Send>>,
    pub reconnect_error: Option<Box<dyn FnMut(DisconnectReason) + Send>>,
    pub reconnect: Option<Box<dyn FnMut(u32) + Send>>,
    pub reconnect_failed: Option<Box<dyn FnMut() + Send>>,
}

/// One TCP connection and the protocol state on it.
pub(super) struct Link {
    stream: TcpStream,
    token: Token,
    tcp_connected: bool,
    inbuf: Vec<u8>,
    pub conn: ClientConn,
    /// The Engine.IO session opened on this link.
    pub opened: bool,
}

/// The client thread's state.
pub(super) struct Worker {
    poll: Poll,
    rx: Receiver<Command>,
    pub handle: ClientHandle,
    pub opts: ClientOptions,
    host: String,
    pub callbacks: Callbacks,
    pub link: Option<Link>,
    next_token: usize,
    pub namespaces: HashMap<String, super::dispatch::Namespace>,
    backoff: Backoff,
    rng: Rng,
    reconnect_at: Option<Instant>,
    /// A reconnection is in progress (scheduled or connecting).
    reconnecting: bool,
    /// [`Command::Close`] was received.
    pub closing: bool,
}

impl Worker {
    pub fn new(
        poll: Poll,
        rx: Receiver<Command>,
        handle: ClientHandle,
        opts: ClientOptions,
        host: String,
        callbacks: Callbacks,
    ) -> Self {
        let backoff = Backoff::new(
            opts.reconnection_delay,
            opts.reconnection_delay_max,
            opts.randomization_factor,
        );
        Self {
            poll,
            rx,
            handle,
            opts,
            host,
            callbacks,
            link: None,
            next_token: 1,
            namespaces: HashMap::new(),
            backoff,
            rng: Rng::from_os(),
            reconnect_at: None,
            reconnecting: false,
            closing: false,
        }
    }

    /// Runs until [`Command::Close`].
    pub fn run(mut self) {
        let mut events = Events::with_capacity(64);
        while !self.closing {
            while let Ok(command) = self.rx.try_recv() {
                self.on_command(command);
            }
            self.on_timers(Instant::now());
            self.pump();
            if self.closing {
                break;
            }
            let timeout = self
                .next_deadline()
                .map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    break;
                }
            }
            for event in events.iter() {
                if event.token() != WAKER {
                    self.on_socket_ready(event.token());
                }
            }
        }
        self.shutdown();
    }

    fn next_deadline(&self) -> Option<Instant> {
        let conn = self.link.as_ref().and_then(|l| l.conn.next_deadline());
        let ack = self.handle.shared().next_ack_deadline();
        [conn, ack, self.reconnect_at].into_iter().flatten().min()
    }

    fn on_timers(&mut self, now: Instant) {
        if let Some(link) = &mut self.link {
            link.conn.handle_timeout(now);
        }
        for callback in self.handle.shared().expired_acks(now) {
            callback(Err(AckError::Timeout));
        }
        if self.reconnect_at.is_some_and(|at| now >= at) {
            self.reconnect_at = None;
            let attempt = self.backoff.attempts();
            if let Some(f) = &mut self.callbacks.reconnect_attempt {
                f(attempt);
            }
            self.open_link(now);
        }
    }

    /// Whether a connection exists or is scheduled.
    pub fn has_link_or_plan(&self) -> bool {
        self.link.is_some() || self.reconnect_at.is_some()
    }

    /// Opens a new connection.
    pub fn open_link(&mut self, now: Instant) {
        let addr = match self.host.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => addr,
            _ => return self.on_link_closed(DisconnectReason::TransportError, false),
        };
        let mut stream = match TcpStream::connect(addr) {
            Ok(stream) => stream,
            Err(_) => return self.on_link_closed(DisconnectReason::TransportError, false),
        };
        let token = Token(self.next_token);
        self.next_token = self.next_token.wrapping_add(1).max(1);
        if self
            .poll
            .registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            return self.on_link_closed(DisconnectReason::TransportError, false);
        }
        // Latency matters more than packet count for a messaging client.
        let _ = stream.set_nodelay(true);
        let options = self.opts.connect_options(&self.host);
        self.link = Some(Link {
            stream,
            token,
            tcp_connected: false,
            inbuf: Vec::new(),
            conn: ClientConn::new(&options, now, self.rng.next_u64()),
            opened: false,
        });
    }

    fn on_socket_ready(&mut self, token: Token) {
        let Some(link) = self.link.as_mut().filter(|l| l.token == token) else {
            return;
        };
        if !link.tcp_connected {
            match tcp_connected(&link.stream) {
                Ok(true) => link.tcp_connected = true,
                Ok(false) => return,
                Err(_) => return link.conn.handle_transport_closed(true),
            }
        }
        link.read();
    }

    /// Hands connection events to the dispatcher, writes what is queued, and retires a closed
    /// link.
    fn pump(&mut self) {
        while let Some(event) = self.link.as_mut().and_then(|l| l.conn.poll_event()) {
            self.on_conn_event(event);
        }
        let Some(link) = &mut self.link else {
            return;
        };
        link.flush();
        if link.conn.is_closed() {
            let _ = self.poll.registry().deregister(&mut link.stream);
            self.link = None;
        }
    }

    /// Bookkeeping after a link ended (`opened`: its session had opened): manager callbacks
    /// and the reconnection decision.
    pub fn on_link_closed(&mut self, reason: DisconnectReason, opened: bool) {
        if opened {
            if let Some(f) = &mut self.callbacks.close {
                f(reason);
            }
        } else if self.reconnecting {
            if let Some(f) = &mut self.callbacks.reconnect_error {
                f(reason);
            }
        }
        let wanted = self.namespaces.values().any(|ns| ns.active);
        if reason != DisconnectReason::IoClientDisconnect
            && !self.closing
            && self.opts.reconnection
            && wanted
        {
            self.schedule_reconnect(Instant::now());
        } else {
            self.reconnecting = false;
        }
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        if let Some(max) = self.opts.reconnection_attempts {
            if self.backoff.attempts() >= max {
                self.backoff.reset();
                self.reconnecting = false;
                if let Some(f) = &mut self.callbacks.reconnect_failed {
                    f();
                }
                return;
            }
        }
        let delay = self.backoff.next_delay(&mut self.rng);
        self.reconnecting = true;
        self.reconnect_at = Some(now.checked_add(delay).unwrap_or(now));
    }

    /// Cancels a scheduled reconnection (no namespace wants the connection any more).
    pub fn cancel_reconnect(&mut self) {
        self.reconnect_at = None;
        self.reconnecting = false;
        self.backoff.reset();
    }

    /// The session opened: returns the attempts a reconnection took, if this was one.
    pub fn on_session_open(&mut self) -> Option<u32> {
        let attempts = self.backoff.attempts();
        self.backoff.reset();
        std::mem::take(&mut self.reconnecting).then_some(attempts)
    }

    fn shutdown(&mut self) {
        if let Some(link) = &mut self.link {
            link.flush();
            let _ = self.poll.registry().deregister(&mut link.stream);
        }
        self.link = None;
        let shared = self.handle.shared();
        let callbacks = {
            let mut state = shared.lock();
            state.closed = true;
            state.buffered = 0;
            for view in state.namespaces.values_mut() {
                view.connected = false;
                view.sid = None;
            }
            drop(state);
            shared.take_acks(None, true)
        };
        for callback in callbacks {
            callback(Err(AckError::Closed));
        }
    }
}

impl Link {
    /// Reads until the socket would block, feeding the connection.
    fn read(&mut self) {
        while !self.conn.is_closed() {
            let len = self.inbuf.len();
            self.inbuf.resize(len + READ_CHUNK, 0);
            let result = self
                .stream
                .read(self.inbuf.get_mut(len..).unwrap_or_default());
            match result {
                Ok(0) => {
                    self.inbuf.truncate(len);
                    self.conn.handle_transport_closed(false);
                }
                Ok(n) => {
                    self.inbuf.truncate(len + n);
                    // On error the connection closed itself and queued `Closed`.
                    if let Ok(used) = self.conn.handle_input(&mut self.inbuf, Instant::now()) {
                        self.inbuf.drain(..used.min(self.inbuf.len()));
                    }
                }
                Err(e) => {
                    self.inbuf.truncate(len);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return,
                        io::ErrorKind::Interrupted => {}
                        _ => self.conn.handle_transport_closed(true),
                    }
                }
            }
        }
    }

    /// Writes queued bytes until the socket would block.
    pub fn flush(&mut self) {
        if !self.tcp_connected {
            return;
        }
        while let Some(bytes) = self.conn.transmit() {
            match self.stream.write(bytes) {
                Ok(0) => return self.conn.handle_transport_closed(true),
                Ok(n) => self.conn.advance_transmit(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.conn.handle_transport_closed(true),
            }
        }
    }
}

/// Whether a non-blocking connect has completed; `Err` when it failed.
fn tcp_connected(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}
