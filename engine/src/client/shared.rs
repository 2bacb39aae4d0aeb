//! State shared between the user's handles and the client thread: pending acks and their
//! deadlines, per-namespace views, the emit buffer's count. Handles only lock briefly; handlers
//! never run under the lock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::errors::AckError;
use super::payload::Payload;
use crate::proto::eio::Transport;

/// Callback of an emit with ack.
pub(super) type AckCallback = Box<dyn FnOnce(Result<Payload, AckError>) + Send>;

/// An ack callback waiting for the server's answer.
pub(super) struct PendingAck {
    pub nsp: String,
    pub deadline: Option<Instant>,
    /// The emit reached the connection: losing the connection now fails the ack.
    pub sent: bool,
    pub callback: AckCallback,
}

/// Per-namespace facts the handles need synchronously.
#[derive(Default)]
pub(super) struct NamespaceView {
    pub connected: bool,
    pub sid: Option<String>,
}

/// The shared state proper.
#[derive(Default)]
pub(super) struct SharedState {
    pub next_ack_id: u64,
    pub acks: HashMap<u64, PendingAck>,
    /// Ack deadlines; entries whose ack is gone (answered, discarded) are skipped lazily.
    pub deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    pub namespaces: HashMap<String, NamespaceView>,
    /// Emits held for namespaces that are not connected.
    pub buffered: usize,
    /// The client was closed; emits fail.
    pub closed: bool,
    /// The transport of the open session, if one is open.
    pub transport: Option<Transport>,
}

/// The shared state behind a mutex.
#[derive(Default)]
pub(super) struct Shared {
    state: Mutex<SharedState>,
}

impl Shared {
    /// Locks the state; a handler that panicked elsewhere does not poison it for good.
    pub fn lock(&self) -> MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes and returns the callbacks whose deadline passed at `now`.
    pub fn expired_acks(&self, now: Instant) -> Vec<AckCallback> {
        let mut state = self.lock();
        let mut expired = Vec::new();
        while let Some(&Reverse((at, id))) = state.deadlines.peek() {
            if at > now {
                break;
            }
            state.deadlines.pop();
            if state.acks.get(&id).is_some_and(|a| a.deadline == Some(at)) {
                if let Some(ack) = state.acks.remove(&id) {
                    expired.push(ack.callback);
                }
            }
        }
        expired
    }

    /// The earliest pending ack deadline.
    pub fn next_ack_deadline(&self) -> Option<Instant> {
        let mut state = self.lock();
        while let Some(&Reverse((at, id))) = state.deadlines.peek() {
            if state.acks.get(&id).is_some_and(|a| a.deadline == Some(at)) {
                return Some(at);
            }
            state.deadlines.pop();
        }
        None
    }

    /// Removes the callbacks of acks on `nsp` (all namespaces when `None`) that were sent, or
    /// every one when `all`; they will never be answered.
    pub fn take_acks(&self, nsp: Option<&str>, all: bool) -> Vec<AckCallback> {
        let mut state = self.lock();
        let ids: Vec<u64> = state
            .acks
            .iter()
            .filter(|(_, a)| (all || a.sent) && nsp.map_or(true, |n| a.nsp == n))
            .map(|(&id, _)| id)
            .collect();
        ids.iter()
            .filter_map(|id| state.acks.remove(id))
            .map(|a| a.callback)
            .collect()
    }
}

/// Shared state handle.
pub(super) type SharedRef = Arc<Shared>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn pending(nsp: &str, deadline: Option<Instant>, sent: bool) -> PendingAck {
        PendingAck {
            nsp: nsp.into(),
            deadline,
            sent,
            callback: Box::new(|_| {}),
        }
    }

    #[test]
    fn ack_deadlines_skip_answered_acks() {
        let shared = Shared::default();
        let t0 = Instant::now();
        {
            let mut s = shared.lock();
            for (id, ms) in [(1u64, 10u64), (2, 20), (3, 30)] {
                let at = t0 + Duration::from_millis(ms);
                s.acks.insert(id, pending("/", Some(at), true));
                s.deadlines.push(Reverse((at, id)));
            }
            s.acks.remove(&1);
        }
        assert_eq!(
            shared.next_ack_deadline(),
            Some(t0 + Duration::from_millis(20))
        );
        assert_eq!(shared.expired_acks(t0 + Duration::from_millis(25)).len(), 1);
        assert_eq!(shared.lock().acks.len(), 1);
        assert_eq!(
            shared.next_ack_deadline(),
            Some(t0 + Duration::from_millis(30))
        );
    }

    #[test]
    fn take_acks_filters_by_namespace_and_sent() {
        let shared = Shared::default();
        {
            let mut s = shared.lock();
            s.acks.insert(1, pending("/", None, true));
            s.acks.insert(2, pending("/", None, false));
            s.acks.insert(3, pending("/chat", None, true));
        }
        assert_eq!(shared.take_acks(Some("/"), false).len(), 1);
        assert_eq!(shared.take_acks(None, true).len(), 2);
        assert!(shared.lock().acks.is_empty());
    }
}
