//! What the Redis adapter's two threads share: the commands the publisher takes, the
//! subscriptions the subscriber keeps, and the state both read.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde_json::Value as Json;

use super::api::{RemoteOp, ServerSideEmitHandler};
use super::conn::RedisUrl;
use super::dialect::{Dialect, Send};
use super::health::Health;
use super::nodes::Nodes;
use super::pending::{Pending, Waiting};
use crate::runtime::Peers;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::cluster::Answers;
use crate::server::post::Post;
use crate::server::rooms::Target;
use crate::server::sio::RestoreAnswer;
use crate::server::socket_info::SocketInfo;

/// Longest a connect (or a reply) may take.
pub(super) const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a failed connect waits before the next try.
pub(super) const RETRY: Duration = Duration::from_millis(200);
/// Longest wait between reconnection attempts.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What the publisher thread does.
pub(super) enum Cmd {
    Publish {
        channel: String,
        payload: Vec<u8>,
    },
    Broadcast(Arc<BroadcastMsg>),
    Select {
        nsp: String,
        target: Target,
        op: RemoteOp,
    },
    Fetch {
        nsp: String,
        target: Target,
        timeout: Duration,
        reply: Sender<Answers<Vec<SocketInfo>>>,
    },
    Emit {
        nsp: String,
        data: Json,
        ack: Option<(Duration, Sender<Answers<Vec<Json>>>)>,
    },
    /// A packet kept for recovery (streams adapter): appended to the stream, then delivered
    /// to this server's workers with its entry id as the offset.
    Keep(Arc<BroadcastMsg>),
    /// A lost socket's session, SET under `key` for `ttl` (streams adapter).
    Persist {
        key: String,
        value: String,
        ttl: Duration,
    },
    /// A CONNECT asking for session `pid` back from `offset` (streams adapter), answered
    /// `None` (a fresh session) once `deadline` has passed.
    Restore {
        nsp: String,
        pid: String,
        offset: String,
        deadline: Instant,
        answer: RestoreAnswer,
    },
}

impl Cmd {
    /// A command that will not run: a broadcast's collector still gets the adapter's part,
    /// and a request's caller learns that nobody was asked.
    pub fn abandon(self, nodes: &Nodes) {
        match self {
            Cmd::Broadcast(msg) => {
                if let Some((_, _, collector)) = &msg.acks {
                    collector.worker_done(0);
                }
            }
            Cmd::Fetch { reply, .. } => {
                let _ = reply.send(nodes.unavailable());
            }
            Cmd::Emit {
                ack: Some((_, reply)),
                ..
            } => {
                let _ = reply.send(nodes.unavailable());
            }
            // Not kept, so not sent: the reference drops a broadcast it could not publish.
            Cmd::Keep(_) => {}
            Cmd::Restore { answer, .. } => answer(None),
            Cmd::Publish { .. }
            | Cmd::Select { .. }
            | Cmd::Emit { ack: None, .. }
            | Cmd::Persist { .. } => {}
        }
    }
}

/// Which request channels the subscriber holds exactly (Node counts servers with NUMSUB).
#[derive(Default)]
pub(super) struct Subs {
    /// Namespaces this server uses.
    pub wanted: HashSet<String>,
    /// Namespaces whose subscription Redis confirmed on the current connection.
    pub confirmed: HashSet<String>,
}

/// What both threads share.
pub(super) struct Core {
    pub url: RedisUrl,
    pub dialect: Dialect,
    /// This server's id on the wire; messages carrying it are our own.
    pub uid: String,
    pub stop: AtomicBool,
    pub pending: Pending,
    pub subs: Mutex<Subs>,
    pub cmds: Sender<Cmd>,
    pub peers: Peers<Post>,
    pub on_emit: Option<Arc<ServerSideEmitHandler>>,
    pub health: Arc<Health>,
    /// Longest a request waits for the other servers (Node's `requestsTimeout`).
    pub requests_timeout: Duration,
    pub nodes: Arc<Nodes>,
    /// Whether connection state recovery keeps its packets and sessions in Redis (the
    /// streams adapter): the other servers' broadcasts then carry their entry id as offset.
    pub recovery: bool,
}

impl Core {
    /// Queues a command; never blocks.
    pub fn send(&self, cmd: Cmd) {
        send(&self.cmds, &self.health, &self.nodes, cmd);
    }

