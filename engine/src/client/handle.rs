//! The public face of the threaded client: [`Client`], its builder, and the `Send + Clone`
//! handles ([`ClientHandle`], [`Socket`]) that talk to the client thread.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::options::{ClientOptions, UrlError};
use super::payload::Payload;
use super::shared::{Command, Handler, PendingAck, PendingEmit, Shared, SharedRef};
use super::worker::{Callbacks, Worker};
use super::{ClientError, DisconnectReason};
use crate::proto::eio::Transport;
use crate::proto::sio;

/// Why an ack callback got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckError {
    /// No answer within the timeout given to [`Socket::emit_with_ack`].
    Timeout,
    /// The namespace disconnected after the emit was sent, so no answer can come.
    Disconnected,
    /// The client was closed.
    Closed,
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "ack timed out",
            Self::Disconnected => "disconnected before the ack arrived",
            Self::Closed => "client closed",
        })
    }
}

impl std::error::Error for AckError {}

/// Why an emit (or a namespace connect) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmitError {
    /// The namespace is not connected and the buffer holds
    /// [`ClientOptions::max_buffered_emits`] emits already.
    BufferFull,
    /// The client was closed.
    Closed,
    /// The event name is reserved (`connect`, `disconnect`, ...; see
    /// [`is_reserved_event`](crate::proto::sio::is_reserved_event)).
    ReservedEvent,
    /// The auth payload is not a JSON object.
    InvalidAuth,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferFull => "emit buffer full while disconnected",
            Self::Closed => "client closed",
            Self::ReservedEvent => "reserved event name",
            Self::InvalidAuth => "auth must be a JSON object",
        })
    }
}

impl std::error::Error for EmitError {}

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

/// The server refused a namespace connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectErrorInfo {
    /// The error message.
    pub message: String,
    /// The error's `data`, if any.
    pub data: Option<serde_json::Value>,
}

/// An event from the server, as handlers see it.
pub struct Event {
    name: String,
    args: Payload,
    ack_id: Option<u64>,
    socket: Socket,
    acked: Cell<bool>,
}

impl Event {
    pub(super) fn new(name: String, args: Payload, ack_id: Option<u64>, socket: Socket) -> Self {
        Self {
            name,
            args,
            ack_id,
            socket,
            acked: Cell::new(false),
        }
    }

    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments after the name.
    pub fn args(&self) -> &Payload {
        &self.args
    }

    /// The namespace's socket, e.g. to emit from the handler.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Whether the server waits for an answer.
    pub fn wants_ack(&self) -> bool {
        self.ack_id.is_some()
    }

    /// Answers the server's ack request with `payload`. Only the first call sends; returns
    /// whether this one did.
    pub fn ack(&self, payload: Payload) -> bool {
        let Some(id) = self.ack_id else {
            return false;
        };
        if self.acked.replace(true) {
            return false;
        }
        self.socket
            .handle
            .send(Command::Ack {
                nsp: self.socket.nsp.to_string(),
                id,
                payload,
            })
            .is_ok()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("nsp", &self.socket.nsp)
            .field("name", &self.name)
            .field("args", &self.args)
            .field("ack_id", &self.ack_id)
            .finish()
    }
}

struct HandleInner {
    tx: Sender<Command>,
    waker: Arc<mio::Waker>,
    shared: SharedRef,
    max_buffered: usize,
}

/// A `Send + Clone` handle on a running client, usable from any thread.
#[derive(Clone)]
pub struct ClientHandle {
    inner: Arc<HandleInner>,
}

