//! The public API: build a [`Server`] with its endpoints, start it, and reach it from any thread
//! through a [`ServerHandle`].

mod router;
mod ws;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;

pub use crate::runtime::{CloseReason, ConnId};
pub use ws::{WsConn, WsHandler, WsMessage};

use crate::config::{Config, ConfigError};
use crate::proto::ws::{self as wsproto, CloseCode, OpCode};
use crate::runtime::{Peers, Runtime};
use router::{Endpoint, Post, Router};

/// Errors from building or starting a server.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A `VOLLEY_*` variable could not be used.
    Config(ConfigError),
    /// Binding or starting the workers failed.
    Io(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(e) => write!(f, "configuration: {e}"),
            Error::Io(e) => write!(f, "i/o: {e}"),
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
    routes: Vec<(String, Endpoint)>,
}

impl ServerBuilder {
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

    /// Serves plain WebSocket on `path` (exact match, e.g. `/`).
    pub fn websocket(mut self, path: &str, handler: impl WsHandler) -> Self {
        self.routes
            .push((path.to_string(), Endpoint::WebSocket(Arc::new(handler))));
        self
    }

    /// Binds `config.listen` and starts the workers.
    pub fn listen(self) -> Result<Server, Error> {
        let router = Arc::new(Router {
            routes: self.routes,
        });
        let runtime = Runtime::start(self.config, router)?;
        let handle = ServerHandle {
            peers: runtime.peers().clone(),
        };
        Ok(Server { runtime, handle })
    }
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    runtime: Runtime<Router>,
    handle: ServerHandle,
}

impl Server {
    /// A builder with the default configuration.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: Config::default(),
            routes: Vec::new(),
        }
    }

    /// A builder configured from the `VOLLEY_*` environment variables.
    pub fn from_env() -> Result<ServerBuilder, Error> {
        Ok(Self::builder().config(Config::from_env()?))
    }

    /// The bound address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.runtime.local_addr()
    }

    /// A handle usable from any thread.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Graceful shutdown: stop accepting, close every WebSocket with 1001, flush what is queued
    /// (bounded by `shutdown_timeout`), and join the workers.
    pub fn shutdown(self) {
        self.runtime.shutdown();
    }

    /// Blocks until SIGTERM or SIGINT, then shuts down gracefully. Call
    /// [`crate::runtime::signal::block_termination_signals`] before building the server.
    pub fn run_until_signal(self) -> io::Result<()> {
        crate::runtime::signal::wait_for_termination()?;
        self.shutdown();
        Ok(())
    }
}

/// Reaches a running server from any thread. `Send + Clone`, cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    peers: Peers<Post>,
}

impl ServerHandle {
    /// Queues a text message on WebSocket `id`; false if its worker is gone.
    pub fn ws_send_text(&self, id: ConnId, text: &str) -> bool {
        self.ws_send(id, encode_ws_frame(OpCode::Text, text.as_bytes()))
    }

    /// Queues a frame made by [`encode_ws_frame`] on WebSocket `id`.
    pub fn ws_send(&self, id: ConnId, frame: Bytes) -> bool {
        self.peers.post(id.worker as usize, Post::Send(id, frame))
    }

    /// Closes WebSocket `id` with `code`.
    pub fn ws_close(&self, id: ConnId, code: CloseCode, reason: &str) -> bool {
        self.peers.post(
            id.worker as usize,
            Post::Close(id, code, reason.to_string()),
        )
    }
}

/// Encodes a complete server frame once so it can be sent to many connections without copies.
pub fn encode_ws_frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(payload.len() + 10);
    wsproto::encode_frame(&mut v, opcode, payload);
    Bytes::from(v)
}
