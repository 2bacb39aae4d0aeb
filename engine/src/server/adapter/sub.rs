//! The subscriber thread: holds a connection in subscribed mode (reconnecting with backoff),
//! and turns what other servers publish into work for this server's workers: broadcasts,
//! requests (answered through the publisher) and responses to our own requests.
//!
//! It listens by pattern (`prefix#*`, `prefix-request#*`, `prefix-response#*`), so every
//! namespace is covered, and also subscribes exactly to the request channel of each namespace
//! it uses, only so Node's NUMSUB counts this server; those exact copies are ignored.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Value as Json};

use super::conn::Conn;
use super::convert;
use super::core::{Core, IO_TIMEOUT, MAX_BACKOFF, RETRY};
use super::dialect::Dialect;
use super::health::{io_fault, Fault, Link};
use super::resp::Reply;
use super::streams_wire;
use super::wire::{self, kind, ChannelKind};
use crate::runtime::Peers;
use crate::server::broadcast_msg::next_broadcast_ack_id;
use crate::server::broadcast_msg::AckCollector;
use crate::server::broadcast_msg::AckStream;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::post::gather;
use crate::server::post::post_remote;
use crate::server::post::Post;
use crate::server::post::SelectOp;
use crate::server::rooms::Target;
use crate::server::socket_info::SocketInfo;

