//! One mio event loop driving many client connections of one scenario: paced connects, reads,
//! writes, per-connection deadlines and the handshake timeout. Protocol and scenario logic live
//! behind [`Behavior`]; this file only moves bytes and time. On a TLS target each connection
//! also carries a [`TlsLayer`]: its handshake runs between the TCP connect and
//! [`Behavior::on_connected`], and its reads and writes replace the socket's; plain connections
//! take the same path as without TLS, past one check of an empty `Option`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::clock::{micros_between, Now};
use crate::failure::Failure;
use crate::net::{self, Target};
use crate::run_state::{Phase, Progress, RunState};
use crate::stats::Stats;
use crate::tls::{Connector, Handshake, Outgoing, TlsLayer};

/// What a callback may touch besides its own connection.
pub struct Cx<'a> {
    /// The time of this wake-up.
    pub now: Now,
    /// This loop's measurements.
    pub stats: &'a mut Stats,
    /// The shared phase and window.
    pub run: &'a RunState,
}

impl Cx<'_> {
    /// Whether scenarios should send now.
    pub fn sending(&self) -> bool {
        self.run.phase() == Phase::Run
    }

    /// Whether a completion at this moment counts towards the results.
    pub fn measuring(&self) -> bool {
        self.run.in_window(self.now.ns)
    }
}

