//! Adapters: how one server shares broadcasts and socket operations with the other servers of
//! its cluster. The default ([`LocalAdapter`]) has no others; [`redis::RedisAdapter`] speaks
//! the wire format of `@socket.io/redis-adapter` over Redis pub/sub, or that of
//! `@socket.io/redis-streams-adapter` over a Redis stream, so Volley and Node servers can share
//! one cluster; [`sharded::ShardedAdapter`] speaks that of `createShardedAdapter` over sharded
//! pub/sub on a Redis Cluster.
//!
//! Every call hands work to the adapter and returns at once: workers never wait on the network.

mod api;
mod cluster_msg;
mod conn;
mod convert;
mod core;
mod dialect;
pub(crate) mod fuzz;
mod health;
mod nodes;
mod pending;
mod redis;
mod resp;
mod session_wire;
mod shard_core;
mod sharded;
mod shards;
mod slots;
pub(crate) mod sockets;
mod ssub;
mod streams;
mod streams_store;
mod streams_wire;
mod sub;
mod wire;
mod wire_error;

pub(crate) use api::{Adapter, LocalAdapter, RemoteOp, RoomsOf, ServerSideEmitHandler};
pub(crate) use conn::RedisUrl;
pub(crate) use dialect::{Dialect, StreamsOpts};
pub(crate) use fuzz::redis_streams_input as decode_streams_untrusted;
pub(crate) use health::Health;
pub(crate) use redis::RedisAdapter;
pub(crate) use sharded::ShardedAdapter;
pub(crate) use streams_wire::Names as StreamNames;
pub(crate) use wire::Channels;
