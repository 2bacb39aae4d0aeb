//! What every adapter does for the workers and the handle, and the adapter of a server
//! without others.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;
use serde_json::Value as Json;

use crate::runtime::Peers;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::cluster::Answers;
use crate::server::post::Post;
use crate::server::rooms::{RoomWatch, Target};
use crate::server::socket_info::SocketInfo;

/// Runs on a server-side emit from another server: `(namespace, event, arguments)`. Its return
/// value answers a sender that asked for acknowledgements (`None` answers `null`).
pub type ServerSideEmitHandler =
    dyn Fn(&str, &str, &[Json]) -> Option<Json> + Send + Sync + 'static;

/// An operation on the sockets a selection matches, on the other servers.
#[derive(Debug, Clone)]
pub(crate) enum RemoteOp {
    Join(Vec<String>),
    Leave(Vec<String>),
    /// Leave the namespace (`true`: close the whole connection).
    Disconnect(bool),
}

/// What a server tells the rest of its cluster. Methods never block.
pub(crate) trait Adapter: Send + Sync {
    /// Whether other servers may exist (a broadcast with acks then waits for their counts).
    fn is_remote(&self) -> bool;

    /// Starts the adapter's threads, which deliver what other servers send to `peers`.
    /// Default: nothing to start.
    fn start(&self, _peers: Peers<Post>) -> std::io::Result<()> {
        Ok(())
    }

    /// Whether the adapter wants [`Adapter::room_changed`] calls (the sharded adapter's
    /// dynamic subscription modes listen on one channel per room). Default: no.
    fn watches_rooms(&self) -> bool {
        false
    }

    /// A worker's room got its first member (`exists`) or lost its last; `private` when the
    /// room is a socket's own id. Called by workers (through [`RoomsOf`]): must not block.
    /// Default: ignored.
    fn room_changed(&self, _nsp: &str, _room: &str, _private: bool, _exists: bool) {}

    /// Sends a broadcast (already delivered locally) to the other servers. With acks, the
    /// adapter owns one part of the collector ([`crate::server::broadcast_msg::AckCollector::add_parts`])
    /// and completes it whatever happens.
    fn broadcast(&self, msg: &Arc<BroadcastMsg>);

    /// Applies `op` on the other servers.
    fn select(&self, nsp: &str, target: &Target, op: RemoteOp);

    /// Asks the other servers for their selected sockets; the answer arrives within `timeout`
    /// (at most the requests timeout) on the returned channel (`None`: no other servers).
    fn fetch(
        &self,
        nsp: &str,
        target: &Target,
        timeout: Duration,
    ) -> Option<Receiver<Answers<Vec<SocketInfo>>>>;

    /// Emits `[event, ...args]` to the other servers; with `ack`, their answers arrive within
    /// that time (at most the requests timeout) on the returned channel.
    fn server_side_emit(
        &self,
        nsp: &str,
        data: Json,
        ack: Option<Duration>,
    ) -> Option<Receiver<Answers<Vec<Json>>>>;

    /// This server's id in the cluster (`None`: no cluster, or not started).
    fn uid(&self) -> Option<String>;

    /// Stops the adapter's threads (at server shutdown).
    fn stop(&self);
}

/// The default: a server alone, nothing to tell.
pub(crate) struct LocalAdapter;

impl Adapter for LocalAdapter {
    fn is_remote(&self) -> bool {
        false
    }

    fn broadcast(&self, _msg: &Arc<BroadcastMsg>) {}

    fn select(&self, _nsp: &str, _target: &Target, _op: RemoteOp) {}

    fn fetch(
        &self,
        _: &str,
        _: &Target,
        _: Duration,
    ) -> Option<Receiver<Answers<Vec<SocketInfo>>>> {
        None
    }

    fn server_side_emit(
        &self,
        _: &str,
        _: Json,
        _: Option<Duration>,
    ) -> Option<Receiver<Answers<Vec<Json>>>> {
        None
    }

    fn uid(&self) -> Option<String> {
        None
    }

    fn stop(&self) {}
}

/// An adapter as the workers' rooms see it: what tells it of rooms appearing and going.
pub(crate) struct RoomsOf(pub Arc<dyn Adapter>);

impl RoomsOf {
    /// The watcher for `adapter`'s rooms, if it wants to hear of them.
    pub fn watcher(adapter: &Arc<dyn Adapter>) -> Option<Arc<dyn RoomWatch>> {
        adapter
            .watches_rooms()
            .then(|| Arc::new(RoomsOf(adapter.clone())) as Arc<dyn RoomWatch>)
    }
}

impl RoomWatch for RoomsOf {
    fn room_changed(&self, nsp: &str, room: &str, private: bool, exists: bool) {
        self.0.room_changed(nsp, room, private, exists);
    }
}
