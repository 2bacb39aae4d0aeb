//! What workers are sent through their mailboxes, from other workers, the handle and the
//! adapters, and how the replies of a selection are gathered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::proto::eio::Sid;
use crate::proto::ws::CloseCode;
use crate::runtime::{ConnId, Peers};

use super::broadcast_msg::BroadcastMsg;
use super::out::Out;
use super::rooms::Target;
use super::session_key::SessionKey;
use super::sio::{ConnectAnswer, RestoreReply};
use super::socket_info::SocketInfo;

/// Messages from other threads (or workers) to a worker.
pub(crate) enum Post {
    /// A pre-framed WebSocket message for one connection.
    Send(ConnId, Bytes),
    /// Packets for the session of a Socket.IO socket, queued back to back.
    ToSocket(Sid, Vec<Out>),
    /// Close one connection.
    Close(ConnId, CloseCode, String),
    /// A broadcast for this worker's members.
    Broadcast(Arc<BroadcastMsg>),
    /// An asynchronous connect middleware answered for a socket of this session.
    ConnectAnswer(SessionKey, ConnectAnswer),
    /// A cluster store answered a CONNECT of this session that asked for its socket back.
    Restored(SessionKey, RestoreReply),
    /// An operation on the sockets a selection matches on this worker.
    Select {
        nsp: String,
        target: Target,
        op: SelectOp,
    },
}

/// What to do with the sockets a [`Post::Select`] matches.
pub(crate) enum SelectOp {
    Join(Vec<String>),
    Leave(Vec<String>),
    /// Leave the namespace (`true`: close the whole connection).
    Disconnect(bool),
    Fetch(crossbeam_channel::Sender<Vec<SocketInfo>>),
    Count(crossbeam_channel::Sender<usize>),
    /// The namespace's room names on this worker (the selection does not apply).
    Rooms(crossbeam_channel::Sender<Vec<String>>),
}

/// Collects up to `n` answers arriving within `timeout`.
pub(crate) fn gather<T>(
    rx: &crossbeam_channel::Receiver<T>,
    n: usize,
    timeout: Duration,
) -> Vec<T> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match rx.recv_deadline(deadline) {
            Ok(v) => out.push(v),
            Err(_) => break,
        }
    }
    out
}

/// Sends `msg` to every worker but `skip` (the sender's own, already delivered).
pub(crate) fn post_remote(peers: &Peers<Post>, skip: Option<usize>, msg: Arc<BroadcastMsg>) {
    for w in 0..peers.len() {
        if Some(w) != skip {
            peers.post(w, Post::Broadcast(msg.clone()));
        }
    }
}
