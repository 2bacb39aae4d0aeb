//! The client thread: a mio loop that owns the socket, the [`ClientConn`], the timers and the
//! reconnection schedule. What to do with commands and connection events lives in
//! `dispatch.rs`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Instant;

use crossbeam_channel::Receiver;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};

use super::backoff::Backoff;
use super::errors::AckError;
use super::handle::{ClientHandle, Command};
use super::namespace::Namespace;
use super::options::ClientOptions;
use super::rng::Rng;
use super::{ClientConn, ClientError, DisconnectReason, Lane, LaneCommand};

/// The token of the loop's waker; connections use 1, 2, ... so events of a dropped socket
/// never reach its successor.
pub(super) const WAKER: Token = Token(0);

/// Bytes read per `read` call.
const READ_CHUNK: usize = 16 * 1024;

/// The `on_error` callback.
pub(super) type ErrorCallback = Box<dyn FnMut(&ClientError) + Send>;

/// Manager-level callbacks (see [`ClientBuilder`](super::ClientBuilder)).
#[derive(Default)]
pub(super) struct Callbacks {
    pub open: Option<Box<dyn FnMut() + Send>>,
    pub close: Option<Box<dyn FnMut(DisconnectReason) + Send>>,
    pub reconnect_attempt: Option<Box<dyn FnMut(u32) + Send>>,
    pub reconnect_error: Option<Box<dyn FnMut(DisconnectReason) + Send>>,
    pub reconnect: Option<Box<dyn FnMut(u32) + Send>>,
    pub reconnect_failed: Option<Box<dyn FnMut() + Send>>,
    pub error: Option<ErrorCallback>,
}

/// One lane's TCP connection.
struct LaneSocket {
    stream: TcpStream,
    token: Token,
    tcp_connected: bool,
    inbuf: Vec<u8>,
}

/// One Engine.IO session: its connections (one per [`Lane`]) and the protocol state on them.
pub(super) struct Link {
    addr: SocketAddr,
    sockets: [Option<LaneSocket>; 3],
    pub conn: ClientConn,
    /// The Engine.IO session opened on this link.
    pub opened: bool,
    /// The protocol error that closed the session, for the `on_error` callback.
    error: Option<ClientError>,
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
    pub namespaces: HashMap<String, Namespace>,
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

    /// Starts a new session; its connections open as it asks for them (in `pump`).
    pub fn open_link(&mut self, now: Instant) {
        let addr = match self.host.to_socket_addrs().map(|mut a| a.next()) {
            Ok(Some(addr)) => addr,
            _ => return self.on_link_closed(DisconnectReason::TransportError, false),
        };
        let options = self.opts.connect_options(&self.host);
        self.link = Some(Link {
            addr,
            sockets: [None, None, None],
            conn: ClientConn::new(&options, now, self.rng.next_u64()),
            opened: false,
            error: None,
        });
    }

    fn on_socket_ready(&mut self, token: Token) {
        let Some(link) = &mut self.link else {
            return;
        };
        let Some(lane) = link.lane_of(token) else {
            return;
        };
        link.ready(lane, self.poll.registry());
    }

