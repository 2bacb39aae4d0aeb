//! Server configuration: every option has a builder setter and a `VOLLEY_*` environment variable,
//! read in one place by [`Config::from_env`].

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::server::{AdminAuth, AdminMode, AdminUi};

/// Which I/O backend drives the workers' event loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// epoll through mio.
    Epoll,
    /// io_uring (default); falls back to epoll where the kernel refuses it. The default
    /// because it won three of the four scenarios of `scripts/bench-backends.sh` and tied the
    /// fourth (`benches/RESULTS.md`).
    Uring,
}

impl Backend {
    /// The backend a `VOLLEY_BACKEND` value names: `epoll`, `uring` or `io_uring`.
    pub fn from_name(name: &str) -> Option<Backend> {
        match name.trim() {
            "epoll" => Some(Backend::Epoll),
            "uring" | "io_uring" => Some(Backend::Uring),
            _ => None,
        }
    }
}

/// How Socket.IO packets are written on the wire; clients must use the same parser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Parser {
    /// The default parser (npm `socket.io-parser`): text packets, binary values as attachments
    /// sent as separate binary messages. What every client speaks unless told otherwise.
    #[default]
    Json,
    /// npm `socket.io-msgpack-parser`: each packet is one binary msgpack message, binary values
    /// inline. Smaller for binary and numeric data; clients must be configured with
    /// `parser: require("socket.io-msgpack-parser")`, and the Redis adapter does not take it.
    Msgpack,
}

impl Parser {
    /// The parser a `VOLLEY_PARSER` value names: `json` or `msgpack`.
    pub fn from_name(name: &str) -> Option<Parser> {
        match name.trim() {
            "json" => Some(Parser::Json),
            "msgpack" => Some(Parser::Msgpack),
            _ => None,
        }
    }
}

/// Which Redis adapter joins the servers of a cluster (`VOLLEY_REDIS_ADAPTER`). Each speaks the
/// wire format of a Node adapter, so Volley and Node servers can share one cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisAdapterKind {
    /// `createAdapter` of `@socket.io/redis-adapter`: classic pub/sub (PUBLISH, PSUBSCRIBE) on
    /// one Redis. Every message goes through that one server; what a server missed while Redis
    /// was unreachable is lost.
    #[default]
    PubSub,
    /// `createShardedAdapter` of `@socket.io/redis-adapter` 8.2+: sharded pub/sub (SPUBLISH,
    /// SSUBSCRIBE, Redis 7+) on a Redis Cluster, whose channels spread over its shards.
    Sharded,
    /// `@socket.io/redis-streams-adapter`: broadcasts and room operations appended to one Redis
    /// stream (read back by every server), requests and responses over pub/sub.
    Streams,
}

impl RedisAdapterKind {
    /// The adapter a `VOLLEY_REDIS_ADAPTER` value names: `pubsub`, `sharded` or `streams`.
    pub fn from_name(name: &str) -> Option<RedisAdapterKind> {
        match name.trim() {
            "pubsub" => Some(RedisAdapterKind::PubSub),
            "sharded" => Some(RedisAdapterKind::Sharded),
            "streams" => Some(RedisAdapterKind::Streams),
            _ => None,
        }
    }
}

/// Which channels the sharded adapter listens on (`createShardedAdapter`'s
/// `subscriptionMode`, `VOLLEY_REDIS_SUBSCRIPTION_MODE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SubscriptionMode {
    /// One channel per namespace: every server gets every broadcast.
    Static,
    /// Also one channel per room that is not a socket id, for broadcasts to that one room:
    /// a server gets them only while it has members in the room (Node's default).
    #[default]
    Dynamic,
    /// As `Dynamic`, socket-id rooms included (one channel, one subscription per socket).
    DynamicPrivate,
}

impl SubscriptionMode {
    /// The mode a `VOLLEY_REDIS_SUBSCRIPTION_MODE` value names: `static`, `dynamic` or
    /// `dynamic-private`.
    pub fn from_name(name: &str) -> Option<SubscriptionMode> {
        match name.trim() {
            "static" => Some(SubscriptionMode::Static),
            "dynamic" => Some(SubscriptionMode::Dynamic),
            "dynamic-private" => Some(SubscriptionMode::DynamicPrivate),
            _ => None,
        }
    }
}

/// The value of an on/off variable: `1`, `true`, `yes`, `on`, or `0`, `false`, `no`, `off` and
/// empty; `None` for anything else.
pub(crate) fn parse_flag(value: &str) -> Option<bool> {
    match value.trim() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// The `SameSite` attribute of the session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`: sent only with requests from the same site.
    Strict,
    /// `SameSite=Lax`: also sent on top-level navigations to the site (the default).
    Lax,
    /// `SameSite=None`: sent with cross-site requests too (browsers want `Secure` with it).
    None,
}

impl SameSite {
    /// The attribute's value as written in `Set-Cookie` (`Strict`, `Lax`, `None`).
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// How new connections reach the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcceptMode {
    /// One SO_REUSEPORT listener per worker; the kernel spreads connections (default).
    ReusePort,
    /// One listener on worker 0, which hands every other connection round-robin to the
    /// workers through their mailboxes.
    Acceptor,
}

/// Where a server listens: addresses it binds, or sockets systemd passed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// Bind each address, IPv4 or IPv6 (`[::1]:3000`); several serve the same endpoints.
    /// Parsed from a comma-separated list (`127.0.0.1:3000,[::1]:3000`).
    Addrs(Vec<SocketAddr>),
    /// Serve the listening sockets systemd passed to this process (socket activation:
    /// `LISTEN_PID`, `LISTEN_FDS`, descriptors from 3). Parsed from `systemd`.
    Systemd,
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Self {
        Listen::Addrs(vec![addr])
    }
}

/// Why a `VOLLEY_LISTEN` value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenParseError;

impl fmt::Display for ListenParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected systemd or addresses such as 127.0.0.1:3000,[::1]:3000")
    }
}

impl std::error::Error for ListenParseError {}

impl FromStr for Listen {
    type Err = ListenParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "systemd" {
            return Ok(Listen::Systemd);
        }
        let addrs = s
            .split(',')
            .map(|a| a.trim().parse().map_err(|_| ListenParseError))
            .collect::<Result<Vec<SocketAddr>, _>>()?;
        Ok(Listen::Addrs(addrs))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Systemd => f.write_str("systemd"),
            Listen::Addrs(addrs) => {
                for (i, a) in addrs.iter().enumerate() {
                    write!(f, "{}{a}", if i == 0 { "" } else { "," })?;
                }
                Ok(())
            }
        }
    }
}

/// Which Engine.IO transports clients may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket (directly, or as an upgrade from polling when both are on).
    pub websocket: bool,
}

impl Transports {
    /// Whether `t` is allowed.
    pub fn allows(&self, t: crate::proto::eio::Transport) -> bool {
        match t {
            crate::proto::eio::Transport::Polling => self.polling,
            crate::proto::eio::Transport::WebSocket => self.websocket,
        }
    }
}