/// One connection's protocol and scenario logic, driven by the loop.
pub trait Behavior {
    /// The TCP connection (and its TLS handshake, on a TLS target) is up.
    fn on_connected(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure>;
    /// Bytes arrived; consume (drain) what can be used, leave any incomplete tail.
    fn on_input(&mut self, input: &mut Vec<u8>, cx: &mut Cx<'_>) -> Result<(), Failure>;
    /// The deadline passed, or the phase changed; early calls must be harmless.
    fn on_timer(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure>;
    /// When [`on_timer`](Self::on_timer) is due next, in monotonic ns.
    fn deadline_ns(&self) -> Option<u64>;
    /// Whether the scenario's handshake is complete.
    fn is_established(&self) -> bool;
    /// Bytes to write, if any.
    fn transmit(&self) -> Option<&[u8]>;
    /// `n` bytes of [`transmit`](Self::transmit) were written.
    fn advance_transmit(&mut self, n: usize);
}

/// Makes the behaviour of each connection.
pub trait Scenario: Send + Sync {
    /// The per-connection behaviour.
    type Conn: Behavior;
    /// The behaviour of connection `index` (unique across loops and processes), opened now.
    fn conn(&self, index: u64, now: Now) -> Self::Conn;
}

/// This loop's share of the connections and how fast to open them.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Global index of this loop's first connection.
    pub first_index: u64,
    /// Connections this loop opens.
    pub count: u64,
    /// Pause between two opens, ns; 0 opens as fast as the loop can.
    pub open_interval_ns: u64,
    /// Source addresses, used round-robin by global index; empty lets the kernel choose.
    pub local_addrs: Vec<IpAddr>,
    /// Time from the TCP connect to the end of the scenario's handshake (the TLS handshake
    /// included).
    pub handshake_timeout_ns: u64,
    /// TLS to the server (`wss://`, `https://`); `None` for plain TCP.
    pub tls: Option<Connector>,
}

/// Most opens in one loop iteration, so events keep being served during a fast ramp.
const OPEN_BATCH: u64 = 64;
/// Longest sleep, so phase changes are noticed promptly.
const MAX_SLEEP_NS: u64 = 50_000_000;
/// How often progress counters are published.
const PUBLISH_NS: u64 = 100_000_000;
const READ_CHUNK: usize = 64 * 1024;

struct Conn<B> {
    stream: TcpStream,
    /// The connection's TLS state on a TLS target; boxed, so a plain connection carries a null
    /// pointer.
    tls: Option<Box<TlsLayer>>,
    b: B,
    input: Vec<u8>,
    link: Link,
    established: bool,
    started_ns: u64,
    armed: Option<u64>,
}

/// How far the transport got; the scenario's own handshake comes after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// The TCP connect is in progress.
    Connecting,
    /// TCP is up; the TLS handshake is in progress.
    TlsHandshake,
    /// Bytes flow: [`Behavior::on_connected`] was called.
    Up,
}

/// Runs `plan` for `scenario` against `target` until the phase is [`Phase::Stop`]; returns what
/// it measured.
pub fn run<S: Scenario>(
    scenario: &S,
    target: &Target,
    plan: &Plan,
    run: &RunState,
    progress: &Arc<Progress>,
) -> io::Result<Stats> {
    let mut lp = Loop {
        poll: Poll::new()?,
        conns: Slab::new(),
        timers: BinaryHeap::new(),
        stats: Stats::default(),
        read_buf: vec![0; READ_CHUNK],
        open_now: 0,
        settled: 0,
        handshake_timeout_ns: plan.handshake_timeout_ns,
    };
    let mut events = Events::with_capacity(1024);
    let mut opened = 0u64;
    let mut next_open_ns = Now::read().ns;
    let mut last_phase = run.phase();
    let mut next_publish_ns = 0;
    loop {
        let now = Now::read();
        let phase = run.phase();
        if phase == Phase::Stop {
            break;
        }
        if phase != last_phase {
            last_phase = phase;
            lp.tick_all(now, run);
        }
        let mut batch = 0;
        while opened < plan.count && now.ns >= next_open_ns && batch < OPEN_BATCH {
            let index = plan.first_index + opened;
            lp.open(scenario, target, plan, index, now, run);
            opened += 1;
            batch += 1;
            next_open_ns = next_open_ns.saturating_add(plan.open_interval_ns);
        }
        lp.fire_timers(now, run);
        if now.ns >= next_publish_ns {
            lp.publish(progress);
            next_publish_ns = now.ns + PUBLISH_NS;
        }

        let mut wake = now.ns + MAX_SLEEP_NS;
        if let Some(Reverse((at, _))) = lp.timers.peek() {
            wake = wake.min(*at);
        }
        if opened < plan.count {
            wake = wake.min(next_open_ns);
        }
        let sleep = std::time::Duration::from_nanos(wake.saturating_sub(now.ns));
        match lp.poll.poll(&mut events, Some(sleep)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        // The clock is read per event, not per batch: behind an overloaded server one batch of
        // reads can take longer than the measurement window, and a time read before it would
        // place every delivery in it before the window (and make their latency look shorter).
        for event in events.iter() {
            lp.on_event(event.token().0, event.is_writable(), Now::read(), run);
        }
    }
    lp.publish(progress);
    Ok(lp.stats)
}

struct Loop<B> {
    poll: Poll,
    conns: Slab<Conn<B>>,
    /// `(deadline_ns, key)`; stale entries are skipped by comparing with `Conn::armed`.
    timers: BinaryHeap<Reverse<(u64, usize)>>,
    stats: Stats,
    read_buf: Vec<u8>,
    open_now: u64,
    settled: u64,
    handshake_timeout_ns: u64,
}

impl<B: Behavior> Loop<B> {
    fn open<S: Scenario<Conn = B>>(
        &mut self,
        scenario: &S,
        target: &Target,
        plan: &Plan,
        index: u64,
        now: Now,
        run: &RunState,
    ) {
        self.stats.note_attempt(now.ns);
        let local = match plan.local_addrs.len() {
            0 => None,
            n => plan.local_addrs.get((index % n as u64) as usize).copied(),
        };
        let tls = match plan.tls.as_ref().map(Connector::connect).transpose() {
            Ok(tls) => tls.map(Box::new),
            Err(failure) => {
                self.settled += 1;
                failure.record(false, &mut self.stats);
                return;
            }
        };
        let mut stream = match net::connect(target.addr, local) {
            Ok(s) => s,
            Err(e) => {
                self.settled += 1;
                Failure::Connect(e.to_string()).record(false, &mut self.stats);
                return;
            }
        };
        let key = self.conns.vacant_key();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.settled += 1;
            Failure::Connect(format!("register: {e}")).record(false, &mut self.stats);
            return;
        }
        self.conns.insert(Conn {
            stream,
            tls,
            b: scenario.conn(index, now),
            input: Vec::new(),
            link: Link::Connecting,
            established: false,
            started_ns: now.ns,
            armed: None,
        });
        self.after(key, now, run, Ok(()));
    }

    fn on_event(&mut self, key: usize, writable: bool, now: Now, run: &RunState) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let mut cx = Cx {
            now,
            stats: &mut self.stats,
            run,
        };
        let result = match conn.link {
            Link::Up => match &mut conn.tls {
                None => read_into(&mut conn.stream, &mut conn.input, &mut self.read_buf),
                Some(tls) => tls.read_into(&mut conn.stream, &mut self.read_buf, &mut conn.input),
            }
            .and_then(|eof| conn.take_input(eof, &mut cx)),
            Link::Connecting => {
                if !writable {
                    return;
                }
                match tcp_outcome(&conn.stream) {
                    TcpOutcome::Pending => return,
                    TcpOutcome::Failed(e) => Err(Failure::Connect(e.to_string())),
                    TcpOutcome::Up if conn.tls.is_some() => {
                        conn.link = Link::TlsHandshake;
                        conn.tls_handshake(&mut self.read_buf, &mut cx)
                    }
                    TcpOutcome::Up => {
                        conn.link = Link::Up;
                        conn.b.on_connected(&mut cx)
                    }
                }
            }
            Link::TlsHandshake => conn.tls_handshake(&mut self.read_buf, &mut cx),
        };
        self.after(key, now, run, result);
    }

