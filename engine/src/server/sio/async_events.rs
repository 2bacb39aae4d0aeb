//! Asynchronous event handlers (`socket.on("ev", async (.., callback) => ..)`): the handler's
//! future runs on the application's runtime with a [`SocketRef`] and the event's
//! [`OwnedArgs`]; what it resolves to is the acknowledgement, and whatever it emits goes to
//! the socket's worker through its mailbox, in order.

use super::model::Socket;
use super::socket_ref::{RefInner, SocketRef};
use std::future::Future;
use std::sync::Arc;

use super::ack::Ack;
use super::namespace::NamespaceBuilder;
use crate::server::ack_futures::OwnedArgs;

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
