//! A socket as asynchronous code holds it: `Send + Clone`, usable from any thread, every call
//! a message to the socket's worker.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::proto::eio::Sid;
use crate::server::handle::ServerHandle;
use crate::server::post::Post;
use crate::server::rooms::RoomNames;
use crate::server::socket_info::SocketInfo;

use super::ack::Ack;
use super::errors::EmitError;

/// One socket, as asynchronous code holds it: `Send + Clone` (one shared allocation per
/// socket), usable from any thread. Every call is a message to the socket's worker; a socket
/// that has gone away ignores them.
#[derive(Clone)]
pub struct SocketRef(pub(crate) Arc<RefInner>);

pub(crate) struct RefInner {
    pub handle: ServerHandle,
    pub nsp: String,
    pub id: String,
    pub sid: Sid,
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

    /// Emits `event` to this socket (arguments as [`Socket::emit`](super::Socket::emit) takes them), after
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
    pub(crate) fn send_ack(&self, ack: Ack, id: u64) {
        let r = &self.0;
        let outs = ack.outs(r.handle.parser, &r.nsp, id);
        r.handle.peers.post(
            r.sid.home(r.handle.peers.len()),
            Post::ToSocket(r.sid, outs),
        );
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
        // Local: no other server to miss.
        found
            .unwrap_or_else(crate::server::RequestError::got)
            .into_iter()
            .next()
    }
}
