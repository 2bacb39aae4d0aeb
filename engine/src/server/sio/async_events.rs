//! Asynchronous event handlers (`socket.on("ev", async (.., callback) => ..)`): the handler's
//! future runs on the application's runtime with a [`SocketRef`] and the event's
//! [`OwnedArgs`]; what it resolves to is the acknowledgement, and whatever it emits goes to
//! the socket's worker through its mailbox, in order.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::ack::Ack;
use super::errors::EmitError;
use super::namespace::NamespaceBuilder;
use super::socket::Socket;
use crate::proto::eio::Sid;
use crate::server::ack_futures::OwnedArgs;
use crate::server::handle::ServerHandle;
use crate::server::post::Post;
use crate::server::rooms::RoomNames;
use crate::server::socket_info::SocketInfo;

/// One socket, as asynchronous code holds it: `Send + Clone` (one shared allocation per
/// socket), usable from any thread. Every call is a message to the socket's worker; a socket
/// that has gone away ignores them.
#[derive(Clone)]
pub struct SocketRef(Arc<RefInner>);

struct RefInner {
    handle: ServerHandle,
    nsp: String,
    id: String,
    sid: Sid,
}

impl SocketRef {
    /// The socket's id.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The socket's namespace.
    pub fn nsp(&self) -> &str {
        &self.0.nsp
    }

    /// The server, to broadcast or query from asynchronous code.
    pub fn server(&self) -> &ServerHandle {
        &self.0.handle
    }

    /// Emits `event` to this socket (arguments as [`Socket::emit`] takes them), after
    /// whatever this code emitted before. [`EmitError::Closed`] when its worker is gone.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) -> Result<(), EmitError> {
        if crate::proto::sio::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent);
        }
        let r = &self.0;
        match r.handle.emit_to_sid(&r.nsp, r.sid, event, args)? {
            true => Ok(()),
            false => Err(EmitError::Closed),
        }
    }

    /// Sends the acknowledgement `ack` of the client's packet `id`.
    fn send_ack(&self, ack: Ack, id: u64) {
        let r = &self.0;
        let outs = ack.outs(&r.nsp, id);
        r.handle
            .peers
            .post(r.sid.worker() as usize, Post::ToSocket(r.sid, outs));
    }

    /// Makes the socket join `rooms` (one name or several).
    pub fn join(&self, rooms: impl RoomNames) {
        self.0
            .handle
            .of(&self.0.nsp)
            .to(&self.0.id)
            .local()
            .sockets_join(rooms);
    }

    /// Makes the socket leave `rooms` (one name or several).
    pub fn leave(&self, rooms: impl RoomNames) {
        self.0
            .handle
            .of(&self.0.nsp)
            .to(&self.0.id)
            .local()
            .sockets_leave(rooms);
    }

    /// Disconnects the socket from its namespace (`close`: its whole connection).
    pub fn disconnect(&self, close: bool) {
        self.0
            .handle
            .of(&self.0.nsp)
            .to(&self.0.id)
            .local()
            .disconnect_sockets(close);
    }

    /// What the server knows of the socket (rooms, handshake, data), if it is still there,
    /// asked of its worker without blocking this task's thread: see
    /// [`crate::server::HandleBroadcast::fetch_sockets_future`].
    pub async fn info(&self, timeout: Duration) -> Option<SocketInfo> {
        let found = self
            .0
            .handle
            .of(&self.0.nsp)
            .to(&self.0.id)
            .local()
            .fetch_sockets_future(timeout)
            .await;
        found.into_iter().next()
    }
}

impl Socket<'_, '_> {
    /// This socket as asynchronous code holds it ([`SocketRef`]); made once per socket.
    pub fn socket_ref(&mut self) -> SocketRef {
        if let Some(r) = &self.state.socket_ref {
            return r.clone();
        }
        let r = SocketRef(Arc::new(RefInner {
            handle: self.server(),
            nsp: self.state.nsp.clone(),
            id: self.state.sid.as_str().to_string(),
            sid: self.state.sid,
        }));
        self.state.socket_ref = Some(r.clone());
        r
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
            let ack_id = socket.ack_id.take();
            let socket = socket.socket_ref();
            let future = f(socket.clone(), OwnedArgs::from_args(args));
            spawn(Box::pin(async move {
                if let (Some(reply), Some(id)) = (future.await, ack_id) {
                    socket.send_ack(reply, id);
                }
            }));
            None
        })
    }
}
