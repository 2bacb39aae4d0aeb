//! The admin namespace itself (the reference's `instrument` on `adminNamespace`): its login,
//! the `config` and `all_sockets` it sends each admin on connect, and the operations the UI
//! asks for (`emit`, `join`, `leave`, `_disconnect`), which act on every worker and every server
//! of a cluster through the handle.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::instrument::Instrument;
use super::options::{AdminAuth, AdminUi};
use super::serialize;
use crate::proto::sio::{ArgList, Args};
use crate::server::cluster::RequestError;
use crate::server::handle::{HandleBroadcast, ServerHandle};
use crate::server::sio::{Ack, ConnectError, NamespaceBuilder, Socket};

/// How long `all_sockets` waits for the workers and the other servers of a cluster.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The features the UI may offer (the reference's `Feature` names), as `config` lists them.
pub(crate) fn features(opts: &AdminUi) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !opts.readonly {
        out.extend([
            "EMIT",
            "JOIN",
            "LEAVE",
            "DISCONNECT",
            "MJOIN",
            "MLEAVE",
            "MDISCONNECT",
        ]);
    }
    out.push("AGGREGATED_EVENTS");
    if opts.development() {
        out.push("ALL_EVENTS");
    }
    out
}

/// Registers the admin namespace's handlers on `ns`.
pub(crate) fn register(ns: &mut NamespaceBuilder, opts: &AdminUi, core: Arc<Instrument>) {
    if let AdminAuth::Basic {
        username,
        password_hash,
    } = &opts.auth
    {
        let (username, hash) = (username.clone(), password_hash.clone());
        let sessions = Mutex::new(HashSet::new());
        ns.middleware(move |s, auth| {
            let auth: Json = auth.and_then(|a| a.deserialize().ok()).unwrap_or_default();
            login(s, &auth, &username, &hash, &sessions)
        });
    }
    let config = json!({ "supportedFeatures": features(opts) });
    let development = opts.development();
    ns.on_connect(move |s, _| {
        let _ = s.emit("config", &config);
        if development {
            send_all_sockets(s.server(), core.clone(), s.id().to_string());
        }
        Ok(())
    });
    if opts.readonly {
        return;
    }
    ns.on("emit", |s, args| {
        let (Some(nsp), Some(event)) = (text(args, 0), text(args, 2)) else {
            return malformed("emit");
        };
        let rest: Vec<Json> = args
            .iter()
            .skip(3)
            .map(|v| v.deserialize().unwrap_or(Json::Null))
            .collect();
        let target = select(s.server(), &nsp, args, 1);
        if let Err(e) = target.emit(&event, &ArgList(&rest)) {
            tracing::warn!(nsp, event, error = %e, "admin UI emit refused");
        }
        None
    });
    ns.on("join", |s, args| {
        let (Some(nsp), Some(room)) = (text(args, 0), text(args, 1)) else {
            return malformed("join");
        };
        select(s.server(), &nsp, args, 2).sockets_join(room);
        None
    });
    ns.on("leave", |s, args| {
        let (Some(nsp), Some(room)) = (text(args, 0), text(args, 1)) else {
            return malformed("leave");
        };
        select(s.server(), &nsp, args, 2).sockets_leave(room);
        None
    });
    ns.on("_disconnect", |s, args| {
        let Some(nsp) = text(args, 0) else {
            return malformed("_disconnect");
        };
        let close = args.get(1).and_then(|v| v.as_bool()).unwrap_or(false);
        select(s.server(), &nsp, args, 2).disconnect_sockets(close);
        None
    });
}

/// An operation without the namespace (or room, or event) it needs does nothing, as it can do
/// nothing in the reference; it is logged so that a misbehaving admin client is seen.
fn malformed(op: &str) -> Option<Ack> {
    tracing::warn!(op, "admin UI operation ignored: its arguments lack a name");
    None
}

/// The reference's basic authentication: a session id it gave earlier, or the user name and a
/// password matching the hash (then a new session id, sent as `session`).
fn login(
    s: &mut Socket<'_, '_>,
    auth: &Json,
    username: &str,
    hash: &str,
    sessions: &Mutex<HashSet<String>>,
) -> Result<(), ConnectError> {
    let known = || sessions.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = auth["sessionId"].as_str() {
        if known().contains(id) {
            return Ok(());
        }
    }
    let password = auth["password"].as_str().unwrap_or_default();
    // Verified without the lock: bcrypt takes its work factor's time, and the logins of other
    // workers need not wait for it.
    if auth["username"].as_str() == Some(username)
        && bcrypt::verify(password, hash).unwrap_or(false)
    {
        let id = session_id();
        known().insert(id.clone());
        let _ = s.emit("session", &id);
        return Ok(());
    }
    Err(ConnectError::new("invalid credentials"))
}

/// 16 hex digits from the system's random source, as the reference's `randomBytes(8)`.
fn session_id() -> String {
    let mut bytes = [0u8; 8];
    // The server checked at start that the random source works.
    let _ = getrandom::getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Argument `i` when it is a non-empty string (the reference tests the filter for truth).
fn text(args: &Args<'_>, i: usize) -> Option<String> {
    let v = args.get(i)?.as_str()?.into_owned();
    (!v.is_empty()).then_some(v)
}

/// Namespace `nsp`, narrowed to the room in the operation's filter argument when it has one
/// (argument `filter_at`: the third of `join`, `leave`, `_disconnect`, the second of `emit`).
fn select(h: ServerHandle, nsp: &str, args: &Args<'_>, filter_at: usize) -> HandleBroadcast {
    let first = h.of(nsp);
    match text(args, filter_at) {
        Some(room) => first.to(room),
        None => first,
    }
}

/// Sends admin socket `to` every socket of every known namespace, from a thread of its own
/// (fetching waits for the workers, this one included).
fn send_all_sockets(h: ServerHandle, core: Arc<Instrument>, to: String) {
    let spawned = std::thread::Builder::new()
        .name("volley-admin-fetch".into())
        .spawn(move || {
            let mut all = Vec::new();
            for name in core.names() {
                let found = h
                    .of(&name)
                    .fetch_sockets(FETCH_TIMEOUT)
                    .unwrap_or_else(RequestError::got);
                all.extend(
                    found
                        .iter()
                        .map(|s| serialize::socket(s, core.carrier(&s.id).as_ref())),
                );
            }
            if let Err(e) = h.emit_to(&core.admin, &to, "all_sockets", &(all,)) {
                tracing::warn!(error = %e, "admin UI all_sockets not sent");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "admin UI all_sockets not sent: no thread");
    }
}
