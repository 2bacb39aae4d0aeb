//! Adapters: how one server shares broadcasts and socket operations with the other servers of
//! its cluster. The default ([`LocalAdapter`]) has no others; [`redis::RedisAdapter`] speaks
//! the wire format of `@socket.io/redis-adapter` over Redis pub/sub, so Volley and Node servers
//! can share one cluster.
//!
//! Every call hands work to the adapter and returns at once: workers never wait on the network.

mod api;
mod conn;
mod convert;
mod core;
mod health;
mod nodes;
mod pending;
mod redis;
mod resp;
pub(crate) mod sockets;
mod sub;
mod wire;
mod wire_error;

pub(crate) use api::{Adapter, LocalAdapter, RemoteOp, ServerSideEmitHandler};
pub(crate) use conn::RedisUrl;
pub(crate) use health::Health;
pub(crate) use redis::RedisAdapter;
