//! The Redis adapters: threads of their own, so no worker ever waits on Redis. Workers and
//! handles hand commands over a bounded channel to the publisher thread, which pipelines
//! PUBLISHes (and the streams adapter's XADDs) on one connection; the subscriber thread (see
//! [`super::sub`]) holds another connection in subscribed mode, and the streams adapter's
//! reader (see [`super::streams`]) a third, reading the stream. Each reconnects by itself,
//! with backoff; what is published while Redis is unreachable is dropped (the local delivery
//! has already happened). [`super::dialect`] says what each adapter puts on the wire.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde_json::Value as Json;

use super::api::{Adapter, RemoteOp, ServerSideEmitHandler};
use super::conn::{Conn, RedisUrl};
use super::core::{new_id, open_request, Cmd, Core, Outbox, Subs, IO_TIMEOUT, MAX_BACKOFF, RETRY};
use super::dialect::{Dialect, Send};
use super::health::{io_fault, Fault, Health, Link};
use super::pending::{Pending, Waiting};
use super::streams_store::{self, NotRestored, StreamsStore};
use crate::runtime::Peers;
use crate::server::broadcast_msg::{with_offset, BroadcastMsg};
use crate::server::cluster::Answers;
use crate::server::post::{post_remote, Post};
use crate::server::rooms::Target;
use crate::server::sio::{Restored, SessionStore};
use crate::server::socket_info::SocketInfo;

/// How often the publisher looks for requests whose time is up.
const SWEEP: Duration = Duration::from_millis(50);
/// Slack after a broadcast's ack timeout for the other servers' last answers to travel.
const ACK_GRACE: Duration = Duration::from_millis(200);

