//! Asynchronous event handlers (`socket.on("ev", async (.., callback) => ..)`): the handler's
//! future runs on the application's runtime with a [`SocketRef`] and the event's
//! [`OwnedArgs`]; what it resolves to is the acknowledgement, and whatever it emits goes to
//! the socket's worker through its mailbox, in order.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use super::ack::Ack;
use super::namespace::NamespaceBuilder;
use super::socket::{EmitError, Socket};
use crate::server::ack_futures::OwnedArgs;
use crate::server::handle::{ServerHandle, SocketInfo};
use crate::server::rooms::RoomNames;

/// One socket, as asynchronous code holds it: `Send + Clone`, usable from any thread. Every
/// call is a message to the socket's worker; a socket that has gone away ignores them.
#[derive(Clone)]
pub struct SocketRef {
    handle: ServerHandle,
    nsp: String,
    id: String,
}

impl SocketRef {
    /// The socket's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The socket's namespace.
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// The server, to broadcast or query from asynchronous code.
    pub fn server(&self) -> &ServerHandle {
        &self.handle
    }

    /// Emits `event` to this socket (arguments as [`Socket::emit`] takes them), after
    /// whatever this code emitted before. [`EmitError::Closed`] when its worker is gone.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        match self.handle.emit_to(&self.nsp, &self.id, event, args)? {
            true => Ok(()),
            false => Err(EmitError::Closed),
        }
    }

    /// Makes the socket join `rooms` (one name or several).
    pub fn join(&self, rooms: impl RoomNames) {
        self.handle
            .of(&self.nsp)
            .to(&self.id)
            .local()
            .sockets_join(rooms);
    }

    /// Makes the socket leave `rooms` (one name or several).
    pub fn leave(&self, rooms: impl RoomNames) {
        self.handle
            .of(&self.nsp)
            .to(&self.id)
            .local()
            .sockets_leave(rooms);
    }

    /// Disconnects the socket from its namespace (`close`: its whole connection).
    pub fn disconnect(&self, close: bool) {
        self.handle
            .of(&self.nsp)
            .to(&self.id)
            .local()
            .disconnect_sockets(close);
    }

    /// What the server knows of the socket (rooms, handshake, data), if it is still there,
    /// asked of its worker without blocking this task's thread: see
    /// [`crate::server::HandleBroadcast::fetch_sockets_future`].
    pub async fn info(&self, timeout: Duration) -> Option<SocketInfo> {
        let found = self
            .handle
            .of(&self.nsp)
            .to(&self.id)
            .local()
            .fetch_sockets_future(timeout)
            .await;
        found.into_iter().next()
    }
}

impl Socket<'_, '_> {
    /// This socket as asynchronous code holds it ([`SocketRef`]).
    pub fn socket_ref(&mut self) -> SocketRef {
        SocketRef {
            handle: self.server(),
            nsp: self.state.nsp.clone(),
            id: self.state.sid.as_str().to_string(),
        }
    }
}

impl NamespaceBuilder {
    /// Handles event `name` with an asynchronous handler: `f` gets the socket as a
    /// [`SocketRef`] and the arguments as [`OwnedArgs`], and its future runs on the runtime
    /// given to `ServerBuilder::spawner` while the worker goes on; `Some(ack)` is the
    /// acknowledgement, sent when the future resolves. It runs in order with the event's other
    /// handlers (as one that answers later): it takes the acknowledgement, so a later
    /// handler's `Some(ack)` is not sent. A future that panics sends no acknowledgement (the
    /// client's own ack timeout applies), as a rejected promise in the reference.
    pub fn on_async<F, Fut>(&mut self, name: &str, f: F) -> &mut Self
    where
        F: Fn(SocketRef, OwnedArgs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<Ack>> + Send + 'static,
    {
        self.ns.needs_runtime = true;
        self.on(name, move |socket, args| {
            // `listen()` refuses asynchronous handlers without a spawner.
            let spawn = socket.state.app.spawn.clone()?;
            let ack = socket.ack_later();
            let future = f(socket.socket_ref(), OwnedArgs::from_args(args));
            spawn(Box::pin(async move {
                if let (Some(reply), Some(ack)) = (future.await, ack) {
                    ack.send(reply);
                }
            }));
            None
        })
    }
}
