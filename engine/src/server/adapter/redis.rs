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
use crate::runtime::Peers;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::cluster::Answers;
use crate::server::post::Post;
use crate::server::rooms::Target;
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
            })),
            core: Mutex::new(None),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// The adapter's fault counters (for the metrics).
    pub fn health(&self) -> Arc<Health> {
        self.out.health.clone()
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
        });
        let publisher = Publisher {
            core: core.clone(),
            rx: s.rx,
            conn: None,
            retry_at: Instant::now(),
            backoff: RETRY,
            unread: 0,
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

struct Publisher {
    core: Arc<Core>,
    rx: Receiver<Cmd>,
    conn: Option<Conn>,
    retry_at: Instant,
    /// Wait before the next connect after a failure; doubles up to [`MAX_BACKOFF`].
    backoff: Duration,
    /// PUBLISH and XADD replies still to read.
    unread: usize,
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
        let core = &self.core;
        core.pending.clear(&core.nodes, &core.health);
        self.rx.try_iter().for_each(|c| c.abandon(&core.nodes));
    }

    /// The connection failed: dropped, counted, and a new one tried after the backoff.
    fn lost(&mut self, fault: Fault, error: &dyn std::fmt::Display) {
        self.conn = None;
        self.unread = 0;
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
                self.unread += 1;
            }
            None => {
                self.core.health.count(Fault::Publish);
            }
        }
    }

    /// Writes what is queued and reads one reply per PUBLISH; any failure drops the connection.
    fn read_replies(&mut self) {
        let n = std::mem::take(&mut self.unread);
        let Some(c) = self.conn.as_mut() else { return };
        let result = c
            .flush()
            .and_then(|()| (0..n).try_for_each(|_| c.expect_ok()));
        if let Err(e) = result {
            // The PUBLISHes in flight are lost with the connection.
            self.core.health.count(Fault::Publish);
            self.lost(io_fault(&e), &e);
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
            Ok(Send::Append(entry)) => self.append(&entry),
            Err(e) => self.core.health.malformed("own message", &e),
        }
    }

    /// Queues an XADD of `entry` to the stream (the streams adapter); dropped, and counted,
    /// while Redis is unreachable.
    fn append(&mut self, entry: &super::streams_wire::Entry) {
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
                self.unread += 1;
            }
            None => {
                self.core.health.count(Fault::Publish);
            }
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        let uid = self.core.uid.clone();
        match cmd {
            Cmd::Publish { channel, payload } => self.publish(&channel, &payload),
            Cmd::Broadcast(msg) => self.broadcast(&msg),
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
