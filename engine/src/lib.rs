//! Volley: a Socket.IO v5 / Engine.IO v4 / WebSocket (RFC 6455) server engine for Linux.
//!
//! Layers, from bytes to events:
//! - [`proto`]: sans-IO codecs (HTTP requests, WebSocket frames, Engine.IO and Socket.IO packets);
//! - [`runtime`]: per-core event loops that own their connections, timers and write queues;
//! - [`server`]: the public API users embed.

pub mod client;
pub mod config;
pub mod proto;
pub mod runtime;
pub mod server;

/// Not API: the runtime's write queue, which the fan-out benchmark (`benches/benches/fanout.rs`)
/// measures directly, and the MessagePack decoder, which `benches/benches/msgpack.rs` weighs
/// against the `rmpv` crate's.
#[doc(hidden)]
pub mod bench_internals {
    use crate::proto::msgpack::{decode, Value};
    pub use crate::runtime::outq::OutQueue;

    /// Decodes one MessagePack value as the Redis adapters and the msgpack parser do; how many
    /// values it holds, nested ones included (`None`: refused).
    pub fn msgpack_values(buf: &[u8]) -> Option<usize> {
        fn count(v: &Value<'_>) -> usize {
            match v {
                Value::Array(items) => 1 + items.iter().map(count).sum::<usize>(),
                Value::Map(pairs) => {
                    1 + pairs
                        .iter()
                        .map(|(k, v)| count(k) + count(v))
                        .sum::<usize>()
                }
                _ => 1,
            }
        }
        decode(buf).ok().map(|v| count(&v))
    }
}

/// Not API: parsers the fuzz targets (`engine/fuzz`) reach that have no public entry.
#[doc(hidden)]
pub mod fuzz_internals {
    pub use crate::server::adapter::fuzz::sharded_adapter_input;

    /// Decodes `input` as every message of the Redis streams adapter and acts on it as far as
    /// the adapter would before handing it to the workers; it must never panic.
    pub fn redis_streams_message(input: &[u8]) {
        crate::server::decode_streams_untrusted(input);
    }
}

/// The TLS library behind the `tls` feature, for [`server::ServerBuilder::tls_config`] and
/// [`server::HandedConnection::tls`].
#[cfg(feature = "tls")]
pub use rustls;
