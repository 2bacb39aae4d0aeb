//! The Socket.IO layer's data: a socket's state and the socket as handlers see it, the
//! application's namespaces and the handlers they hold, the callbacks a socket keeps (acks it
//! waits for, drain callbacks, its own catch-alls). These types refer to each other (a handler
//! takes the socket, the socket's state holds handlers); what is done with them lives in the
//! files named after each feature (`socket.rs`, `ack.rs`, `listeners.rs`, `namespace.rs`, ...).

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::proto::eio::Sid;
use crate::proto::sio::{self, Args, ValueRef};
use crate::runtime::TimerKey;
use crate::server::link::Tx;
use crate::server::out::Out;
use crate::server::reason::DisconnectReason;
use crate::server::session_key::SessionKey;

use super::ack::Ack;
use super::async_connect::{AsyncConnectFn, Spawn};
use super::errors::{AckError, ConnectError};
use super::handshake::Handshake;
use super::socket_data::SocketData;

/// Per-socket state kept by the client that owns it.
pub(crate) struct SocketState {
    pub sid: Sid,
    pub nsp: String,
    /// Index of the namespace's handlers in the app.
    pub ns: usize,
    /// Worker-unique key, carried by ack timers.
    pub key: u32,
    /// False while connect middleware runs: emits wait in `pre_connect` so they follow the
    /// CONNECT reply.
    pub connected: bool,
    pub pre_connect: Vec<Out>,
    pub acks: PendingAcks,
    /// A handler asked to leave the namespace.
    pub leave: bool,
    /// Callbacks waiting for the client to have read everything queued.
    pub drain: Vec<DrainCallback>,
    /// The CONNECT packet's auth payload, as sent (`None`: the client sent none).
    pub auth: Option<Box<str>>,
    /// What the application keeps for this socket ([`Socket::set_data`]).
    pub data: Option<Box<dyn SocketData + Send>>,
    /// The private session id under which the socket's state is kept when its connection is
    /// lost (only with connection state recovery on).
    pub pid: Option<Box<str>>,
    /// The socket came back with the state of an earlier connection.
    pub recovered: bool,
    /// The app, for the namespace's outgoing listeners.
    pub app: Arc<SioApp>,
    /// Catch-alls added to this socket alone, once it adds one.
    pub listeners: Option<Box<SocketListeners>>,
    /// The socket as asynchronous handlers hold it, once one ran.
    pub socket_ref: Option<super::SocketRef>,
}

/// Runs once what was queued for the client has gone out.
pub type DrainCallback = Box<dyn FnOnce(&mut Socket<'_, '_>)>;

/// One client in one namespace, inside a handler. Handlers run on the socket's worker.
pub struct Socket<'c, 'a> {
    pub(crate) tx: Tx<'c, 'a>,
    /// The Engine.IO session carrying this socket.
    pub(crate) session: SessionKey,
    pub(crate) state: &'c mut SocketState,
    pub(crate) handshake: &'c Handshake,
    /// Ack id of the event being handled, until taken by [`Socket::ack_later`].
    pub(crate) ack_id: Option<u64>,
}

