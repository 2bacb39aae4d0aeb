//! One namespace as the client thread sees it: whether it is wanted and connected, its auth,
//! the emits buffered while it is not connected, and its handlers. Below the client thread's
//! loop (`worker.rs`) and its dispatcher (`dispatch.rs`), which both hold these.

use std::collections::{HashMap, VecDeque};

use super::errors::ConnectErrorInfo;
use super::handle::{
    ConnectErrorHandler, ConnectHandler, DisconnectHandler, Event, EventHandler, Handler,
    PendingEmit, Socket,
};
use super::DisconnectReason;

/// One namespace as the client thread sees it.
#[derive(Default)]
pub(super) struct Namespace {
    /// Wanted: connect it whenever the connection opens.
    pub active: bool,
    /// The auth object sent with every CONNECT.
    pub auth: Option<Vec<u8>>,
    /// The server accepted the CONNECT, and the namespace has not gone down since.
    pub connected: bool,
    /// Emits made while not connected, oldest first.
    pub buffer: VecDeque<PendingEmit>,
    events: HashMap<String, Vec<EventHandler>>,
    any: Vec<EventHandler>,
    connect: Vec<ConnectHandler>,
    disconnect: Vec<DisconnectHandler>,
    connect_error: Vec<ConnectErrorHandler>,
}

impl Namespace {
    /// Registers `handler` after those of its kind.
    pub fn add_handler(&mut self, handler: Handler) {
        match handler {
            Handler::Event(name, f) => self.events.entry(name).or_default().push(f),
            Handler::Any(f) => self.any.push(f),
            Handler::Connect(f) => self.connect.push(f),
            Handler::Disconnect(f) => self.disconnect.push(f),
            Handler::ConnectError(f) => self.connect_error.push(f),
        }
    }

    /// Runs the catch-all handlers, then those of the event's name.
    pub fn on_event(&mut self, event: &Event) {
        for f in &mut self.any {
            f(event);
        }
        if let Some(handlers) = self.events.get_mut(event.name()) {
            for f in handlers {
                f(event);
            }
        }
    }

    /// Runs the connect handlers.
    pub fn on_connect(&mut self, socket: &Socket) {
        for f in &mut self.connect {
            f(socket);
        }
    }

    /// Runs the disconnect handlers.
    pub fn on_disconnect(&mut self, socket: &Socket, reason: DisconnectReason) {
        for f in &mut self.disconnect {
            f(socket, reason);
        }
    }

    /// Runs the connect-error handlers.
    pub fn on_connect_error(&mut self, socket: &Socket, info: &ConnectErrorInfo) {
        for f in &mut self.connect_error {
            f(socket, info);
        }
    }
}