    /// Hands connection events to the dispatcher, applies the session's socket changes,
    /// writes what is queued, and retires a closed link, until nothing is left to do.
    fn pump(&mut self) {
        loop {
            let mut progressed = false;
            if let Some(error) = self.link.as_mut().and_then(|l| l.error.take()) {
                if let Some(f) = &mut self.callbacks.error {
                    f(&error);
                }
            }
            while let Some(event) = self.link.as_mut().and_then(|l| l.conn.poll_event()) {
                progressed = true;
                self.on_conn_event(event);
            }
            let registry = self.poll.registry();
            let Some(link) = &mut self.link else {
                return;
            };
            if link.apply_commands(registry, &mut self.next_token) {
                progressed = true;
                // Reads stop while commands wait; what the sockets still hold is read now.
                for lane in Lane::ALL {
                    link.read(lane, registry);
                }
            }
            progressed |= link.flush(registry);
            if !progressed {
                if link.conn.is_closed() {
                    link.deregister_all(registry);
                    self.link = None;
                }
                return;
            }
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
            let registry = self.poll.registry();
            link.flush(registry);
            link.deregister_all(registry);
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
    fn lane_of(&self, token: Token) -> Option<Lane> {
        Lane::ALL.into_iter().find(|lane| {
            self.sockets
                .get(lane.index())
                .and_then(Option::as_ref)
                .is_some_and(|s| s.token == token)
        })
    }

    fn socket(&mut self, lane: Lane) -> Option<&mut LaneSocket> {
        self.sockets.get_mut(lane.index()).and_then(Option::as_mut)
    }

    fn drop_socket(&mut self, lane: Lane, registry: &Registry) {
        if let Some(mut socket) = self.sockets.get_mut(lane.index()).and_then(Option::take) {
            let _ = registry.deregister(&mut socket.stream);
        }
    }

    fn deregister_all(&mut self, registry: &Registry) {
        for lane in Lane::ALL {
            self.drop_socket(lane, registry);
        }
    }

    /// Opens and closes sockets as the session asks; returns whether it asked anything.
    fn apply_commands(&mut self, registry: &Registry, next_token: &mut usize) -> bool {
        let mut any = false;
        while let Some(command) = self.conn.poll_lane_command() {
            any = true;
            match command {
                LaneCommand::Close(lane) => self.drop_socket(lane, registry),
                LaneCommand::Open(lane) => {
                    self.drop_socket(lane, registry);
                    let token = Token(*next_token);
                    *next_token = next_token.wrapping_add(1).max(1);
                    match connect(self.addr, token, registry) {
                        Ok(socket) => {
                            if let Some(slot) = self.sockets.get_mut(lane.index()) {
                                *slot = Some(socket);
                            }
                        }
                        Err(_) => self
                            .conn
                            .handle_transport_closed(lane, true, Instant::now()),
                    }
                }
            }
        }
        any
    }

    /// The lane's socket is readable or writable.
    fn ready(&mut self, lane: Lane, registry: &Registry) {
        let Some(socket) = self.socket(lane) else {
            return;
        };
        if !socket.tcp_connected {
            match tcp_connected(&socket.stream) {
                Ok(true) => socket.tcp_connected = true,
                Ok(false) => return,
                Err(_) => return self.lost(lane, true, registry),
            }
        }
        self.read(lane, registry);
    }

    /// The lane's socket failed or hit EOF: drop it and tell the session.
    fn lost(&mut self, lane: Lane, error: bool, registry: &Registry) {
        self.drop_socket(lane, registry);
        self.conn
            .handle_transport_closed(lane, error, Instant::now());
    }

    /// Reads `lane` until its socket would block, feeding the session; stops early when the
    /// session asks for socket changes.
    fn read(&mut self, lane: Lane, registry: &Registry) {
        while !self.conn.is_closed() && !self.conn.has_lane_commands() {
            let Some(socket) = self.sockets.get_mut(lane.index()).and_then(Option::as_mut) else {
                return;
            };
            if !socket.tcp_connected {
                return;
            }
            let len = socket.inbuf.len();
            socket.inbuf.resize(len + READ_CHUNK, 0);
            let result = socket
                .stream
                .read(socket.inbuf.get_mut(len..).unwrap_or_default());
            match result {
                Ok(0) => {
                    socket.inbuf.truncate(len);
                    return self.lost(lane, false, registry);
                }
                Ok(n) => {
                    socket.inbuf.truncate(len + n);
                    match self
                        .conn
                        .handle_input(lane, &mut socket.inbuf, Instant::now())
                    {
                        Ok(used) => {
                            socket.inbuf.drain(..used.min(socket.inbuf.len()));
                        }
                        // The session closed itself and queued `Closed`.
                        Err(e) => self.error = Some(e),
                    }
                }
                Err(e) => {
                    socket.inbuf.truncate(len);
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return,
                        io::ErrorKind::Interrupted => {}
                        _ => return self.lost(lane, true, registry),
                    }
                }
            }
        }
    }

    /// Writes queued bytes on every connected lane until its socket would block; returns
    /// whether a lane failed.
    fn flush(&mut self, registry: &Registry) -> bool {
        let mut failed = false;
        for lane in Lane::ALL {
            let Some(socket) = self.sockets.get_mut(lane.index()).and_then(Option::as_mut) else {
                continue;
            };
            if !socket.tcp_connected {
                continue;
            }
            while let Some(bytes) = self.conn.transmit(lane) {
                match socket.stream.write(bytes) {
                    Ok(n) if n > 0 => self.conn.advance_transmit(lane, n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Ok(_) | Err(_) => {
                        failed = true;
                        self.lost(lane, true, registry);
                        break;
                    }
                }
            }
        }
        failed
    }
}

/// Starts a non-blocking connect to `addr`, registered under `token`.
fn connect(addr: SocketAddr, token: Token, registry: &Registry) -> io::Result<LaneSocket> {
    let mut stream = TcpStream::connect(addr)?;
    registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
    // Latency matters more than packet count for a messaging client.
    let _ = stream.set_nodelay(true);
    Ok(LaneSocket {
        stream,
        token,
        tcp_connected: false,
        inbuf: Vec::new(),
    })
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
