//! The Socket.IO v5 server layer: namespaces and their handlers, the per-connection client that
//! dispatches packets, sockets as handlers see them, and acknowledgements both ways.

mod ack;
mod async_connect;
mod async_events;
pub(crate) mod client;
mod errors;
mod handshake;
mod listeners;
mod namespace;
mod operator;
mod socket;
mod socket_data;
mod upper;

pub use ack::{Ack, AckError, AckId, DeferredAck};
pub use async_connect::{BoxFuture, ConnectRequest, Spawn};
pub use async_events::SocketRef;
pub use errors::{ConnectError, EmitError};
pub use handshake::Handshake;
pub use listeners::ListenerId;
pub use namespace::NamespaceBuilder;
pub use operator::{SocketBroadcast, TimedBroadcast};
pub use socket::{Compressed, Socket, TimedEmit};
pub use socket_data::SocketData;

pub(crate) use ack::ack_pending;
pub(crate) use async_connect::ConnectAnswer;
pub(crate) use listeners::OutgoingRun;
pub(crate) use namespace::OutgoingFn;
pub(crate) use socket::{notify_outgoing, SocketState};
pub(crate) use upper::{connect_answer, disconnect_socket};

pub(crate) use namespace::{NewNamespaceFn, SioApp};

/// Builders for namespaces, used by `ServerBuilder`.
pub(crate) mod namespace_builder {
    pub use super::namespace::NamespaceBuilder;

    pub fn for_pattern(name: &str) -> NamespaceBuilder {
        NamespaceBuilder::for_pattern(name)
    }

    pub fn for_predicate(f: Box<dyn Fn(&str) -> bool + Send + Sync>) -> NamespaceBuilder {
        NamespaceBuilder::new(super::namespace::Matcher::Predicate(f))
    }
}
