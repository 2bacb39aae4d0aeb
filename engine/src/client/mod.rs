//! The Socket.IO v5 client.
//!
//! - [`ClientConn`] is the sans-IO core: one connection as a state machine over bytes, for a
//!   threaded client and for load generators that drive thousands from their own loops.

mod conn;
mod event;
mod handshake;
mod rng;

pub use conn::ClientConn;
pub use event::{ClientError, ClientEvent, DisconnectReason};
pub use handshake::{ConnectOptions, TransportKind};
pub use rng::Rng;
