//! What a worker keeps of an ended polling session until its client has collected the end (or
//! the polling close timeout passes).

use std::time::Duration;

use crate::runtime::TimerKey;

use super::custom_id::CustomId;
use super::polling::{Owed, Payload};
use super::reason::DisconnectReason;
use super::session_key::SessionKey;

/// How long an ended polling session waits for the GET that learns of its end (the
/// reference's polling `closeTimeout`).
pub(crate) const CLOSED_POLL_TTL: Duration = Duration::from_secs(30);

/// An ended polling session's record: what it still owes its client (served by its next GETs),
/// who still has to hear of its end, and the id the client knows it by.
pub(crate) struct Closed {
    pub owed: Owed,
    /// The raw handler still to hear of the end, as the reference's socket stays `closing`
    /// until its client collects the close packet.
    pub late: Option<LateReport>,
    /// The custom id the client knows the session by, kept registered meanwhile.
    pub custom: Option<CustomId>,
}

/// The end of a raw Engine.IO session closed by the server while no GET was parked: its
/// handler's `on_close` runs when the client's GET takes the close packet (with `collected`),
/// or, if the client never comes, when `timer` fires (with `on_timeout`: `ping timeout` at the
/// session's heartbeat deadline, or `collected` after the polling close timeout).
pub(crate) struct LateReport {
    /// Tells the handler the session ended, with the reason given.
    pub report: Box<dyn FnOnce(DisconnectReason)>,
    /// The ended session's key; its `Timer::Heartbeat` is `timer`.
    pub key: SessionKey,
    pub timer: TimerKey,
    pub collected: DisconnectReason,
    pub on_timeout: DisconnectReason,
}

impl Closed {
    /// The body for the next GET of the ended session, and whether it is the last.
    pub fn next_body(&mut self) -> (Payload, bool) {
        self.owed.next_body()
    }
}