/// All tunables of a server. `Config::default()` gives the documented defaults;
/// `Config::from_env()` overrides them from `VOLLEY_*` variables.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen: one address or several (`127.0.0.1:3000,[::1]:3000`), or `systemd`
    /// for socket activation. Listeners given to `ServerBuilder::listener` replace it. Env
    /// `VOLLEY_LISTEN`, default `127.0.0.1:3000`.
    pub listen: Listen,
    /// Worker threads, one event loop each. Env `VOLLEY_WORKERS`, default: number of cores.
    pub workers: usize,
    /// Pin worker `i` to core `i`. Env `VOLLEY_PIN_CORES` (`1`/`0`), default off.
    pub pin_cores: bool,
    /// First core to pin to when `pin_cores` is on (lets a benchmark keep a core for the
    /// client). Env `VOLLEY_FIRST_CORE`, default 0.
    pub first_core: usize,
    /// I/O backend. Env `VOLLEY_BACKEND` (`epoll`|`uring`), default uring (epoll where the
    /// kernel refuses io_uring).
    pub backend: Backend,
    /// io_uring only: accept connections as direct descriptors, slots of each worker ring's
    /// registered file table that do not count against the process's open-file limit, so one
    /// process holds more connections than `RLIMIT_NOFILE` (each worker's table has as many
    /// slots as that limit). Operations on them skip the kernel's descriptor lookup; a polling
    /// connection handed to another worker is installed as a plain descriptor first (Linux
    /// 6.8+). Ignored with the acceptor accept mode, and dropped with a `tracing` warning where the
    /// kernel refuses it. Env `VOLLEY_URING_DIRECT` (`1`/`0`), default off.
    pub uring_direct: bool,
    /// io_uring only: how long a busy worker may wait for completions to gather before it
    /// handles them, so one wake-up serves many messages (Linux 6.12+, `min_wait_usec`).
    /// Adaptive: a worker batches only while input arrives faster than this window or its
    /// turns carry several completions, so an idle or lightly loaded server answers at once;
    /// under load a message may wait up to this long. Zero turns it off. Env
    /// `VOLLEY_URING_BATCH_US` (microseconds), default 50.
    pub uring_batch: Duration,
    /// How connections reach the workers. Env `VOLLEY_ACCEPT` (`reuseport`|`acceptor`),
    /// default reuseport (see `benches/RESULTS.md` for the measurement behind it).
    pub accept: AcceptMode,
    /// Largest WebSocket message / Engine.IO payload in bytes. Env `VOLLEY_MAX_PAYLOAD`,
    /// default 1,000,000.
    pub max_payload: usize,
    /// Time a new TCP connection has to send a complete request head.
    /// Env `VOLLEY_HANDSHAKE_TIMEOUT_MS`, default 10,000.
    pub handshake_timeout: Duration,
    /// Largest HTTP request head in bytes. Env `VOLLEY_MAX_HEADER_BYTES`, default 8192.
    pub max_header_bytes: usize,
    /// Most header lines in a request. Env `VOLLEY_MAX_HEADERS`, default 32.
    pub max_headers: usize,
    /// Bytes that may wait in one connection's write queue before it is closed as a slow
    /// consumer. Env `VOLLEY_MAX_BUFFERED`, default 4 MiB.
    pub max_buffered: usize,
    /// Memory that all WebSocket and HTTP write queues of the server may hold together: their
    /// bytes and their entries (a few dozen bytes per queued frame), shared evenly by the
    /// workers (each share at least `max_buffered`). A worker keeps an eighth under its share:
    /// past that it drops volatile packets, its connections' input waits unparsed until its
    /// writes went out, and at the end of its loop turn it cuts the connections that are behind
    /// (their sockets refused bytes) as slow consumers until the rest fit, largest queue
    /// first. A reader behind is cut at once at the share; only a burst to readers keeping up
    /// may pass it within a turn, by twice at most. A broadcast frame queued for many
    /// connections counts once per connection, so this bounds memory from above. Env
    /// `VOLLEY_MAX_BUFFERED_TOTAL`, default 256 MiB; must be positive.
    pub max_buffered_total: usize,
    /// Longest a byte may wait in a connection's write queue: a connection whose oldest queued
    /// byte waited longer is cut as a slow consumer (counted in
    /// `volley_queue_age_cuts_total`), however little it holds. Judged by a sweep every
    /// eighth of it, to within an eighth (never early). Zero turns it off. Env
    /// `VOLLEY_MAX_QUEUE_AGE_MS`, default 0 (off: readers are judged by bytes alone).
    pub max_queue_age: Duration,
    /// Messages a worker's mailbox holds before a handle's `try_` forms report it full and its
    /// blocking forms wait (the plain forms and the workers' own messages always go: this
    /// paces producers on other threads, it drops nothing). Env `VOLLEY_MAILBOX_CAPACITY`,
    /// default 65,536; must be positive.
    pub mailbox_capacity: usize,
    /// Time a closing connection waits for the peer's close frame / EOF after ours.
    /// Env `VOLLEY_CLOSE_TIMEOUT_MS`, default 1,000.
    pub close_timeout: Duration,
    /// Time graceful shutdown waits for queued bytes to flush. Env
    /// `VOLLEY_SHUTDOWN_TIMEOUT_MS`, default 5,000.
    pub shutdown_timeout: Duration,
    /// Engine.IO ping interval. Env `VOLLEY_PING_INTERVAL_MS`, default 25,000.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout. Env `VOLLEY_PING_TIMEOUT_MS`, default 20,000.
    pub ping_timeout: Duration,
    /// Time a Socket.IO client has to connect to a namespace. Env
    /// `VOLLEY_CONNECT_TIMEOUT_MS`, default 45,000.
    pub connect_timeout: Duration,
    /// Path of the Socket.IO endpoint. Env `VOLLEY_PATH`, default `/socket.io/`.
    pub path: String,
    /// Path of the raw Engine.IO endpoint. Env `VOLLEY_EIO_PATH`, default `/engine.io/`.
    pub eio_path: String,
    /// Time the binary attachments of one Socket.IO packet have to arrive.
    /// Env `VOLLEY_ATTACHMENT_TIMEOUT_MS`, default 10,000.
    pub attachment_timeout: Duration,
    /// Most binary attachments in one Socket.IO packet. Env `VOLLEY_MAX_ATTACHMENTS`, default 10.
    pub max_attachments: usize,
    /// Deepest JSON nesting accepted in a Socket.IO packet; a deeper packet is dropped and
    /// counted (`volley_packets_too_deep_total`), the session goes on. Env
    /// `VOLLEY_MAX_JSON_DEPTH`, default 1000.
    pub max_json_depth: usize,
    /// The Socket.IO parser clients must use. Env `VOLLEY_PARSER` (`json`|`msgpack`), default
    /// [`Parser::Json`]. With msgpack, `max_attachments` bounds the binary values of one packet,
    /// `max_json_depth` its nesting, and `max_payload` the whole message.
    pub parser: Parser,
    /// Allowed transports. Env `VOLLEY_TRANSPORTS` (`polling,websocket`, `websocket`,
    /// `polling`), default both.
    pub transports: Transports,
    /// Time an upgrade from polling to WebSocket has to complete. Env
    /// `VOLLEY_UPGRADE_TIMEOUT_MS`, default 10,000.
    pub upgrade_timeout: Duration,
    /// Accept Engine.IO v3 clients (Socket.IO 2.x), as the reference's `allowEIO3`: a request
    /// whose `EIO` is not `4` opens a v3 session (client pings, length-framed polling payloads,
    /// Socket.IO v2 packets). Off, such a request is refused with 400 and
    /// `{"code":5,"message":"Unsupported protocol version"}`. Env `VOLLEY_ALLOW_EIO3` (1 or 0),
    /// default off.
    pub allow_eio3: bool,
    /// Compress polling responses (gzip or deflate, as the request's `Accept-Encoding` asks)
    /// whose payload reaches `http_compression_threshold` bytes and holds a packet sent with
    /// compression allowed (the default; `SendOptions` turns it off per message): the
    /// reference's `httpCompression`. Costs CPU on the worker for fewer bytes on the wire
    /// (JSON shrinks several times). Env `VOLLEY_HTTP_COMPRESSION` (1 or 0), default on.
    pub http_compression: bool,
    /// Smallest polling payload, in bytes, that is compressed (the reference's
    /// `httpCompression.threshold`). Env `VOLLEY_HTTP_COMPRESSION_THRESHOLD`, default 1024.
    pub http_compression_threshold: usize,
    /// Offer WebSocket clients permessage-deflate (RFC 7692): a client that asks for it gets
    /// messages of at least `deflate_threshold` bytes compressed, and may send compressed ones
    /// (limited by `max_payload` once inflated). Costs worker CPU and memory: a connection that
    /// keeps its compression context holds about 410 KiB of compressor state from its first
    /// large message on (none between messages for clients that ask for
    /// `server_no_context_takeover`), and about 46 KiB of decompressor state from the first
    /// compressed message it sends. Off by default, as the reference's `perMessageDeflate`.
    /// Env `VOLLEY_PER_MESSAGE_DEFLATE` (1 or 0).
    pub per_message_deflate: bool,
    /// Smallest WebSocket message, in bytes, sent compressed where permessage-deflate was
    /// negotiated (the reference's `perMessageDeflate.threshold`); smaller ones go out plain.
    /// Env `VOLLEY_DEFLATE_THRESHOLD`, default 1024.
    pub deflate_threshold: usize,
    /// Origins allowed by CORS (`*` for any); empty turns CORS off. Env
    /// `VOLLEY_CORS_ORIGINS` (comma-separated), default empty.
    pub cors_origins: Vec<String>,
    /// Allow credentials in CORS requests. Env `VOLLEY_CORS_CREDENTIALS`, default off.
    pub cors_credentials: bool,
    /// Methods a CORS preflight allows (`Access-Control-Allow-Methods`). Env
    /// `VOLLEY_CORS_METHODS` (comma-separated), default `GET,HEAD,PUT,PATCH,POST,DELETE` (the
    /// reference's `cors` module default).
    pub cors_methods: Vec<String>,
    /// Headers a CORS preflight allows (`Access-Control-Allow-Headers`); empty reflects the
    /// request's `Access-Control-Request-Headers`. Env `VOLLEY_CORS_ALLOWED_HEADERS`
    /// (comma-separated), default empty.
    pub cors_allowed_headers: Vec<String>,
    /// Headers the browser may read from CORS responses (`Access-Control-Expose-Headers`, on
    /// preflights and actual requests, as the `cors` module's `exposedHeaders`). Env
    /// `VOLLEY_CORS_EXPOSED_HEADERS` (comma-separated), default empty (not sent).
    pub cors_exposed_headers: Vec<String>,
    /// How long, in seconds, a browser may cache a preflight's answer
    /// (`Access-Control-Max-Age`, the `cors` module's `maxAge`). Env `VOLLEY_CORS_MAX_AGE`,
    /// default none (not sent).
    pub cors_max_age: Option<u64>,
    /// Status of a successful CORS preflight (the `cors` module's `optionsSuccessStatus`; some
    /// old browsers want 200). Env `VOLLEY_CORS_OPTIONS_STATUS`, default 204.
    pub cors_options_status: u16,
    /// Name of a cookie holding the session id, set on the polling handshake for sticky load
    /// balancers. Env `VOLLEY_COOKIE`, default none.
    pub cookie: Option<String>,
    /// `Path` of the session cookie; `None` leaves the attribute out (the reference's
    /// `cookie.path: false`). Env `VOLLEY_COOKIE_PATH` (empty: none), default `/`.
    pub cookie_path: Option<String>,
    /// Whether the session cookie is `HttpOnly`; `None` follows the reference's default: on
    /// when the cookie has a path, off without one. Env `VOLLEY_COOKIE_HTTP_ONLY` (1 or 0),
    /// default `None`.
    pub cookie_http_only: Option<bool>,
    /// `SameSite` of the session cookie; `None` leaves the attribute out. Env
    /// `VOLLEY_COOKIE_SAME_SITE` (`lax`, `strict`, `none`; empty: left out), default `Lax`.
    pub cookie_same_site: Option<SameSite>,
    /// Path on the same listener where statistics are served in Prometheus text format.
    /// Env `VOLLEY_METRICS_PATH`, default none (not served).
    pub metrics_path: Option<String>,
    /// Most connections open at once (all workers together); beyond it new connections get 503
    /// and are closed, and counted. Env `VOLLEY_MAX_CONNECTIONS`, default unlimited.
    pub max_connections: usize,
    /// Redis to share broadcasts and socket operations with the other servers of a cluster
    /// (`redis://[[user]:password@]host[:port]`), compatible with `@socket.io/redis-adapter`
    /// or `@socket.io/redis-streams-adapter` (`redis_adapter`).
    /// Env `VOLLEY_REDIS_URL`, default none (a server alone).
    pub redis_url: Option<String>,
    /// First part of every Redis channel name (the pub/sub adapter's `key` option, the streams
    /// adapter's `channelPrefix`). Env
    /// `VOLLEY_REDIS_PREFIX`, default `socket.io`.
    pub redis_prefix: String,
    /// Which Redis adapter joins the cluster (only with `redis_url`): classic pub/sub,
    /// sharded pub/sub on a Redis Cluster (then `redis_url` may list several nodes,
    /// comma-separated) or a stream. Env `VOLLEY_REDIS_ADAPTER` (`pubsub`|`sharded`|`streams`),
    /// default [`RedisAdapterKind::PubSub`].
    pub redis_adapter: RedisAdapterKind,
    /// The sharded adapter's channels. Env `VOLLEY_REDIS_SUBSCRIPTION_MODE`
    /// (`static`|`dynamic`|`dynamic-private`), default [`SubscriptionMode::Dynamic`].
    pub redis_subscription_mode: SubscriptionMode,
    /// The stream the streams adapter appends to and reads (its `streamName`). Env
    /// `VOLLEY_REDIS_STREAM_NAME`, default `socket.io`.
    pub redis_stream_name: String,
    /// About how many entries the stream keeps (`XADD MAXLEN ~`, the streams adapter's
    /// `maxLen`): more lets a server that fell behind catch up, at the cost of Redis memory.
    /// Env `VOLLEY_REDIS_STREAM_MAX_LEN`, default 10000.
    pub redis_stream_max_len: usize,
    /// Most entries one `XREAD` returns (the streams adapter's `readCount`). Env
    /// `VOLLEY_REDIS_STREAM_READ_COUNT`, default 100.
    pub redis_stream_read_count: usize,
    /// How long one `XREAD` waits for new entries (the streams adapter's `blockTimeInMs`).
    /// Env `VOLLEY_REDIS_STREAM_BLOCK_TIME_MS`, default 5000.
    pub redis_stream_block_time: Duration,
    /// Connection state recovery (the reference's `connectionStateRecovery`
    /// `maxDisconnectionDuration`): how long a socket that lost its connection keeps its id,
    /// rooms and data, and how long the packets it could miss are kept, for its client to come
    /// back with them. Zero turns recovery off. Env `VOLLEY_RECOVERY_MS`, default 0 (off, as
    /// the reference where it must be enabled; [`crate::server::ServerBuilder::connection_state_recovery`]
    /// turns it on with the reference's 2 minutes). It costs memory: every broadcast and emit
    /// without an ack is kept for this long (bounded by [`Config::recovery_max_bytes`]).
    pub recovery: Duration,
    /// Whether a recovered socket skips the connect middleware (the reference's
    /// `skipMiddlewares`); `on_connect` runs either way. Env
    /// `VOLLEY_RECOVERY_SKIP_MIDDLEWARES`, default 1 (skip).
    pub recovery_skip_middlewares: bool,
    /// Most bytes held for recovery: kept packets and lost sockets' sessions (their data aside),
    /// with their bookkeeping. Past it the oldest packets go first, then the oldest sessions; a
    /// client whose offset or session went gets a fresh session. Env
    /// `VOLLEY_RECOVERY_MAX_BYTES`, default 64 MiB.
    pub recovery_max_bytes: usize,
    /// Longest a cluster request (`fetch_sockets`, server-side emits with acks) waits for the
    /// other servers before it returns what came and names the servers missing (Node's
    /// `requestsTimeout`). Shorter: a dead server fails requests sooner; longer: a busy server
    /// has more time to answer. Env `VOLLEY_REQUESTS_TIMEOUT_MS`, default 5000.
    pub requests_timeout: Duration,
    /// The Socket.IO admin UI's namespace (`@socket.io/admin-ui`'s `instrument`), when on:
    /// see [`crate::server::ServerBuilder::admin_ui`]. Env `VOLLEY_ADMIN_UI=1` with
    /// `VOLLEY_ADMIN_UI_USERNAME` and `VOLLEY_ADMIN_UI_PASSWORD_HASH` (a bcrypt hash), or
    /// `VOLLEY_ADMIN_UI_AUTH=0` for none; `VOLLEY_ADMIN_UI_READONLY` (default 0),
    /// `VOLLEY_ADMIN_UI_MODE` (`development`, the default, or `production`),
    /// `VOLLEY_ADMIN_UI_NAMESPACE` (default `/admin`), `VOLLEY_ADMIN_UI_SERVER_ID` (default the
    /// host name). Default: off.
    pub admin_ui: Option<AdminUi>,
    /// PEM file with the server's certificate chain (leaf first): with [`Config::tls_key`],
    /// every listener speaks TLS (`https://`, `wss://`; needs the `tls` cargo feature). A file
    /// that cannot be used makes the server fail to start. Env `VOLLEY_TLS_CERT`, default none
    /// (plain TCP).
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the private key of [`Config::tls_cert`] (PKCS#8, PKCS#1 or SEC1). Env
    /// `VOLLEY_TLS_KEY`, default none.
    pub tls_key: Option<PathBuf>,
    /// A complete rustls configuration, used instead of `tls_cert`/`tls_key` (client
    /// certificates, several certificates by SNI, other versions). Builder only, default none.
    #[cfg(feature = "tls")]
    pub tls_config: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)).into(),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            pin_cores: false,
            first_core: 0,
            backend: Backend::Uring,
            uring_direct: false,
            uring_batch: Duration::from_micros(50),
            accept: AcceptMode::ReusePort,
            max_payload: 1_000_000,
            handshake_timeout: Duration::from_millis(10_000),
            max_header_bytes: 8192,
            max_headers: 32,
            max_buffered: 4 << 20,
            max_buffered_total: 256 << 20,
            max_queue_age: Duration::ZERO,
            mailbox_capacity: 65_536,
            close_timeout: Duration::from_millis(1_000),
            shutdown_timeout: Duration::from_millis(5_000),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(45_000),
            path: "/socket.io/".to_string(),
            eio_path: "/engine.io/".to_string(),
            attachment_timeout: Duration::from_millis(10_000),
            max_attachments: 10,
            max_json_depth: 1000,
            parser: Parser::Json,
            transports: Transports {
                polling: true,
                websocket: true,
            },
            upgrade_timeout: Duration::from_millis(10_000),
            allow_eio3: false,
            http_compression: true,
            http_compression_threshold: 1024,
            per_message_deflate: false,
            deflate_threshold: 1024,
            cors_origins: Vec::new(),
            cors_credentials: false,
            cors_methods: ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"]
                .map(String::from)
                .to_vec(),
            cors_allowed_headers: Vec::new(),
            cors_exposed_headers: Vec::new(),
            cors_max_age: None,
            cors_options_status: 204,
            cookie: None,
            cookie_path: Some("/".to_string()),
            cookie_http_only: None,
            cookie_same_site: Some(SameSite::Lax),
            metrics_path: None,
            max_connections: usize::MAX,
            redis_url: None,
            redis_prefix: "socket.io".to_string(),
            redis_adapter: RedisAdapterKind::PubSub,
            redis_subscription_mode: SubscriptionMode::Dynamic,
            redis_stream_name: "socket.io".to_string(),
            redis_stream_max_len: 10_000,
            redis_stream_read_count: 100,
            redis_stream_block_time: Duration::from_millis(5000),
            recovery: Duration::ZERO,
            recovery_skip_middlewares: true,
            recovery_max_bytes: 64 << 20,
            requests_timeout: Duration::from_millis(5000),
            admin_ui: None,
            tls_cert: None,
            tls_key: None,
            #[cfg(feature = "tls")]
            tls_config: None,
        }
    }
}

