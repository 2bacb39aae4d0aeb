//! The Socket.IO v5 server layer: namespaces and their handlers, the per-connection client that
//! dispatches packets, sockets as handlers see them, and acknowledgements both ways.

mod ack;
mod async_connect;
mod async_events;
pub(crate) mod client;
mod errors;
mod handshake;
mod listeners;
mod model;
mod namespace;
mod operator;
mod recovery;
mod socket;
mod socket_data;
mod socket_ref;
mod upper;

pub use ack::{Ack, AckId, DeferredAck};
pub use async_connect::{BoxFuture, ConnectRequest, Spawn};
pub use errors::{AckError, ConnectError, EmitError};
pub use handshake::Handshake;
pub use model::ListenerId;
pub use model::Socket;
pub use namespace::NamespaceBuilder;
pub use operator::{SocketBroadcast, TimedBroadcast};
pub use socket::{Compressed, TimedEmit};
pub use socket_data::SocketData;
pub use socket_ref::SocketRef;

pub(crate) use async_connect::ConnectAnswer;
pub(crate) use listeners::notify_outgoing;
pub(crate) use model::ack_pending;
pub(crate) use model::{OutgoingFn, OutgoingRun, SocketState};
pub(crate) use upper::{connect_answer, disconnect_socket, restore_answer};

pub(crate) use model::{NewNamespaceFn, SioApp};
pub(crate) use recovery::{
    encode_for, EncodeMaybeAt, Keeping, Recovery, RestoreAnswer, RestoreReply, Restored, Restoring,
    Session, SessionStore, ToKeep,
};

/// Builders for namespaces, used by `ServerBuilder`.
pub(crate) mod namespace_builder {
    pub use super::namespace::NamespaceBuilder;

    pub fn for_pattern(name: &str) -> NamespaceBuilder {
        NamespaceBuilder::for_pattern(name)
    }

    pub fn for_predicate(f: Box<dyn Fn(&str) -> bool + Send + Sync>) -> NamespaceBuilder {
        NamespaceBuilder::new(super::model::Matcher::Predicate(f))
    }
}
