//! Asynchronous connect middleware (the reference's `io.use(async (socket, next) => ...)`):
//! the worker hands an owned [`ConnectRequest`] to a future that runs on the application's
//! runtime, parks the half-connected socket, and goes on serving others; the future's answer
//! comes back through the worker's mailbox and the connect resumes where it stopped.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::errors::ConnectError;
use super::handshake::Handshake;
use super::socket_data::SocketData;

/// A future the engine hands to the application's runtime.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Runs a future on the application's runtime (e.g. `tokio::runtime::Handle::spawn`); see
/// `ServerBuilder::spawner`.
pub type Spawn = dyn Fn(BoxFuture) + Send + Sync;

/// What an asynchronous connect middleware returns.
pub type ConnectFuture = Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send + 'static>>;

/// An asynchronous connect middleware, as registered.
pub type AsyncConnectFn = dyn Fn(ConnectRequest) -> ConnectFuture + Send + Sync;

/// Data an asynchronous middleware keeps for the socket, moved into it when the connect resumes.
pub(crate) type DataSlot = Arc<Mutex<Option<Box<dyn SocketData + Send>>>>;

/// A client asking to join a namespace, as an asynchronous middleware sees it: owned, so the
/// future can keep it across `.await`s on any thread.
pub struct ConnectRequest {
    pub(crate) id: String,
    pub(crate) nsp: String,
    pub(crate) handshake: Handshake,
    pub(crate) auth: Option<Box<str>>,
    pub(crate) data: DataSlot,
}

impl ConnectRequest {
    /// The id the socket will have.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The namespace asked for.
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// The HTTP request that opened the connection.
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// The CONNECT packet's auth payload as the client sent it (`None`: it sent none).
    pub fn auth_json(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// The auth payload decoded into `T` (serde_json's rules); `None` when there is none.
    pub fn auth<T: DeserializeOwned>(&self) -> Option<Result<T, serde_json::Error>> {
        self.auth.as_deref().map(serde_json::from_str)
    }

    /// Keeps `value` as the socket's data ([`super::Socket::set_data`]) once it connects.
    pub fn set_data<T: Serialize + Send + 'static>(&self, value: T) {
        *self.data.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(value));
    }
}

/// A middleware's answer on its way back to the socket's worker.
pub(crate) struct ConnectAnswer {
    /// The parked socket's worker-unique key.
    pub socket: u32,
    pub result: Result<(), ConnectError>,
    pub data: Option<Box<dyn SocketData + Send>>,
}

/// Makes the request a middleware gets and the slot its data comes back in.
pub(crate) fn request(
    id: &str,
    nsp: &str,
    handshake: &Handshake,
    auth: Option<&str>,
) -> (ConnectRequest, DataSlot) {
    let data = DataSlot::default();
    let req = ConnectRequest {
        id: id.to_string(),
        nsp: nsp.to_string(),
        handshake: handshake.clone(),
        auth: auth.map(Into::into),
        data: data.clone(),
    };
    (req, data)
}

/// Takes what the middleware kept, once its future is done.
pub(crate) fn take_data(slot: &DataSlot) -> Option<Box<dyn SocketData + Send>> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}