/// The part of [`Config`] the runtime reads (listeners, workers, backend, HTTP and write-queue
/// limits, timeouts of connections, TLS): the runtime knows nothing of Engine.IO or Socket.IO,
/// and neither does its configuration. Made from a [`Config`] with `RuntimeConfig::from`; each
/// field is the one of the same name there, with its default.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// [`Config::listen`].
    pub listen: Listen,
    /// [`Config::workers`].
    pub workers: usize,
    /// [`Config::pin_cores`].
    pub pin_cores: bool,
    /// [`Config::first_core`].
    pub first_core: usize,
    /// [`Config::backend`].
    pub backend: Backend,
    /// [`Config::uring_direct`].
    pub uring_direct: bool,
    /// [`Config::uring_batch`].
    pub uring_batch: Duration,
    /// [`Config::accept`].
    pub accept: AcceptMode,
    /// [`Config::max_payload`]: the largest WebSocket message.
    pub max_payload: usize,
    /// [`Config::per_message_deflate`].
    pub per_message_deflate: bool,
    /// [`Config::deflate_threshold`].
    pub deflate_threshold: usize,
    /// [`Config::handshake_timeout`].
    pub handshake_timeout: Duration,
    /// [`Config::max_header_bytes`].
    pub max_header_bytes: usize,
    /// [`Config::max_headers`].
    pub max_headers: usize,
    /// [`Config::max_buffered`].
    pub max_buffered: usize,
    /// [`Config::max_buffered_total`].
    pub max_buffered_total: usize,
    /// [`Config::max_queue_age`].
    pub max_queue_age: Duration,
    /// [`Config::mailbox_capacity`].
    pub mailbox_capacity: usize,
    /// [`Config::close_timeout`].
    pub close_timeout: Duration,
    /// [`Config::shutdown_timeout`].
    pub shutdown_timeout: Duration,
    /// [`Config::max_connections`].
    pub max_connections: usize,
    /// [`Config::tls_cert`].
    pub tls_cert: Option<PathBuf>,
    /// [`Config::tls_key`].
    pub tls_key: Option<PathBuf>,
    /// [`Config::tls_config`].
    #[cfg(feature = "tls")]
    pub tls_config: Option<std::sync::Arc<rustls::ServerConfig>>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig::from(&Config::default())
    }
}

