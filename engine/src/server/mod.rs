//! The public API: build a [`Server`] with its endpoints, start it, and reach it from any thread
//! through a [`ServerHandle`].

mod ack_futures;
pub(crate) mod adapter;
mod admin;
pub(crate) use adapter::decode_streams_untrusted;
mod broadcast;
mod broadcast_msg;
mod closed;
mod cluster;
mod conn_session;
mod custom_id;
mod eio_http;
mod eio_session;
mod fallback;
#[cfg(feature = "tokio")]
mod handed_stream;
mod handle;
mod link;
mod oneshot;
mod out;
mod polling;
mod port;
mod post;
mod raw_eio;
mod reason;
mod rooms;
mod service;
mod session_key;
mod sessions;
#[cfg(test)]
mod sim_tests;
pub mod sio;
mod socket_info;
mod stats;
mod timer;
mod upper;
mod worker_state;
mod ws;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use crate::proto::http::Request;
/// Handler arguments (JSON values borrowed from the packet, plus binary attachments).
pub use crate::proto::sio::{ArgList, Args, Placeholder, ValueRef};
pub use crate::runtime::{CloseReason, ConnId};
pub use ack_futures::{AckFuture, BroadcastAckFuture, MissingAcks, OwnedArgs};
pub use admin::{AdminAuth, AdminMode, AdminUi};
pub use broadcast_msg::BroadcastAcks;
pub use cluster::RequestError;
pub use eio_http::{AllowRequest, GenerateId, HeadersHook, ResponseHeaders};
pub use fallback::{HandedConnection, HttpFallback, HttpHandoff, HttpRequest, HttpResponse};
#[cfg(feature = "tokio")]
pub use handed_stream::HandedStream;
pub use handle::{HandleBroadcast, ServerHandle, TryEmitError};
pub use raw_eio::{
    EioEvents, EioHandler, EioPacket, EioSocket, Inbound, SendCallback, SendOptions,
};
pub use reason::DisconnectReason;
pub use rooms::RoomNames;
pub use sio::{
    Ack, AckError, AckId, ConnectError, DeferredAck, EmitError, Handshake, NamespaceBuilder, Socket,
};
pub use sio::{
    Compressed, ListenerId, SocketBroadcast, SocketData, SocketRef, TimedBroadcast, TimedEmit,
};
pub use socket_info::SocketInfo;
pub use stats::{Counter, StatsSnapshot};
pub use ws::encode_ws_frame;
pub use ws::{WsConn, WsHandler, WsMessage};

use crate::config::{Config, ConfigError, Listen, RedisAdapterKind, SubscriptionMode};
use crate::proto::eio::SidRng;
use crate::proto::sio as sioproto;
use crate::runtime::Runtime;
use adapter::{
    Adapter, Channels, Dialect, LocalAdapter, RedisAdapter, RedisUrl, ServerSideEmitHandler,
    ShardedAdapter, StreamNames, StreamsOpts,
};
use eio_http::EioEndpoint;
use service::{Endpoint, Router};
use sio::namespace_builder;

