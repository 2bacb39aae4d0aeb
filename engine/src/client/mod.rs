//! The Socket.IO v5 client.
//!
//! - [`ClientConn`] is the sans-IO core: one session as a state machine over bytes, over
//!   WebSocket, HTTP long-polling, or polling upgraded to WebSocket ([`TransportKind`]), its
//!   connections named by [`Lane`]; for the threaded client and for load generators that drive
//!   thousands from their own loops.
//! - [`Client`] runs connections on a background thread with its own mio loop: namespaces
//!   multiplexed on one connection ([`Client::socket`]), handlers, acks with timeouts, binary
//!   arguments, and automatic reconnection with backoff, as the JS client's `Manager` and
//!   `Socket`. [`ClientHandle`] and [`Socket`] are `Send + Clone` for plain synchronous code;
//!   handlers run on the client thread.
//!
//! The threaded client's files are layers, each importing (besides the sans-IO modules) only
//! those before it: `errors`, `shared` (state under the mutex), `handle` (the handles, events,
//! and the commands they send), `namespace` (one namespace on the client thread), `worker`
//! (the thread's loop), `dispatch` (what the thread does with commands and connection events),
//! `builder` (starts it all). engine/tests/module_cycles.rs fails on an import cycle.

mod backoff;
mod builder;
mod conn;
mod dispatch;
mod errors;
mod event;
mod handle;
mod handshake;
mod namespace;
mod options;
mod payload;
mod rng;
mod shared;
mod worker;

pub use backoff::Backoff;
pub use builder::{Client, ClientBuilder, StartError};
pub use conn::{ClientConn, Lane, LaneCommand};
pub use errors::{AckError, ConnectErrorInfo, EmitError};
pub use event::{ClientError, ClientEvent, DisconnectReason};
pub use handle::{ClientHandle, Event, Socket};
pub use handshake::{ConnectOptions, TransportKind, DEFLATE_THRESHOLD};
pub use options::{ClientOptions, UrlError};
pub use payload::Payload;
pub use rng::Rng;