impl ClientHandle {
    fn send(&self, command: Command) -> Result<(), EmitError> {
        self.inner.tx.send(command).map_err(|_| EmitError::Closed)?;
        // A failed wake means the loop is gone; the channel send above already told us.
        let _ = self.inner.waker.wake();
        Ok(())
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The socket of namespace `nsp` (`"/"`, `"/chat"`), multiplexed on this client's one
    /// connection. Register handlers, then call [`Socket::connect`].
    pub fn socket(&self, nsp: &str) -> Socket {
        let nsp = if nsp.starts_with('/') {
            nsp.to_owned()
        } else {
            format!("/{nsp}")
        };
        Socket {
            nsp: nsp.into(),
            handle: self.clone(),
        }
    }

    /// Disconnects every namespace (`"io client disconnect"`), closes the connection, fails
    /// pending acks with [`AckError::Closed`] and ends the client thread. No reconnection.
    pub fn close(&self) {
        let _ = self.send(Command::Close);
    }

    /// Whether the client was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.lock().closed
    }

    /// The transport of the open Engine.IO session (polling until an upgrade completes);
    /// `None` while no session is open.
    pub fn transport(&self) -> Option<Transport> {
        self.inner.shared.lock().transport
    }
}

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
        let waker =
            mio::Waker::new(poll.registry(), super::worker::WAKER).map_err(StartError::Io)?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let handle = ClientHandle {
            inner: Arc::new(HandleInner {
                tx,
                waker: Arc::new(waker),
                shared: Arc::default(),
                max_buffered: self.options.max_buffered_emits,
            }),
        };
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

/// One namespace on a client's connection (the JS client's `Socket`). `Send + Clone`.
#[derive(Clone)]
pub struct Socket {
    nsp: Arc<str>,
    handle: ClientHandle,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket").field("nsp", &self.nsp).finish()
    }
}

impl Socket {
    /// The namespace.
    pub fn nsp(&self) -> &str {
        &self.nsp
    }

    /// The client this socket belongs to.
    pub fn client(&self) -> &ClientHandle {
        &self.handle
    }

    /// Whether the namespace is connected now.
    pub fn is_connected(&self) -> bool {
        self.view(|v| v.connected)
    }

    /// The socket id the server gave this namespace, while connected.
    pub fn id(&self) -> Option<String> {
        self.view(|v| v.sid.clone())
    }

    fn view<T: Default>(&self, f: impl FnOnce(&super::shared::NamespaceView) -> T) -> T {
        self.handle
            .inner
            .shared
            .lock()
            .namespaces
            .get(&*self.nsp)
            .map(f)
            .unwrap_or_default()
    }

    fn on_handler(&self, handler: Handler) {
        let _ = self.handle.send(Command::On {
            nsp: self.nsp.to_string(),
            handler,
        });
    }

    /// Handles event `event`; handlers run on the client thread, in registration order.
    pub fn on(&self, event: &str, f: impl FnMut(&Event) + Send + 'static) {
        self.on_handler(Handler::Event(event.to_owned(), Box::new(f)));
    }

    /// Handles every event, before the handlers by name.
    pub fn on_any(&self, f: impl FnMut(&Event) + Send + 'static) {
        self.on_handler(Handler::Any(Box::new(f)));
    }

    /// Called each time the namespace connects (also after a reconnection).
    pub fn on_connect(&self, f: impl FnMut(&Socket) + Send + 'static) {
        self.on_handler(Handler::Connect(Box::new(f)));
    }

    /// Called each time the namespace disconnects, with the reason.
    pub fn on_disconnect(&self, f: impl FnMut(&Socket, DisconnectReason) + Send + 'static) {
        self.on_handler(Handler::Disconnect(Box::new(f)));
    }

    /// Called when the server refuses the namespace; it is then not retried until
    /// [`connect`](Self::connect) is called again.
    pub fn on_connect_error(&self, f: impl FnMut(&Socket, &ConnectErrorInfo) + Send + 'static) {
        self.on_handler(Handler::ConnectError(Box::new(f)));
    }

    /// Connects the namespace, opening the connection if needed. It stays wanted, so it is
    /// reconnected after a lost connection, until [`disconnect`](Self::disconnect), a server
    /// disconnect or a connect error.
    pub fn connect(&self) -> Result<(), EmitError> {
        self.handle.send(Command::Connect {
            nsp: self.nsp.to_string(),
            auth: None,
        })
    }

