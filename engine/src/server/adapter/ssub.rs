//! The sharded adapter's subscriber thread: one connection per shard in subscribed mode,
//! each channel SSUBSCRIBEd on the shard owning its slot. When a shard drops a subscription
//! (`sunsubscribe` pushed after its slot moved), answers with an error (MOVED) or goes away,
//! the thread reads the slot map again and subscribes those channels where they now live.
//! What other servers publish becomes work for this server's workers.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use super::cluster_msg::{self, ty, Message};
use super::core::{MAX_BACKOFF, RETRY};
use super::health::{io_fault, Fault, Link};
use super::resp::Reply;
use super::shard_core::ShardCore;
use super::shards::Shards;
use super::sub::{local_fetch, local_op, strings, DEFAULT_ACK_TIMEOUT};
use super::wire;
use crate::server::broadcast_msg::{next_broadcast_ack_id, AckCollector, AckStream, BroadcastMsg};
use crate::server::post::{post_remote, SelectOp};

/// Longest wait for a push before the thread looks at its stop flag and new channels.
const POLL_MS: i32 = 20;
/// How long a read on a readable connection waits for more.
const DRAIN: Duration = Duration::from_millis(1);

/// Runs until the adapter stops.
pub(super) fn run(core: &Arc<ShardCore>) {
    let mut s = Sub {
        core: core.clone(),
        shards: Shards::new(core.seeds.clone()),
        held: HashMap::new(),
        todo: HashSet::new(),
        refresh: true,
        backoff: RETRY,
        retry_at: Instant::now(),
        confirmed: false,
    };
    while !core.stop.load(Ordering::Acquire) {
        s.apply_changes();
        s.subscribe();
        s.wait_and_read();
    }
}

struct Sub {
    core: Arc<ShardCore>,
    shards: Shards,
    /// Each channel asked for, and the node it was asked on.
    held: HashMap<String, String>,
    /// Channels to subscribe (new, or lost with their node or slot).
    todo: HashSet<String>,
    /// Whether the slot map must be read again before subscribing.
    refresh: bool,
    backoff: Duration,
    retry_at: Instant,
    /// Whether a shard confirmed a subscription since the last failure.
    confirmed: bool,
}

impl Sub {
    /// Takes the workers' and the publisher's changes to the channels wanted.
    fn apply_changes(&mut self) {
        let changes = match self.core.wanted.lock() {
            Ok(mut w) => std::mem::take(&mut w.changes),
            Err(_) => return,
        };
        for (channel, add) in changes {
            if add {
                self.todo.insert(channel);
                continue;
            }
            self.todo.remove(&channel);
            if let Some(c) = self
                .held
                .remove(&channel)
                .and_then(|addr| self.shards.conns.get_mut(&addr))
            {
                c.queue(&[b"SUNSUBSCRIBE", channel.as_bytes()]);
            }
        }
    }

