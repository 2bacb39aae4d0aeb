//! Starting the threaded client: [`Client`], its [`ClientBuilder`] with the manager-level
//! callbacks, and [`StartError`]. The top of the client's layers: it wires the handles to the
//! client thread ([`Worker`]) and nothing below imports it.

use std::fmt;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::handle::{ClientHandle, Socket};
use super::options::{ClientOptions, UrlError};
use super::worker::{Callbacks, Worker, WAKER};
use super::{ClientError, DisconnectReason};

/// Why [`ClientBuilder::connect`] failed.
#[derive(Debug)]
pub enum StartError {
    /// The URL is not usable.
    Url(UrlError),
    /// The event loop or thread could not be created.
    Io(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(e) => e.fmt(f),
            Self::Io(e) => write!(f, "cannot start the client thread: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Configures and starts a [`Client`].
pub struct ClientBuilder {
    options: ClientOptions,
    hooks: Callbacks,
}

impl ClientBuilder {
    /// Called each time the Engine.IO connection opens.
    pub fn on_open(mut self, f: impl FnMut() + Send + 'static) -> Self {
        self.hooks.open = Some(Box::new(f));
        self
    }

    /// Called each time the connection ends, with the reason.
    pub fn on_close(mut self, f: impl FnMut(DisconnectReason) + Send + 'static) -> Self {
        self.hooks.close = Some(Box::new(f));
        self
    }

    /// Called before each reconnection attempt with its number (from 1).
    pub fn on_reconnect_attempt(mut self, f: impl FnMut(u32) + Send + 'static) -> Self {
        self.hooks.reconnect_attempt = Some(Box::new(f));
        self
    }

    /// Called when a reconnection attempt failed, with the reason.
    pub fn on_reconnect_error(mut self, f: impl FnMut(DisconnectReason) + Send + 'static) -> Self {
        self.hooks.reconnect_error = Some(Box::new(f));
        self
    }

    /// Called when a reconnection succeeded, with the number of attempts it took.
    pub fn on_reconnect(mut self, f: impl FnMut(u32) + Send + 'static) -> Self {
        self.hooks.reconnect = Some(Box::new(f));
        self
    }

    /// Called when the server's bytes broke the protocol (a malformed packet, a bad HTTP
    /// response, ...), with the typed error, just before the connection closes (`on_close`)
    /// and reconnection starts.
    pub fn on_error(mut self, f: impl FnMut(&ClientError) + Send + 'static) -> Self {
        self.hooks.error = Some(Box::new(f));
        self
    }

    /// Called when `reconnection_attempts` ran out.
    pub fn on_reconnect_failed(mut self, f: impl FnMut() + Send + 'static) -> Self {
        self.hooks.reconnect_failed = Some(Box::new(f));
        self
    }

    /// Starts the client thread. The connection opens when the first namespace connects.
    pub fn connect(self) -> Result<Client, StartError> {
        let host = self.options.authority().map_err(StartError::Url)?;
        let poll = mio::Poll::new().map_err(StartError::Io)?;
        let waker = mio::Waker::new(poll.registry(), WAKER).map_err(StartError::Io)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let handle = ClientHandle::new(tx, Arc::new(waker), self.options.max_buffered_emits);
        let worker = Worker::new(poll, rx, handle.clone(), self.options, host, self.hooks);
        let thread = thread::Builder::new()
            .name("volley-client".to_owned())
            .spawn(move || worker.run())
            .map_err(StartError::Io)?;
        Ok(Client {
            handle,
            thread: Some(thread),
        })
    }
}

/// A Socket.IO client: one Engine.IO session (WebSocket, polling, or polling upgraded; see
/// [`ClientOptions::transport`]) on a background thread with
/// its own mio loop, namespaces multiplexed on it, automatic reconnection.
///
/// Dropping it closes the client and joins its thread (unless dropped on that thread).
pub struct Client {
    handle: ClientHandle,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    /// A builder for `options`.
    pub fn builder(options: ClientOptions) -> ClientBuilder {
        ClientBuilder {
            options,
            hooks: Callbacks::default(),
        }
    }

    /// Starts a client with default options for `url` (e.g. `"http://127.0.0.1:3000"`).
    pub fn connect(url: &str) -> Result<Client, StartError> {
        Self::builder(ClientOptions::new(url)).connect()
    }

    /// A `Send + Clone` handle for other threads.
    pub fn handle(&self) -> ClientHandle {
        self.handle.clone()
    }

    /// See [`ClientHandle::socket`].
    pub fn socket(&self, nsp: &str) -> Socket {
        self.handle.socket(nsp)
    }

    /// Closes the client (see [`ClientHandle::close`]) and waits for its thread.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            // Joining from the client thread itself (a handler dropped the client) would wait
            // for ever; that thread ends by itself once it has processed the close.
            if thread::current().id() != thread.thread().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown();
    }
}
