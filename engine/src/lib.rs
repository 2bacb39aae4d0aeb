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
/// measures directly.
#[doc(hidden)]
pub mod bench_internals {
    pub use crate::runtime::outq::OutQueue;
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
