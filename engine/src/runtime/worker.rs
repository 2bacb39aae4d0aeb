//! One worker thread: a mio event loop that owns its listener, its connections (in a slab), a
//! shared read buffer, a timer wheel and a mailbox. Everything a connection does happens here.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use super::conn::{BodyState, Conn, ConnId, Phase};
use super::handle::{Envelope, Mailbox, Peers};
use super::outq::Flush;
use super::service::{Action, CloseReason, Cx, Service, TimerEntry, TimerKind};
use super::timer::TimerWheel;
use super::Counters;
use crate::config::Config;
use crate::proto::http::{self, HttpError};
use crate::proto::ws::{self, CloseCode, Message, Role};

/// A service context over the worker's fields, built from disjoint borrows so the caller can hold
/// a session (from `sessions`) at the same time.
macro_rules! cx {
    ($w:ident) => {
        Cx::<S> {
            worker: $w.index,
            now: $w.now,
            config: &$w.config,
            conns: &mut $w.conns,
            timers: &mut $w.timers,
            dirty: &mut $w.dirty,
            closing: &mut $w.closing,
            reparse: &mut $w.reparse,
            state: &mut $w.state,
            peers: &$w.peers,
            scratch: &mut $w.scratch,
        }
    };
}

/// Token of the worker's listener; register it with this before starting the worker.
pub(crate) const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection slot `k` is registered as token `k + FIRST_CONN`.
const FIRST_CONN: usize = 2;
/// Size of the read buffer a worker lends to the connection being parsed.
const READ_BUF: usize = 64 * 1024;
/// The answer to a connection over `max_connections`.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nover capacity";

/// How long accepting pauses after the process ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) struct Worker<S: Service> {
    index: u16,
    service: Arc<S>,
    config: Arc<Config>,
    poll: Poll,
    listener: Option<TcpListener>,
    mailbox: Mailbox<S::Message>,
    peers: Peers<S::Message>,
    counters: Arc<Counters>,
    conns: Slab<Conn>,
    /// Sessions by slot, beside `conns` so a handler can hold its session and reach every
    /// connection of the worker at once.
    sessions: Vec<Option<S::Session>>,
    state: S::WorkerState,
    timers: TimerWheel<TimerEntry<S::Timer>>,
    rbuf: Vec<u8>,
    scratch: Vec<u8>,
    dirty: Vec<usize>,
    closing: Vec<(usize, CloseReason)>,
    /// Parked connections that were answered and may hold buffered requests.
    reparse: Vec<usize>,
    next_gen: u32,
    /// Time read once per loop turn, shared by everything handled in that turn.
    now: Instant,
    shutdown_deadline: Option<Instant>,
}