/// Errors from building or starting a server.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A `VOLLEY_*` variable could not be used.
    Config(ConfigError),
    /// Binding or starting the workers failed.
    Io(io::Error),
    /// A handler was registered where it can never run (a reserved event name); the text
    /// names the namespace and the call.
    Registration(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(e) => write!(f, "configuration: {e}"),
            Error::Io(e) => write!(f, "i/o: {e}"),
            Error::Registration(e) => write!(f, "registration: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Collects the configuration and endpoints of a server.
pub struct ServerBuilder {
    config: Config,
    /// Sockets given ready-made ([`ServerBuilder::listener`]), served instead of `config.listen`.
    listeners: Vec<std::net::TcpListener>,
    routes: Vec<(String, Endpoint)>,
    engine_io: Option<Arc<dyn EioHandler>>,
    namespaces: Vec<NamespaceBuilder>,
    allow_request: Option<Arc<AllowRequest>>,
    generate_id: Option<Arc<GenerateId>>,
    headers: Option<Arc<HeadersHook>>,
    /// Exact namespace names, whose Redis request channels are subscribed from the start.
    exact_namespaces: Vec<String>,
    on_server_side_emit: Option<Arc<ServerSideEmitHandler>>,
    new_namespace: Option<Arc<sio::NewNamespaceFn>>,
    spawn: Option<Arc<sio::Spawn>>,
    fallback: Option<Arc<HttpFallback>>,
    handoff: Option<Arc<HttpHandoff>>,
    /// A recovery store standing in for a cluster's (the simulation tests' own).
    #[cfg(test)]
    recovery_store: Option<Box<dyn sio::SessionStore>>,
}

impl ServerBuilder {
    /// Keeps connection state recovery in `store`, as a cluster adapter's would (tests).
    #[cfg(test)]
    pub(crate) fn recovery_store(mut self, store: Box<dyn sio::SessionStore>) -> Self {
        self.recovery_store = Some(store);
        self
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Changes one part of the configuration in place.
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Listens on each of `addrs` (IPv4 or IPv6, e.g. `[::1]:3000`), all serving the same
    /// endpoints: the same as setting `config.listen` (`VOLLEY_LISTEN=a,b`). Default
    /// `127.0.0.1:3000`.
    pub fn listen_on(mut self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.config.listen = Listen::Addrs(addrs.into_iter().collect());
        self
    }

    /// Serves on `listener`, already bound and listening (a port bound before dropping
    /// privileges, a descriptor a supervisor passed); call again for more. Given listeners
    /// replace `config.listen`. Each worker accepts on its own duplicate of the socket, so the
    /// workers share its one accept queue (a bound address gets one SO_REUSEPORT socket per
    /// worker instead). Default: none.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Serves the sockets systemd passed to this process (socket activation: `LISTEN_PID`,
    /// `LISTEN_FDS`, descriptors from 3), duplicated per worker as [`ServerBuilder::listener`]
    /// does: the same as `VOLLEY_LISTEN=systemd`. `listen()` fails with [`Error::Config`]
    /// when the variables are not for this process or a descriptor is not a listening TCP
    /// socket. Default: off.
    pub fn systemd_sockets(mut self) -> Self {
        self.config.listen = Listen::Systemd;
        self
    }

    /// Serves plain WebSocket on `path` (exact match, e.g. `/`).
    pub fn websocket(mut self, path: &str, handler: impl WsHandler) -> Self {
        self.routes
            .push((path.to_string(), Endpoint::WebSocket(Arc::new(handler))));
        self
    }

    /// Serves raw Engine.IO sessions (no Socket.IO) on `config.eio_path` (default `/engine.io/`).
    pub fn engine_io(mut self, handler: impl EioHandler) -> Self {
        self.engine_io = Some(Arc::new(handler));
        self
    }

    /// Adds a Socket.IO namespace on `config.path` (default `/socket.io/`). `name` is exact
    /// (`/chat`) or a pattern with one `{param}` segment (`/tenant-{id}`), which creates
    /// namespaces on demand; exact names win over patterns. `""` is `/`, and a name without
    /// its leading `/` gets one, as `io.of` does. Called again with the same name, it adds to
    /// the same namespace (as `io.of(name)` returns the same one).
    pub fn namespace(mut self, name: &str, f: impl FnOnce(&mut NamespaceBuilder)) -> Self {
        let name = if name.starts_with('/') {
            name.to_string()
        } else {
            format!("/{name}")
        };
        if let Some(ns) = self
            .namespaces
            .iter_mut()
            .find(|n| n.name.as_deref() == Some(name.as_str()))
        {
            f(ns);
            return self;
        }
        let mut ns = namespace_builder::for_pattern(&name);
        f(&mut ns);
        self.namespaces.push(ns);
        if !name.contains('{') {
            self.exact_namespaces.push(name);
        }
        self
    }

    /// Hears of every namespace that comes to exist, by name (`io.on("new_namespace")`): each
    /// namespace registered by name (but `/`, there from the start) once when `listen()`
    /// starts the server, on its thread; and each name a dynamic namespace (a pattern or
    /// [`ServerBuilder::dynamic_namespace`]) serves, the first time a client connects to it
    /// (once per name however many race for it, on the worker of that client: must not
    /// block). Names stay known for the server's life, as the reference keeps its child
    /// namespaces. Default: none.
    pub fn on_new_namespace(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.new_namespace = Some(Arc::new(f));
        self
    }

    /// Where asynchronous hooks ([`NamespaceBuilder::middleware_async`],
    /// [`NamespaceBuilder::on_async`]) run: `spawn` gets each future, e.g.
    /// `|f| { tokio_handle.spawn(f); }`. Whatever the futures decide goes back to the socket's
    /// worker through its mailbox; no future runs on a worker. Default: none; then with the
    /// `tokio` feature the engine starts a multi-threaded tokio runtime of its own (threads
    /// named `volley-async`, stopped by [`Server::shutdown`]) when a namespace has
    /// asynchronous hooks, and without it `listen()` refuses such a server.
    pub fn spawner(mut self, spawn: impl Fn(sio::BoxFuture) + Send + Sync + 'static) -> Self {
        self.spawn = Some(Arc::new(spawn));
        self
    }

    /// Runs asynchronous hooks on the tokio runtime `handle` (the `tokio` feature): the same
    /// as [`ServerBuilder::spawner`] with `handle.spawn`.
    #[cfg(feature = "tokio")]
    pub fn tokio(self, handle: tokio::runtime::Handle) -> Self {
        self.spawner(move |f| {
            handle.spawn(f);
        })
    }

    /// Adds dynamic namespaces: every name `accept` returns true for is served by these handlers.
    pub fn dynamic_namespace(
        mut self,
        accept: impl Fn(&str) -> bool + Send + Sync + 'static,
        f: impl FnOnce(&mut NamespaceBuilder),
    ) -> Self {
        let mut ns = namespace_builder::for_predicate(Box::new(accept));
        f(&mut ns);
        self.namespaces.push(ns);
        self
    }

    /// Decides on every Engine.IO/Socket.IO handshake: `Err(message)` refuses it with 403 and
    /// `{"code":4,"message":message}`. Default: every handshake is allowed.
    pub fn allow_request(
        mut self,
        f: impl Fn(&Request) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.allow_request = Some(Arc::new(f));
        self
    }

    /// Chooses the id of every new Engine.IO session (the reference's `generateId`; see
    /// [`GenerateId`]): the client knows its session by it, and raw handlers see it in
    /// `EioSocket::sid` and `on_close`. Default: Volley draws a random id that also says which
    /// worker owns the session; with custom ids, requests find their session through a table
    /// the workers share (one read lock per polling request or upgrade).
    pub fn generate_id(
        mut self,
        f: impl Fn(&Request) -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.generate_id = Some(Arc::new(f));
        self
    }

    /// Adds to or changes the response headers of every Engine.IO/Socket.IO answer: each
    /// polling GET and POST and each WebSocket's 101, the handshake's included
    /// ([`ResponseHeaders::initial`]); the reference's `headers` and `initial_headers` events
    /// (see [`HeadersHook`]). Runs on the worker answering, so it must not block. Default:
    /// none, the headers are Volley's.
    pub fn on_headers(
        mut self,
        f: impl Fn(&Request, &mut ResponseHeaders) + Send + Sync + 'static,
    ) -> Self {
        self.headers = Some(Arc::new(f));
        self
    }

    /// Answers every HTTP request that no endpoint serves (a path other than Socket.IO's,
    /// Engine.IO's, a WebSocket's or the metrics'), so pages and health checks share the
    /// port: `f` gets the whole request (its body read first, at most `VOLLEY_MAX_PAYLOAD`
    /// bytes, 413 beyond) and returns the response. Keep-alive connections serve further
    /// requests; a `HEAD` gets the head of `f`'s answer. Runs on the worker that read the
    /// request, so it must not block; a panic answers 500. Default: none, such requests get
    /// 404.
    pub fn http_fallback(
        mut self,
        f: impl Fn(&HttpRequest<'_>) -> HttpResponse + Send + Sync + 'static,
    ) -> Self {
        self.fallback = Some(Arc::new(f));
        self
    }

    /// Gives the whole connection of every request that no endpoint serves to `f`, with the
    /// bytes already read (that request included), so an existing HTTP server (hyper, axum)
    /// shares the port: Volley stops all I/O on it (an io_uring direct descriptor is
    /// installed as a plain one first) and `f` runs on the worker, so it must hand the
    /// connection to its runtime and return. Later requests on that connection are the
    /// application's too, Socket.IO's included: serve it without keep-alive (hyper:
    /// `http1::Builder::keep_alive(false)`) so a browser's next request opens a connection
    /// that Volley routes. Takes precedence over [`ServerBuilder::http_fallback`]. Default:
    /// none.
    pub fn http_handoff(mut self, f: impl Fn(HandedConnection) + Send + Sync + 'static) -> Self {
        self.handoff = Some(Arc::new(f));
        self
    }

    /// Serves TLS (`https://`, `wss://`) on every listener with the certificate chain in PEM
    /// file `cert` (leaf first) and its private key in PEM file `key`: the same as
    /// `config.tls_cert`/`tls_key` (`VOLLEY_TLS_CERT`/`VOLLEY_TLS_KEY`). Needs the `tls`
    /// cargo feature; `listen()` fails when a file cannot be read, holds no certificate or key,
    /// or the key does not fit the certificate. Default: plain TCP.
    pub fn tls(
        mut self,
        cert: impl Into<std::path::PathBuf>,
        key: impl Into<std::path::PathBuf>,
    ) -> Self {
        self.config.tls_cert = Some(cert.into());
        self.config.tls_key = Some(key.into());
        self
    }

    /// Serves TLS with a complete rustls configuration (client certificates, certificates
    /// chosen by SNI...), used instead of `config.tls_cert`/`tls_key`. Volley speaks
    /// HTTP/1.1: give `alpn_protocols` no other protocol. Default: none.
    #[cfg(feature = "tls")]
    pub fn tls_config(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.config.tls_config = Some(config);
        self
    }

    /// Offers WebSocket clients permessage-deflate, compressing messages of at least
    /// `threshold` bytes for those that accept it: the same as `config.per_message_deflate`
    /// and `config.deflate_threshold` (`VOLLEY_PER_MESSAGE_DEFLATE`, `VOLLEY_DEFLATE_THRESHOLD`).
    /// Default: off, threshold 1024.
    pub fn per_message_deflate(mut self, threshold: usize) -> Self {
        self.config.per_message_deflate = true;
        self.config.deflate_threshold = threshold;
        self
    }

    /// Accepts Engine.IO v3 / Socket.IO 2.x clients (the reference's `allowEIO3`): the same as
    /// `config.allow_eio3` (`VOLLEY_ALLOW_EIO3`). Default: off, such clients are refused with
    /// `Unsupported protocol version`.
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.config.allow_eio3 = allow;
        self
    }

    /// Turns on connection state recovery with the reference's defaults: a socket whose
    /// connection is lost may come back within 2 minutes with its id, rooms and data, and get
    /// the packets it missed; a recovered socket skips the connect middleware. Same as
    /// `config.recovery` = 2 min; default: off. See [`ServerBuilder::recovery`].
    pub fn connection_state_recovery(self) -> Self {
        self.recovery(Duration::from_secs(120))
    }

    /// The Socket.IO parser clients must use (the reference's `parser` option). Same as
    /// `config.parser`; default: [`Parser::Json`](crate::config::Parser::Json).
    pub fn parser(mut self, parser: crate::config::Parser) -> Self {
        self.config.parser = parser;
        self
    }

    /// Connection state recovery within `window` (the reference's
    /// `maxDisconnectionDuration`); zero turns it off. Same as `config.recovery`; default: off.
    pub fn recovery(mut self, window: Duration) -> Self {
        self.config.recovery = window;
        self
    }

    /// Whether a recovered socket skips the connect middleware (the reference's
    /// `skipMiddlewares`; `on_connect` runs either way). Same as
    /// `config.recovery_skip_middlewares`; default: true.
    pub fn recovery_skip_middlewares(mut self, skip: bool) -> Self {
        self.config.recovery_skip_middlewares = skip;
        self
    }

    /// Most bytes held for recovery (kept packets, then sessions, the oldest dropped first past
    /// it). Same as `config.recovery_max_bytes`; default: 64 MiB.
    pub fn recovery_max_bytes(mut self, bytes: usize) -> Self {
        self.config.recovery_max_bytes = bytes;
        self
    }

    /// Joins a cluster through Redis at `url` (`redis://host:port`): broadcasts, room
    /// operations, `fetch_sockets` and server-side emits reach every server sharing that Redis
    /// and channel prefix (`config.redis_prefix`), Node servers with `@socket.io/redis-adapter`
    /// included. Same as `config.redis_url`; default: none, a server alone.
    pub fn redis(mut self, url: &str) -> Self {
        self.config.redis_url = Some(url.to_string());
        self
    }

    /// Which Redis adapter [`ServerBuilder::redis`] joins the cluster with: classic pub/sub
    /// (`@socket.io/redis-adapter`'s `createAdapter`), sharded pub/sub on a Redis Cluster (its
    /// `createShardedAdapter`, whose URL may list several nodes, comma-separated: any that
    /// answers gives the slot map) or a stream (`@socket.io/redis-streams-adapter`, the stream
    /// named by `config.redis_stream_name`). Every server of a cluster must use the same. Same
    /// as `config.redis_adapter`; default: [`RedisAdapterKind::PubSub`].
    pub fn redis_adapter(mut self, kind: RedisAdapterKind) -> Self {
        self.config.redis_adapter = kind;
        self
    }

    /// The sharded adapter's `subscriptionMode`; every server of the cluster must use the same.
    /// Same as `config.redis_subscription_mode`; default [`SubscriptionMode::Dynamic`].
    pub fn redis_subscription_mode(mut self, mode: SubscriptionMode) -> Self {
        self.config.redis_subscription_mode = mode;
        self
    }

    /// Longest a cluster request (`fetch_sockets`, server-side emits with acks) waits for the
    /// other servers before it returns what came with [`RequestError`] naming those missing
    /// (Node's `requestsTimeout`). Same as `config.requests_timeout`; default 5 s. A zero
    /// timeout makes [`ServerBuilder::listen`] fail with a `ConfigError`.
    pub fn requests_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.config.requests_timeout = timeout;
        self
    }

    /// Runs `f(namespace, event, args)` for each server-side emit from another server of the
    /// cluster, on the adapter's thread (it must not block); what it returns answers a sender
    /// that asked for acknowledgements (`None` answers `null`). Default: emits are ignored.
    pub fn on_server_side_emit(
        mut self,
        f: impl Fn(&str, &str, &[serde_json::Value]) -> Option<serde_json::Value>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.on_server_side_emit = Some(Arc::new(f));
        self
    }

    /// Serves the Socket.IO admin UI's namespace (`@socket.io/admin-ui`'s `instrument(io,
    /// options)`): admins connect to `ui.namespace` with the stock UI, which lists the
    /// namespaces, sockets, rooms and events and may make sockets join, leave, disconnect or
    /// receive an event, on every worker and every server of a cluster. Same as
    /// `config.admin_ui` (`VOLLEY_ADMIN_UI` and the `VOLLEY_ADMIN_UI_*` variables); `listen()`
    /// fails with [`Error::Config`] when the password hash is not a bcrypt hash. Checking a
    /// password runs bcrypt on the worker that serves the admin (tens of milliseconds at cost
    /// 10), once per login: the UI logs in again with its session id. Default: off.
    pub fn admin_ui(mut self, ui: AdminUi) -> Self {
        self.config.admin_ui = Some(ui);
        self
    }

    /// Checks the registrations and builds the service.
    fn build(mut self) -> Result<Built, Error> {
        // Workers draw session ids from the system's random source: fail here, not in a worker.
        SidRng::new().map_err(|e| Error::Io(io::Error::other(e.to_string())))?;
        if let Some(h) = self.engine_io.take() {
            self.routes.push((
                self.config.eio_path.clone(),
                Endpoint::Eio(Arc::new(EioEndpoint {
                    upper: Arc::new(h),
                    allow_request: self.allow_request.clone(),
                    generate_id: self.generate_id.clone(),
                    headers: self.headers.clone(),
                    custom_ids: Arc::default(),
                })),
            ));
        }
        let mistakes: Vec<String> = self
            .namespaces
            .iter()
            .flat_map(|b| {
                let name = b.name.clone().unwrap_or_else(|| "dynamic namespace".into());
                b.errors
                    .iter()
                    .map(move |e| format!("namespace {name}: {e}"))
            })
            .collect();
        if !mistakes.is_empty() {
            return Err(Error::Registration(mistakes.join("; ")));
        }
        let admin = match self.config.admin_ui.clone() {
            Some(mut ui) => {
                ui.check()?;
                if !ui.namespace.starts_with('/') {
                    ui.namespace.insert(0, '/');
                }
                if !self.exact_namespaces.contains(&ui.namespace) {
                    self.exact_namespaces.push(ui.namespace.clone());
                }
                let core = admin::install(&ui, &mut self.namespaces);
                Some((core, ui))
            }
            None => None,
        };
        let needs_runtime = self.namespaces.iter().any(|b| b.ns.needs_runtime);
        #[cfg(feature = "tokio")]
        let async_runtime = match needs_runtime && self.spawn.is_none() {
            true => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .thread_name("volley-async")
                    .build()?;
                let handle = rt.handle().clone();
                self.spawn = Some(Arc::new(move |f| {
                    handle.spawn(f);
                }));
                Some(rt)
            }
            false => None,
        };
        if needs_runtime && self.spawn.is_none() {
            return Err(Error::Registration(
                "asynchronous handlers need a runtime: ServerBuilder::spawner (or the `tokio` feature)"
                    .into(),
            ));
        }
        if !self.namespaces.is_empty() {
            let limits = sioproto::Limits {
                max_attachments: self.config.max_attachments,
                max_attachment_bytes: self.config.max_payload,
                max_depth: self.config.max_json_depth,
            };
            let namespaces = std::mem::take(&mut self.namespaces)
                .into_iter()
                .map(|b| b.ns)
                .collect();
            let app = sio::SioApp::new(
                namespaces,
                limits,
                self.config.attachment_timeout,
                self.new_namespace.clone(),
                self.spawn.clone(),
            );
            if let Some(hook) = &self.new_namespace {
                app.exact_names().for_each(|name| hook(name));
            }
            self.routes.push((
                self.config.path.clone(),
                Endpoint::Eio(Arc::new(EioEndpoint {
                    upper: Arc::new(Arc::new(app)),
                    allow_request: self.allow_request.clone(),
                    generate_id: self.generate_id.clone(),
                    headers: self.headers.clone(),
                    custom_ids: Arc::default(),
                })),
            ));
        }
        let stats = Arc::new(stats::Stats::new(self.config.workers));
        let metrics_path = self.config.metrics_path.clone();
        // Where recovery keeps its state when the adapter shares it (the streams adapter).
        #[cfg(not(test))]
        let mut cluster_store = None;
        #[cfg(test)]
        let mut cluster_store = self.recovery_store.take();
        let redis = match &self.config.redis_url {
            // The adapter forwards packets in the default parser's form.
            Some(_) if self.config.parser == crate::config::Parser::Msgpack => {
                return Err(Error::Registration(
                    "the Redis adapter does not work with the msgpack parser".into(),
                ));
            }
            Some(url) => {
                let bad_url = || ConfigError {
                    var: "VOLLEY_REDIS_URL",
                    value: url.clone(),
                    expected:
                        "a URL such as redis://127.0.0.1:6379 (sharded: several, comma-separated)",
                };
                if self.config.requests_timeout.is_zero() {
                    return Err(ConfigError {
                        var: "VOLLEY_REQUESTS_TIMEOUT_MS",
                        value: "0".into(),
                        expected: "milliseconds above 0",
                    }
                    .into());
                }
                let mut nsps = std::mem::take(&mut self.exact_namespaces);
                nsps.push("/".to_string());
                let on_emit = self.on_server_side_emit.take();
                let timeout = self.config.requests_timeout;
                let c = &self.config;
                let adapter: Arc<dyn Adapter> = match c.redis_adapter {
                    RedisAdapterKind::Sharded => {
                        let seeds = url
                            .split(',')
                            .map(RedisUrl::parse)
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(bad_url)?;
                        let mode = c.redis_subscription_mode;
                        let prefix = &c.redis_prefix;
                        let a = ShardedAdapter::new(seeds, prefix, mode, nsps, on_emit, timeout);
                        stats.set_adapter_health(a.health());
                        Arc::new(a)
                    }
                    kind => {
                        let dialect = match kind {
                            RedisAdapterKind::Streams => Dialect::Streams(StreamsOpts {
                                names: StreamNames::new(&c.redis_prefix, &c.redis_stream_name),
                                max_len: c.redis_stream_max_len,
                                read_count: c.redis_stream_read_count,
                                block: c.redis_stream_block_time,
                            }),
                            _ => Dialect::PubSub(Channels::new(&c.redis_prefix)),
                        };
                        let url = RedisUrl::parse(url).ok_or_else(bad_url)?;
                        let a = RedisAdapter::new(url, dialect, nsps, on_emit, timeout);
                        stats.set_adapter_health(a.health());
                        if !c.recovery.is_zero() {
                            cluster_store = a.session_store(c.recovery);
                        }
                        Arc::new(a)
                    }
                };
                Some(adapter)
            }
            None => None,
        };
        let adapter: Arc<dyn Adapter> = match &redis {
            Some(r) => r.clone(),
            None => Arc::new(LocalAdapter),
        };
        let skip_middlewares = self.config.recovery_skip_middlewares;
        let recovery = (!self.config.recovery.is_zero()).then(|| {
            Arc::new(match cluster_store {
                Some(store) => sio::Recovery::with_store(skip_middlewares, store),
                None => sio::Recovery::new(
                    self.config.recovery,
                    skip_middlewares,
                    self.config.recovery_max_bytes,
                ),
            })
        });
        let router = Arc::new(Router {
            config: Arc::new(self.config.clone()),
            recovery: recovery.clone(),
            routes: self.routes,
            stats: stats.clone(),
            adapter: adapter.clone(),
            metrics_path,
            fallback: self.fallback,
            handoff: self.handoff,
            room_events: admin
                .as_ref()
                .filter(|(_, ui)| ui.development())
                .map(|(core, _)| core.clone() as Arc<dyn rooms::SocketWatch>),
        });
        let listeners = match self.config.listen {
            Listen::Systemd if self.listeners.is_empty() => crate::runtime::listener::systemd()?,
            _ => self.listeners,
        };
        Ok(Built {
            router,
            config: self.config,
            listeners,
            stats,
            adapter,
            redis,
            recovery,
            admin,
            #[cfg(feature = "tokio")]
            async_runtime,
        })
    }

    /// Binds `config.listen` (or takes the given listeners, or systemd's sockets) and starts
    /// the workers; returns the first error a worker met while starting.
    pub fn listen(self) -> Result<Server, Error> {
        let built = self.build()?;
        let runtime = Runtime::start_on((&built.config).into(), built.listeners, built.router)?;
        built
            .stats
            .set_connection_counters(runtime.counters().clone());
        if let Some(r) = &built.redis {
            r.start(runtime.peers().clone())?;
        }
        let handle = ServerHandle {
            peers: runtime.peers().clone(),
            stats: built.stats,
            adapter: built.adapter,
            recovery: built.recovery,
            parser: built.config.parser,
        };
        let admin_stats = match built.admin {
            Some((core, ui)) => {
                let _ = core.handle.set(handle.clone());
                Some(admin::StatsTask::start(core, handle.clone(), ui.server_id)?)
            }
            None => None,
        };
        Ok(Server {
            runtime,
            handle,
            admin_stats,
            #[cfg(feature = "tokio")]
            async_runtime: built.async_runtime,
        })
    }

    /// The server as one simulated worker on virtual time (see [`Sim`]), with its handle.
    #[cfg(test)]
    pub(crate) fn simulate(self) -> (crate::runtime::Sim<Router>, ServerHandle) {
        let built = self.build().expect("a valid server");
        let sim = crate::runtime::Sim::new(built.router, (&built.config).into());
        built.stats.set_connection_counters(sim.counters());
        let handle = ServerHandle {
            peers: sim.peers().clone(),
            stats: built.stats,
            adapter: built.adapter,
            recovery: built.recovery,
            parser: built.config.parser,
        };
        if let Some((core, _)) = &built.admin {
            let _ = core.handle.set(handle.clone());
        }
        (sim, handle)
    }
}

/// A server ready to start: its service and what the running server keeps beside it.
struct Built {
    router: Arc<Router>,
    config: Config,
    listeners: Vec<std::net::TcpListener>,
    stats: Arc<stats::Stats>,
    adapter: Arc<dyn Adapter>,
    /// The Redis adapter, started once the workers run.
    redis: Option<Arc<dyn Adapter>>,
    recovery: Option<Arc<sio::Recovery>>,
    /// The admin UI's instrumentation and options, when on.
    admin: Option<(Arc<admin::Instrument>, AdminUi)>,
    #[cfg(feature = "tokio")]
    async_runtime: Option<tokio::runtime::Runtime>,
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    runtime: Runtime<Router>,
    handle: ServerHandle,
    /// The admin UI's `server_stats` thread, when the admin UI is on.
    admin_stats: Option<admin::StatsTask>,
    /// The runtime the engine started for asynchronous handlers (the `tokio` feature, when
    /// no spawner was given).
    #[cfg(feature = "tokio")]
    async_runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// A builder with the default configuration.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: Config::default(),
            listeners: Vec::new(),
            routes: Vec::new(),
            engine_io: None,
            namespaces: Vec::new(),
            allow_request: None,
            generate_id: None,
            headers: None,
            exact_namespaces: Vec::new(),
            on_server_side_emit: None,
            new_namespace: None,
            spawn: None,
            fallback: None,
            handoff: None,
            #[cfg(test)]
            recovery_store: None,
        }
    }

    /// A builder configured from the `VOLLEY_*` environment variables.
    pub fn from_env() -> Result<ServerBuilder, Error> {
        Ok(Self::builder().config(Config::from_env()?))
    }

    /// The first address served (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.runtime.local_addr()
    }

    /// Every address served, in the order configured (with real ports where 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.runtime.local_addrs()
    }

    /// A handle usable from any thread.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Graceful shutdown: stop accepting, close every WebSocket with 1001, flush what is queued
    /// (bounded by `shutdown_timeout`), join the workers, then stop the cluster adapter.
    pub fn shutdown(self) {
        if let Some(stats) = self.admin_stats {
            stats.stop();
        }
        self.runtime.shutdown();
        self.handle.adapter.stop();
        // Futures still pending answer nobody now: drop them without waiting.
        #[cfg(feature = "tokio")]
        if let Some(rt) = self.async_runtime {
            rt.shutdown_background();
        }
    }

    /// Blocks until SIGTERM or SIGINT, then shuts down gracefully. Call
    /// [`crate::runtime::signal::block_termination_signals`] before building the server.
    pub fn run_until_signal(self) -> io::Result<()> {
        crate::runtime::signal::wait_for_termination()?;
        self.shutdown();
        Ok(())
    }
}