    /// Follows up a callback: notes a completed handshake, flushes output, re-arms the timer,
    /// or tears the connection down on failure.
    fn after(&mut self, key: usize, now: Now, run: &RunState, result: Result<(), Failure>) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let result = result.and_then(|()| {
            if !conn.established && conn.b.is_established() {
                conn.established = true;
                self.open_now += 1;
                self.settled += 1;
                self.stats
                    .note_connected(now.ns, micros_between(conn.started_ns, now.ns));
            }
            match (conn.link, &mut conn.tls) {
                (Link::Up, None) => flush(&mut conn.stream, &mut conn.b),
                (Link::Up, Some(tls)) => tls.flush(&mut conn.stream, &mut Transmit(&mut conn.b)),
                _ => Ok(()),
            }
        });
        if let Err(failure) = result {
            self.remove(key, &failure, run);
            return;
        }
        let mut deadline = conn.b.deadline_ns();
        if !conn.established {
            let hs = conn.started_ns.saturating_add(self.handshake_timeout_ns);
            deadline = Some(deadline.map_or(hs, |d| d.min(hs)));
        }
        if deadline != conn.armed {
            conn.armed = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, key)));
            }
        }
    }

    fn fire_timers(&mut self, now: Now, run: &RunState) {
        // Collect first: a callback that re-arms in the past is then served on the next
        // iteration instead of spinning here.
        let mut due = Vec::new();
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            if at > now.ns {
                break;
            }
            self.timers.pop();
            due.push((at, key));
        }
        for (at, key) in due {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.armed != Some(at) {
                continue;
            }
            conn.armed = None;
            let result = if !conn.established
                && now.ns >= conn.started_ns.saturating_add(self.handshake_timeout_ns)
            {
                Err(Failure::Timeout(format!(
                    "handshake not complete after {} ms",
                    self.handshake_timeout_ns / 1_000_000
                )))
            } else {
                let mut cx = Cx {
                    now,
                    stats: &mut self.stats,
                    run,
                };
                conn.b.on_timer(&mut cx)
            };
            self.after(key, now, run, result);
        }
    }

    /// Lets every established connection react to a phase change.
    fn tick_all(&mut self, now: Now, run: &RunState) {
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if !conn.established {
                continue;
            }
            let mut cx = Cx {
                now,
                stats: &mut self.stats,
                run,
            };
            let result = conn.b.on_timer(&mut cx);
            self.after(key, now, run, result);
        }
    }

    fn remove(&mut self, key: usize, failure: &Failure, run: &RunState) {
        let Some(mut conn) = self.conns.try_remove(key) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if conn.established {
            self.open_now = self.open_now.saturating_sub(1);
        } else {
            self.settled += 1;
        }
        // Connections the server ends while we stop are the run ending, not failures.
        if run.phase() != Phase::Stop {
            failure.record(conn.established, &mut self.stats);
        }
    }

    fn publish(&self, progress: &Progress) {
        let c = &self.stats.counters;
        progress.open.store(self.open_now, Ordering::Relaxed);
        progress.settled.store(self.settled, Ordering::Relaxed);
        progress.completed.store(c.completed, Ordering::Relaxed);
        progress.errors.store(c.errors(), Ordering::Relaxed);
    }
}

