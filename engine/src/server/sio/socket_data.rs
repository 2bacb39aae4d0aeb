//! What an application keeps per socket.

use std::any::Any;

use serde::Serialize;

/// Per-socket state an application keeps ([`super::Socket::set_data`]): any `Serialize` type, so
/// `fetch_sockets` (on this server and across the cluster) can report it as JSON.
pub trait SocketData: Any {
    /// The value as JSON, as `fetch_sockets` reports it (`null` if it does not serialise).
    fn to_json(&self) -> serde_json::Value;
}

impl<T: Serialize + Any> SocketData for T {
    fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
