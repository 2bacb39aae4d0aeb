//! The admin UI's view of every namespace (the reference's `registerVerboseListeners`): it
//! hears connects, disconnects, room changes and events on the workers, and reports each to the
//! admin namespace through the server handle, so the report reaches admin sockets on every
//! worker (and every server of a cluster, as the reference's `adminNamespace.emit` does).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value as Json;

use super::serialize::{self, Carrier};
use crate::proto::eio::Sid;
use crate::proto::sio::Args;
use crate::server::handle::ServerHandle;
use crate::server::reason::DisconnectReason;
use crate::server::rooms::SocketWatch;
use crate::server::sio::{NamespaceBuilder, Socket};
use crate::server::socket_info::SocketInfo;

/// A connected socket as the instrumentation remembers it.
struct Known {
    nsp: String,
    carrier: Carrier,
}

/// What the instrumentation shares between the workers and its stats thread.
pub(crate) struct Instrument {
    /// The admin namespace's name.
    pub admin: String,
    /// Set once the server runs; reports made before (none can be) are dropped.
    pub handle: OnceLock<ServerHandle>,
    /// Every connected socket by id (socket ids are unique across namespaces), for its
    /// namespace and carrier: an outgoing listener knows only the id.
    sockets: Mutex<HashMap<Sid, Known>>,
    /// The namespaces that have existed (the reference's `io._nsps`): `/`, those registered by
    /// name, and each dynamic one once a socket joined it.
    names: Mutex<BTreeSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking reporter leaves the tables whole: every update is a single insert or remove.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Instrument {
    pub fn new(admin: &str, names: impl IntoIterator<Item = String>) -> Self {
        let mut known: BTreeSet<String> = names.into_iter().collect();
        known.insert("/".to_string());
        known.insert(admin.to_string());
        Instrument {
            admin: admin.to_string(),
            handle: OnceLock::new(),
            sockets: Mutex::default(),
            names: Mutex::new(known),
        }
    }

    /// Emits `event` with `args` (an argument list, see [`ServerHandle::emit_to`]) to every
    /// admin socket; a failure is logged, as a report cannot be answered.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, args: &T) {
        let Some(h) = self.handle.get() else { return };
        if let Err(e) = h.of(&self.admin).emit(event, args) {
            tracing::warn!(event, error = %e, "admin UI report not sent");
        }
    }

    /// The namespaces known so far, in name order.
    pub fn names(&self) -> Vec<String> {
        lock(&self.names).iter().cloned().collect()
    }

    /// The carrier of socket `id`, if it is connected here.
    pub fn carrier(&self, id: &str) -> Option<Carrier> {
        let sid = Sid::parse(id)?;
        lock(&self.sockets).get(&sid).map(|k| k.carrier.clone())
    }

    /// Hooks namespace `ns` (the admin namespace itself when `admin`): connects and
    /// disconnects are reported for every namespace, events only for the others.
    pub fn observe(self: &Arc<Self>, ns: &mut NamespaceBuilder, admin: bool) {
        let me = self.clone();
        ns.prepend_on_connect(move |s, _| {
            me.connected(s);
            Ok(())
        });
        let me = self.clone();
        ns.on_disconnect(move |s, reason| me.disconnected(s, reason));
        let me = self.clone();
        ns.on_upgrade(move |s| me.upgraded(s));
        if admin {
            return;
        }
        let me = self.clone();
        ns.prepend_any(move |s, event, args| {
            let args = with_name(event, args);
            me.emit("event_received", &(s.nsp(), s.id(), args, now()));
            None
        });
        let me = self.clone();
        ns.on_any_outgoing(move |id, event, args| {
            let Some(nsp) = Sid::parse(id).and_then(|sid| {
                let sockets = lock(&me.sockets);
                sockets.get(&sid).map(|k| k.nsp.clone())
            }) else {
                return;
            };
            me.emit("event_sent", &(nsp, id, with_name(event, args), now()));
        });
    }