impl<B: Behavior> Conn<B> {
    /// Hands what arrived to the behaviour; a server close (`eof`) then ends the connection.
    fn take_input(&mut self, eof: bool, cx: &mut Cx<'_>) -> Result<(), Failure> {
        if !self.input.is_empty() {
            self.b.on_input(&mut self.input, cx)?;
        }
        if eof {
            Err(Failure::Closed("connection closed by the server".into()))
        } else {
            Ok(())
        }
    }

    /// Advances the TLS handshake; once it completes, the behaviour hears that the connection
    /// is up (and gets anything that came with the server's last handshake flight).
    fn tls_handshake(&mut self, buf: &mut [u8], cx: &mut Cx<'_>) -> Result<(), Failure> {
        let Some(tls) = &mut self.tls else {
            return Ok(());
        };
        match tls.handshake(&mut self.stream, buf, &mut self.input)? {
            Handshake::Pending => Ok(()),
            Handshake::Done { eof } => {
                self.link = Link::Up;
                self.b.on_connected(cx)?;
                self.take_input(eof, cx)
            }
        }
    }
}

/// A behaviour's transmit queue, as the TLS layer takes it.
struct Transmit<'a, B>(&'a mut B);

impl<B: Behavior> Outgoing for Transmit<'_, B> {
    fn pending(&self) -> Option<&[u8]> {
        self.0.transmit()
    }

    fn advance(&mut self, n: usize) {
        self.0.advance_transmit(n);
    }
}

enum TcpOutcome {
    Pending,
    Up,
    Failed(io::Error),
}

/// What a writable event on a connecting socket means (see mio's `TcpStream::connect` docs).
fn tcp_outcome(stream: &TcpStream) -> TcpOutcome {
    match stream.take_error() {
        Ok(Some(e)) | Err(e) => return TcpOutcome::Failed(e),
        Ok(None) => {}
    }
    match stream.peer_addr() {
        Ok(_) => TcpOutcome::Up,
        Err(e)
            if e.kind() == io::ErrorKind::NotConnected
                || e.raw_os_error() == Some(libc::EINPROGRESS) =>
        {
            TcpOutcome::Pending
        }
        Err(e) => TcpOutcome::Failed(e),
    }
}

/// Reads everything available into `input`; `Ok(true)` at end of stream.
fn read_into(stream: &mut TcpStream, input: &mut Vec<u8>, buf: &mut [u8]) -> Result<bool, Failure> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => input.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::Closed(e.to_string())),
        }
    }
}

/// Writes what the behaviour has queued until the socket would block.
fn flush<B: Behavior>(stream: &mut TcpStream, b: &mut B) -> Result<(), Failure> {
    while let Some(bytes) = b.transmit() {
        match stream.write(bytes) {
            Ok(0) => return Err(Failure::Closed("write returned 0".into())),
            Ok(n) => b.advance_transmit(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::Closed(e.to_string())),
        }
    }
    Ok(())
}
