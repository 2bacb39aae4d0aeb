//! A worker's Engine.IO sessions. A session is not tied to one connection (long-polling uses a
//! new request for every exchange, and an upgrade moves it to a WebSocket), so sessions live
//! here, found by key from their WebSocket or timers and by id from polling requests.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use slab::Slab;

use crate::proto::eio::{Sid, SidMap};

use super::closed::LateReport;
use super::closed::{Closed, CLOSED_POLL_TTL};
use super::eio_session::EioSession;
use super::polling::Payload;
use super::port::Port;
use super::reason::DisconnectReason;
use super::session_key::SessionKey;

#[derive(Default)]
pub(crate) struct Sessions {
    /// `None` while a handler holds the session (taken out so it can use the whole worker).
    slots: Slab<(u32, Option<Box<EioSession>>)>,
    by_sid: SidMap<SessionKey>,
    next_epoch: u32,
    /// Ended polling sessions still owing their client packets (see [`Closed`]), oldest first
    /// in `closed_order`, each dropped after [`CLOSED_POLL_TTL`].
    closed: SidMap<Closed>,
    closed_order: VecDeque<(Sid, Instant)>,
    /// Ended sessions whose handler still waits to hear of the end ([`LateReport`]), by the
    /// key their timer carries.
    late: HashMap<SessionKey, Sid>,
}

impl Sessions {
    pub fn insert(&mut self, sid: Sid, make: impl FnOnce(SessionKey) -> EioSession) -> SessionKey {
        self.next_epoch = self.next_epoch.wrapping_add(1);
        let entry = self.slots.vacant_entry();
        let key = SessionKey {
            idx: entry.key() as u32,
            epoch: self.next_epoch,
        };
        entry.insert((key.epoch, Some(Box::new(make(key)))));
        self.by_sid.insert(sid, key);
        key
    }

    /// The keys of every live session.
    pub fn keys(&self) -> Vec<SessionKey> {
        self.slots
            .iter()
            .map(|(idx, (epoch, _))| SessionKey {
                idx: idx as u32,
                epoch: *epoch,
            })
            .collect()
    }

    pub fn key_of(&self, sid: &Sid) -> Option<SessionKey> {
        self.by_sid.get(sid).copied()
    }

    fn take(&mut self, key: SessionKey) -> Option<Box<EioSession>> {
        match self.slots.get_mut(key.idx as usize) {
            Some((epoch, s)) if *epoch == key.epoch => s.take(),
            _ => None,
        }
    }

    fn put_back(&mut self, key: SessionKey, session: Box<EioSession>) {
        if let Some((epoch, slot)) = self.slots.get_mut(key.idx as usize) {
            if *epoch == key.epoch {
                *slot = Some(session);
            }
        }
    }

    /// Keeps what ended session `sid` still owes its client, until `now` + [`CLOSED_POLL_TTL`].
    fn bury(&mut self, sid: Sid, closed: Closed, now: Instant) {
        self.expire(now);
        if let Some(late) = &closed.late {
            self.late.insert(late.key, sid);
        }
        self.closed.insert(sid, closed);
        self.closed_order.push_back((sid, now + CLOSED_POLL_TTL));
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(sid, at)) = self.closed_order.front() {
            if at > now {
                break;
            }
            self.closed_order.pop_front();
            if let Some(late) = self.closed.remove(&sid).and_then(|c| c.late) {
                // Its timer is due no later than now; whichever comes first reports.
                self.late.remove(&late.key);
                (late.report)(late.on_timeout);
            }
        }
    }

    /// The body owed to a polling GET for ended session `sid` at `now`, and the handler to
    /// tell once it is the last (the close packet); `None` if it owes nothing (an unknown
    /// sid).
    pub fn closed_body(
        &mut self,
        now: Instant,
        sid: &Sid,
    ) -> Option<(Payload, Option<LateReport>)> {
        self.expire(now);
        let (body, last) = self.closed.get_mut(sid)?.next_body();
        let mut late = None;
        if last {
            late = self.closed.remove(sid).and_then(|c| c.late);
            if let Some(l) = &late {
                self.late.remove(&l.key);
            }
        }
        Some((body, late))
    }

    /// The late report of ended session `key` whose timer fired; its record goes too (the
    /// client gets 400 from now on, as from the reference after the session closed).
    pub fn take_late(&mut self, key: SessionKey) -> Option<(Sid, LateReport)> {
        let sid = self.late.remove(&key)?;
        let late = self.closed.remove(&sid)?.late?;
        Some((sid, late))
    }

    fn remove(&mut self, key: SessionKey, sid: &Sid) {
        if self
            .slots
            .get(key.idx as usize)
            .is_some_and(|(e, _)| *e == key.epoch)
        {
            self.slots.remove(key.idx as usize);
        }
        self.by_sid.remove(sid);
    }
}

/// The port of the code that finds sessions by key or id (the HTTP endpoint and the service):
/// the worker's port and its session table.
pub(crate) trait SessionsPort: Port {
    /// The worker's sessions.
    fn sessions(&mut self) -> &mut Sessions;
}

/// Runs `f` on session `key` with the whole worker at hand, then flushes what the session
/// queued for a parked polling request and, if the session ended, removes it and tells the
/// layers above. Returns `None` if there is no such session (or `f` panicked).
pub(crate) fn with_session<R>(
    cx: &mut dyn SessionsPort,
    key: SessionKey,
    f: impl FnOnce(&mut dyn Port, &mut EioSession) -> R,
) -> Option<R> {
    let mut session = cx.sessions().take(key)?;
    // A panicking user handler ends its own session only; the worker and every other session
    // carry on.
    let r = std::panic::catch_unwind(AssertUnwindSafe(|| f(cx, &mut session)));
    if r.is_err() {
        session.close(DisconnectReason::HandlerPanic);
    }
    session.flush(cx);
    if session.is_closing() {
        let sid = session.sid();
        let worker = cx.worker();
        cx.sessions().remove(key, &sid);
        cx.state().stats.sessions_delta(worker, -1);
        if let Some(owed) = session.finish(cx) {
            let now = cx.now();
            cx.sessions().bury(sid, owed, now);
        }
    } else {
        cx.sessions().put_back(key, session);
    }
    r.ok()
}
