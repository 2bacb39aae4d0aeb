//! What the client thread does with user commands and connection events: namespace state,
//! handler calls, the emit buffer and ack bookkeeping.

use std::time::Instant;

use super::errors::{AckError, ConnectErrorInfo};
use super::handle::{Command, Event, PendingEmit, Socket};
use super::namespace::Namespace;
use super::payload::Payload;
use super::worker::Worker;
use super::{ClientConn, ClientEvent, DisconnectReason};
use crate::proto::eio::Transport;

impl Worker {
    fn namespace(&mut self, nsp: &str) -> &mut Namespace {
        self.namespaces.entry(nsp.to_owned()).or_default()
    }

    /// The open connection, if there is one.
    fn open_conn(&mut self) -> Option<&mut ClientConn> {
        self.link
            .as_mut()
            .map(|l| &mut l.conn)
            .filter(|c| c.is_open())
    }

    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::Connect { nsp, auth } => self.connect_namespace(nsp, auth),
            Command::Disconnect { nsp } => self.disconnect_namespace(&nsp),
            Command::Emit(emit) => self.on_emit(emit),
            Command::Ack { nsp, id, payload } => {
                if let Some(conn) = self.open_conn() {
                    conn.ack(&nsp, id, payload.json(), payload.attachments());
                }
            }
            Command::On { nsp, handler } => self.namespace(&nsp).add_handler(handler),
            Command::Close => self.close_all(),
        }
    }

    fn connect_namespace(&mut self, nsp: String, auth: Option<Vec<u8>>) {
        let ns = self.namespace(&nsp);
        ns.active = true;
        if auth.is_some() {
            ns.auth = auth;
        }
        if ns.connected {
            return;
        }
        let auth = ns.auth.clone();
        if let Some(conn) = self.open_conn() {
            conn.connect_namespace(&nsp, auth.as_deref());
        } else if !self.has_link_or_plan() {
            self.open_link(Instant::now());
        }
    }

    fn disconnect_namespace(&mut self, nsp: &str) {
        let ns = self.namespace(nsp);
        ns.active = false;
        let was_connected = ns.connected;
        if was_connected {
            if let Some(conn) = self.open_conn() {
                conn.disconnect_namespace(nsp);
            }
            self.namespace_down(nsp, DisconnectReason::IoClientDisconnect);
        }
        self.close_if_unwanted();
    }

    /// Like the JS Manager: once no namespace is wanted, close the connection for good.
    fn close_if_unwanted(&mut self) {
        if self.namespaces.values().any(|ns| ns.active) {
            return;
        }
        self.cancel_reconnect();
        if let Some(link) = &mut self.link {
            link.conn.close();
        }
    }

    fn on_emit(&mut self, emit: PendingEmit) {
        let connected = self
            .namespaces
            .get(&emit.nsp)
            .is_some_and(|ns| ns.connected);
        if connected && self.open_conn().is_some() {
            if emit.counted {
                let mut state = self.handle.shared().lock();
                state.buffered = state.buffered.saturating_sub(1);
            }
            self.send_emit(&emit);
        } else if emit.volatile {
            if emit.counted {
                let mut state = self.handle.shared().lock();
                state.buffered = state.buffered.saturating_sub(1);
            }
        } else {
            if !emit.counted {
                self.handle.shared().lock().buffered += 1;
            }
            self.namespace(&emit.nsp.clone()).buffer.push_back(emit);
        }
    }

    fn send_emit(&mut self, emit: &PendingEmit) {
        let Some(conn) = self.open_conn() else {
            return;
        };
        conn.emit_with_id(
            &emit.nsp,
            &emit.event,
            emit.payload.json(),
            emit.payload.attachments(),
            emit.ack_id,
        );
        if let Some(id) = emit.ack_id {
            if let Some(ack) = self.handle.shared().lock().acks.get_mut(&id) {
                ack.sent = true;
            }
        }
    }

    fn socket(&self, nsp: &str) -> Socket {
        self.handle.socket(nsp)
    }

    pub(super) fn on_conn_event(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Open { .. } => {
                let transport = self.link.as_ref().map(|l| l.conn.transport());
                self.handle.shared().lock().transport = transport;
                self.on_open();
            }
            ClientEvent::Upgraded => {
                self.handle.shared().lock().transport = Some(Transport::WebSocket);
            }
            ClientEvent::Connected { nsp, sid } => self.on_connected(&nsp, sid),
            ClientEvent::ConnectError {
                nsp,
                message,
                data_json,
            } => {
                let info = ConnectErrorInfo {
                    message,
                    data: data_json.and_then(|d| serde_json::from_slice(&d).ok()),
                };
                let socket = self.socket(&nsp);
                let ns = self.namespace(&nsp);
                ns.active = false;
                ns.on_connect_error(&socket, &info);
                self.close_if_unwanted();
            }
            ClientEvent::Event {
                nsp,
                name,
                args_json,
                attachments,
                ack_id,
            } => {
                let socket = self.socket(&nsp);
                let Some(ns) = self.namespaces.get_mut(&nsp).filter(|ns| ns.connected) else {
                    return;
                };
                let args = Payload::from_json_array(args_json, attachments);
                ns.on_event(&Event::new(name, args, ack_id, socket));
            }
            ClientEvent::Ack {
                id,
                args_json,
                attachments,
                ..
            } => {
                let ack = self.handle.shared().lock().acks.remove(&id);
                if let Some(ack) = ack {
                    (ack.callback)(Ok(Payload::from_json_array(args_json, attachments)));
                }
            }
            ClientEvent::Disconnected { nsp } => {
                self.namespace(&nsp).active = false;
                self.namespace_down(&nsp, DisconnectReason::IoServerDisconnect);
                self.close_if_unwanted();
            }
            ClientEvent::Closed { reason } => {
                self.handle.shared().lock().transport = None;
                let opened = self.link.as_ref().is_some_and(|l| l.opened);
                let connected: Vec<String> = self
                    .namespaces
                    .iter()
                    .filter(|(_, ns)| ns.connected)
                    .map(|(nsp, _)| nsp.clone())
                    .collect();
                for nsp in connected {
                    self.namespace_down(&nsp, reason);
                }
                self.on_link_closed(reason, opened);
            }
        }
    }

    fn on_open(&mut self) {
        if let Some(link) = &mut self.link {
            link.opened = true;
        }
        if let Some(attempts) = self.on_session_open() {
            if let Some(f) = &mut self.callbacks.reconnect {
                f(attempts);
            }
        }
        if let Some(f) = &mut self.callbacks.open {
            f();
        }
        let wanted: Vec<(String, Option<Vec<u8>>)> = self
            .namespaces
            .iter()
            .filter(|(_, ns)| ns.active)
            .map(|(nsp, ns)| (nsp.clone(), ns.auth.clone()))
            .collect();
        if let Some(conn) = self.open_conn() {
            for (nsp, auth) in wanted {
                conn.connect_namespace(&nsp, auth.as_deref());
            }
        }
    }

    fn on_connected(&mut self, nsp: &str, sid: String) {
        let ns = self.namespace(nsp);
        if !ns.active {
            // We left while the CONNECT was in flight.
            if let Some(conn) = self.open_conn() {
                conn.disconnect_namespace(nsp);
            }
            return;
        }
        ns.connected = true;
        let buffered = std::mem::take(&mut ns.buffer);
        {
            let mut state = self.handle.shared().lock();
            let view = state.namespaces.entry(nsp.to_owned()).or_default();
            view.connected = true;
            view.sid = Some(sid);
            state.buffered = state.buffered.saturating_sub(buffered.len());
        }
        for emit in &buffered {
            self.send_emit(emit);
        }
        let socket = self.socket(nsp);
        self.namespace(nsp).on_connect(&socket);
    }

    /// A connected namespace went down: update the shared view, fail acks that can no longer
    /// be answered, call the disconnect handlers.
    fn namespace_down(&mut self, nsp: &str, reason: DisconnectReason) {
        self.namespace(nsp).connected = false;
        let failed = {
            let shared = self.handle.shared();
            let mut state = shared.lock();
            if let Some(view) = state.namespaces.get_mut(nsp) {
                view.connected = false;
                view.sid = None;
            }
            drop(state);
            shared.take_acks(Some(nsp), false)
        };
        for callback in failed {
            callback(Err(AckError::Disconnected));
        }
        let socket = self.socket(nsp);
        self.namespace(nsp).on_disconnect(&socket, reason);
    }

    fn close_all(&mut self) {
        self.closing = true;
        self.cancel_reconnect();
        let connected: Vec<String> = self
            .namespaces
            .iter()
            .filter(|(_, ns)| ns.connected)
            .map(|(nsp, _)| nsp.clone())
            .collect();
        for nsp in connected {
            if let Some(conn) = self.open_conn() {
                conn.disconnect_namespace(&nsp);
            }
            self.namespace_down(&nsp, DisconnectReason::IoClientDisconnect);
        }
        for ns in self.namespaces.values_mut() {
            ns.active = false;
            ns.buffer.clear();
        }
        if let Some(link) = &mut self.link {
            link.conn.close();
        }
    }
}