    /// [`connect`](Self::connect) with an auth payload (a JSON object), sent again on every
    /// reconnection.
    pub fn connect_with_auth(&self, auth: &serde_json::Value) -> Result<(), EmitError> {
        if !auth.is_object() {
            return Err(EmitError::InvalidAuth);
        }
        self.handle.send(Command::Connect {
            nsp: self.nsp.to_string(),
            auth: Some(auth.to_string().into_bytes()),
        })
    }

    /// Leaves the namespace (`"io client disconnect"`); the connection closes once no namespace
    /// is left.
    pub fn disconnect(&self) {
        let _ = self.handle.send(Command::Disconnect {
            nsp: self.nsp.to_string(),
        });
    }

    /// Emits `event`. While the namespace is not connected the emit is buffered and sent after
    /// (re)connecting, up to [`ClientOptions::max_buffered_emits`].
    pub fn emit(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        self.submit(event, payload, false, None).map(|_| ())
    }

    /// Emits `event` only if the namespace is connected now; otherwise drops it and returns
    /// `Ok(false)`.
    pub fn volatile_emit(&self, event: &str, payload: Payload) -> Result<bool, EmitError> {
        self.submit(event, payload, true, None)
            .map(|sent| sent.is_some())
    }

    /// Emits `event` asking for an answer; `callback` runs on the client thread with the
    /// answer, or [`AckError::Timeout`] once `timeout` has passed since this call (`None`:
    /// wait for ever). Returns the ack id, for [`discard`](Self::discard).
    pub fn emit_with_ack(
        &self,
        event: &str,
        payload: Payload,
        timeout: Option<Duration>,
        callback: impl FnOnce(Result<Payload, AckError>) + Send + 'static,
    ) -> Result<u64, EmitError> {
        self.submit(event, payload, false, Some((timeout, Box::new(callback))))?
            .flatten()
            .ok_or(EmitError::Closed)
    }

    /// Cancels a pending ack: its callback will never run. Returns whether it was pending.
    pub fn discard(&self, ack_id: u64) -> bool {
        self.handle
            .inner
            .shared
            .lock()
            .acks
            .remove(&ack_id)
            .is_some()
    }

    /// Queues an emit; `Ok(None)` when a volatile emit was dropped, else `Ok(Some(ack id))`.
    fn submit(
        &self,
        event: &str,
        payload: Payload,
        volatile: bool,
        ack: Option<(Option<Duration>, super::shared::AckCallback)>,
    ) -> Result<Option<Option<u64>>, EmitError> {
        if sio::is_reserved_event(event) {
            return Err(EmitError::ReservedEvent);
        }
        let inner = &self.handle.inner;
        let mut state = inner.shared.lock();
        if state.closed {
            return Err(EmitError::Closed);
        }
        let connected = state
            .namespaces
            .get(&*self.nsp)
            .is_some_and(|n| n.connected);
        if volatile && !connected {
            return Ok(None);
        }
        if !connected {
            if state.buffered >= inner.max_buffered {
                return Err(EmitError::BufferFull);
            }
            state.buffered += 1;
        }
        let ack_id = ack.map(|(timeout, callback)| {
            let id = state.next_ack_id;
            state.next_ack_id = id.wrapping_add(1);
            let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            if let Some(at) = deadline {
                state.deadlines.push(std::cmp::Reverse((at, id)));
            }
            state.acks.insert(
                id,
                PendingAck {
                    nsp: self.nsp.to_string(),
                    deadline,
                    sent: false,
                    callback,
                },
            );
            id
        });
        drop(state);
        self.handle.send(Command::Emit(PendingEmit {
            nsp: self.nsp.to_string(),
            event: event.to_owned(),
            payload,
            ack_id,
            volatile,
            counted: !connected,
        }))?;
        Ok(Some(ack_id))
    }
}