/// A callback run on the socket's worker with the socket (so it can emit again) and the
/// client's ack arguments or an error.
pub type AckCallback = Box<dyn FnOnce(&mut Socket<'_, '_>, Result<&Args<'_>, AckError>)>;

/// A pending ack entry (for broadcasts with acks, which register one per receiver).
pub(crate) fn ack_pending(
    timer: TimerKey,
    deadline: Instant,
    callback: impl FnOnce(&mut Socket<'_, '_>, Result<&Args<'_>, AckError>) + 'static,
) -> Pending {
    Pending {
        callback: Box::new(callback),
        timer,
        deadline,
    }
}

pub(crate) struct Pending {
    pub callback: AckCallback,
    pub timer: TimerKey,
    /// An ack at or after this instant is late, whether or not its timer has fired yet: the
    /// outcome depends on the times only (a zero timeout always times out, as in the reference).
    pub deadline: Instant,
}

/// The server's emits waiting for acks on one socket.
#[derive(Default)]
pub(crate) struct PendingAcks {
    pub next_id: u64,
    pub pending: HashMap<u64, Pending>,
}

impl PendingAcks {
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    pub fn insert(&mut self, id: u64, p: Pending) {
        self.pending.insert(id, p);
    }

    pub fn take(&mut self, id: u64) -> Option<Pending> {
        self.pending.remove(&id)
    }

    /// Takes the pending ack `id` for a reply that came at `now`; a late reply leaves it for
    /// its timer.
    pub fn take_in_time(&mut self, id: u64, now: Instant) -> Option<Pending> {
        match self.pending.get(&id) {
            Some(p) if now < p.deadline => self.pending.remove(&id),
            _ => None,
        }
    }

    pub fn drain(&mut self) -> Vec<Pending> {
        self.pending.drain().map(|(_, p)| p).collect()
    }
}

/// A socket's incoming catch-all: the socket, the event name, its arguments.
pub(crate) type IncomingListener = Rc<dyn Fn(&mut Socket<'_, '_>, &str, &Args<'_>)>;

/// A socket's outgoing catch-all: the event name and its arguments, as sent.
pub(crate) type OutgoingListener = Rc<dyn Fn(&str, &Args<'_>)>;

/// Names a listener added with [`Socket::on_any`] and its kin, to remove it later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(pub(crate) u64);

/// Listeners in two runs: those prepended (latest first) go before the namespace's
/// catch-alls, those added go after them, in order.
pub(crate) struct Chain<F> {
    pub before: Vec<(ListenerId, F)>,
    pub after: Vec<(ListenerId, F)>,
}

impl<F: Clone> Chain<F> {
    pub fn new() -> Self {
        Chain {
            before: Vec::new(),
            after: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.before.len() + self.after.len()
    }

    pub fn remove(&mut self, id: ListenerId) -> bool {
        let len = self.len();
        self.before.retain(|(i, _)| *i != id);
        self.after.retain(|(i, _)| *i != id);
        self.len() != len
    }

    pub fn clear(&mut self) {
        self.before.clear();
        self.after.clear();
    }

    /// What to run now: later changes (a listener removing itself) apply from the next event,
    /// as the reference copies its listener array before calling them.
    pub fn snapshot(&self) -> (Vec<F>, Vec<F>) {
        let take = |v: &[(ListenerId, F)]| v.iter().map(|(_, f)| f.clone()).collect();
        (take(&self.before), take(&self.after))
    }
}

/// The run-time listeners of one socket.
pub(crate) struct SocketListeners {
    pub next: u64,
    pub incoming: Chain<IncomingListener>,
    pub outgoing: Chain<OutgoingListener>,
}

impl SocketListeners {
    pub fn id(&mut self) -> ListenerId {
        self.next += 1;
        ListenerId(self.next)
    }
}

/// Incoming catch-alls of a socket to run for one event, before and after the namespace's.
pub(crate) type IncomingRun = (Vec<IncomingListener>, Vec<IncomingListener>);

/// Outgoing catch-alls of a socket to run for one event, before and after the namespace's.
pub(crate) type OutgoingRun = (Vec<OutgoingListener>, Vec<OutgoingListener>);

/// Runs when a client asks to join: `Err` refuses it with `connect_error`. The auth payload of
/// the CONNECT packet is the second argument (`None` when the client sent none).
pub type ConnectFn =
    dyn Fn(&mut Socket<'_, '_>, Option<ValueRef<'_>>) -> Result<(), ConnectError> + Send + Sync;
/// One step of a connect: middleware or `on_connect`, run on the worker or as a future.
pub(crate) enum ConnectStep {
    Sync(Box<ConnectFn>),
    Async(Box<AsyncConnectFn>),
}

/// A connect step and whether it is middleware (which a recovered socket may skip) or an
/// `on_connect` handler (which always runs).
pub(crate) struct ConnectHook {
    pub step: ConnectStep,
    pub middleware: bool,
}

/// Handles one event; the returned value, if any, is the acknowledgement.
pub type EventFn = dyn Fn(&mut Socket<'_, '_>, &Args<'_>) -> Option<Ack> + Send + Sync;
/// Sees events with their name: catch-alls before the named handlers, and the handler of
/// events that no named handler takes.
pub type AnyFn = dyn Fn(&mut Socket<'_, '_>, &str, &Args<'_>) -> Option<Ack> + Send + Sync;
/// Runs when a socket leaves the namespace (or is about to), with the reason.
pub type DisconnectFn = dyn Fn(&mut Socket<'_, '_>, DisconnectReason) + Send + Sync;
/// Runs when a socket's connection has moved from polling to WebSocket.
pub type UpgradeFn = dyn Fn(&mut Socket<'_, '_>) + Send + Sync;
/// Per-socket event middleware: `Err(message)` drops the event and hands `message` to the
/// namespace's error handlers.
pub type EventMiddlewareFn =
    dyn Fn(&mut Socket<'_, '_>, &str, &Args<'_>) -> Result<(), String> + Send + Sync;
/// Sees an error of one socket (from event middleware).
pub type ErrorFn = dyn Fn(&mut Socket<'_, '_>, &str) + Send + Sync;
/// Sees every event sent to one socket: its id, the event name and the arguments.
pub type OutgoingFn = dyn Fn(&str, &str, &Args<'_>) + Send + Sync;

pub(crate) enum Matcher {
    Exact(String),
    /// `/tenant-{id}`: a prefix, one non-empty segment without `/`, a suffix.
    Pattern {
        prefix: String,
        suffix: String,
    },
    Predicate(Box<dyn Fn(&str) -> bool + Send + Sync>),
}

impl Matcher {
    pub fn parse_pattern(pattern: &str) -> Matcher {
        match (pattern.find('{'), pattern.find('}')) {
            (Some(a), Some(b)) if a < b => Matcher::Pattern {
                prefix: pattern[..a].to_string(),
                suffix: pattern[b + 1..].to_string(),
            },
            _ => Matcher::Exact(pattern.to_string()),
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(n) => n == name,
            Matcher::Pattern { prefix, suffix } => {
                name.len() > prefix.len() + suffix.len()
                    && name.starts_with(prefix.as_str())
                    && name.ends_with(suffix.as_str())
                    && !name[prefix.len()..name.len() - suffix.len()].contains('/')
            }
            Matcher::Predicate(f) => f(name),
        }
    }
}

/// A namespace's handlers, shared by every socket in it.
pub(crate) struct Namespace {
    pub matcher: Matcher,
    pub connect: Vec<ConnectHook>,
    pub events: HashMap<String, Vec<Box<EventFn>>>,
    /// Catch-alls, run before the named handlers, in order.
    pub any: Vec<Box<AnyFn>>,
    /// Run for events that have no named handler, after the catch-alls.
    pub unhandled: Option<Box<AnyFn>>,
    pub middleware: Vec<Box<EventMiddlewareFn>>,
    pub error: Vec<Box<ErrorFn>>,
    pub outgoing: Vec<Box<OutgoingFn>>,
    pub disconnecting: Vec<Box<DisconnectFn>>,
    pub disconnect: Vec<Box<DisconnectFn>>,
    /// Told of each socket whose connection upgraded (the admin UI's `socket_updated`).
    pub upgraded: Vec<Box<UpgradeFn>>,
    /// Has asynchronous hooks, which need `ServerBuilder::spawner`.
    pub needs_runtime: bool,
}

/// Everything the Socket.IO endpoint needs, shared by all workers.
pub(crate) struct SioApp {
    /// Static namespaces first, then dynamic ones in the order registered.
    pub namespaces: Vec<Namespace>,
    pub limits: sio::Limits,
    pub attachment_timeout: Duration,
    /// The application's `new_namespace` hook and the names of dynamic namespaces it has
    /// been told of (shared by the workers; kept only when there is a hook).
    pub new_namespace: Option<(Arc<NewNamespaceFn>, Mutex<HashSet<String>>)>,
    /// Where asynchronous hooks run (`ServerBuilder::spawner`).
    pub spawn: Option<Arc<Spawn>>,
}

/// Told the name of each namespace that comes to exist (`io.on("new_namespace")`).
pub type NewNamespaceFn = dyn Fn(&str) + Send + Sync;
