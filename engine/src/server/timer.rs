//! What the server's timers carry: the session each is for and why it fires.

use super::session_key::SessionKey;

/// What the endpoints' timers carry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Timer {
    /// Engine.IO ping due or pong overdue (also the pong deadline of a raw session that ended
    /// while its client had still to collect the close packet; see `polling::LateReport`).
    Heartbeat(SessionKey),
    /// An upgrade to WebSocket did not complete in time.
    UpgradeTimeout(SessionKey),
    /// No namespace joined within connectTimeout.
    ConnectTimeout(SessionKey),
    /// A binary packet's attachments are overdue.
    Attachments(SessionKey),
    /// A server emit's ack is overdue (socket key, ack id).
    Ack {
        session: SessionKey,
        socket: u32,
        id: u64,
    },
}

impl Timer {
    pub fn session(&self) -> SessionKey {
        match *self {
            Timer::Heartbeat(k)
            | Timer::UpgradeTimeout(k)
            | Timer::ConnectTimeout(k)
            | Timer::Attachments(k)
            | Timer::Ack { session: k, .. } => k,
        }
    }
}
