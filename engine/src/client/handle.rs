//! The `Send + Clone` handles on the client thread ([`ClientHandle`], [`Socket`]), the [`Event`]
//! handlers receive, and the [`Command`]s the handles send the thread. One file because these
//! types contain one another (a socket holds its client's command channel; a command carries
//! handlers that take sockets and events); everything below them (errors, shared state,
//! payloads) is imported, nothing above.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::errors::{AckError, ConnectErrorInfo, EmitError};
use super::payload::Payload;
use super::shared::{AckCallback, NamespaceView, PendingAck, Shared, SharedRef};
use super::DisconnectReason;
use crate::proto::eio::Transport;
use crate::proto::sio;

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
    /// A handle on a client thread that reads `tx` and is woken by `waker`; emits made while
    /// their namespace is disconnected are buffered up to `max_buffered`.
    pub(super) fn new(tx: Sender<Command>, waker: Arc<mio::Waker>, max_buffered: usize) -> Self {
        Self {
            inner: Arc::new(HandleInner {
                tx,
                waker,
                shared: Arc::default(),
                max_buffered,
            }),
        }
    }

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

    fn view<T: Default>(&self, f: impl FnOnce(&NamespaceView) -> T) -> T {
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
    /// (re)connecting, up to
    /// [`ClientOptions::max_buffered_emits`](super::ClientOptions::max_buffered_emits).
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
        ack: Option<(Option<Duration>, AckCallback)>,
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

/// Handler of an event (by name or catch-all).
pub(super) type EventHandler = Box<dyn FnMut(&Event) + Send>;
/// Handler of a namespace connection.
pub(super) type ConnectHandler = Box<dyn FnMut(&Socket) + Send>;
/// Handler of a namespace disconnection.
pub(super) type DisconnectHandler = Box<dyn FnMut(&Socket, DisconnectReason) + Send>;
/// Handler of a refused namespace connection.
pub(super) type ConnectErrorHandler = Box<dyn FnMut(&Socket, &ConnectErrorInfo) + Send>;

/// A handler registration.
pub(super) enum Handler {
    Event(String, EventHandler),
    Any(EventHandler),
    Connect(ConnectHandler),
    Disconnect(DisconnectHandler),
    ConnectError(ConnectErrorHandler),
}

/// What a handle asks the client thread to do.
pub(super) enum Command {
    /// Connect (or reconnect) namespace `nsp` with this auth object.
    Connect { nsp: String, auth: Option<Vec<u8>> },
    /// Leave namespace `nsp` (`"io client disconnect"`).
    Disconnect { nsp: String },
    /// Emit; `counted` when the emit was counted in `buffered` by the handle.
    Emit(PendingEmit),
    /// Answer the server's event `id` on `nsp`.
    Ack {
        nsp: String,
        id: u64,
        payload: Payload,
    },
    /// Add a handler for namespace `nsp`.
    On { nsp: String, handler: Handler },
    /// Close everything and end the thread.
    Close,
}

/// An emit on its way to the wire.
pub(super) struct PendingEmit {
    pub nsp: String,
    pub event: String,
    pub payload: Payload,
    pub ack_id: Option<u64>,
    pub volatile: bool,
    /// Counted in [`SharedState::buffered`](super::shared::SharedState::buffered) by the
    /// handle, because the namespace looked disconnected when it was made.
    pub counted: bool,
}
