//! The layer above an Engine.IO session: Socket.IO, or an application's raw Engine.IO handler.
//! The session drives it through [`Upper`] and knows nothing else of it.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::proto::eio::{Packet, Sid};
use crate::proto::http::Request;

use super::closed::Closed;
use super::link::Tx;
use super::out::Out;
use super::polling::Polling;
use super::reason::DisconnectReason;
use super::session_key::SessionKey;
use super::timer::Timer;

/// The session an event is about, as the layer above sees it.
pub(crate) struct SessionInfo<'s> {
    /// The internal session id.
    pub sid: Sid,
    /// The key its timers carry.
    pub key: SessionKey,
    /// The id the application chose, which the client knows the session by.
    pub custom: Option<&'s Arc<str>>,
    /// The peer address of the connection that opened the session.
    pub remote: Option<SocketAddr>,
}

impl SessionInfo<'_> {
    /// The id the client knows the session by.
    pub fn client_id(&self) -> &str {
        self.custom.map_or(self.sid.as_str(), |c| c)
    }
}

/// What an Engine.IO session tells the layer above. `Err` from an event ends the session with
/// that reason. Only `on_open`, `on_message` and `on_closed` are required; the rest default to
/// what a layer that does not watch the transport wants.
pub(crate) trait Upper: Any {
    /// The session opened: its open packet is queued.
    fn on_open(&mut self, tx: &mut Tx<'_, '_>, s: &SessionInfo<'_>)
        -> Result<(), DisconnectReason>;

    /// A message packet arrived (`text`: a text message, its bytes after the type digit).
    fn on_message(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
        text: bool,
        data: &[u8],
    ) -> Result<(), DisconnectReason>;

    /// The session ended with `reason`; what its polling client is still owed, if anything, is
    /// in `owed`, and `gives_up_at` is when its heartbeat would have timed out.
    fn on_closed(
        self: Box<Self>,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
        reason: DisconnectReason,
        owed: Option<&mut Closed>,
        gives_up_at: Option<Instant>,
    );

    /// A packet arrived, before the session acts on it; `false` drops it as if it never came.
    fn on_packet(
        &mut self,
        _tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
        _packet: &Packet<'_>,
    ) -> Result<bool, DisconnectReason> {
        Ok(true)
    }

    /// The heartbeat is due: queue a ping.
    fn send_ping(
        &mut self,
        tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        tx.text(|b| {
            b.push(b'2');
            true
        });
        Ok(())
    }

    /// The client answered a ping.
    fn on_heartbeat(
        &mut self,
        _tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        Ok(())
    }

    /// A WebSocket probing to take over the session got its `3probe`.
    fn on_upgrading(
        &mut self,
        _tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        Ok(())
    }

    /// The upgrade completed; `moved` is what polling still held, now queued on the WebSocket.
    fn on_upgrade(
        &mut self,
        _tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
        _moved: &[Out],
    ) -> Result<(), DisconnectReason> {
        Ok(())
    }

    /// A timer of this layer fired.
    fn on_timer(
        &mut self,
        _tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
        _t: Timer,
    ) -> Result<(), DisconnectReason> {
        Ok(())
    }

    /// Whether this layer sees each polling answer go out ([`Upper::on_polling_flush`], then
    /// [`Upper::on_sent`]) instead of hearing only that the queue drained.
    fn watches_flush(&self) -> bool {
        false
    }

    /// A parked GET is about to take what `polling` queued (only when
    /// [`Upper::watches_flush`]).
    fn on_polling_flush(&mut self, _s: &SessionInfo<'_>, _polling: &Polling) {}

    /// A polling answer went out (only when [`Upper::watches_flush`]).
    fn on_sent(
        &mut self,
        _tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        Ok(())
    }

    /// Everything queued for the client went out.
    fn on_drain(
        &mut self,
        _tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        Ok(())
    }
}

/// Makes the layer above each session an Engine.IO endpoint opens.
pub(crate) trait NewUpper: Send + Sync {
    /// The layer above a session opened by `req` from `remote`.
    fn new_upper(&self, req: &Request, remote: Option<SocketAddr>) -> Box<dyn Upper>;
}