impl From<&Config> for RuntimeConfig {
    fn from(c: &Config) -> Self {
        RuntimeConfig {
            listen: c.listen.clone(),
            workers: c.workers,
            pin_cores: c.pin_cores,
            first_core: c.first_core,
            backend: c.backend,
            uring_direct: c.uring_direct,
            uring_batch: c.uring_batch,
            accept: c.accept,
            max_payload: c.max_payload,
            per_message_deflate: c.per_message_deflate,
            deflate_threshold: c.deflate_threshold,
            handshake_timeout: c.handshake_timeout,
            max_header_bytes: c.max_header_bytes,
            max_headers: c.max_headers,
            max_buffered: c.max_buffered,
            max_buffered_total: c.max_buffered_total,
            max_queue_age: c.max_queue_age,
            mailbox_capacity: c.mailbox_capacity,
            close_timeout: c.close_timeout,
            shutdown_timeout: c.shutdown_timeout,
            max_connections: c.max_connections,
            tls_cert: c.tls_cert.clone(),
            tls_key: c.tls_key.clone(),
            #[cfg(feature = "tls")]
            tls_config: c.tls_config.clone(),
        }
    }
}

impl From<Config> for RuntimeConfig {
    fn from(c: Config) -> Self {
        RuntimeConfig::from(&c)
    }
}