    fn connected(&self, s: &mut Socket<'_, '_>) {
        let carrier = Carrier {
            client_id: s.connection_name(),
            transport: s.transport(),
        };
        let info = SocketInfo {
            id: s.id().to_string(),
            nsp: s.nsp().to_string(),
            rooms: s.rooms(),
            handshake: s.handshake().clone(),
            auth: Json::Null,
            data: s.data_json(),
        };
        let json = serialize::socket(&info, Some(&carrier));
        if let Some(sid) = Sid::parse(s.id()) {
            let known = Known {
                nsp: info.nsp.clone(),
                carrier,
            };
            lock(&self.sockets).insert(sid, known);
        }
        // The reference joins the socket's own room (and hears the joins of its middleware)
        // only once the middleware accepted it, just before `connection`; Volley indexes the
        // rooms earlier, so they are reported here, and changes of sockets not yet reported
        // are not (see `SocketWatch`).
        for room in &info.rooms {
            self.emit("room_joined", &(&info.nsp, room, &info.id, now()));
        }
        lock(&self.names).insert(info.nsp);
        self.emit("socket_connected", &(json, now()));
    }

    fn upgraded(&self, s: &mut Socket<'_, '_>) {
        let transport = s.transport();
        if let Some(sid) = Sid::parse(s.id()) {
            if let Some(k) = lock(&self.sockets).get_mut(&sid) {
                k.carrier.transport = transport;
            }
        }
        let update = serde_json::json!({ "id": s.id(), "nsp": s.nsp(), "transport": transport });
        self.emit("socket_updated", &(update,));
    }

    /// Connections still on polling, of those with a socket connected (the reference's
    /// `_pollingClientsCount`, counted here from the sockets reported).
    pub fn polling_clients(&self) -> usize {
        let sockets = lock(&self.sockets);
        let polling = sockets
            .values()
            .filter(|k| k.carrier.transport == "polling");
        polling
            .map(|k| k.carrier.client_id.as_str())
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    fn disconnected(&self, s: &mut Socket<'_, '_>, reason: DisconnectReason) {
        if let Some(sid) = Sid::parse(s.id()) {
            lock(&self.sockets).remove(&sid);
        }
        self.emit(
            "socket_disconnected",
            &(s.nsp(), s.id(), reason.as_str(), now()),
        );
    }
}

/// Room changes of connected sockets (those of a socket whose middleware still runs, or
/// refuses it, are not the reference's to report), and their carriers for `fetch_sockets`.
impl SocketWatch for Instrument {
    fn joined(&self, nsp: &str, room: &str, sid: Sid) {
        if lock(&self.sockets).contains_key(&sid) {
            self.emit("room_joined", &(nsp, room, sid.as_str(), now()));
        }
    }

    fn left(&self, nsp: &str, room: &str, sid: Sid) {
        if lock(&self.sockets).contains_key(&sid) {
            self.emit("room_left", &(nsp, room, sid.as_str(), now()));
        }
    }

    /// `data._admin`, as the reference's `instrument` keeps it in `socket.data`, so an admin on
    /// a Node server of the cluster reads this socket's connection and transport.
    fn annotate(&self, sid: Sid, data: &mut Json) {
        let Some(carrier) = lock(&self.sockets).get(&sid).map(|k| k.carrier.clone()) else {
            return;
        };
        if data.is_null() {
            *data = Json::Object(serde_json::Map::new());
        }
        if let Some(map) = data.as_object_mut() {
            let admin = serde_json::json!({
                "clientId": carrier.client_id,
                "transport": carrier.transport,
            });
            map.insert("_admin".to_string(), admin);
        }
    }
}

/// The time of a report, as the reference's `new Date()`.
fn now() -> String {
    serialize::iso_date(SystemTime::now())
}

/// An event as the reference's `onAny` arguments: its name, then its arguments (binary ones as
/// their placeholders).
fn with_name(event: &str, args: &Args<'_>) -> Vec<Json> {
    let mut out = Vec::with_capacity(args.len() + 1);
    out.push(Json::String(event.to_string()));
    out.extend(args.iter().map(|v| v.deserialize().unwrap_or(Json::Null)));
    out
}