    /// Publishes our answer (in the pub/sub adapter's shape) to a request of server `to`.
    pub fn respond(&self, nsp: &str, to: Option<&str>, body: Json) {
        self.publish(self.dialect.response(&self.uid, nsp, to, body));
    }

    /// Publishes one client's ack (`args_json`) of server `to`'s broadcast request `id`.
    pub fn respond_ack(&self, nsp: &str, to: Option<&str>, id: &str, args_json: &[u8]) {
        self.publish(self.dialect.ack(&self.uid, nsp, to, id, args_json));
    }

    fn publish(&self, send: Option<Send>) {
        if let Some(Send::Publish(channel, payload)) = send {
            self.send(Cmd::Publish { channel, payload });
        }
    }

    pub fn want(&self, nsp: &str) {
        if let Ok(mut s) = self.subs.lock() {
            if !s.wanted.contains(nsp) {
                s.wanted.insert(nsp.to_string());
            }
        }
    }

    pub fn subscribed(&self, nsp: &str) -> bool {
        self.subs.lock().is_ok_and(|s| s.confirmed.contains(nsp))
    }
}

/// Hands `cmd` to the publisher; dropped, and counted, when its queue is full or gone.
pub(super) fn send(cmds: &Sender<Cmd>, health: &Health, nodes: &Nodes, cmd: Cmd) {
    match cmds.try_send(cmd) {
        Ok(()) => health.queue_ok(),
        Err(TrySendError::Full(c) | TrySendError::Disconnected(c)) => {
            health.queue_full();
            c.abandon(nodes);
        }
    }
}

/// Commands waiting for a publisher; beyond this, new ones are dropped (counted) rather than
/// queued.
const QUEUE: usize = 65_536;

/// A Redis adapter's side that workers and handles call, shared by the pub/sub, streams and
/// sharded adapters: each call becomes a [`Cmd`] queued for the publisher thread without
/// waiting; a full queue is counted in `health` and the command abandoned (its waiters told).
#[derive(Clone)]
pub(super) struct Outbox {
    pub cmds: Sender<Cmd>,
    pub health: Arc<Health>,
    pub nodes: Arc<Nodes>,
}

impl Outbox {
    /// An empty outbox and the receiving end its publisher thread will take.
    pub fn new() -> (Outbox, Receiver<Cmd>) {
        let (cmds, rx) = crossbeam_channel::bounded(QUEUE);
        let out = Outbox {
            cmds,
            health: Arc::default(),
            nodes: Arc::default(),
        };
        (out, rx)
    }

    pub fn send(&self, cmd: Cmd) {
        send(&self.cmds, &self.health, &self.nodes, cmd);
    }

    pub fn broadcast(&self, msg: &Arc<BroadcastMsg>) {
        self.send(Cmd::Broadcast(msg.clone()));
    }

    pub fn select(&self, nsp: &str, target: &Target, op: RemoteOp) {
        self.send(Cmd::Select {
            nsp: nsp.to_string(),
            target: target.clone(),
            op,
        });
    }

    pub fn fetch(
        &self,
        nsp: &str,
        target: &Target,
        timeout: Duration,
    ) -> Option<Receiver<Answers<Vec<SocketInfo>>>> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(Cmd::Fetch {
            nsp: nsp.to_string(),
            target: target.clone(),
            timeout,
            reply,
        });
        Some(rx)
    }

    pub fn server_side_emit(
        &self,
        nsp: &str,
        data: Json,
        ack: Option<Duration>,
    ) -> Option<Receiver<Answers<Vec<Json>>>> {
        let (ack, rx) = match ack {
            Some(t) => {
                let (tx, rx) = crossbeam_channel::bounded(1);
                (Some((t, tx)), Some(rx))
            }
            None => (None, None),
        };
        self.send(Cmd::Emit {
            nsp: nsp.to_string(),
            data,
            ack,
        });
        rx
    }
}

/// Registers a request on `nsp` that waits for `others` servers' answers until `timeout` from
/// now (at most `requests_timeout`); its new id.
pub(super) fn open_request(
    pending: &Pending,
    nsp: &str,
    others: usize,
    timeout: Duration,
    requests_timeout: Duration,
    waiting: Waiting,
) -> String {
    let id = new_id();
    let deadline = std::time::Instant::now() + timeout.min(requests_timeout);
    pending.insert(id.clone(), nsp, others, deadline, waiting);
    id
}

/// A random id (the adapter's uid and request ids).
pub(super) fn new_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        // Ids only need to differ between servers and requests, not to be secret.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (t as u64).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