/// How long a read waits before the thread looks at its stop flag and new namespaces.
const POLL: Duration = Duration::from_millis(100);
/// How long the workers have to report their sockets for another server's request.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(1);
/// Ack timeout for another server's broadcast that names none.
pub(super) const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs until the adapter stops.
pub(super) fn run(core: &Arc<Core>) {
    let mut backoff = RETRY;
    while !core.stop.load(Ordering::Acquire) {
        match Conn::connect(&core.url, IO_TIMEOUT) {
            Ok(mut conn) => {
                // Any error ends this connection; the loop makes a new one after the backoff,
                // so a Redis that accepts and then refuses subscriptions is not hammered.
                if let Err((fault, e)) = session(core, &mut conn, &mut backoff) {
                    core.health.down(Link::Subscriber, fault, &e);
                }
                if let Ok(mut s) = core.subs.lock() {
                    s.confirmed.clear();
                }
            }
            Err(e) => core.health.down(Link::Subscriber, Fault::Connect, &e),
        }
        let until = Instant::now() + backoff;
        while Instant::now() < until && !core.stop.load(Ordering::Acquire) {
            std::thread::sleep(POLL.min(backoff));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Subscribes and delivers until the connection fails; the error says which fault it was.
/// Once Redis confirms a subscription, `backoff` starts over.
fn session(
    core: &Arc<Core>,
    conn: &mut Conn,
    backoff: &mut Duration,
) -> Result<(), (Fault, io::Error)> {
    let subscribe = |e: io::Error| (Fault::Subscribe, e);
    conn.set_read_timeout(POLL).map_err(subscribe)?;
    // The pub/sub adapter's broadcasts, requests and responses come by pattern; the streams
    // adapter's messages only on the exact channels below.
    if let Dialect::PubSub(channels) = &core.dialect {
        let patterns = channels.patterns();
        let mut args: Vec<&[u8]> = vec![b"PSUBSCRIBE"];
        args.extend(patterns.iter().map(|p| p.as_bytes()));
        conn.queue(&args);
        conn.flush().map_err(subscribe)?;
    }
    // Up once Redis confirms a subscription: a connection it cuts at once is no reconnect.
    let mut confirmed = false;
    let mut asked = HashSet::new();
    while !core.stop.load(Ordering::Acquire) {
        let new: Vec<String> = match core.subs.lock() {
            Ok(s) => s.wanted.difference(&asked).cloned().collect(),
            Err(_) => Vec::new(),
        };
        if !new.is_empty() {
            let channels: Vec<String> = new
                .iter()
                .flat_map(|n| core.dialect.listen(n, &core.uid))
                .collect();
            let mut args: Vec<&[u8]> = vec![b"SUBSCRIBE"];
            args.extend(channels.iter().map(|c| c.as_bytes()));
            conn.queue(&args);
            conn.flush().map_err(subscribe)?;
            asked.extend(new);
        }
        let pushed = conn
            .read(|reply| match reply {
                // Only a (P)SUBSCRIBE gets an error reply here (ACL, a Redis in trouble).
                Reply::Error(e) => Err(String::from_utf8_lossy(e).into_owned()),
                other => Ok(on_push(core, other)),
            })
            .map_err(|e| (io_fault(&e), e))?;
        match pushed {
            Some(Err(e)) => return Err((Fault::Subscribe, io::Error::other(e))),
            Some(Ok(true)) if !confirmed => {
                confirmed = true;
                *backoff = RETRY;
                core.health.up(Link::Subscriber);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Handles one push; `true` when it confirms a subscription.
fn on_push(core: &Arc<Core>, reply: Reply<'_>) -> bool {
    let Reply::Array(Some(items)) = reply else {
        return false;
    };
    let part = |i: usize| items.get(i).and_then(Reply::bytes);
    match part(0) {
        Some(b"message") => {
            if let (Dialect::Streams(_), Some(payload)) = (&core.dialect, part(2)) {
                on_streams_message(core, payload);
            }
            false
        }
        Some(b"pmessage") => {
            let (Some(pattern), Some(channel), Some(payload)) = (part(1), part(2), part(3)) else {
                return false;
            };
            let Dialect::PubSub(channels) = &core.dialect else {
                return false;
            };
            let Some((kind, nsp)) = channels.classify(pattern, channel) else {
                return false;
            };
            match kind {
                ChannelKind::Broadcast => on_broadcast(core, payload),
                ChannelKind::Request => match convert::parse(payload) {
                    Ok((req, bins)) => on_request(core, nsp, &req, &bins),
                    Err(e) => core.health.malformed("request", &e),
                },
                ChannelKind::Response => match convert::parse(payload) {
                    Ok((resp, _)) => {
                        if let Some(uid) = resp.get("uid").and_then(Json::as_str) {
                            core.nodes.seen(uid);
                        }
                        core.pending.respond(&resp, &core.nodes, &core.health);
                    }
                    Err(e) => core.health.malformed("response", &e),
                },
            }
            false
        }
        Some(b"psubscribe") => true,
        Some(b"subscribe") => {
            let Some(channel) = part(1).and_then(|c| std::str::from_utf8(c).ok()) else {
                return true;
            };
            let Some(nsp) = core.dialect.servers_channel_nsp(channel) else {
                return true;
            };
            if let Ok(mut s) = core.subs.lock() {
                s.confirmed.insert(nsp.to_string());
            }
            true
        }
        _ => false,
    }
}

/// A message of the streams adapter on our public or private channel.
fn on_streams_message(core: &Arc<Core>, payload: &[u8]) {
    let m = match streams_wire::decode_message(payload) {
        Ok(m) => m,
        Err(e) => return core.health.malformed("message", &e),
    };
    if m.uid == core.uid {
        return;
    }
    if let Some(resp) = m.as_response() {
        core.nodes.seen(&m.uid);
        core.pending.respond(&resp, &core.nodes, &core.health);
    } else if let Some(req) = m.as_request() {
        on_request(core, &m.nsp, &req, &m.attachments);
    }
}

fn on_broadcast(core: &Arc<Core>, payload: &[u8]) {
    match wire::decode_broadcast(payload) {
        Ok(inc) => deliver(core, inc),
        Err(e) => core.health.malformed("broadcast", &e),
    }
}

/// Hands another server's broadcast to the workers.
pub(super) fn deliver(core: &Core, inc: wire::Incoming) {
    if inc.uid == core.uid {
        return;
    }
    core.nodes.seen(&inc.uid);
    let msg = BroadcastMsg {
        nsp: inc.nsp,
        target: inc.target,
        volatile: inc.volatile,
        compress: inc.compress,
        packets: inc.packets,
        acks: None,
    };
    post_remote(&core.peers, None, Arc::new(msg));
}

/// Asks every worker for its sockets that `target` selects.
pub(super) fn local_fetch(peers: &Peers<Post>, nsp: &str, target: &Target) -> Vec<SocketInfo> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let n = peers.len();
    for w in 0..n {
        let op = SelectOp::Fetch(tx.clone());
        let (nsp, target) = (nsp.to_string(), target.clone());
        peers.post(w, Post::Select { nsp, target, op });
    }
    drop(tx);
    gather(&rx, n, LOCAL_TIMEOUT)
        .into_iter()
        .flatten()
        .collect()
}

pub(super) fn local_op(peers: &Peers<Post>, nsp: &str, target: &Target, op: impl Fn() -> SelectOp) {
    for w in 0..peers.len() {
        let (nsp, target) = (nsp.to_string(), target.clone());
        peers.post(
            w,
            Post::Select {
                nsp,
                target,
                op: op(),
            },
        );
    }
}

pub(super) fn strings(v: Option<&Json>) -> Vec<String> {
    wire::target_of(Some(&json!({ "rooms": v }))).map_or_else(|_| Vec::new(), |t| t.rooms)
}

/// Runs another server's request (in the pub/sub adapter's shape) and answers it.
pub(super) fn on_request(core: &Arc<Core>, nsp: &str, req: &Json, bins: &[Bytes]) {
    let from = req.get("uid").and_then(Json::as_str);
    match from {
        Some(uid) if uid == core.uid => return,
        Some(uid) => core.nodes.seen(uid),
        None => {}
    }
    let request_id = req.get("requestId").cloned().unwrap_or(Json::Null);
    let opts = req.get("opts");
    match req.get("type").and_then(Json::as_u64) {
        Some(kind::SOCKETS) => {
            let target = Target {
                rooms: strings(req.get("rooms")),
                ..Target::default()
            };
            let ids: Vec<String> = local_fetch(&core.peers, nsp, &target)
                .into_iter()
                .map(|s| s.id)
                .collect();
            core.respond(nsp, from, json!({"requestId": request_id, "sockets": ids}));
        }
        Some(kind::ALL_ROOMS) => {
            let mut rooms: Vec<String> = local_fetch(&core.peers, nsp, &Target::default())
                .into_iter()
                .flat_map(|s| s.rooms)
                .collect();
            rooms.sort_unstable();
            rooms.dedup();
            core.respond(nsp, from, json!({"requestId": request_id, "rooms": rooms}));
        }
        Some(ty @ (kind::REMOTE_JOIN | kind::REMOTE_LEAVE | kind::REMOTE_DISCONNECT)) => {
            let (target, single) = match (opts, req.get("sid").and_then(Json::as_str)) {
                (Some(opts), _) => (wire::target_of(Some(opts)), false),
                (None, Some(sid)) => (
                    Ok(Target {
                        rooms: vec![sid.to_string()],
                        ..Target::default()
                    }),
                    true,
                ),
                (None, None) => return,
            };
            let Ok(target) = target else { return };
            // The one-socket form (`remoteJoin`) is answered only by the server that has it.
            if single && local_fetch(&core.peers, nsp, &target).is_empty() {
                return;
            }
            let rooms = match req.get("room") {
                Some(room) if single => strings(Some(&json!([room]))),
                _ => strings(req.get("rooms")),
            };
            let close = req.get("close").is_some_and(|c| c == &Json::Bool(true));
            local_op(&core.peers, nsp, &target, || match ty {
                kind::REMOTE_JOIN => SelectOp::Join(rooms.clone()),
                kind::REMOTE_LEAVE => SelectOp::Leave(rooms.clone()),
                _ => SelectOp::Disconnect(close),
            });
            if single {
                core.respond(nsp, from, json!({"requestId": request_id}));
            }
        }
        Some(kind::REMOTE_FETCH) => {
            let Ok(target) = wire::target_of(opts) else {
                return;
            };
            let sockets: Vec<Json> = local_fetch(&core.peers, nsp, &target)
                .iter()
                .map(super::sockets::to_json)
                .collect();
            core.respond(
                nsp,
                from,
                json!({"requestId": request_id, "sockets": sockets}),
            );
        }
        Some(kind::SERVER_SIDE_EMIT) => {
            let data = req.get("data").and_then(Json::as_array);
            let Some((Json::String(event), args)) = data.and_then(|d| d.split_first()) else {
                return;
            };
            let answer = core.on_emit.as_ref().and_then(|f| f(nsp, event, args));
            if !request_id.is_null() {
                let data = answer.unwrap_or(Json::Null);
                core.respond(
                    nsp,
                    from,
                    json!({"type": kind::SERVER_SIDE_EMIT, "requestId": request_id, "data": data}),
                );
            }
        }
        Some(kind::BROADCAST) => {
            let Some(request_id) = request_id.as_str() else {
                return;
            };
            let id = next_broadcast_ack_id();
            let Ok(inc) = wire::decode_broadcast_request(req, bins, id) else {
                return;
            };
            let timeout = inc
                .timeout_ms
                .map_or(DEFAULT_ACK_TIMEOUT, Duration::from_millis);
            let answer = Answer {
                core: core.clone(),
                nsp: nsp.to_string(),
                from: from.map(str::to_string),
                request_id: request_id.to_string(),
            };
            let collector = AckCollector::streaming(core.peers.len(), Box::new(answer));
            let msg = BroadcastMsg {
                nsp: inc.nsp,
                target: inc.target,
                volatile: inc.volatile,
                compress: inc.compress,
                packets: inc.packets,
                acks: Some((id, timeout, collector)),
            };
            post_remote(&core.peers, None, Arc::new(msg));
        }
        _ => {}
    }
}

/// Answers another server's broadcast with acks as its receivers reply.
struct Answer {
    core: Arc<Core>,
    nsp: String,
    /// The requester's uid.
    from: Option<String>,
    request_id: String,
}

impl AckStream for Answer {
    fn count(&mut self, receivers: usize) {
        let body = json!({"type": kind::BROADCAST_CLIENT_COUNT,
            "requestId": self.request_id, "clientCount": receivers});
        self.core.respond(&self.nsp, self.from.as_deref(), body);
    }

    fn reply(&mut self, args_json: &[u8]) {
        let from = self.from.as_deref();
        self.core
            .respond_ack(&self.nsp, from, &self.request_id, args_json);
    }
}