/// The Redis adapter as workers and handles see it.
pub(crate) struct RedisAdapter {
    out: Outbox,
    starting: Mutex<Option<Starting>>,
    core: Mutex<Option<Arc<Core>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Starting {
    rx: Receiver<Cmd>,
    url: RedisUrl,
    dialect: Dialect,
    nsps: Vec<String>,
    on_emit: Option<Arc<ServerSideEmitHandler>>,
    requests_timeout: Duration,
    /// The recovery window, when recovery keeps its state in Redis.
    recovery: Option<Duration>,
}

impl RedisAdapter {
    /// An adapter for `url` speaking `dialect`, subscribed from the start to the channels of
    /// `nsps`, whose requests wait at most `requests_timeout` for the other servers; threads
    /// start with [`RedisAdapter::start`].
    pub fn new(
        url: RedisUrl,
        dialect: Dialect,
        nsps: Vec<String>,
        on_emit: Option<Arc<ServerSideEmitHandler>>,
        requests_timeout: Duration,
    ) -> RedisAdapter {
        let (out, rx) = Outbox::new();
        RedisAdapter {
            out,
            starting: Mutex::new(Some(Starting {
                rx,
                url,
                dialect,
                nsps,
                on_emit,
                requests_timeout,
                recovery: None,
            })),
            core: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// The adapter's fault counters (for the metrics).
    pub fn health(&self) -> Arc<Health> {
        self.out.health.clone()
    }

    /// The store that keeps connection state recovery in Redis within `window`, as the
    /// Node streams adapter does (packets' offsets are stream entry ids, sessions are SET
    /// with `PX`); `None` for the pub/sub adapter, which keeps nothing there (as Node's).
    /// Call before [`Adapter::start`].
    pub fn session_store(&self, window: Duration) -> Option<Box<dyn SessionStore>> {
        let mut starting = self.starting.lock().ok()?;
        let s = starting.as_mut()?;
        if !matches!(s.dialect, Dialect::Streams(_)) {
            return None;
        }
        s.recovery = Some(window);
        Some(Box::new(StreamsStore {
            out: self.out.clone(),
            window,
            restore_timeout: s.requests_timeout,
        }))
    }
}

impl Adapter for RedisAdapter {
    fn is_remote(&self) -> bool {
        true
    }

    fn start(&self, peers: Peers<Post>) -> std::io::Result<()> {
        let Some(s) = self.starting.lock().ok().and_then(|mut s| s.take()) else {
            return Ok(());
        };
        let core = Arc::new(Core {
            url: s.url,
            dialect: s.dialect,
            uid: new_id(),
            stop: AtomicBool::new(false),
            pending: Pending::default(),
            subs: Mutex::new(Subs {
                wanted: s.nsps.into_iter().collect(),
                confirmed: HashSet::new(),
            }),
            cmds: self.out.cmds.clone(),
            peers,
            on_emit: s.on_emit,
            health: self.out.health.clone(),
            requests_timeout: s.requests_timeout,
            nodes: self.out.nodes.clone(),
            recovery: s.recovery.is_some(),
        });
        let publisher = Publisher {
            core: core.clone(),
            rx: s.rx,
            conn: None,
            retry_at: Instant::now(),
            backoff: RETRY,
            unread: Vec::new(),
        };
        let sub_core = core.clone();
        let mut threads = vec![
            std::thread::Builder::new()
                .name("volley-redis-pub".into())
                .spawn(move || publisher.run())?,
            std::thread::Builder::new()
                .name("volley-redis-sub".into())
                .spawn(move || super::sub::run(&sub_core))?,
        ];
        if matches!(core.dialect, Dialect::Streams(_)) {
            let reader_core = core.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("volley-redis-xread".into())
                    .spawn(move || super::streams::run(&reader_core))?,
            );
        }
        if let Ok(mut t) = self.threads.lock() {
            t.extend(threads);
        }
        if let Ok(mut c) = self.core.lock() {
            *c = Some(core);
        }
        Ok(())
    }

    fn broadcast(&self, msg: &Arc<BroadcastMsg>) {
        self.out.broadcast(msg);
    }

    fn select(&self, nsp: &str, target: &Target, op: RemoteOp) {
        self.out.select(nsp, target, op);
    }

    fn fetch(
        &self,
        nsp: &str,
        target: &Target,
        timeout: Duration,
    ) -> Option<Receiver<Answers<Vec<SocketInfo>>>> {
        self.out.fetch(nsp, target, timeout)
    }

    fn server_side_emit(
        &self,
        nsp: &str,
        data: Json,
        ack: Option<Duration>,
    ) -> Option<Receiver<Answers<Vec<Json>>>> {
        self.out.server_side_emit(nsp, data, ack)
    }

    fn uid(&self) -> Option<String> {
        let core = self.core.lock().ok()?;
        core.as_ref().map(|c| c.uid.clone())
    }

    fn stop(&self) {
        if let Some(core) = self.core.lock().ok().and_then(|mut c| c.take()) {
            core.stop.store(true, Ordering::Release);
        }
        let threads = self
            .threads
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// What the reply of a command in flight is for.
enum Awaiting {
    /// Any reply but an error.
    Ok,
    /// The entry id of a kept packet's XADD: the packet is delivered with it.
    Entry(Arc<BroadcastMsg>),
}

/// Delivers a kept packet to this server's workers, `offset` (its entry id) as its last
/// argument; without one (counted) when the stream did not take it, so it still reaches them.
fn deliver_kept(core: &Core, msg: &BroadcastMsg, offset: Option<&str>) {
    let packets = match offset.map(|id| with_offset(&msg.packets, id)) {
        Some(Ok(packets)) => packets,
        Some(Err(_)) | None => {
            core.health.count(Fault::Recovery);
            msg.packets.clone()
        }
    };
    let kept = BroadcastMsg {
        nsp: msg.nsp.clone(),
        target: msg.target.clone(),
        volatile: msg.volatile,
        compress: msg.compress,
        packets,
        acks: None,
    };
    post_remote(&core.peers, None, Arc::new(kept));
}

struct Publisher {
    core: Arc<Core>,
    rx: Receiver<Cmd>,
    conn: Option<Conn>,
    retry_at: Instant,
    /// Wait before the next connect after a failure; doubles up to [`MAX_BACKOFF`].
    backoff: Duration,
    /// Replies still to read, one per command in flight.
    unread: Vec<Awaiting>,
}

impl Publisher {
    fn run(mut self) {
        while !self.core.stop.load(Ordering::Acquire) {
            let first = match self.rx.recv_timeout(SWEEP) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let batch: Vec<Cmd> = first
                .into_iter()
                .chain(self.rx.try_iter().take(255))
                .collect();
            // Checked when idle too, so the connection metric tells the truth between bursts.
            if self.conn.as_ref().is_some_and(Conn::is_closed) {
                self.lost(Fault::ConnectionLost, &"closed by redis");
                // A restarted Redis may be back already: try at once.
                self.retry_at = Instant::now();
            }
            if batch.is_empty() && self.conn.is_none() {
                self.conn();
            }
            for cmd in batch {
                self.handle(cmd);
            }
            self.read_replies();
            let core = &self.core;
            core.pending
                .sweep(Instant::now(), &core.nodes, &core.health);
        }
        // The sessions of the sockets the shutdown closed are still kept, so their clients
        // can come back on another server; the rest of the queue is abandoned.
        let rest: Vec<Cmd> = self.rx.try_iter().collect();
        for cmd in rest {
            match cmd {
                Cmd::Persist { key, value, ttl } => self.persist(&key, &value, ttl),
                other => other.abandon(&self.core.nodes),
            }
        }
        self.read_replies();
        let core = &self.core;
        core.pending.clear(&core.nodes, &core.health);
    }

    /// The connection failed: dropped, counted, and a new one tried after the backoff.
    fn lost(&mut self, fault: Fault, error: &dyn std::fmt::Display) {
        self.conn = None;
        for a in std::mem::take(&mut self.unread) {
            self.unanswered(a);
        }
        self.core.health.down(Link::Publisher, fault, error);
        self.back_off();
    }

    fn back_off(&mut self) {
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// The connection, made when there is none and the backoff has passed. A new one must
    /// answer PING: Redis may accept the socket and refuse every command (no password).
    fn conn(&mut self) -> Option<&mut Conn> {
        if self.conn.is_none() && Instant::now() >= self.retry_at {
            let url = &self.core.url;
            match Conn::connect(url, IO_TIMEOUT).and_then(|mut c| c.ping().map(|()| c)) {
                Ok(c) => {
                    self.conn = Some(c);
                    self.backoff = RETRY;
                    self.core.health.up(Link::Publisher);
                }
                Err(e) => {
                    let fault = match io_fault(&e) {
                        Fault::MalformedReply => Fault::MalformedReply,
                        _ => Fault::Connect,
                    };
                    self.core.health.down(Link::Publisher, fault, &e);
                    self.back_off();
                }
            }
        }
        self.conn.as_mut()
    }

    /// Queues a PUBLISH; dropped, and counted, while Redis is unreachable (the local delivery
    /// has happened, and a late copy would arrive out of order).
    fn publish(&mut self, channel: &str, payload: &[u8]) {
        match self.conn() {
            Some(c) => {
                c.queue(&[b"PUBLISH", channel.as_bytes(), payload]);
                self.unread.push(Awaiting::Ok);
            }
            None => {
                self.core.health.count(Fault::Publish);
            }
        }
    }

    /// Writes what is queued and reads one reply per command in flight (a kept packet's is
    /// its entry id: it is delivered then); any failure drops the connection.
    fn read_replies(&mut self) {
        let Some(c) = self.conn.as_mut() else { return };
        let mut result = c.flush();
        // Taken and given back empty, so its capacity serves the next batch.
        let mut in_flight = std::mem::take(&mut self.unread);
        let mut awaiting = in_flight.drain(..);
        while result.is_ok() {
            let Some(a) = awaiting.next() else { break };
            result = match a {
                Awaiting::Ok => c.expect_ok(),
                Awaiting::Entry(msg) => c
                    .reply(|r| r.bytes().map(|id| String::from_utf8_lossy(id).into_owned()))
                    .map(|id| deliver_kept(&self.core, &msg, id.as_deref())),
            };
        }
        if let Err(e) = result {
            // What is in flight is lost with the connection; kept packets still go out here.
            self.core.health.count(Fault::Publish);
            for a in awaiting.by_ref() {
                self.unanswered(a);
            }
            self.lost(io_fault(&e), &e);
        }
        drop(awaiting);
        self.unread = in_flight;
    }

    /// A command whose reply will not come: a kept packet is delivered without an offset.
    fn unanswered(&self, a: Awaiting) {
        if let Awaiting::Entry(msg) = a {
            deliver_kept(&self.core, &msg, None);
        }
    }

    /// How many other servers subscribe to `nsp`'s request channel; `None` when Redis is
    /// unreachable.
    fn others(&mut self, nsp: &str) -> Option<usize> {
        self.read_replies();
        let channel = self.core.dialect.servers_channel(nsp);
        let c = self.conn()?;
        match c.numsub(&channel) {
            Ok(n) => Some(n.saturating_sub(usize::from(self.core.subscribed(nsp)))),
            Err(e) => {
                self.core.health.count(Fault::Publish);
                self.lost(io_fault(&e), &e);
                None
            }
        }
    }

    /// How many servers a request waits for, or `Err` with the answer to give at once (Redis
    /// unreachable, or nobody else to ask).
    fn count_others<T: Default>(&mut self, nsp: &str) -> Result<usize, Answers<T>> {
        match self.others(nsp) {
            None => Err(self.core.nodes.unavailable()),
            Some(0) => Err(Ok(T::default())),
            Some(n) => Ok(n),
        }
    }

    /// Runs `send`; a message that did not encode is counted and dropped.
    fn run_send(&mut self, send: Result<Send, super::wire_error::WireError>) {
        match send {
            Ok(Send::Publish(channel, payload)) => self.publish(&channel, &payload),
            Ok(Send::Append(entry)) => self.append(&entry, Awaiting::Ok),
            Err(e) => self.core.health.malformed("own message", &e),
        }
    }

    /// Queues an XADD of `entry` to the stream (the streams adapter), its reply awaited as
    /// `awaiting`; dropped, and counted, while Redis is unreachable.
    fn append(&mut self, entry: &super::streams_wire::Entry, awaiting: Awaiting) {
        let Dialect::Streams(opts) = &self.core.dialect else {
            return;
        };
        let (stream, max_len) = (opts.names.stream().to_string(), opts.max_len.to_string());
        let fields = entry.fields();
        match self.conn() {
            Some(c) => {
                let mut args: Vec<&[u8]> = vec![
                    b"XADD",
                    stream.as_bytes(),
                    b"MAXLEN",
                    b"~",
                    max_len.as_bytes(),
                    b"*",
                ];
                args.extend(fields.iter().flatten().map(Vec::as_slice));
                c.queue(&args);
                self.unread.push(awaiting);
            }
            None => {
                self.core.health.count(Fault::Publish);
                self.unanswered(awaiting);
            }
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        let uid = self.core.uid.clone();
        match cmd {
            Cmd::Publish { channel, payload } => self.publish(&channel, &payload),
            Cmd::Broadcast(msg) => self.broadcast(&msg),
            Cmd::Keep(msg) => self.keep(msg),
            Cmd::Persist { key, value, ttl } => self.persist(&key, &value, ttl),
            Cmd::Restore {
                nsp,
                pid,
                offset,
                deadline,
                answer,
            } => answer(self.restore(&nsp, &pid, &offset, deadline)),
            Cmd::Select { nsp, target, op } => {
                self.core.want(&nsp);
                let send = self.core.dialect.select(&uid, &nsp, &target, &op);
                self.run_send(Ok(send));
            }
            Cmd::Fetch {
                nsp,
                target,
                timeout,
                reply,
            } => {
                self.core.want(&nsp);
                let others = match self.count_others(&nsp) {
                    Ok(n) => n,
                    Err(now) => {
                        let _ = reply.send(now);
                        return;
                    }
                };
                let waiting = Waiting::Fetch {
                    sockets: Vec::new(),
                    reply,
                };
                let core = &self.core;
                let id = open_request(
                    &core.pending,
                    &nsp,
                    others,
                    timeout,
                    core.requests_timeout,
                    waiting,
                );
                let send = self.core.dialect.fetch(&uid, &nsp, &id, &target);
                self.run_send(send);
            }
            Cmd::Emit { nsp, data, ack } => {
                self.core.want(&nsp);
                let Some((timeout, reply)) = ack else {
                    let send = self.core.dialect.emit(&uid, &nsp, None, &data);
                    self.run_send(send);
                    return;
                };
                let others = match self.count_others(&nsp) {
                    Ok(n) => n,
                    Err(now) => {
                        let _ = reply.send(now);
                        return;
                    }
                };
                let waiting = Waiting::Emit {
                    answers: Vec::new(),
                    reply,
                };
                let core = &self.core;
                let id = open_request(
                    &core.pending,
                    &nsp,
                    others,
                    timeout,
                    core.requests_timeout,
                    waiting,
                );
                let send = self.core.dialect.emit(&uid, &nsp, Some(&id), &data);
                self.run_send(send);
            }
        }
    }

    /// Appends a kept packet to the stream; it is delivered here once its entry id is read
    /// (without an offset, counted, if it cannot be appended).
    fn keep(&mut self, msg: Arc<BroadcastMsg>) {
        self.core.want(&msg.nsp);
        match self.core.dialect.broadcast(&self.core.uid, &msg) {
            Ok(Send::Append(entry)) => self.append(&entry, Awaiting::Entry(msg)),
            Ok(Send::Publish(..)) => self.unanswered(Awaiting::Entry(msg)),
            Err(e) => {
                self.core.health.malformed("own message", &e);
                self.unanswered(Awaiting::Entry(msg));
            }
        }
    }

    /// SETs a lost socket's session for `ttl` (`PX`, as Node); counted if Redis is unreachable.
    fn persist(&mut self, key: &str, value: &str, ttl: Duration) {
        let px = ttl.as_millis().to_string();
        match self.conn() {
            Some(c) => {
                c.queue(&[
                    b"SET",
                    key.as_bytes(),
                    value.as_bytes(),
                    b"PX",
                    px.as_bytes(),
                ]);
                self.unread.push(Awaiting::Ok);
            }
            None => {
                self.core.health.count(Fault::Recovery);
                tracing::warn!(key, "recovery: session not kept, Redis unreachable");
            }
        }
    }

    /// Restores a session for a CONNECT by `deadline`; `None` (a fresh session) when it is
    /// gone, and, counted and logged, when Redis fails or the deadline passes.
    fn restore(
        &mut self,
        nsp: &str,
        pid: &str,
        offset: &str,
        deadline: Instant,
    ) -> Option<Restored> {
        let Dialect::Streams(opts) = &self.core.dialect else {
            return None;
        };
        let stream = opts.names.stream().to_string();
        if Instant::now() > deadline {
            self.core.health.count(Fault::Recovery);
            tracing::warn!(
                pid,
                "recovery: session not restored, waited past its deadline"
            );
            return None;
        }
        // Replies of the commands in flight come first on this connection.
        self.read_replies();
        let Some(c) = self.conn() else {
            self.core.health.count(Fault::Recovery);
            tracing::warn!(pid, "recovery: session not restored, Redis unreachable");
            return None;
        };
        match streams_store::restore(c, &stream, nsp, pid, offset, deadline) {
            Ok(r) => Some(r),
            Err(NotRestored::Gone) => None,
            Err(NotRestored::Malformed(e)) => {
                self.core.health.count(Fault::Recovery);
                tracing::warn!(pid, error = %e, "recovery: stored session unusable");
                None
            }
            Err(NotRestored::Io(e)) => {
                self.core.health.count(Fault::Recovery);
                tracing::warn!(pid, error = %e, "recovery: session not restored");
                self.lost(io_fault(&e), &e);
                None
            }
        }
    }

    fn broadcast(&mut self, msg: &BroadcastMsg) {
        self.core.want(&msg.nsp);
        let Some((_, timeout, collector)) = &msg.acks else {
            let send = self.core.dialect.broadcast(&self.core.uid, msg);
            self.run_send(send);
            return;
        };
        let Some(others) = self.others(&msg.nsp) else {
            // Redis unreachable: the servers this one knows are missing from the result.
            let known = self.core.nodes.missing(&[]).len();
            collector.add_parts(known);
            collector.give_up(known, 0);
            collector.worker_done(0);
            return;
        };
        let id = new_id();
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let request = self
            .core
            .dialect
            .broadcast_request(&self.core.uid, &id, msg, ms);
        if others > 0 && request.is_ok() {
            // Parts are added before the adapter's own part completes, so the collector
            // cannot finish early; the request is known before any answer can come.
            collector.add_parts(others);
            let waiting = Waiting::Acks {
                collector: collector.clone(),
                expected: 0,
                got: 0,
            };
            let deadline = Instant::now() + *timeout + ACK_GRACE;
            self.core
                .pending
                .insert(id, &msg.nsp, others, deadline, waiting);
            self.run_send(request);
        }
        collector.worker_done(0);
    }
}