impl<S: Service> Worker<S> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: u16,
        service: Arc<S>,
        config: Arc<Config>,
        poll: Poll,
        listener: TcpListener,
        mailbox: Mailbox<S::Message>,
        peers: Peers<S::Message>,
        counters: Arc<Counters>,
    ) -> Self {
        let state = service.worker_state(index as usize);
        Worker {
            index,
            service,
            config,
            poll,
            listener: Some(listener),
            mailbox,
            peers,
            counters,
            conns: Slab::with_capacity(1024),
            sessions: Vec::new(),
            state,
            timers: TimerWheel::new(Instant::now(), Duration::from_millis(1), 4096),
            rbuf: vec![0; READ_BUF],
            scratch: Vec::with_capacity(4096),
            dirty: Vec::new(),
            closing: Vec::new(),
            reparse: Vec::new(),
            next_gen: 0,
            now: Instant::now(),
            shutdown_deadline: None,
        }
    }

    /// Runs the loop until shutdown completes.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            let mut timeout = self
                .timers
                .next_expiry()
                .map(|t| t.saturating_duration_since(now));
            if let Some(d) = self.shutdown_deadline {
                if self.conns.is_empty() || now >= d {
                    return;
                }
                let left = d - now;
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            if let Err(e) = self.poll.poll(&mut events, timeout) {
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
            self.fire_timers();
            self.flush_dirty();
        }
    }

    fn id(&self, slot: usize) -> ConnId {
        let gen = self.conns.get(slot).map_or(0, |c| c.gen);
        ConnId {
            worker: self.index,
            slot: slot as u32,
            gen,
        }
    }

    fn accept(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((sock, _)) => {
                    let open = self.counters.open.fetch_add(1, Ordering::Relaxed);
                    if open >= self.config.max_connections {
                        self.counters.open.fetch_sub(1, Ordering::Relaxed);
                        self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                        // Best effort: the socket is fresh, so a short answer fits its buffer.
                        let _ = (&sock).write(OVER_CAPACITY);
                        continue;
                    }
                    let _ = sock.set_nodelay(true);
                    if self.insert_conn(sock).is_none() {
                        self.counters.open.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or memory: the pending connection
                    // stays in the backlog; stop polling the listener for a while instead of
                    // spinning on a readiness we cannot act on.
                    eprintln!(
                        "volley: worker {} accept failed: {e}; pausing accepts",
                        self.index
                    );
                    if let Some(l) = self.listener.as_mut() {
                        let _ = self.poll.registry().deregister(l);
                    }
                    self.timers.arm(
                        Instant::now() + ACCEPT_BACKOFF,
                        TimerEntry {
                            slot: usize::MAX,
                            gen: 0,
                            kind: TimerKind::AcceptRetry,
                        },
                    );
                    return;
                }
            }
        }
    }

    /// Registers a new connection (accepted or adopted) and arms its handshake deadline.
    fn insert_conn(&mut self, sock: mio::net::TcpStream) -> Option<usize> {
        self.next_gen = self.next_gen.wrapping_add(1);
        let entry = self.conns.vacant_entry();
        let slot = entry.key();
        let mut conn = Conn::new(sock, self.next_gen);
        let token = Token(slot + FIRST_CONN);
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.poll
            .registry()
            .register(&mut conn.sock, token, interest)
            .ok()?;
        conn.deadline = Some(self.timers.arm(
            self.now + self.config.handshake_timeout,
            TimerEntry {
                slot,
                gen: conn.gen,
                kind: TimerKind::Deadline,
            },
        ));
        entry.insert(conn);
        if self.sessions.len() <= slot {
            self.sessions.resize_with(slot + 1, || None);
        }
        Some(slot)
    }

    fn drain_mailbox(&mut self) {
        self.mailbox.wake_pending.store(false, Ordering::Release);
        while let Ok(env) = self.mailbox.rx.try_recv() {
            match env {
                Envelope::Post(msg) => {
                    self.service.on_post(&mut cx!(self), msg);
                    self.finish_closes();
                }
                Envelope::Adopt(sock, input) => {
                    if self.shutdown_deadline.is_none() {
                        self.adopt(sock, input);
                    }
                }
                Envelope::Shutdown => self.begin_shutdown(),
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(Instant::now() + self.config.shutdown_timeout);
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let slots: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for slot in slots {
            let open_ws = self
                .conns
                .get(slot)
                .is_some_and(|c| c.is_open() && matches!(c.phase, Phase::WebSocket(_)));
            if open_ws {
                let id = self.id(slot);
                cx!(self).close(id, CloseCode::GOING_AWAY, "server shutting down");
                if let Some(last) = self.closing.last_mut() {
                    last.1 = CloseReason::Shutdown;
                }
            } else if self
                .conns
                .get(slot)
                .is_some_and(|c| matches!(c.phase, Phase::Http))
            {
                if self.conns.get(slot).is_some_and(|c| c.outq.is_empty()) {
                    self.remove(slot, CloseReason::Shutdown);
                } else if let Some(c) = self.conns.get_mut(slot) {
                    c.close_after_flush = true;
                }
            }
        }
        self.finish_closes();
        self.flush_dirty();
    }

    /// Reads everything the socket has, parsing as it goes. Edge-triggered: stop only at
    /// WouldBlock, EOF or when the connection is gone.
    fn read(&mut self, slot: usize) {
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            // An idle connection parses straight from the worker's buffer; one with a partial
            // head or frame appends to its own.
            let use_own = !conn.inbuf.is_empty();
            let res = if use_own {
                let len = conn.inbuf.len();
                conn.inbuf.resize(len + READ_BUF, 0);
                let r = conn.sock.read(&mut conn.inbuf[len..]);
                conn.inbuf.truncate(len + *r.as_ref().unwrap_or(&0));
                r
            } else {
                conn.sock.read(&mut self.rbuf)
            };
            match res {
                Ok(0) => {
                    self.on_eof(slot);
                    return;
                }
                Ok(n) => {
                    let mut buf = if use_own {
                        std::mem::take(&mut self.conns[slot].inbuf)
                    } else {
                        std::mem::take(&mut self.rbuf)
                    };
                    let len = if use_own { buf.len() } else { n };
                    let used = self.parse(slot, &mut buf[..len]);
                    if use_own {
                        buf.drain(..used);
                        if let Some(c) = self.conns.get_mut(slot) {
                            if !buf.is_empty() {
                                c.inbuf = buf;
                            }
                        }
                    } else {
                        if let Some(c) = self.conns.get_mut(slot) {
                            if used < len {
                                c.inbuf.extend_from_slice(&buf[used..len]);
                            }
                        }
                        self.rbuf = buf;
                    }
                    self.finish_closes();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.remove(slot, CloseReason::Io(e.kind()));
                    return;
                }
            }
        }
    }

    fn on_eof(&mut self, slot: usize) {
        let reason = match self.conns.get(slot).map(|c| &c.phase) {
            Some(Phase::Closing) => CloseReason::Shutdown,
            _ => CloseReason::Eof,
        };
        self.remove(slot, reason);
    }

    /// Parses as much of `buf` as forms complete units; returns the bytes consumed.
    fn parse(&mut self, slot: usize, buf: &mut [u8]) -> usize {
        let mut pos = 0;
        while pos < buf.len() {
            let Some(conn) = self.conns.get_mut(slot) else {
                return buf.len();
            };
            let phase = std::mem::replace(&mut conn.phase, Phase::Busy);
            let (phase, used, more) = match phase {
                Phase::Http => self.parse_http(slot, &mut buf[pos..]),
                Phase::Body(state) => self.parse_body(slot, state, &buf[pos..]),
                Phase::WebSocket(dec) => self.parse_ws(slot, dec, &mut buf[pos..]),
                // A parked request's connection keeps later input for when it is answered.
                Phase::Parked => (Phase::Parked, 0, false),
                // Input after our close (or after a final response) is read and dropped while
                // we wait for the peer to finish.
                Phase::Closing | Phase::Busy | Phase::Handoff(_) => {
                    (Phase::Closing, buf.len() - pos, false)
                }
            };
            if let Phase::Handoff(worker) = phase {
                self.handoff(slot, worker, &buf[pos..]);
                return buf.len();
            }
            pos += used;
            match self.conns.get_mut(slot) {
                Some(c) if matches!(c.phase, Phase::Busy) => c.phase = phase,
                Some(_) => {}
                None => return buf.len(),
            }
            if !more {
                break;
            }
        }
        pos
    }

    fn parse_http(&mut self, slot: usize, buf: &mut [u8]) -> (Phase, usize, bool) {
        let limits = http::Limits {
            max_header_bytes: self.config.max_header_bytes,
            max_headers: self.config.max_headers,
        };
        let req = match http::parse_request(buf, &limits) {
            Ok(Some(req)) => req,
            Ok(None) => return (Phase::Http, 0, false),
            Err(e) => {
                self.http_fail(slot, &e);
                return (Phase::Closing, buf.len(), false);
            }
        };
        let id = self.id(slot);
        let action = self.service.on_request(&mut cx!(self), id, &req);
        match action {
            Action::Upgrade { accept, session } => {
                self.cancel_deadline(slot);
                let conn = &mut self.conns[slot];
                self.scratch.clear();
                http::write_switching_protocols(&mut self.scratch, &accept);
                conn.outq.push_copy(&self.scratch);
                self.sessions[slot] = Some(session);
                self.mark_dirty(slot);
                if let Some(session) = self.sessions[slot].as_mut() {
                    self.service.on_open(&mut cx!(self), id, session);
                }
                let dec = Box::new(ws::Decoder::new(Role::Server, self.config.max_payload));
                (Phase::WebSocket(dec), req.head_len, true)
            }
            Action::ReadBody { max } => match http::BodyReader::new(&req.body, max) {
                Ok(reader) => {
                    if req.expects_continue() {
                        self.scratch.clear();
                        http::write_continue(&mut self.scratch);
                        self.conns[slot].outq.push_copy(&self.scratch);
                        self.mark_dirty(slot);
                    }
                    let state = Box::new(BodyState {
                        req,
                        reader,
                        body: Vec::new(),
                    });
                    let head_len = state.req.head_len;
                    (Phase::Body(state), head_len, true)
                }
                Err(e) => {
                    self.service.on_body_error(&mut cx!(self), id, &req, &e);
                    self.http_fail(slot, &e);
                    (Phase::Closing, buf.len(), false)
                }
            },
            Action::Handoff(worker) => (Phase::Handoff(worker), 0, false),
            other => self.after_request(slot, other, &req, false, req.head_len, buf.len()),
        }
    }

    fn parse_body(
        &mut self,
        slot: usize,
        mut state: Box<BodyState>,
        buf: &[u8],
    ) -> (Phase, usize, bool) {
        let (used, done) = match state.reader.feed(buf, &mut state.body) {
            Ok(r) => r,
            Err(e) => {
                let id = self.id(slot);
                self.service
                    .on_body_error(&mut cx!(self), id, &state.req, &e);
                self.http_fail(slot, &e);
                return (Phase::Closing, buf.len(), false);
            }
        };
        if !done {
            return (Phase::Body(state), used, false);
        }
        let id = self.id(slot);
        let BodyState { req, mut body, .. } = *state;
        let action = self.service.on_body(&mut cx!(self), id, &req, &mut body);
        self.after_request(slot, action, &req, true, used, buf.len())
    }

    /// The phase after a request the service answered (or parked): `consumed` bytes of the
    /// `available` belonged to it.
    fn after_request(
        &mut self,
        slot: usize,
        action: Action<S::Session>,
        req: &http::Request,
        body_read: bool,
        consumed: usize,
        available: usize,
    ) -> (Phase, usize, bool) {
        match action {
            Action::Park => {
                self.cancel_deadline(slot);
                (Phase::Parked, consumed, false)
            }
            Action::Responded => {
                if let Some(c) = self.conns.get_mut(slot) {
                    c.served += 1;
                }
                let unread_body = !matches!(req.body, http::BodyKind::None) && !body_read;
                let keep =
                    self.conns.get(slot).is_some_and(|c| !c.close_after_flush) && !unread_body;
                if keep {
                    self.rearm_deadline(slot);
                    (Phase::Http, consumed, true)
                } else {
                    if let Some(c) = self.conns.get_mut(slot) {
                        c.close_after_flush = true;
                    }
                    (Phase::Closing, available, false)
                }
            }
            // An upgrade, a second body or a hand-off after a body is a service bug: close.
            _ => {
                self.http_fail(slot, &HttpError::Malformed("request not supported here"));
                (Phase::Closing, available, false)
            }
        }
    }

    fn cancel_deadline(&mut self, slot: usize) {
        if let Some(k) = self.conns.get_mut(slot).and_then(|c| c.deadline.take()) {
            self.timers.cancel(k);
        }
    }

    /// A keep-alive connection must send its next request head within the handshake timeout.
    fn rearm_deadline(&mut self, slot: usize) {
        self.cancel_deadline(slot);
        if let Some(c) = self.conns.get_mut(slot) {
            let gen = c.gen;
            c.deadline = Some(self.timers.arm(
                self.now + self.config.handshake_timeout,
                TimerEntry {
                    slot,
                    gen,
                    kind: TimerKind::Deadline,
                },
            ));
        }
    }

    /// Moves connection `slot` and its unparsed input to `worker`.
    fn handoff(&mut self, slot: usize, worker: usize, input: &[u8]) {
        let Some(mut conn) = self.conns.try_remove(slot) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.sock);
        if let Some(k) = conn.deadline.take() {
            self.timers.cancel(k);
        }
        let mut bytes = input.to_vec();
        bytes.extend_from_slice(&conn.inbuf);
        if !self.peers.send(worker, Envelope::Adopt(conn.sock, bytes)) {
            // The owner is gone (shutting down): dropping the socket closes it.
        }
    }

    /// Takes over a connection another worker handed over, and parses its input.
    fn adopt(&mut self, sock: mio::net::TcpStream, input: Vec<u8>) {
        let Some(slot) = self.insert_conn(sock) else {
            return;
        };
        if let Some(c) = self.conns.get_mut(slot) {
            c.inbuf = input;
        }
        self.reparse_slot(slot);
    }

    /// Parses input a connection buffered while it could not be parsed (adopted or parked).
    fn reparse_slot(&mut self, slot: usize) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        if c.inbuf.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut c.inbuf);
        let used = self.parse(slot, &mut buf);
        buf.drain(..used);
        if let Some(c) = self.conns.get_mut(slot) {
            if !buf.is_empty() {
                c.inbuf = buf;
            }
        }
        self.finish_closes();
    }

    fn http_fail(&mut self, slot: usize, e: &HttpError) {
        let id = self.id(slot);
        cx!(self).respond_error(id, e.status());
    }

    fn parse_ws(
        &mut self,
        slot: usize,
        mut dec: Box<ws::Decoder>,
        buf: &mut [u8],
    ) -> (Phase, usize, bool) {
        let id = self.id(slot);
        let mut pos = 0;
        loop {
            let decoded = match dec.decode(&mut buf[pos..]) {
                Ok(d) => d,
                Err(e) => {
                    cx!(self).close(id, e.close_code(), "");
                    if let Some(last) = self.closing.last_mut() {
                        last.1 = CloseReason::Protocol(e);
                    }
                    return (Phase::Closing, buf.len(), false);
                }
            };
            if decoded.consumed == 0 && decoded.message.is_none() {
                return (Phase::WebSocket(dec), pos, false);
            }
            pos += decoded.consumed;
            let Some(msg) = decoded.message else { continue };
            match msg {
                Message::Ping(payload) => {
                    cx!(self).send_frame(id, ws::OpCode::Pong, payload);
                }
                Message::Pong(_) => {}
                Message::Close(frame) => {
                    let code = frame.as_ref().map(|f| f.code);
                    self.scratch.clear();
                    ws::encode_close(&mut self.scratch, code.unwrap_or(CloseCode::NORMAL), "");
                    if let Some(c) = self.conns.get_mut(slot) {
                        if c.is_open() {
                            c.outq.push_copy(&self.scratch);
                            c.close_after_flush = true;
                            self.closing.push((slot, CloseReason::PeerClose(code)));
                            self.mark_dirty(slot);
                        }
                    }
                    return (Phase::Closing, buf.len(), false);
                }
                msg @ (Message::Text(_) | Message::Binary(_)) => {
                    if let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) {
                        self.service.on_message(&mut cx!(self), id, session, msg);
                    }
                    if !self.conns.get(slot).is_some_and(|c| c.is_open()) {
                        return (Phase::Closing, buf.len(), false);
                    }
                }
            }
        }
    }

    fn mark_dirty(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// Ends the sessions closed during the last handler calls: their `on_close` runs and the
    /// connection waits for its queue to drain and the peer to hang up.
    fn finish_closes(&mut self) {
        while let Some((slot, reason)) = self.closing.pop() {
            let gen = self.conns.get(slot).map(|c| c.gen);
            if let Some(session) = self.sessions.get_mut(slot).and_then(Option::take) {
                let id = ConnId {
                    worker: self.index,
                    slot: slot as u32,
                    gen: gen.unwrap_or(0),
                };
                self.service.on_close(&mut cx!(self), id, session, &reason);
            }
            if let Some(c) = self.conns.get_mut(slot) {
                c.phase = Phase::Closing;
                if let Some(k) = c.deadline.take() {
                    self.timers.cancel(k);
                }
                let gen = c.gen;
                c.deadline = Some(self.timers.arm(
                    Instant::now() + self.config.close_timeout,
                    TimerEntry {
                        slot,
                        gen,
                        kind: TimerKind::Deadline,
                    },
                ));
            }
        }
    }

    fn flush_dirty(&mut self) {
        while let Some(slot) = self.reparse.pop() {
            // A parked request was answered: the connection waits for its next request head.
            if let Some(c) = self.conns.get_mut(slot) {
                c.served += 1;
            }
            self.rearm_deadline(slot);
            self.reparse_slot(slot);
        }
        while let Some(slot) = self.dirty.pop() {
            if let Some(c) = self.conns.get_mut(slot) {
                c.dirty = false;
                if !c.blocked {
                    self.flush(slot);
                }
            }
        }
        self.finish_closes();
    }

    fn flush(&mut self, slot: usize) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        match c.outq.flush_to(&mut c.sock) {
            Ok(Flush::Drained) => {
                if c.close_after_flush && !c.write_shut {
                    c.write_shut = true;
                    c.phase = Phase::Closing;
                    let _ = c.sock.shutdown(Shutdown::Write);
                    if c.deadline.is_none() {
                        let gen = c.gen;
                        c.deadline = Some(self.timers.arm(
                            Instant::now() + self.config.close_timeout,
                            TimerEntry {
                                slot,
                                gen,
                                kind: TimerKind::Deadline,
                            },
                        ));
                    }
                }
            }
            Ok(Flush::Blocked) => {
                c.blocked = true;
                if c.outq.queued_bytes() > self.config.max_buffered && c.is_open() {
                    self.remove(slot, CloseReason::SlowConsumer);
                }
            }
            Err(e) => self.remove(slot, CloseReason::Io(e.kind())),
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some((_, entry)) = self.timers.expire(now) {
            if let TimerKind::AcceptRetry = entry.kind {
                if let Some(l) = self.listener.as_mut() {
                    if self
                        .poll
                        .registry()
                        .register(l, LISTENER, Interest::READABLE)
                        .is_ok()
                    {
                        self.accept();
                    }
                }
                continue;
            }
            if let TimerKind::Service(t) = entry.kind {
                self.now = now;
                self.service.on_timer(&mut cx!(self), t);
                self.finish_closes();
                continue;
            }
            let Some(conn) = self
                .conns
                .get_mut(entry.slot)
                .filter(|c| c.gen == entry.gen)
            else {
                continue;
            };
            match entry.kind {
                TimerKind::Deadline => {
                    conn.deadline = None;
                    if matches!(conn.phase, Phase::Http) && conn.inbuf.is_empty() && conn.served > 0
                    {
                        // An idle keep-alive connection: close it quietly, since a 408 could be
                        // read as the answer to a request the client is sending right now.
                        self.remove(entry.slot, CloseReason::Eof);
                    } else if matches!(conn.phase, Phase::Http | Phase::Body(_))
                        && conn.outq.is_empty()
                    {
                        // Handshake timeout: half a request is all we got.
                        let id = self.id(entry.slot);
                        cx!(self).respond_error(id, 408);
                        self.flush(entry.slot);
                        if let Some(c) = self.conns.get_mut(entry.slot) {
                            c.phase = Phase::Closing;
                            c.deadline = Some(self.timers.arm(
                                now + self.config.close_timeout,
                                TimerEntry {
                                    slot: entry.slot,
                                    gen: entry.gen,
                                    kind: TimerKind::Deadline,
                                },
                            ));
                        }
                    } else {
                        self.remove(entry.slot, CloseReason::Local(CloseCode::GOING_AWAY));
                    }
                }
                TimerKind::Service(_) | TimerKind::AcceptRetry => {}
            }
        }
    }

    /// Drops a connection now: deregisters and closes the socket, ends its session.
    fn remove(&mut self, slot: usize, reason: CloseReason) {
        let Some(mut conn) = self.conns.try_remove(slot) else {
            return;
        };
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
        let _ = self.poll.registry().deregister(&mut conn.sock);
        if let Some(k) = conn.deadline.take() {
            self.timers.cancel(k);
        }
        if let Some(session) = self.sessions.get_mut(slot).and_then(Option::take) {
            let id = ConnId {
                worker: self.index,
                slot: slot as u32,
                gen: conn.gen,
            };
            self.service.on_close(&mut cx!(self), id, session, &reason);
        }
    }
}
