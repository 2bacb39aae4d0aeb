//! One worker thread's connection logic, shared by both I/O backends: new connections in the
//! slab, input handed to the parser (`parse`), deadlines, closes, hand-offs between workers, the
//! mailbox and graceful shutdown. The backends own the sockets' I/O and drive this logic:
//! `epoll` (readiness through mio) and `uring` (completions from an io_uring), each through the
//! [`Io`] trait for what the logic asks of them.

mod epoll;
mod parse;
#[cfg(test)]
pub(crate) mod sim;
mod uring;

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slab::Slab;

use super::budget::{Budget, Cut};
use super::conn::{Conn, ConnId, Handoff, Phase};
use super::deflate::SharedDeflate;
use super::mailbox::{Envelope, Mailbox, Moving, Peers};
use super::outq::{Flush, OutQueue};
use super::queue_age;
use super::service::{CloseReason, Cx, Detached, Service, TimerEntry, TimerKind};
use super::sock::Sock;
use super::timer::TimerWheel;
use super::tls::{Tls, TlsConfig};
use super::Counters;
use crate::config::{AcceptMode, RuntimeConfig};
use crate::proto::http::HttpError;
use crate::proto::ws::CloseCode;

pub(crate) use epoll::{EpollIo, WAKER};
pub(crate) use uring::UringIo;

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
            budget: &mut $w.budget,
            shared_deflate: &mut $w.shared_deflate,
            inline_writes: B::INLINE_WRITES,
        }
    };
}
use cx;

/// How long accepting pauses after the process ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The answer to a connection over `max_connections`.
const OVER_CAPACITY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 13\r\nConnection: close\r\n\r\nover capacity";

