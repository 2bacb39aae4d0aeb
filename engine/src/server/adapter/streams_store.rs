//! Connection state recovery across the cluster with the streams adapter, as
//! `@socket.io/redis-streams-adapter` does it: a kept packet's offset is its stream entry id
//! (so it is appended first and delivered after, by the publisher thread), a lost socket's
//! session is SET in Redis for the recovery window, and a CONNECT asking for it back is
//! answered by the publisher thread (GET and DEL in MULTI, the offset checked with XRANGE, then
//! the entries after it that the session's rooms would have got), whichever server, Volley or
//! Node, kept it. Workers only queue commands; the answer reaches the CONNECT's worker by its
//! mailbox.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use super::conn::Conn;
use super::core::{Cmd, Outbox};
use super::resp::Reply;
use super::session_wire::{
    decode_session, encode_session, is_entry_id, missed_packet, next_entry_id, session_key,
    StoredSession,
};
use super::streams::entry_list;
use crate::proto::eio::Sid;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::sio::{
    EmitError, EncodeMaybeAt, Keeping, RestoreAnswer, Restored, Restoring, Session, SessionStore,
    SocketData, ToKeep,
};

/// Most XRANGE calls one restore makes (Node's `RESTORE_SESSION_MAX_XRANGE_CALLS`): a stream
/// growing faster than it is read cannot hold the publisher for ever.
const MAX_XRANGE_CALLS: usize = 100;

/// The recovery store of a server with the streams adapter: what workers call, turned into
/// commands for the adapter's publisher thread.
pub(crate) struct StreamsStore {
    pub(super) out: Outbox,
    /// The recovery window: how long a session stays in Redis (`PX`).
    pub(super) window: Duration,
    /// Longest a CONNECT waits for its session (the requests timeout).
    pub(super) restore_timeout: Duration,
}

impl SessionStore for StreamsStore {
    fn keep(
        &self,
        packet: ToKeep<'_>,
        _now: Instant,
        encode: &mut EncodeMaybeAt<'_>,
    ) -> Result<Keeping, EmitError> {
        let packets = encode(None)?;
        if packet.local {
            return Ok(Keeping::Send(packets));
        }
        let msg = BroadcastMsg {
            nsp: packet.nsp.to_string(),
            target: packet.target.clone(),
            volatile: false,
            compress: packet.compress,
            packets,
            acks: None,
        };
        self.out.send(Cmd::Keep(Arc::new(msg)));
        Ok(Keeping::Published)
    }

    fn persist(&self, session: Session, _now: Instant) {
        let stored = StoredSession {
            sid: session.sid.as_str().to_string(),
            pid: session.pid.to_string(),
            rooms: session.rooms,
            // Node's `socket.data` starts as `{}`.
            data: session.data.map_or_else(|| json!({}), |d| d.to_json()),
        };
        match encode_session(&stored) {
            Ok(value) => self.out.send(Cmd::Persist {
                key: session_key(&stored.pid),
                value,
                ttl: self.window,
            }),
            Err(e) => self.out.health.malformed("own session", &e),
        }
    }

    fn restore(
        &self,
        nsp: &str,
        pid: &str,
        offset: Option<&str>,
        now: Instant,
        later: RestoreAnswer,
    ) -> Restoring {
        // Node rejects an offset that is not an entry id, or none, before asking Redis
        // ("invalid offset").
        let Some(offset) = offset.filter(|o| is_entry_id(o)) else {
            return Restoring::Now(None);
        };
        self.out.send(Cmd::Restore {
            nsp: nsp.to_string(),
            pid: pid.to_string(),
            offset: offset.to_string(),
            deadline: now + self.restore_timeout,
            answer: later,
        });
        Restoring::Later
    }
}

/// Why a session did not come back.
pub(super) enum NotRestored {
    /// Unknown or expired session, or an offset the stream no longer holds: a fresh session,
    /// as the reference gives.
    Gone,
    /// The stored session does not decode, or names an id this server cannot take.
    Malformed(String),
    /// Redis failed, or the restore ran past its deadline.
    Io(io::Error),
}

impl From<io::Error> for NotRestored {
    fn from(e: io::Error) -> Self {
        NotRestored::Io(e)
    }
}

/// Restores session `pid` of `nsp` from `offset` on `conn` (nothing else in flight on it),
/// reading `stream`, giving up at `deadline`.
pub(super) fn restore(
    conn: &mut Conn,
    stream: &str,
    nsp: &str,
    pid: &str,
    offset: &str,
    deadline: Instant,
) -> Result<Restored, NotRestored> {
    let key = session_key(pid);
    conn.queue(&[b"MULTI"]);
    conn.queue(&[b"GET", key.as_bytes()]);
    conn.queue(&[b"DEL", key.as_bytes()]);
    conn.queue(&[b"EXEC"]);
    conn.queue(&[
        b"XRANGE",
        stream.as_bytes(),
        offset.as_bytes(),
        offset.as_bytes(),
    ]);
    conn.flush()?;
    for _ in 0..3 {
        conn.expect_ok()?;
    }
    let raw = conn.reply(|r| match r {
        Reply::Array(Some(items)) => items.first().and_then(Reply::bytes).map(<[u8]>::to_vec),
        _ => None,
    })?;
    let offset_kept =
        conn.reply(|r| matches!(r, Reply::Array(Some(items)) if !items.is_empty()))?;
    let (Some(raw), true) = (raw, offset_kept) else {
        return Err(NotRestored::Gone);
    };
    let session = decode_session(&raw).map_err(|e| NotRestored::Malformed(e.to_string()))?;
    let sid = Sid::adopt(&session.sid)
        .ok_or_else(|| NotRestored::Malformed(format!("socket id {:?}", session.sid)))?;
    let mut missed = Vec::new();
    let mut last = offset.to_string();
    for _ in 0..MAX_XRANGE_CALLS {
        if Instant::now() > deadline {
            return Err(NotRestored::Io(io::ErrorKind::TimedOut.into()));
        }
        let from = next_entry_id(&last).ok_or(NotRestored::Gone)?;
        conn.queue(&[b"XRANGE", stream.as_bytes(), from.as_bytes(), b"+"]);
        conn.flush()?;
        let entries = conn.reply(|r| match r {
            Reply::Array(Some(items)) => entry_list(&items),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unexpected XRANGE reply",
            )),
        })??;
        if entries.is_empty() {
            break;
        }
        for (id, message) in entries {
            // An entry that does not decode is skipped, as the reader skips it.
            if let Ok(m) = message {
                if let Ok(Some(packets)) = missed_packet(&m, &id, nsp, &session.rooms) {
                    missed.push(packets);
                }
            }
            last = id;
        }
    }
    Ok(Restored {
        sid,
        rooms: session.rooms,
        data: data_of(session.data),
        missed,
    })
}

/// A stored `data` as the socket's: none for Node's default `{}` (or `null`), a `String` for
/// a string, the `serde_json::Value` otherwise (the Rust type it had stays on the server that
/// set it).
fn data_of(data: Json) -> Option<Box<dyn SocketData + Send>> {
    match data {
        Json::Null => None,
        Json::Object(m) if m.is_empty() => None,
        Json::String(s) => Some(Box::new(s)),
        v => Some(Box::new(v)),
    }
}
