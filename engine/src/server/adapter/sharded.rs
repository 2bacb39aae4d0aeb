//! The sharded Redis adapter (`createShardedAdapter` of `@socket.io/redis-adapter`): sharded
//! pub/sub on a Redis Cluster, each channel served by the shard owning its slot. Like the
//! classic adapter it runs on two threads of its own, so no worker waits on Redis: the
//! publisher (here) SPUBLISHes to the shard of each channel, following MOVED/ASK; the
//! subscriber ([`super::ssub`]) holds one SSUBSCRIBE connection per shard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde_json::{json, Value as Json};

use super::api::{Adapter, RemoteOp, ServerSideEmitHandler};
use super::cluster_msg::{self, ty, ShardChannels};
use super::conn::RedisUrl;
use super::core::{new_id, open_request, Cmd, Outbox, MAX_BACKOFF, RETRY};
use super::health::{io_fault, Fault, Health, Link};
use super::pending::{Pending, Waiting};
use super::resp::Reply;
use super::shard_core::{ShardCore, Wanted};
use super::shards::Shards;
use super::slots::Redirect;
use crate::config::SubscriptionMode;
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

/// The sharded adapter as workers and handles see it.
pub(crate) struct ShardedAdapter {
    out: Outbox,
    wanted: Arc<Mutex<Wanted>>,
    channels: ShardChannels,
    starting: Mutex<Option<Starting>>,
    core: Mutex<Option<Arc<ShardCore>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

struct Starting {
    rx: Receiver<Cmd>,
    seeds: Vec<RedisUrl>,
    nsps: Vec<String>,
    on_emit: Option<Arc<ServerSideEmitHandler>>,
    requests_timeout: Duration,
}

impl ShardedAdapter {
    /// An adapter for the cluster that `seeds` belong to, with channel prefix `prefix` and
    /// subscription mode `mode`, listening from the start on the channels of `nsps`, whose
    /// requests wait at most `requests_timeout`; threads start with [`Adapter::start`].
    pub fn new(
        seeds: Vec<RedisUrl>,
        prefix: &str,
        mode: SubscriptionMode,
        nsps: Vec<String>,
        on_emit: Option<Arc<ServerSideEmitHandler>>,
        requests_timeout: Duration,
    ) -> ShardedAdapter {
        let (out, rx) = Outbox::new();
        ShardedAdapter {
            out,
            wanted: Arc::default(),
            channels: ShardChannels::new(prefix, mode),
            starting: Mutex::new(Some(Starting {
                rx,
                seeds,
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

impl Adapter for ShardedAdapter {
    fn is_remote(&self) -> bool {
        true
    }

    fn start(&self, peers: Peers<Post>) -> std::io::Result<()> {
        let Some(s) = self.starting.lock().ok().and_then(|mut s| s.take()) else {
            return Ok(());
        };
        let core = Arc::new(ShardCore {
            seeds: s.seeds.clone(),
            channels: self.channels.clone(),
            uid: new_id(),
            stop: AtomicBool::new(false),
            pending: Pending::default(),
            wanted: self.wanted.clone(),
            cmds: self.out.cmds.clone(),
            peers,
            on_emit: s.on_emit,
            health: self.out.health.clone(),
            requests_timeout: s.requests_timeout,
            nodes: self.out.nodes.clone(),
        });
        s.nsps.iter().for_each(|n| core.want(n));
        let publisher = Publisher {
            core: core.clone(),
            rx: s.rx,
            shards: Shards::new(s.seeds),
            inflight: HashMap::new(),
            retry_at: Instant::now(),
            backoff: RETRY,
        };
        let sub_core = core.clone();
        let threads = vec![
            std::thread::Builder::new()
                .name("volley-redis-spub".into())
                .spawn(move || publisher.run())?,
            std::thread::Builder::new()
                .name("volley-redis-ssub".into())
                .spawn(move || super::ssub::run(&sub_core))?,
        ];
        if let Ok(mut t) = self.threads.lock() {
            t.extend(threads);
        }
        if let Ok(mut c) = self.core.lock() {
            *c = Some(core);
        }
        Ok(())
    }

    fn watches_rooms(&self) -> bool {
        self.channels.room_has_channel(false) || self.channels.room_has_channel(true)
    }

    fn room_changed(&self, nsp: &str, room: &str, private: bool, exists: bool) {
        if !self.channels.room_has_channel(private) {
            return;
        }
        let channel = self.channels.room(nsp, room);
        let Ok(mut w) = self.wanted.lock() else {
            return;
        };
        let n = w.rooms.entry(channel.clone()).or_default();
        if exists {
            *n += 1;
            if *n == 1 {
                w.add(channel);
            }
        } else {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.rooms.remove(&channel);
                w.remove(&channel);
            }
        }
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

/// The `{rooms, except}` of a request, the sender's own room among the exceptions.
fn opts_json(target: &Target) -> Json {
    let mut except = target.except.clone();
    if let Some(sid) = &target.except_sid {
        except.push(sid.as_str().to_string());
    }
    json!({"rooms": target.rooms, "except": except, "flags": {}})
}

struct Publisher {
    core: Arc<ShardCore>,
    rx: Receiver<Cmd>,
    shards: Shards,
    /// Per node, the SPUBLISHes written whose replies are still to read (resent on MOVED).
    inflight: HashMap<String, Vec<(String, Vec<u8>)>>,
    retry_at: Instant,
    /// Wait before the next try after a failure; doubles up to [`MAX_BACKOFF`].
    backoff: Duration,
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
            if batch.is_empty() && self.shards.map.is_empty() && Instant::now() >= self.retry_at {
                // Up as soon as the cluster answers, so the metric tells the truth when idle.
                match self.shards.refresh() {
                    Ok(()) => self.up(),
                    Err(e) => self.down(Fault::Connect, &e),
                }
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

    fn up(&mut self) {
        self.backoff = RETRY;
        self.core.health.up(Link::Publisher);
    }

    fn down(&mut self, fault: Fault, error: &dyn std::fmt::Display) {
        self.core.health.down(Link::Publisher, fault, error);
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// The node of `channel` and a connection to it; `None` (counted) while the cluster is
    /// unreachable or within the backoff after a failure.
    fn node_for(&mut self, channel: &str) -> Option<String> {
        if Instant::now() < self.retry_at {
            return None;
        }
        let addr = match self.shards.owner(channel) {
            Ok(a) => a,
            Err(e) => {
                self.down(Fault::Connect, &e);
                return None;
            }
        };
        match self.shards.conn(&addr) {
            Ok(_) => {
                self.up();
                Some(addr)
            }
            Err(e) => {
                // The node may be gone: the next try reads the map again.
                self.shards.map = Default::default();
                self.down(Fault::Connect, &e);
                None
            }
        }
    }

    /// Queues an SPUBLISH to the shard of `channel`; dropped, and counted, while it is
    /// unreachable (the local delivery has happened, and a late copy would arrive out of
    /// order).
    fn publish(&mut self, channel: String, payload: Vec<u8>) {
        let Some(addr) = self.node_for(&channel) else {
            self.core.health.count(Fault::Publish);
            return;
        };
        if let Some(c) = self.shards.conns.get_mut(&addr) {
            c.queue(&[b"SPUBLISH", channel.as_bytes(), &payload]);
            self.inflight
                .entry(addr)
                .or_default()
                .push((channel, payload));
        }
    }

    /// Writes what is queued and reads one reply per SPUBLISH. A MOVED reply reads the slot map
    /// again and an ASK one sends to the node named once; either way the message is sent there.
    fn read_replies(&mut self) {
        let inflight = std::mem::take(&mut self.inflight);
        let mut redirected = Vec::new();
        for (addr, sent) in inflight {
            let Some(c) = self.shards.conns.get_mut(&addr) else {
                continue;
            };
            let mut result = c.flush();
            for (channel, payload) in sent {
                if result.is_err() {
                    break;
                }
                let reply =
                    c.read(|r| match r {
                        Reply::Error(e) => Err(Redirect::parse(e)
                            .ok_or_else(|| String::from_utf8_lossy(e).into_owned())),
                        _ => Ok(()),
                    });
                match reply {
                    Ok(Some(Ok(()))) => {}
                    Ok(Some(Err(Ok(to)))) => redirected.push((to, channel, payload)),
                    Ok(Some(Err(Err(e)))) => {
                        self.core.health.count(Fault::Publish);
                        tracing::debug!(error = e, "redis adapter: SPUBLISH refused");
                    }
                    Ok(None) => result = Err(std::io::ErrorKind::TimedOut.into()),
                    Err(e) => result = Err(e),
                }
            }
            if let Err(e) = result {
                // The SPUBLISHes in flight are lost with the connection.
                self.core.health.count(Fault::Publish);
                self.shards.conns.remove(&addr);
                self.shards.map = Default::default();
                self.down(io_fault(&e), &e);
            }
        }
        for (to, channel, payload) in redirected {
            self.redirect(&to, &channel, &payload);
        }
    }

    fn redirect(&mut self, to: &Redirect, channel: &str, payload: &[u8]) {
        if !to.ask {
            let _ = self.shards.refresh();
        }
        let sent = self.shards.conn(&to.addr).and_then(|c| {
            if to.ask {
                c.queue(&[b"ASKING"]);
            }
            c.queue(&[b"SPUBLISH", channel.as_bytes(), payload]);
            c.flush()?;
            if to.ask {
                c.expect_ok()?;
            }
            c.expect_int()
        });
        if let Err(e) = sent {
            self.core.health.count(Fault::Publish);
            self.shards.conns.remove(&to.addr);
            tracing::debug!(error = %e, "redis adapter: redirected SPUBLISH failed");
        }
    }

    /// How many other servers hold `nsp`'s channel (SHARDNUMSUB on its shard); `None` when the
    /// cluster is unreachable.
    fn others(&mut self, nsp: &str) -> Option<usize> {
        self.read_replies();
        let channel = self.core.channels.nsp(nsp);
        let addr = self.node_for(&channel)?;
        let c = self.shards.conns.get_mut(&addr)?;
        c.queue(&[b"PUBSUB", b"SHARDNUMSUB", channel.as_bytes()]);
        let n = c.flush().and_then(|()| {
            c.reply(|r| match r {
                Reply::Array(Some(items)) => match items.get(1) {
                    Some(Reply::Int(n)) => usize::try_from(*n).unwrap_or(0),
                    _ => 0,
                },
                _ => 0,
            })
        });
        match n {
            Ok(n) => Some(n.saturating_sub(usize::from(self.core.subscribed(nsp)))),
            Err(e) => {
                self.core.health.count(Fault::Publish);
                self.shards.conns.remove(&addr);
                self.shards.map = Default::default();
                self.down(io_fault(&e), &e);
                None
            }
        }
    }

    /// How many servers a request waits for, or `Err` with the answer to give at once.
    fn count_others<T: Default>(&mut self, nsp: &str) -> Result<usize, Answers<T>> {
        match self.others(nsp) {
            None => Err(self.core.nodes.unavailable()),
            Some(0) => Err(Ok(T::default())),
            Some(n) => Ok(n),
        }
    }

    /// Publishes a message on `nsp`'s channel.
    fn request(&mut self, nsp: &str, ty: u64, data: Json) {
        if let Ok(payload) = cluster_msg::encode(&self.core.uid, nsp, ty, data, &[]) {
            self.publish(self.core.channels.nsp(nsp), payload);
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Publish { channel, payload } => self.publish(channel, payload),
            Cmd::Broadcast(msg) => self.broadcast(&msg),
            Cmd::Select { nsp, target, op } => {
                self.core.want(&nsp);
                let opts = opts_json(&target);
                let (ty, data) = match op {
                    RemoteOp::Join(rooms) => {
                        (ty::SOCKETS_JOIN, json!({"opts": opts, "rooms": rooms}))
                    }
                    RemoteOp::Leave(rooms) => {
                        (ty::SOCKETS_LEAVE, json!({"opts": opts, "rooms": rooms}))
                    }
                    RemoteOp::Disconnect(close) => (
                        ty::DISCONNECT_SOCKETS,
                        json!({"opts": opts, "close": close}),
                    ),
                };
                self.request(&nsp, ty, data);
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
                let data = json!({"opts": opts_json(&target), "requestId": id});
                self.request(&nsp, ty::FETCH_SOCKETS, data);
            }
            Cmd::Emit { nsp, data, ack } => {
                self.core.want(&nsp);
                let Some((timeout, reply)) = ack else {
                    self.request(&nsp, ty::SERVER_SIDE_EMIT, json!({ "packet": data }));
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
                let data = json!({"requestId": id, "packet": data});
                self.request(&nsp, ty::SERVER_SIDE_EMIT, data);
            }
            // Recovery in Redis is the streams adapter's: never sent here.
            cmd @ (Cmd::Keep(_) | Cmd::Persist { .. } | Cmd::Restore { .. }) => {
                cmd.abandon(&self.core.nodes);
            }
        }
    }

    fn broadcast(&mut self, msg: &BroadcastMsg) {
        self.core.want(&msg.nsp);
        let uid = self.core.uid.clone();
        let Some((_, timeout, collector)) = &msg.acks else {
            if let Ok(payload) = cluster_msg::encode_broadcast(&uid, msg, None) {
                let channel = self
                    .core
                    .channels
                    .broadcast(&msg.nsp, &msg.target.rooms, false);
                self.publish(channel, payload);
            }
            return;
        };
        let Some(others) = self.others(&msg.nsp) else {
            // The cluster is unreachable: the servers this one knows are missing.
            let known = self.core.nodes.missing(&[]).len();
            collector.add_parts(known);
            collector.give_up(known, 0);
            collector.worker_done(0);
            return;
        };
        let id = new_id();
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let request = cluster_msg::encode_broadcast(&uid, msg, Some((&id, ms)));
        if let (true, Ok(payload)) = (others > 0, request) {
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
            self.publish(self.core.channels.nsp(&msg.nsp), payload);
        }
        collector.worker_done(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(mode: SubscriptionMode) -> ShardedAdapter {
        let url = RedisUrl::parse("redis://127.0.0.1:1").unwrap();
        ShardedAdapter::new(
            vec![url],
            "socket.io",
            mode,
            Vec::new(),
            None,
            Duration::from_secs(1),
        )
    }

    fn changes(a: &ShardedAdapter) -> Vec<(String, bool)> {
        std::mem::take(&mut a.wanted.lock().unwrap().changes)
    }

    #[test]
    fn a_room_channel_is_held_while_any_worker_has_the_room() {
        let a = adapter(SubscriptionMode::Dynamic);
        assert!(a.watches_rooms());
        a.room_changed("/", "r", false, true);
        a.room_changed("/", "r", false, true);
        a.room_changed("/", "AAAAAAAAAAAAAAAAAAAA", true, true);
        assert_eq!(changes(&a), [("socket.io#/#r#".to_string(), true)]);
        a.room_changed("/", "r", false, false);
        assert_eq!(changes(&a), [], "another worker still has it");
        a.room_changed("/", "r", false, false);
        assert_eq!(changes(&a), [("socket.io#/#r#".to_string(), false)]);
        let p = adapter(SubscriptionMode::DynamicPrivate);
        p.room_changed("/x", "AAAAAAAAAAAAAAAAAAAA", true, true);
        assert_eq!(
            changes(&p),
            [("socket.io#/x#AAAAAAAAAAAAAAAAAAAA#".to_string(), true)]
        );
        assert!(!adapter(SubscriptionMode::Static).watches_rooms());
    }
}