/// A `VOLLEY_*` variable that is set but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// The value found.
    pub value: String,
    /// What was expected.
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?}: expected {}",
            self.var, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The defaults, overridden by every `VOLLEY_*` variable that is set.
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`] with a custom variable source (used by tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let env = Env(&get);
        env.parse(
            "VOLLEY_LISTEN",
            "systemd or addresses such as 127.0.0.1:3000,[::1]:3000",
            &mut c.listen,
        )?;
        env.parse("VOLLEY_WORKERS", "a positive integer", &mut c.workers)?;
        if c.workers == 0 {
            return Err(env.error("VOLLEY_WORKERS", "a positive integer"));
        }
        env.flag("VOLLEY_PIN_CORES", &mut c.pin_cores)?;
        env.parse("VOLLEY_FIRST_CORE", "a core index", &mut c.first_core)?;
        if let Some(v) = get("VOLLEY_BACKEND") {
            c.backend = Backend::from_name(&v)
                .ok_or_else(|| env.error("VOLLEY_BACKEND", "epoll or uring"))?;
        }
        env.flag("VOLLEY_URING_DIRECT", &mut c.uring_direct)?;
        let mut batch_us = c.uring_batch.as_micros() as u64;
        env.parse("VOLLEY_URING_BATCH_US", "microseconds", &mut batch_us)?;
        c.uring_batch = Duration::from_micros(batch_us);
        if let Some(v) = get("VOLLEY_ACCEPT") {
            c.accept = match v.trim() {
                "reuseport" => AcceptMode::ReusePort,
                "acceptor" => AcceptMode::Acceptor,
                _ => return Err(env.error("VOLLEY_ACCEPT", "reuseport or acceptor")),
            };
        }
        env.parse("VOLLEY_MAX_PAYLOAD", "a size in bytes", &mut c.max_payload)?;
        env.millis("VOLLEY_HANDSHAKE_TIMEOUT_MS", &mut c.handshake_timeout)?;
        env.parse(
            "VOLLEY_MAX_HEADER_BYTES",
            "a size in bytes",
            &mut c.max_header_bytes,
        )?;
        env.parse("VOLLEY_MAX_HEADERS", "a count", &mut c.max_headers)?;
        env.parse(
            "VOLLEY_MAX_BUFFERED",
            "a size in bytes",
            &mut c.max_buffered,
        )?;
        env.parse(
            "VOLLEY_MAX_BUFFERED_TOTAL",
            "a positive size in bytes",
            &mut c.max_buffered_total,
        )?;
        if c.max_buffered_total == 0 {
            return Err(env.error("VOLLEY_MAX_BUFFERED_TOTAL", "a positive size in bytes"));
        }
        env.millis("VOLLEY_MAX_QUEUE_AGE_MS", &mut c.max_queue_age)?;
        env.parse(
            "VOLLEY_MAILBOX_CAPACITY",
            "a positive count of messages",
            &mut c.mailbox_capacity,
        )?;
        if c.mailbox_capacity == 0 {
            return Err(env.error("VOLLEY_MAILBOX_CAPACITY", "a positive count of messages"));
        }
        env.millis("VOLLEY_CLOSE_TIMEOUT_MS", &mut c.close_timeout)?;
        env.millis("VOLLEY_SHUTDOWN_TIMEOUT_MS", &mut c.shutdown_timeout)?;
        env.millis("VOLLEY_PING_INTERVAL_MS", &mut c.ping_interval)?;
        env.millis("VOLLEY_PING_TIMEOUT_MS", &mut c.ping_timeout)?;
        env.millis("VOLLEY_CONNECT_TIMEOUT_MS", &mut c.connect_timeout)?;
        env.parse("VOLLEY_PATH", "a path such as /socket.io/", &mut c.path)?;
        env.parse(
            "VOLLEY_EIO_PATH",
            "a path such as /engine.io/",
            &mut c.eio_path,
        )?;
        env.millis("VOLLEY_ATTACHMENT_TIMEOUT_MS", &mut c.attachment_timeout)?;
        env.parse("VOLLEY_MAX_ATTACHMENTS", "a count", &mut c.max_attachments)?;
        env.parse("VOLLEY_MAX_JSON_DEPTH", "a depth", &mut c.max_json_depth)?;
        if let Some(v) = get("VOLLEY_PARSER") {
            c.parser = Parser::from_name(&v)
                .ok_or_else(|| env.error("VOLLEY_PARSER", "json or msgpack"))?;
        }
        if let Some(v) = get("VOLLEY_TRANSPORTS") {
            let mut t = Transports {
                polling: false,
                websocket: false,
            };
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                match part {
                    "polling" => t.polling = true,
                    "websocket" => t.websocket = true,
                    _ => return Err(env.error("VOLLEY_TRANSPORTS", "polling, websocket or both")),
                }
            }
            if !t.polling && !t.websocket {
                return Err(env.error("VOLLEY_TRANSPORTS", "polling, websocket or both"));
            }
            c.transports = t;
        }
        env.millis("VOLLEY_UPGRADE_TIMEOUT_MS", &mut c.upgrade_timeout)?;
        env.flag("VOLLEY_ALLOW_EIO3", &mut c.allow_eio3)?;
        env.flag("VOLLEY_HTTP_COMPRESSION", &mut c.http_compression)?;
        env.parse(
            "VOLLEY_HTTP_COMPRESSION_THRESHOLD",
            "a size in bytes",
            &mut c.http_compression_threshold,
        )?;
        env.flag("VOLLEY_PER_MESSAGE_DEFLATE", &mut c.per_message_deflate)?;
        env.parse(
            "VOLLEY_DEFLATE_THRESHOLD",
            "a size in bytes",
            &mut c.deflate_threshold,
        )?;
        let list = |v: String| -> Vec<String> {
            v.split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect()
        };
        if let Some(v) = get("VOLLEY_CORS_ORIGINS") {
            c.cors_origins = list(v);
        }
        env.flag("VOLLEY_CORS_CREDENTIALS", &mut c.cors_credentials)?;
        if let Some(v) = get("VOLLEY_CORS_METHODS") {
            c.cors_methods = list(v);
        }
        if let Some(v) = get("VOLLEY_CORS_ALLOWED_HEADERS") {
            c.cors_allowed_headers = list(v);
        }
        if let Some(v) = get("VOLLEY_CORS_EXPOSED_HEADERS") {
            c.cors_exposed_headers = list(v);
        }
        if get("VOLLEY_CORS_MAX_AGE").is_some() {
            let mut secs = 0u64;
            env.parse("VOLLEY_CORS_MAX_AGE", "a number of seconds", &mut secs)?;
            c.cors_max_age = Some(secs);
        }
        env.parse(
            "VOLLEY_CORS_OPTIONS_STATUS",
            "an HTTP status",
            &mut c.cors_options_status,
        )?;
        if !(200..300).contains(&c.cors_options_status) {
            return Err(env.error("VOLLEY_CORS_OPTIONS_STATUS", "a 2xx HTTP status"));
        }
        if let Some(v) = get("VOLLEY_COOKIE") {
            c.cookie = (!v.trim().is_empty()).then(|| v.trim().to_string());
        }
        if let Some(v) = get("VOLLEY_COOKIE_PATH") {
            c.cookie_path = (!v.trim().is_empty()).then(|| v.trim().to_string());
        }
        if get("VOLLEY_COOKIE_HTTP_ONLY").is_some() {
            let mut on = false;
            env.flag("VOLLEY_COOKIE_HTTP_ONLY", &mut on)?;
            c.cookie_http_only = Some(on);
        }
        if let Some(v) = get("VOLLEY_COOKIE_SAME_SITE") {
            c.cookie_same_site = match v.trim().to_ascii_lowercase().as_str() {
                "" => None,
                "lax" => Some(SameSite::Lax),
                "strict" => Some(SameSite::Strict),
                "none" => Some(SameSite::None),
                _ => return Err(env.error("VOLLEY_COOKIE_SAME_SITE", "lax, strict, none or empty")),
            };
        }
        env.parse("VOLLEY_MAX_CONNECTIONS", "a count", &mut c.max_connections)?;
        if let Some(v) = get("VOLLEY_METRICS_PATH") {
            c.metrics_path = (!v.trim().is_empty()).then(|| v.trim().to_string());
        }
        if let Some(v) = get("VOLLEY_REDIS_URL") {
            c.redis_url = (!v.trim().is_empty()).then(|| v.trim().to_string());
        }
        env.millis("VOLLEY_RECOVERY_MS", &mut c.recovery)?;
        env.flag(
            "VOLLEY_RECOVERY_SKIP_MIDDLEWARES",
            &mut c.recovery_skip_middlewares,
        )?;
        env.parse(
            "VOLLEY_RECOVERY_MAX_BYTES",
            "a size in bytes",
            &mut c.recovery_max_bytes,
        )?;
        if let Some(v) = get("VOLLEY_REDIS_PREFIX") {
            if v.trim().is_empty() {
                return Err(env.error("VOLLEY_REDIS_PREFIX", "a channel prefix"));
            }
            c.redis_prefix = v.trim().to_string();
        }
        if let Some(v) = get("VOLLEY_REDIS_ADAPTER") {
            c.redis_adapter = RedisAdapterKind::from_name(&v)
                .ok_or_else(|| env.error("VOLLEY_REDIS_ADAPTER", "pubsub, sharded or streams"))?;
        }
        if let Some(v) = get("VOLLEY_REDIS_STREAM_NAME") {
            if v.trim().is_empty() {
                return Err(env.error("VOLLEY_REDIS_STREAM_NAME", "a stream name"));
            }
            c.redis_stream_name = v.trim().to_string();
        }
        env.parse(
            "VOLLEY_REDIS_STREAM_MAX_LEN",
            "a count",
            &mut c.redis_stream_max_len,
        )?;
        env.parse(
            "VOLLEY_REDIS_STREAM_READ_COUNT",
            "a count",
            &mut c.redis_stream_read_count,
        )?;
        env.millis(
            "VOLLEY_REDIS_STREAM_BLOCK_TIME_MS",
            &mut c.redis_stream_block_time,
        )?;
        if c.redis_stream_read_count == 0 {
            return Err(env.error("VOLLEY_REDIS_STREAM_READ_COUNT", "a count above 0"));
        }
        if c.redis_stream_block_time.is_zero() {
            return Err(env.error("VOLLEY_REDIS_STREAM_BLOCK_TIME_MS", "milliseconds above 0"));
        }
        if let Some(v) = get("VOLLEY_REDIS_SUBSCRIPTION_MODE") {
            c.redis_subscription_mode = SubscriptionMode::from_name(&v).ok_or_else(|| {
                env.error(
                    "VOLLEY_REDIS_SUBSCRIPTION_MODE",
                    "static, dynamic or dynamic-private",
                )
            })?;
        }
        env.millis("VOLLEY_REQUESTS_TIMEOUT_MS", &mut c.requests_timeout)?;
        if c.requests_timeout.is_zero() {
            // Every request would fail before any server could answer.
            return Err(env.error("VOLLEY_REQUESTS_TIMEOUT_MS", "milliseconds above 0"));
        }
        c.admin_ui = admin_ui(&env, &get)?;
        let path = |v: String| (!v.trim().is_empty()).then(|| PathBuf::from(v.trim()));
        if let Some(v) = get("VOLLEY_TLS_CERT") {
            c.tls_cert = path(v);
        }
        if let Some(v) = get("VOLLEY_TLS_KEY") {
            c.tls_key = path(v);
        }
        Ok(c)
    }
}

/// The admin UI's options from `VOLLEY_ADMIN_UI*`; `None` unless `VOLLEY_ADMIN_UI` is on. Like
/// the reference, which refuses to start without an `auth` option, it wants credentials or
/// an explicit `VOLLEY_ADMIN_UI_AUTH=0`.
fn admin_ui<F: Fn(&str) -> Option<String>>(
    env: &Env<'_, F>,
    get: &F,
) -> Result<Option<AdminUi>, ConfigError> {
    let mut on = false;
    env.flag("VOLLEY_ADMIN_UI", &mut on)?;
    if !on {
        return Ok(None);
    }
    let mut with_auth = true;
    env.flag("VOLLEY_ADMIN_UI_AUTH", &mut with_auth)?;
    let auth = if with_auth {
        let hash = get("VOLLEY_ADMIN_UI_PASSWORD_HASH").filter(|h| !h.trim().is_empty());
        let Some(hash) = hash else {
            return Err(env.error(
                "VOLLEY_ADMIN_UI_PASSWORD_HASH",
                "a bcrypt hash (or VOLLEY_ADMIN_UI_AUTH=0 for no authentication)",
            ));
        };
        AdminAuth::Basic {
            username: get("VOLLEY_ADMIN_UI_USERNAME")
                .map(|u| u.trim().to_string())
                .unwrap_or_default(),
            password_hash: hash.trim().to_string(),
        }
    } else {
        AdminAuth::Off
    };
    let mut ui = AdminUi::new(auth);
    env.flag("VOLLEY_ADMIN_UI_READONLY", &mut ui.readonly)?;
    if let Some(v) = get("VOLLEY_ADMIN_UI_MODE") {
        ui.mode = AdminMode::from_name(&v)
            .ok_or_else(|| env.error("VOLLEY_ADMIN_UI_MODE", "development or production"))?;
    }
    if let Some(v) = get("VOLLEY_ADMIN_UI_NAMESPACE") {
        if !v.trim().starts_with('/') {
            return Err(env.error("VOLLEY_ADMIN_UI_NAMESPACE", "a namespace such as /admin"));
        }
        ui.namespace = v.trim().to_string();
    }
    if let Some(v) = get("VOLLEY_ADMIN_UI_SERVER_ID") {
        ui.server_id = (!v.trim().is_empty()).then(|| v.trim().to_string());
    }
    ui.check()?;
    Ok(Some(ui))
}

struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    fn error(&self, var: &'static str, expected: &'static str) -> ConfigError {
        ConfigError {
            var,
            value: (self.0)(var).unwrap_or_default(),
            expected,
        }
    }

    fn parse<T: FromStr>(
        &self,
        var: &'static str,
        expected: &'static str,
        slot: &mut T,
    ) -> Result<(), ConfigError> {
        if let Some(v) = (self.0)(var) {
            *slot = v.trim().parse().map_err(|_| self.error(var, expected))?;
        }
        Ok(())
    }

    fn millis(&self, var: &'static str, slot: &mut Duration) -> Result<(), ConfigError> {
        let mut ms = slot.as_millis() as u64;
        self.parse(var, "a duration in milliseconds", &mut ms)?;
        *slot = Duration::from_millis(ms);
        Ok(())
    }

    fn flag(&self, var: &'static str, slot: &mut bool) -> Result<(), ConfigError> {
        if let Some(v) = (self.0)(var) {
            *slot = parse_flag(&v).ok_or_else(|| self.error(var, "1 or 0"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_when_unset() {
        let c = from(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(c.max_payload, 1_000_000);
        assert_eq!(c.ping_interval, Duration::from_millis(25_000));
        assert_eq!(c.ping_timeout, Duration::from_millis(20_000));
        assert_eq!(c.backend, Backend::Uring);
        assert_eq!(c.parser, Parser::Json);
        assert!(!c.uring_direct);
        assert_eq!(c.uring_batch, Duration::from_micros(50));
        assert_eq!(c.max_buffered_total, 256 << 20);
        assert_eq!(c.max_queue_age, Duration::ZERO);
        assert_eq!(c.mailbox_capacity, 65_536);
        assert!(c.workers >= 1);
    }

    #[test]
    fn overrides_from_env() {
        let c = from(&[
            ("VOLLEY_LISTEN", "127.0.0.1:4000"),
            ("VOLLEY_WORKERS", "3"),
            ("VOLLEY_PIN_CORES", "1"),
            ("VOLLEY_MAX_PAYLOAD", "42"),
            ("VOLLEY_PING_INTERVAL_MS", "300"),
            ("VOLLEY_BACKEND", "epoll"),
            ("VOLLEY_URING_DIRECT", "1"),
            ("VOLLEY_URING_BATCH_US", "0"),
            ("VOLLEY_MAX_BUFFERED_TOTAL", "1048576"),
            ("VOLLEY_MAX_QUEUE_AGE_MS", "5000"),
        ])
        .unwrap();
        assert_eq!(c.max_buffered_total, 1 << 20);
        assert_eq!(c.max_queue_age, Duration::from_secs(5));
        assert_eq!(c.listen, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(c.workers, 3);
        assert!(c.pin_cores);
        assert_eq!(c.max_payload, 42);
        assert_eq!(c.ping_interval, Duration::from_millis(300));
        assert_eq!(c.backend, Backend::Epoll);
        assert!(c.uring_direct);
        assert_eq!(c.uring_batch, Duration::ZERO);
    }

    #[test]
    fn per_message_deflate_settings() {
        let c = from(&[]).unwrap();
        assert!(!c.per_message_deflate);
        assert_eq!(c.deflate_threshold, 1024);
        let c = from(&[
            ("VOLLEY_PER_MESSAGE_DEFLATE", "1"),
            ("VOLLEY_DEFLATE_THRESHOLD", "0"),
        ])
        .unwrap();
        assert!(c.per_message_deflate);
        let r = RuntimeConfig::from(&c);
        assert!(r.per_message_deflate);
        assert_eq!(r.deflate_threshold, 0);
        let e = from(&[("VOLLEY_DEFLATE_THRESHOLD", "-1")]).unwrap_err();
        assert_eq!(e.var, "VOLLEY_DEFLATE_THRESHOLD");
        let e = from(&[("VOLLEY_PER_MESSAGE_DEFLATE", "yes please")]).unwrap_err();
        assert_eq!(e.var, "VOLLEY_PER_MESSAGE_DEFLATE");
    }

    #[test]
    fn allow_eio3_setting() {
        assert!(!from(&[]).unwrap().allow_eio3);
        assert!(from(&[("VOLLEY_ALLOW_EIO3", "1")]).unwrap().allow_eio3);
        assert!(!from(&[("VOLLEY_ALLOW_EIO3", "0")]).unwrap().allow_eio3);
        let e = from(&[("VOLLEY_ALLOW_EIO3", "v3")]).unwrap_err();
        assert_eq!(e.var, "VOLLEY_ALLOW_EIO3");
    }

    #[test]
    fn http_compression_settings() {
        let c = from(&[]).unwrap();
        assert!(c.http_compression);
        assert_eq!(c.http_compression_threshold, 1024);
        let c = from(&[
            ("VOLLEY_HTTP_COMPRESSION", "0"),
            ("VOLLEY_HTTP_COMPRESSION_THRESHOLD", "0"),
        ])
        .unwrap();
        assert!(!c.http_compression);
        assert_eq!(c.http_compression_threshold, 0);
        let e = from(&[("VOLLEY_HTTP_COMPRESSION_THRESHOLD", "1k")]).unwrap_err();
        assert_eq!(e.var, "VOLLEY_HTTP_COMPRESSION_THRESHOLD");
        let e = from(&[("VOLLEY_HTTP_COMPRESSION", "maybe")]).unwrap_err();
        assert_eq!(e.var, "VOLLEY_HTTP_COMPRESSION");
    }

    #[test]
    fn listen_takes_several_addresses_or_systemd() {
        let c = from(&[("VOLLEY_LISTEN", "127.0.0.1:3000, [::1]:3001")]).unwrap();
        let want: Vec<SocketAddr> = vec![
            "127.0.0.1:3000".parse().unwrap(),
            "[::1]:3001".parse().unwrap(),
        ];
        assert_eq!(c.listen, Listen::Addrs(want));
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000,[::1]:3001");
        let c = from(&[("VOLLEY_LISTEN", "systemd")]).unwrap();
        assert_eq!(c.listen, Listen::Systemd);
        for bad in [
            "",
            "::1:3000",
            "127.0.0.1:3000,",
            "localhost:3000",
            "systemd,1.2.3.4:5",
        ] {
            assert_eq!(
                from(&[("VOLLEY_LISTEN", bad)]).unwrap_err().var,
                "VOLLEY_LISTEN",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cookie_and_cors_options() {
        let c = from(&[]).unwrap();
        assert_eq!(c.cookie_path.as_deref(), Some("/"));
        assert_eq!(c.cookie_http_only, None);
        assert_eq!(c.cookie_same_site, Some(SameSite::Lax));
        assert_eq!(c.cors_options_status, 204);
        assert_eq!(c.cors_max_age, None);
        let c = from(&[
            ("VOLLEY_COOKIE_PATH", ""),
            ("VOLLEY_COOKIE_HTTP_ONLY", "1"),
            ("VOLLEY_COOKIE_SAME_SITE", "Strict"),
            ("VOLLEY_CORS_EXPOSED_HEADERS", "a, b"),
            ("VOLLEY_CORS_MAX_AGE", "123"),
            ("VOLLEY_CORS_OPTIONS_STATUS", "200"),
        ])
        .unwrap();
        assert_eq!(c.cookie_path, None);
        assert_eq!(c.cookie_http_only, Some(true));
        assert_eq!(c.cookie_same_site, Some(SameSite::Strict));
        assert_eq!(c.cors_exposed_headers, ["a", "b"]);
        assert_eq!(c.cors_max_age, Some(123));
        assert_eq!(c.cors_options_status, 200);
        assert_eq!(
            from(&[("VOLLEY_COOKIE_SAME_SITE", "")])
                .unwrap()
                .cookie_same_site,
            None
        );
        for (var, value) in [
            ("VOLLEY_COOKIE_SAME_SITE", "sometimes"),
            ("VOLLEY_COOKIE_HTTP_ONLY", "maybe"),
            ("VOLLEY_CORS_MAX_AGE", "-1"),
            ("VOLLEY_CORS_OPTIONS_STATUS", "404"),
        ] {
            assert_eq!(from(&[(var, value)]).unwrap_err().var, var);
        }
    }

    #[test]
    fn redis_streams_settings() {
        let c = from(&[]).unwrap();
        assert_eq!(c.redis_adapter, RedisAdapterKind::PubSub);
        assert_eq!(c.redis_stream_name, "socket.io");
        assert_eq!(c.redis_stream_max_len, 10_000);
        assert_eq!(c.redis_stream_read_count, 100);
        assert_eq!(c.redis_stream_block_time, Duration::from_millis(5000));
        let c = from(&[
            ("VOLLEY_REDIS_ADAPTER", " streams"),
            ("VOLLEY_REDIS_STREAM_NAME", "events"),
            ("VOLLEY_REDIS_STREAM_MAX_LEN", "500"),
            ("VOLLEY_REDIS_STREAM_READ_COUNT", "10"),
            ("VOLLEY_REDIS_STREAM_BLOCK_TIME_MS", "250"),
        ])
        .unwrap();
        assert_eq!(c.redis_adapter, RedisAdapterKind::Streams);
        assert_eq!(c.redis_stream_name, "events");
        assert_eq!(c.redis_stream_max_len, 500);
        assert_eq!(c.redis_stream_read_count, 10);
        assert_eq!(c.redis_stream_block_time, Duration::from_millis(250));
        for (var, bad) in [
            ("VOLLEY_REDIS_ADAPTER", "kafka"),
            ("VOLLEY_REDIS_STREAM_NAME", " "),
            ("VOLLEY_REDIS_STREAM_MAX_LEN", "-1"),
            ("VOLLEY_REDIS_STREAM_READ_COUNT", "0"),
            ("VOLLEY_REDIS_STREAM_BLOCK_TIME_MS", "0"),
        ] {
            assert_eq!(from(&[(var, bad)]).unwrap_err().var, var);
        }
    }

    #[test]
    fn redis_settings() {
        let c = from(&[]).unwrap();
        assert_eq!(c.redis_url, None);
        assert_eq!(c.redis_prefix, "socket.io");
        assert_eq!(c.requests_timeout, Duration::from_millis(5000));
        let c = from(&[
            ("VOLLEY_REDIS_URL", " redis://127.0.0.1:7000 "),
            ("VOLLEY_REDIS_PREFIX", "app"),
            ("VOLLEY_REQUESTS_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        assert_eq!(c.redis_url.as_deref(), Some("redis://127.0.0.1:7000"));
        assert_eq!(c.redis_prefix, "app");
        assert_eq!(c.requests_timeout, Duration::from_millis(250));
        for bad in ["0", "soon", "-5"] {
            let e = from(&[("VOLLEY_REQUESTS_TIMEOUT_MS", bad)]).unwrap_err();
            assert_eq!(e.var, "VOLLEY_REQUESTS_TIMEOUT_MS");
        }
        assert_eq!(from(&[("VOLLEY_REDIS_URL", "")]).unwrap().redis_url, None);
        assert_eq!(
            from(&[("VOLLEY_REDIS_PREFIX", " ")]).unwrap_err().var,
            "VOLLEY_REDIS_PREFIX"
        );
    }

    #[test]
    fn sharded_redis_settings() {
        let c = from(&[]).unwrap();
        assert_eq!(c.redis_adapter, RedisAdapterKind::PubSub);
        assert_eq!(c.redis_subscription_mode, SubscriptionMode::Dynamic);
        let c = from(&[
            ("VOLLEY_REDIS_ADAPTER", "sharded"),
            ("VOLLEY_REDIS_SUBSCRIPTION_MODE", " dynamic-private "),
        ])
        .unwrap();
        assert_eq!(c.redis_adapter, RedisAdapterKind::Sharded);
        assert_eq!(c.redis_subscription_mode, SubscriptionMode::DynamicPrivate);
        let c = from(&[("VOLLEY_REDIS_SUBSCRIPTION_MODE", "static")]).unwrap();
        assert_eq!(c.redis_subscription_mode, SubscriptionMode::Static);
        for (var, value) in [
            ("VOLLEY_REDIS_ADAPTER", "cluster"),
            ("VOLLEY_REDIS_SUBSCRIPTION_MODE", "private"),
        ] {
            assert_eq!(from(&[(var, value)]).unwrap_err().var, var);
        }
    }

    #[test]
    fn recovery_settings() {
        let c = from(&[]).unwrap();
        assert_eq!(c.recovery, Duration::ZERO);
        assert!(c.recovery_skip_middlewares);
        assert_eq!(c.recovery_max_bytes, 64 << 20);
        let c = from(&[
            ("VOLLEY_RECOVERY_MS", "120000"),
            ("VOLLEY_RECOVERY_SKIP_MIDDLEWARES", "0"),
            ("VOLLEY_RECOVERY_MAX_BYTES", "1000"),
        ])
        .unwrap();
        assert_eq!(c.recovery, Duration::from_secs(120));
        assert!(!c.recovery_skip_middlewares);
        assert_eq!(c.recovery_max_bytes, 1000);
        assert_eq!(
            from(&[("VOLLEY_RECOVERY_MS", "soon")]).unwrap_err().var,
            "VOLLEY_RECOVERY_MS"
        );
    }

    #[test]
    fn tls_files() {
        let c = from(&[]).unwrap();
        assert_eq!((c.tls_cert, c.tls_key), (None, None));
        let c = from(&[
            ("VOLLEY_TLS_CERT", " /etc/volley/cert.pem "),
            ("VOLLEY_TLS_KEY", "/etc/volley/key.pem"),
        ])
        .unwrap();
        assert_eq!(c.tls_cert, Some(PathBuf::from("/etc/volley/cert.pem")));
        assert_eq!(c.tls_key, Some(PathBuf::from("/etc/volley/key.pem")));
        assert_eq!(from(&[("VOLLEY_TLS_CERT", "")]).unwrap().tls_cert, None);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = from(&[("VOLLEY_WORKERS", "zero")]).unwrap_err();
        assert_eq!(e.var, "VOLLEY_WORKERS");
        assert!(e.to_string().contains("zero"));
        assert_eq!(
            from(&[("VOLLEY_WORKERS", "0")]).unwrap_err().var,
            "VOLLEY_WORKERS"
        );
        assert_eq!(
            from(&[("VOLLEY_MAILBOX_CAPACITY", "0")]).unwrap_err().var,
            "VOLLEY_MAILBOX_CAPACITY"
        );
        assert_eq!(
            from(&[("VOLLEY_MAX_BUFFERED_TOTAL", "0")]).unwrap_err().var,
            "VOLLEY_MAX_BUFFERED_TOTAL"
        );
        assert_eq!(
            from(&[("VOLLEY_MAX_BUFFERED_TOTAL", "1G")])
                .unwrap_err()
                .var,
            "VOLLEY_MAX_BUFFERED_TOTAL"
        );
        assert_eq!(
            from(&[("VOLLEY_BACKEND", "kqueue")]).unwrap_err().var,
            "VOLLEY_BACKEND"
        );
        assert_eq!(
            from(&[("VOLLEY_PIN_CORES", "maybe")]).unwrap_err().var,
            "VOLLEY_PIN_CORES"
        );
        assert_eq!(
            from(&[("VOLLEY_PARSER", "cbor")]).unwrap_err().var,
            "VOLLEY_PARSER"
        );
    }

    #[test]
    fn admin_ui_from_env() {
        assert_eq!(from(&[]).unwrap().admin_ui, None);
        let hash = "$2a$10$IAUsjVkrDY8eLjZ3ClRb2egwS3Fe3Vb8t2wpNfUOy.CpnKb1cjbVe";
        let c = from(&[
            ("VOLLEY_ADMIN_UI", "1"),
            ("VOLLEY_ADMIN_UI_USERNAME", "admin"),
            ("VOLLEY_ADMIN_UI_PASSWORD_HASH", hash),
            ("VOLLEY_ADMIN_UI_READONLY", "1"),
            ("VOLLEY_ADMIN_UI_MODE", "production"),
            ("VOLLEY_ADMIN_UI_NAMESPACE", "/ops"),
            ("VOLLEY_ADMIN_UI_SERVER_ID", "edge-1"),
        ])
        .unwrap();
        let ui = c.admin_ui.unwrap();
        assert_eq!(
            ui.auth,
            AdminAuth::Basic {
                username: "admin".into(),
                password_hash: hash.into()
            }
        );
        assert!(ui.readonly);
        assert_eq!(ui.mode, AdminMode::Production);
        assert_eq!(ui.namespace, "/ops");
        assert_eq!(ui.server_id.as_deref(), Some("edge-1"));
        let c = from(&[("VOLLEY_ADMIN_UI", "1"), ("VOLLEY_ADMIN_UI_AUTH", "0")]).unwrap();
        assert_eq!(c.admin_ui, Some(AdminUi::new(AdminAuth::Off)));
        // No credentials and no explicit opt-out, or a hash bcrypt cannot read: refused.
        let e = from(&[("VOLLEY_ADMIN_UI", "1")]).unwrap_err();
        assert_eq!(e.var, "VOLLEY_ADMIN_UI_PASSWORD_HASH");
        let e = from(&[
            ("VOLLEY_ADMIN_UI", "1"),
            ("VOLLEY_ADMIN_UI_PASSWORD_HASH", "plain"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "VOLLEY_ADMIN_UI_PASSWORD_HASH");
        let e = from(&[
            ("VOLLEY_ADMIN_UI", "1"),
            ("VOLLEY_ADMIN_UI_AUTH", "0"),
            ("VOLLEY_ADMIN_UI_MODE", "dev"),
        ])
        .unwrap_err();
        assert_eq!(e.var, "VOLLEY_ADMIN_UI_MODE");
    }

    #[test]
    fn parser_from_env() {
        let c = from(&[("VOLLEY_PARSER", "msgpack")]).unwrap();
        assert_eq!(c.parser, Parser::Msgpack);
        let c = from(&[("VOLLEY_PARSER", "json")]).unwrap();
        assert_eq!(c.parser, Parser::Json);
    }
}