/// What the connection logic needs from an I/O backend.
pub(crate) trait Io {
    /// Whether a write may be tried inline on a socket (non-blocking sockets: epoll). io_uring
    /// sockets are written only through submissions.
    const INLINE_WRITES: bool;
    /// Starts I/O on a connection just placed in `slot` (accepted or adopted).
    fn open(&mut self, slot: usize, conn: &mut Conn) -> io::Result<()>;
    /// Writes what `conn` has queued, or starts writing it. `Blocked` means more is pending:
    /// the backend calls [`Worker::flush`] again when the socket can take it.
    fn flush(&mut self, slot: usize, conn: &mut Conn) -> io::Result<Flush>;
    /// Stops I/O on a connection removed from `slot` and closes its socket, at once or as soon
    /// as the kernel no longer uses it.
    fn close(&mut self, slot: usize, conn: Conn);
    /// Moves a connection removed from `slot`, with the `input` it had not parsed, to worker
    /// `to` (through `peers`), once no operation of this worker is pending on it; with
    /// `detach`, `to` is this worker, which gives it to the application. False if it was
    /// sent at once but `to` had stopped (shutdown): the connection is closed.
    fn hand_off<M: Send>(
        &mut self,
        slot: usize,
        conn: Conn,
        input: Vec<u8>,
        to: usize,
        detach: bool,
        peers: &Peers<M>,
    ) -> bool;
    /// Answers a connection refused at admission with `answer` (best effort) and closes it.
    fn reject(&mut self, sock: Sock, answer: &'static [u8]);
    /// Shuts the write side of `conn` once its last bytes are out (FIN to the peer).
    fn shutdown_write(&mut self, conn: &mut Conn);
    /// Stops accepting for good (graceful shutdown) and closes the listener.
    fn stop_accepting(&mut self);
    /// Accepts again after a pause for lack of descriptors.
    fn resume_accepting(&mut self);
    /// Tries again the hand-offs that waited for a descriptor ([`TimerKind::HandoffRetry`]).
    fn retry_handoffs(&mut self) {}
    /// The time: the clock's, except in a simulation, which runs on virtual time.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// How long a worker may wait for I/O.
pub(crate) enum Wait {
    /// Shutdown finished: leave the loop.
    Exit,
    /// Until I/O, a wake-up, or this much time (forever when `None`).
    For(Option<Duration>),
}

/// What a worker is made of besides its backend.
pub(crate) struct WorkerCtx<S: Service> {
    pub index: u16,
    pub service: Arc<S>,
    pub config: Arc<RuntimeConfig>,
    /// TLS settings when the listeners serve TLS.
    pub tls: Option<Arc<TlsConfig>>,
    pub mailbox: Mailbox<S::Message>,
    pub peers: Peers<S::Message>,
    pub counters: Arc<Counters>,
}

pub(crate) struct Worker<S: Service, B: Io> {
    index: u16,
    tls: Option<Arc<TlsConfig>>,
    service: Arc<S>,
    config: Arc<RuntimeConfig>,
    io: B,
    mailbox: Mailbox<S::Message>,
    peers: Peers<S::Message>,
    counters: Arc<Counters>,
    /// Acceptor mode: the worker the next accepted connection goes to.
    next_worker: usize,
    conns: Slab<Conn>,
    /// Sessions by slot, beside `conns` so a handler can hold its session and reach every
    /// connection of the worker at once.
    sessions: Vec<Option<S::Session>>,
    state: S::WorkerState,
    timers: TimerWheel<TimerEntry<S::Timer>>,
    scratch: Vec<u8>,
    /// Bytes queued over this worker's connections against its share of `max_buffered_total`.
    budget: Budget,
    /// The last broadcast frame compressed for connections without context takeover.
    shared_deflate: SharedDeflate,
    /// Plaintext of the TLS input being parsed, lent like the backends' read buffers.
    plain: Vec<u8>,
    dirty: Vec<usize>,
    closing: Vec<(usize, CloseReason)>,
    /// Parked connections that were answered and may hold buffered requests.
    reparse: Vec<usize>,
    /// Connections whose input waits while the queues are past the level the budget keeps to.
    held: Vec<usize>,
    next_gen: u32,
    /// Accepting is paused for lack of descriptors: logged once when it begins and once when
    /// a connection is accepted again, not at every retry.
    accept_starved: bool,
    /// Time read once per loop turn, shared by everything handled in that turn.
    now: Instant,
    shutdown_deadline: Option<Instant>,
}

impl<S: Service, B: Io> Worker<S, B> {
    pub fn new(ctx: WorkerCtx<S>, io: B) -> Self {
        let WorkerCtx {
            index,
            service,
            config,
            tls,
            mailbox,
            peers,
            counters,
        } = ctx;
        let state = service.worker_state(index as usize);
        let now = io.now();
        let budget = Budget::new(config.max_buffered_total, peers.len(), config.max_buffered);
        let mut worker = Worker {
            index,
            tls,
            service,
            config,
            io,
            mailbox,
            peers,
            counters,
            next_worker: 0,
            conns: Slab::with_capacity(1024),
            sessions: Vec::new(),
            state,
            timers: TimerWheel::new(now, Duration::from_millis(1), 4096),
            scratch: Vec::with_capacity(4096),
            budget,
            shared_deflate: SharedDeflate::default(),
            plain: Vec::new(),
            dirty: Vec::new(),
            closing: Vec::new(),
            reparse: Vec::new(),
            held: Vec::new(),
            next_gen: 0,
            accept_starved: false,
            now,
            shutdown_deadline: None,
        };
        worker.arm_queue_age_sweep(now);
        worker
    }

    /// How long the loop may wait before the next timer or the shutdown deadline.
    fn wait(&self) -> Wait {
        let now = self.io.now();
        let mut timeout = self
            .timers
            .next_expiry()
            .map(|t| t.saturating_duration_since(now));
        if let Some(d) = self.shutdown_deadline {
            if self.conns.is_empty() || now >= d {
                return Wait::Exit;
            }
            let left = d - now;
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        Wait::For(timeout)
    }

    /// The work at the end of each loop turn: due timers, then every queued write; then, if
    /// what is still queued passes the level the worker keeps to (an eighth under its share of
    /// `max_buffered_total`), readers behind are cut until the rest fit (see [`Budget::shed`]);
    /// then, once under it, the input held meanwhile is parsed and what it queued written.
    fn end_turn(&mut self) {
        self.budget.next_turn();
        self.fire_timers();
        self.flush_dirty();
        if self.budget.over() {
            self.budget.shed(
                Cut::Behind,
                &mut self.conns,
                &mut self.closing,
                &mut self.dirty,
            );
            self.finish_closes();
            self.flush_dirty();
        }
        while !self.held.is_empty() && !self.budget.over() {
            for slot in std::mem::take(&mut self.held) {
                if let Some(c) = self.conns.get_mut(slot).filter(|c| c.held) {
                    c.held = false;
                    self.reparse_slot(slot);
                }
            }
            self.flush_dirty();
        }
        let cuts = self.budget.take_cuts();
        if cuts > 0 {
            self.counters.budget_cuts.fetch_add(cuts, Ordering::Relaxed);
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

    /// The connection in `slot` if it still has generation `gen`.
    fn conn_at(&mut self, slot: usize, gen: u32) -> Option<&mut Conn> {
        self.conns.get_mut(slot).filter(|c| c.gen == gen)
    }

    /// Accepting failed for lack of descriptors or memory: the pending connections stay in the
    /// backlog and accepting resumes after [`ACCEPT_BACKOFF`], instead of spinning on a
    /// readiness we cannot act on.
    fn pause_accepting(&mut self, e: &io::Error) {
        self.counters.accept_pauses.fetch_add(1, Ordering::Relaxed);
        if !self.accept_starved {
            self.accept_starved = true;
            tracing::warn!(worker = self.index, error = %e, "accept failed; pausing accepts until descriptors free");
        }
        self.timers.arm(
            self.io.now() + ACCEPT_BACKOFF,
            TimerEntry {
                slot: usize::MAX,
                gen: 0,
                kind: TimerKind::AcceptRetry,
            },
        );
    }

    /// Takes a freshly accepted connection, unless `max_connections` are open: then it gets a
    /// short 503 and is closed, and counted.
    /// Accepted sockets inherit TCP_NODELAY from the listener.
    fn admit(&mut self, sock: Sock) {
        if self.accept_starved {
            self.accept_starved = false;
            tracing::info!(worker = self.index, "accepting again");
        }
        let open = self.counters.open.fetch_add(1, Ordering::Relaxed);
        if open >= self.config.max_connections {
            self.counters.open.fetch_sub(1, Ordering::Relaxed);
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            self.io.reject(sock, OVER_CAPACITY);
            return;
        }
        let sock = match sock {
            // The one acceptor deals connections round-robin; the open count follows the
            // connection to the worker that finally removes it. (It accepts plain descriptors:
            // direct ones cannot leave its ring.)
            Sock::Os(s) if self.config.accept == AcceptMode::Acceptor => {
                let to = self.next_worker;
                self.next_worker = (self.next_worker + 1) % self.peers.len().max(1);
                if to == self.index as usize {
                    Sock::Os(s)
                } else {
                    let Some(tls) = self.new_tls() else {
                        self.counters.open.fetch_sub(1, Ordering::Relaxed);
                        return;
                    };
                    let moving = Moving {
                        sock: s,
                        input: Vec::new(),
                        outq: OutQueue::new(),
                        tls,
                    };
                    if !self.peers.send(to, Envelope::moved(false, moving)) {
                        self.counters.open.fetch_sub(1, Ordering::Relaxed);
                    }
                    return;
                }
            }
            other => other,
        };
        let Some(tls) = self.new_tls() else {
            self.counters.open.fetch_sub(1, Ordering::Relaxed);
            self.io.reject(sock, b"");
            return;
        };
        if self.insert_conn(sock, tls).is_none() {
            self.counters.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A TLS session for a new connection when the server speaks TLS (`Some(None)` when it
    /// does not); `None` when rustls refused to make one, which is logged.
    fn new_tls(&self) -> Option<Option<Box<Tls>>> {
        let Some(config) = &self.tls else {
            return Some(None);
        };
        match Tls::new(config) {
            Ok(tls) => Some(Some(tls)),
            Err(e) => {
                tracing::warn!(worker = self.index, error = %e, "cannot start TLS; connection closed");
                None
            }
        }
    }

    /// Places a new connection (accepted or adopted) in the slab, starts its I/O and arms its
    /// handshake deadline.
    fn insert_conn(&mut self, sock: Sock, tls: Option<Box<Tls>>) -> Option<usize> {
        self.next_gen = self.next_gen.wrapping_add(1);
        let entry = self.conns.vacant_entry();
        let slot = entry.key();
        let mut conn = Conn::new(sock, self.next_gen, tls);
        if let Err(e) = self.io.open(slot, &mut conn) {
            tracing::warn!(worker = self.index, error = %e, "cannot watch a connection; closed");
            self.io.close(slot, conn);
            return None;
        }
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
        while let Some(env) = self.mailbox.try_recv() {
            match env {
                Envelope::Post(msg) => {
                    self.service.on_post(&mut cx!(self), msg);
                    self.finish_closes();
                }
                Envelope::Adopt(moving) => {
                    if self.shutdown_deadline.is_none() {
                        self.adopt(*moving);
                    }
                }
                Envelope::Detach(moving) => self.detach(*moving),
                Envelope::Shutdown => self.begin_shutdown(),
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        self.shutdown_deadline = Some(self.io.now() + self.config.shutdown_timeout);
        self.io.stop_accepting();
        self.service.on_shutdown(&mut cx!(self));
        self.finish_closes();
        let slots: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for slot in slots {
            let open_ws = self
                .conns
                .get(slot)
                .is_some_and(|c| c.is_open() && matches!(c.phase, Phase::WebSocket(_)));
            if open_ws {
                let id = self.id(slot);
                if let Some(session) = self.sessions.get(slot).and_then(Option::as_ref) {
                    if !self.service.closes_at_shutdown(&mut cx!(self), id, session) {
                        continue;
                    }
                }
                cx!(self).close(id, CloseCode::GOING_AWAY, "server shutting down");
                if let Some(last) = self.closing.last_mut() {
                    last.1 = CloseReason::Shutdown;
                }
            } else if self
                .conns
                .get(slot)
                .is_some_and(|c| matches!(c.phase, Phase::Http))
            {
                if self.conns.get(slot).is_some_and(Conn::output_is_empty) {
                    self.remove(slot, CloseReason::Shutdown);
                } else if let Some(c) = self.conns.get_mut(slot) {
                    c.close_after_flush = true;
                }
            }
        }
        self.finish_closes();
        self.flush_dirty();
    }

    /// Input that arrived for `slot` in a buffer the backend lends (epoll's read buffer, an
    /// io_uring provided buffer): parsed in place, and whatever cannot be parsed yet is copied
    /// to the connection's own `inbuf`, so the lent buffer is free again when this returns.
    fn ingest(&mut self, slot: usize, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if let Some(tls) = conn.tls.as_mut() {
            let mut plain = std::mem::take(&mut self.plain);
            plain.clear();
            let decrypted = tls.decrypt(data, &mut plain);
            if tls.queued_bytes() > 0 {
                self.mark_dirty(slot);
            }
            if let Err(e) = decrypted {
                // The alert rustls queued goes out, then the connection closes.
                tracing::debug!(worker = self.index, error = %e.0, "TLS input refused");
                if let Some(c) = self.conns.get_mut(slot).filter(|c| c.is_open()) {
                    c.close_after_flush = true;
                    self.closing
                        .push((slot, CloseReason::Io(io::ErrorKind::InvalidData)));
                }
                self.finish_closes();
            } else if !plain.is_empty() {
                self.ingest_plain(slot, &mut plain);
            }
            self.plain = plain;
            return;
        }
        self.ingest_plain(slot, data);
    }

    /// [`Worker::ingest`] for plaintext.
    fn ingest_plain(&mut self, slot: usize, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.inbuf.is_empty() {
            let used = self.parse(slot, data);
            if let (Some(c), Some(rest)) = (self.conns.get_mut(slot), data.get(used..)) {
                c.inbuf.extend_from_slice(rest);
            }
        } else {
            conn.inbuf.extend_from_slice(data);
            self.reparse_slot(slot);
        }
        self.finish_closes();
    }

    fn on_eof(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot) {
            // A client that sent its request and half-closed still gets the answer, then the
            // connection closes (as from Node's server).
            let answering = matches!(c.phase, Phase::Http | Phase::Closing);
            if answering && !c.output_is_empty() && !c.peer_eof {
                c.peer_eof = true;
                c.close_after_flush = true;
                self.mark_dirty(slot);
                return;
            }
        }
        let reason = match self.conns.get(slot).map(|c| &c.phase) {
            Some(Phase::Closing) => CloseReason::Shutdown,
            _ => CloseReason::Eof,
        };
        self.remove(slot, reason);
    }

    fn cancel_deadline(&mut self, slot: usize) {
        if let Some(k) = self.conns.get_mut(slot).and_then(|c| c.deadline.take()) {
            self.timers.cancel(k);
        }
    }

    /// A keep-alive connection must send its next request head within the handshake timeout.
    fn rearm_deadline(&mut self, slot: usize) {
        self.deadline_at(slot, self.now + self.config.handshake_timeout);
    }

    /// Gives `slot` the deadline `at` (the handshake's, or the close's), in place of the one it
    /// had.
    fn deadline_at(&mut self, slot: usize, at: Instant) {
        self.cancel_deadline(slot);
        if let Some(c) = self.conns.get_mut(slot) {
            let gen = c.gen;
            c.deadline = Some(self.timers.arm(
                at,
                TimerEntry {
                    slot,
                    gen,
                    kind: TimerKind::Deadline,
                },
            ));
        }
    }

    /// Moves connection `slot` and its unparsed input to `worker`.
    fn handoff(&mut self, slot: usize, to: Handoff, input: &[u8]) {
        let Some(mut conn) = self.conns.try_remove(slot) else {
            return;
        };
        self.budget.release(&conn);
        if let Some(k) = conn.deadline.take() {
            self.timers.cancel(k);
        }
        let mut bytes = input.to_vec();
        bytes.extend_from_slice(&conn.inbuf);
        let (worker, detach) = match to {
            Handoff::Worker(w) => (w, false),
            Handoff::App => (self.index as usize, true),
        };
        if !self
            .io
            .hand_off(slot, conn, bytes, worker, detach, &self.peers)
        {
            self.handoff_lost();
        }
    }

    /// Arms the next [`TimerKind::QueueAgeSweep`], a grain from `now`, when `max_queue_age`
    /// is set.
    fn arm_queue_age_sweep(&mut self, now: Instant) {
        let max = self.config.max_queue_age;
        if !max.is_zero() {
            self.timers.arm(
                now + queue_age::grain(max),
                TimerEntry {
                    slot: usize::MAX,
                    gen: 0,
                    kind: TimerKind::QueueAgeSweep,
                },
            );
        }
    }

    /// Cuts as slow consumers the open connections whose oldest queued byte waited past
    /// `max_queue_age` (by the stamps' account, which is never early), as the budget cuts:
    /// the queue dropped, the session told why.
    fn sweep_queue_ages(&mut self, now: Instant) {
        let max = self.config.max_queue_age + queue_age::grain(self.config.max_queue_age);
        let mut cuts = 0;
        for (slot, c) in self.conns.iter_mut() {
            let left = c.outq.left();
            let too_old = matches!(c.age.oldest(left, now), Some(age) if age >= max);
            if !too_old || !c.is_open() {
                continue;
            }
            c.clear_output();
            c.close_after_flush = true;
            self.budget.account(c);
            self.closing.push((slot, CloseReason::SlowConsumer));
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(slot);
            }
            cuts += 1;
        }
        if cuts > 0 {
            self.counters
                .queue_age_cuts
                .fetch_add(cuts, Ordering::Relaxed);
            self.finish_closes();
        }
        self.arm_queue_age_sweep(now);
    }

    /// A connection on its way to another worker was closed (see
    /// [`Counters::handoff_failures`]): it leaves the open count it carried.
    fn handoff_lost(&mut self) {
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
        self.counters
            .handoff_failures
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Gives a connection to the application: what it still owes the peer (answers to requests
    /// pipelined before) is written first, without waiting; a peer that cannot take it at once
    /// loses the connection, since the application expects a clean stream.
    fn detach(&mut self, moving: Moving) {
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
        let Moving {
            sock,
            input,
            mut outq,
            mut tls,
        } = moving;
        if let Some(tls) = &mut tls {
            tls.seal(&mut outq);
        }
        let wire = super::tls::wire(&mut outq, &mut tls);
        if !wire.is_empty() && sock.set_nonblocking(true).is_ok() {
            let _ = wire.flush_to(&mut &sock);
        }
        if !wire.is_empty() || sock.set_nonblocking(false).is_err() {
            return;
        }
        self.service.on_detach(Detached::new(sock, input, tls));
    }

    /// Takes over a connection another worker handed over, and parses its input.
    fn adopt(&mut self, moving: Moving) {
        let Moving {
            sock,
            input,
            outq,
            tls,
        } = moving;
        let Some(slot) = self.insert_conn(Sock::Os(sock), tls) else {
            return;
        };
        if let Some(c) = self.conns.get_mut(slot) {
            c.inbuf = input;
            c.outq = outq;
            self.budget.account(c);
            c.note_queued(self.now, self.config.max_queue_age);
            // Answers to the requests before the hand-off go out first.
            if !c.output_is_empty() {
                c.dirty = true;
                self.dirty.push(slot);
            }
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
        buf.drain(..used.min(buf.len()));
        if let Some(c) = self.conns.get_mut(slot) {
            if !buf.is_empty() {
                c.inbuf = buf;
            }
        }
        self.finish_closes();
    }

    fn mark_dirty(&mut self, slot: usize) {
        if let Some(c) = self.conns.get_mut(slot) {
            self.budget.account(c);
            c.note_queued(self.now, self.config.max_queue_age);
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
                self.deadline_at(slot, self.io.now() + self.config.close_timeout);
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
        // In the order queued: a response written first goes out first (a polling POST's
        // `ok` before the replies its packets caused reach the parked GET), as from a server
        // that writes at once. A flush may queue more (drain callbacks); those follow.
        let mut next = 0;
        while let Some(&slot) = self.dirty.get(next) {
            next += 1;
            if let Some(c) = self.conns.get_mut(slot) {
                c.dirty = false;
                if !c.blocked {
                    self.flush(slot);
                } else if c.close_after_flush && c.output_is_empty() && !c.write_shut {
                    // A cut queue under a write that waits for room: end the stream now.
                    self.shut_write(slot);
                }
            }
        }
        self.dirty.clear();
        self.finish_closes();
    }

    /// Shuts `slot`'s write side (FIN); a peer that already hung up is done, any other gets
    /// the close deadline to hang up. Also ends the stream of a connection whose queue was
    /// dropped (cut) while a write waits for room: nothing follows what that write holds, and a
    /// reader that stopped would keep it, and on io_uring the memory it holds, until it reads
    /// again; shutting the write side fails the waiting send.
    fn shut_write(&mut self, slot: usize) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        c.write_shut = true;
        c.phase = Phase::Closing;
        self.io.shutdown_write(c);
        if c.peer_eof {
            self.remove(slot, CloseReason::Eof);
            return;
        }
        if c.deadline.is_none() {
            self.deadline_at(slot, self.io.now() + self.config.close_timeout);
        }
    }

    /// Writes (or starts writing) what `slot` has queued; once all of it is out after a final
    /// response or close frame, shuts the write side and waits for the peer to hang up.
    fn flush(&mut self, slot: usize) {
        let Some(c) = self.conns.get_mut(slot) else {
            return;
        };
        let live = c.send_live;
        let flushed = self.io.flush(slot, c);
        if c.send_live && !live {
            c.send_turn = self.budget.turn();
        }
        self.budget.account(c);
        match flushed {
            Ok(Flush::Drained) => {
                c.refused = false;
                if c.notify_drain && c.output_is_empty() {
                    c.notify_drain = false;
                    let id = self.id(slot);
                    if let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) {
                        self.service.on_drain(&mut cx!(self), id, session);
                    }
                    self.finish_closes();
                }
                let Some(c) = self.conns.get_mut(slot) else {
                    return;
                };
                if c.close_after_flush && !c.write_shut {
                    // A TLS peer hears the end of the session before the FIN.
                    if c.tls.as_mut().is_some_and(|t| t.close_notify()) {
                        return self.flush(slot);
                    }
                    self.shut_write(slot);
                }
            }
            Ok(Flush::Blocked) => {
                c.blocked = true;
                // io_uring reports a send in flight as blocked; only a refusal counts.
                if B::INLINE_WRITES {
                    c.refused = true;
                }
                if c.queued_bytes() > self.config.max_buffered && c.refused && c.is_open() {
                    self.remove(slot, CloseReason::SlowConsumer);
                }
            }
            Err(e) => self.remove(slot, CloseReason::Io(e.kind())),
        }
    }

    fn fire_timers(&mut self) {
        let now = self.io.now();
        while let Some((_, entry)) = self.timers.expire(now) {
            if let TimerKind::AcceptRetry = entry.kind {
                if self.shutdown_deadline.is_none() {
                    self.io.resume_accepting();
                }
                continue;
            }
            if let TimerKind::HandoffRetry = entry.kind {
                self.io.retry_handoffs();
                continue;
            }
            if let TimerKind::QueueAgeSweep = entry.kind {
                self.sweep_queue_ages(now);
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
                        && conn.output_is_empty()
                    {
                        // Handshake timeout: half a request is all we got.
                        let id = self.id(entry.slot);
                        if let Some(Phase::Body(state)) =
                            self.conns.get(entry.slot).map(|c| &c.phase)
                        {
                            let req = state.req.clone();
                            let e = HttpError::Malformed("the body did not arrive in time");
                            self.service.on_body_error(&mut cx!(self), id, &req, &e);
                        }
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
                TimerKind::Service(_)
                | TimerKind::AcceptRetry
                | TimerKind::HandoffRetry
                | TimerKind::QueueAgeSweep => {}
            }
        }
    }

    /// Drops a connection now: its I/O stops, its socket closes and its session ends.
    fn remove(&mut self, slot: usize, reason: CloseReason) {
        let Some(mut conn) = self.conns.try_remove(slot) else {
            return;
        };
        self.budget.release(&conn);
        self.counters.open.fetch_sub(1, Ordering::Relaxed);
        if let Some(k) = conn.deadline.take() {
            self.timers.cancel(k);
        }
        let gen = conn.gen;
        let parked = matches!(conn.phase, Phase::Parked);
        if let Phase::Body(state) = &conn.phase {
            // The body will never be whole: the service hears it, as from a malformed one.
            let id = ConnId {
                worker: self.index,
                slot: slot as u32,
                gen,
            };
            let e = HttpError::Malformed("connection closed before the body ended");
            self.service
                .on_body_error(&mut cx!(self), id, &state.req, &e);
        }
        self.io.close(slot, conn);
        if parked {
            let id = ConnId {
                worker: self.index,
                slot: slot as u32,
                gen,
            };
            self.service.on_parked_close(&mut cx!(self), id, &reason);
        }
        if let Some(session) = self.sessions.get_mut(slot).and_then(Option::take) {
            let id = ConnId {
                worker: self.index,
                slot: slot as u32,
                gen,
            };
            self.service.on_close(&mut cx!(self), id, session, &reason);
        }
    }
}
