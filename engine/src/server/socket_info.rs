//! A socket as the handle and the adapters report it.

use super::sio::Handshake;

/// A socket as [`HandleBroadcast::fetch_sockets`](super::HandleBroadcast::fetch_sockets) reports it.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket id.
    pub id: String,
    /// Its namespace.
    pub nsp: String,
    /// Its rooms (its own id first).
    pub rooms: Vec<String>,
    /// The request that opened its connection.
    pub handshake: Handshake,
    /// The auth payload of its CONNECT packet (`{}` when it sent none).
    pub auth: serde_json::Value,
    /// What the application kept with [`Socket::set_data`](crate::server::Socket::set_data),
    /// as JSON (`null` when nothing); from another server of a cluster, its `socket.data`.
    pub data: serde_json::Value,
}