    fn failed(&mut self, fault: Fault, e: &dyn std::fmt::Display) {
        self.core.health.down(Link::Subscriber, fault, e);
        self.confirmed = false;
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Subscribes what is to subscribe, each channel on its shard, and writes what is queued.
    fn subscribe(&mut self) {
        if Instant::now() < self.retry_at {
            return;
        }
        if self.refresh && !self.todo.is_empty() {
            if let Err(e) = self.shards.refresh() {
                return self.failed(Fault::Connect, &e);
            }
            self.refresh = false;
            // Nodes gone from the map took their subscriptions with them.
            let held = std::mem::take(&mut self.held);
            for (channel, addr) in held {
                if self.shards.conns.contains_key(&addr) {
                    self.held.insert(channel, addr);
                } else {
                    self.todo.insert(channel);
                }
            }
        }
        for channel in std::mem::take(&mut self.todo) {
            let fresh = |s: &Shards, a: &str| !s.conns.contains_key(a);
            let queued = self.shards.owner(&channel).and_then(|addr| {
                let new = fresh(&self.shards, &addr);
                let c = self.shards.conn(&addr)?;
                if new {
                    c.set_read_timeout(DRAIN)?;
                }
                c.queue(&[b"SSUBSCRIBE", channel.as_bytes()]);
                Ok(addr)
            });
            match queued {
                Ok(addr) => {
                    self.held.insert(channel, addr);
                }
                Err(e) => {
                    self.todo.insert(channel);
                    self.refresh = true;
                    self.failed(Fault::Subscribe, &e);
                }
            }
        }
        let broken: Vec<(String, io::Error)> = self
            .shards
            .conns
            .iter_mut()
            .filter_map(|(addr, c)| c.flush().err().map(|e| (addr.clone(), e)))
            .collect();
        for (addr, e) in broken {
            self.lost(&addr, Fault::Subscribe, &e);
        }
    }

    /// The connection to `addr` failed: its channels are subscribed again elsewhere.
    fn lost(&mut self, addr: &str, fault: Fault, e: &dyn std::fmt::Display) {
        self.shards.conns.remove(addr);
        let gone: Vec<String> = self
            .held
            .iter()
            .filter(|(_, a)| a.as_str() == addr)
            .map(|(c, _)| c.clone())
            .collect();
        if let Ok(mut w) = self.core.wanted.lock() {
            let nsps: Vec<String> = w.confirmed.iter().cloned().collect();
            for nsp in nsps {
                if gone.contains(&self.core.channels.nsp(&nsp)) {
                    w.confirmed.remove(&nsp);
                }
            }
        }
        for channel in gone {
            self.held.remove(&channel);
            self.todo.insert(channel);
        }
        self.refresh = true;
        self.failed(fault, e);
    }

    /// Waits for pushes on every connection and handles them.
    fn wait_and_read(&mut self) {
        let addrs: Vec<String> = self.shards.conns.keys().cloned().collect();
        if addrs.is_empty() {
            std::thread::sleep(Duration::from_millis(POLL_MS.unsigned_abs().into()));
            return;
        }
        let mut fds: Vec<libc::pollfd> = addrs
            .iter()
            .filter_map(|a| self.shards.conns.get(a))
            .map(|c| libc::pollfd {
                fd: c.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let n = libc::nfds_t::try_from(fds.len()).unwrap_or(0);
        // SAFETY: `fds` is an exclusively borrowed array of `n` initialised pollfd structs
        // that outlives the call, as poll(2) requires.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), n, POLL_MS) };
        if ready <= 0 {
            return;
        }
        for (addr, fd) in addrs.iter().zip(&fds) {
            if fd.revents != 0 {
                self.drain(addr);
            }
        }
    }

    /// Handles every push the connection to `addr` has.
    fn drain(&mut self, addr: &str) {
        loop {
            let Some(c) = self.shards.conns.get_mut(addr) else {
                return;
            };
            let core = &self.core;
            let push = c.read(|reply| match reply {
                Reply::Error(e) => Push::Refused(String::from_utf8_lossy(e).into_owned()),
                other => on_push(core, other),
            });
            match push {
                Ok(None) => return,
                Ok(Some(Push::Nothing)) => {}
                Ok(Some(Push::Confirmed)) => {
                    if !self.confirmed {
                        self.confirmed = true;
                        self.backoff = RETRY;
                        self.core.health.up(Link::Subscriber);
                    }
                }
                Ok(Some(Push::Dropped(channel))) => {
                    // Still wanted: the shard gave the slot away.
                    if self.held.remove(&channel).is_some() {
                        self.todo.insert(channel);
                        self.refresh = true;
                    }
                }
                Ok(Some(Push::Refused(e))) => {
                    // MOVED (the map is stale) or a refusal: subscribe again from a new map.
                    return self.lost(addr, Fault::Subscribe, &e);
                }
                Err(e) => return self.lost(addr, io_fault(&e), &e),
            }
        }
    }
}

/// What a push meant for the subscriptions.
enum Push {
    Nothing,
    /// A subscription is in place.
    Confirmed,
    /// The shard dropped a subscription (`sunsubscribe`).
    Dropped(String),
    /// An error reply.
    Refused(String),
}

fn on_push(core: &Arc<ShardCore>, reply: Reply<'_>) -> Push {
    let Reply::Array(Some(items)) = reply else {
        return Push::Nothing;
    };
    let part = |i: usize| items.get(i).and_then(Reply::bytes);
    let channel = part(1).and_then(|c| std::str::from_utf8(c).ok());
    match (part(0), channel) {
        (Some(b"smessage"), Some(_)) => {
            if let Some(payload) = part(2) {
                on_message(core, payload);
            }
            Push::Nothing
        }
        (Some(b"ssubscribe"), Some(channel)) => {
            if let Ok(mut w) = core.wanted.lock() {
                let nsp = w
                    .nsps
                    .iter()
                    .find(|n| core.channels.nsp(n) == channel)
                    .cloned();
                if let Some(nsp) = nsp {
                    w.confirmed.insert(nsp);
                }
            }
            Push::Confirmed
        }
        (Some(b"sunsubscribe"), Some(channel)) => Push::Dropped(channel.to_string()),
        _ => Push::Nothing,
    }
}

fn on_message(core: &Arc<ShardCore>, payload: &[u8]) {
    let m = match cluster_msg::decode(payload) {
        Ok(m) => m,
        Err(e) => return core.health.malformed("message", &e),
    };
    if m.uid == core.uid {
        return;
    }
    core.nodes.seen(&m.uid);
    if let Some(response) = m.as_response() {
        return core.pending.respond(&response, &core.nodes, &core.health);
    }
    let d = &m.data;
    let request_id = d.get("requestId").and_then(Json::as_str);
    match m.ty {
        ty::BROADCAST => on_broadcast(core, &m, request_id),
        ty::SOCKETS_JOIN | ty::SOCKETS_LEAVE | ty::DISCONNECT_SOCKETS => {
            let Ok(target) = wire::target_of(d.get("opts")) else {
                return;
            };
            let rooms = strings(d.get("rooms"));
            let close = d.get("close") == Some(&Json::Bool(true));
            local_op(&core.peers, &m.nsp, &target, || match m.ty {
                ty::SOCKETS_JOIN => SelectOp::Join(rooms.clone()),
                ty::SOCKETS_LEAVE => SelectOp::Leave(rooms.clone()),
                _ => SelectOp::Disconnect(close),
            });
        }
        ty::FETCH_SOCKETS => {
            let Ok(target) = wire::target_of(d.get("opts")) else {
                return;
            };
            let sockets: Vec<Json> = local_fetch(&core.peers, &m.nsp, &target)
                .iter()
                .map(super::sockets::to_json)
                .collect();
            let data = json!({"requestId": request_id, "sockets": sockets});
            core.respond(&m.nsp, &m.uid, ty::FETCH_SOCKETS_RESPONSE, data);
        }
        ty::SERVER_SIDE_EMIT => {
            let packet = d.get("packet").and_then(Json::as_array);
            let Some((Json::String(event), args)) = packet.and_then(|p| p.split_first()) else {
                return;
            };
            let answer = core.on_emit.as_ref().and_then(|f| f(&m.nsp, event, args));
            if let Some(id) = request_id {
                let data = json!({"requestId": id, "packet": answer.unwrap_or(Json::Null)});
                core.respond(&m.nsp, &m.uid, ty::SERVER_SIDE_EMIT_RESPONSE, data);
            }
        }
        _ => {}
    }
}

fn on_broadcast(core: &Arc<ShardCore>, m: &Message, request_id: Option<&str>) {
    let field = |name| m.data.get(name).unwrap_or(&Json::Null);
    let uid = Json::String(m.uid.clone());
    let ack_id = request_id.map(|_| next_broadcast_ack_id());
    let inc = match wire::incoming(
        &uid,
        field("packet"),
        field("opts"),
        &m.attachments,
        ack_id,
        None,
    ) {
        Ok(inc) => inc,
        Err(e) => return core.health.malformed("broadcast", &e),
    };
    let acks = match (request_id, ack_id) {
        (Some(request_id), Some(id)) => {
            let timeout = inc
                .timeout_ms
                .map_or(DEFAULT_ACK_TIMEOUT, Duration::from_millis);
            let answer = Answer {
                core: core.clone(),
                nsp: m.nsp.clone(),
                to: m.uid.clone(),
                request_id: request_id.to_string(),
            };
            let collector = AckCollector::streaming(core.peers.len(), Box::new(answer));
            Some((id, timeout, collector))
        }
        _ => None,
    };
    let msg = BroadcastMsg {
        nsp: inc.nsp,
        target: inc.target,
        volatile: inc.volatile,
        compress: inc.compress,
        packets: inc.packets,
        acks,
    };
    post_remote(&core.peers, None, Arc::new(msg));
}

/// Answers another server's broadcast with acks as its receivers reply.
struct Answer {
    core: Arc<ShardCore>,
    nsp: String,
    /// The requester's uid (its response channel).
    to: String,
    request_id: String,
}

impl AckStream for Answer {
    fn count(&mut self, receivers: usize) {
        let data = json!({"requestId": self.request_id, "clientCount": receivers});
        self.core
            .respond(&self.nsp, &self.to, ty::BROADCAST_CLIENT_COUNT, data);
    }

    fn reply(&mut self, args_json: &[u8]) {
        // The adapter forwards an ack's first argument only.
        let first = serde_json::from_slice::<Json>(args_json)
            .ok()
            .and_then(|v| match v {
                Json::Array(mut items) if !items.is_empty() => Some(items.swap_remove(0)),
                _ => None,
            })
            .unwrap_or(Json::Null);
        let data = json!({"requestId": self.request_id, "packet": first});
        self.core
            .respond(&self.nsp, &self.to, ty::BROADCAST_ACK, data);
    }
}
