//! Socket.IO as the layer above an Engine.IO session, and how the rest of the server reaches
//! the Socket.IO client a session carries.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::proto::eio::{EioVersion, Sid};
use crate::proto::http::Request;
use crate::server::closed::Closed;
use crate::server::eio_session::EioSession;
use crate::server::link::{Link, Tx};
use crate::server::out::Out;
use crate::server::port::Port;
use crate::server::reason::DisconnectReason;
use crate::server::timer::Timer;
use crate::server::upper::{NewUpper, SessionInfo, Upper};

use super::async_connect::ConnectAnswer;
use super::client::SioClient;
use super::handshake::Handshake;
use super::model::SioApp;
use super::recovery::RestoreReply;

impl Upper for SioClient {
    fn on_open(
        &mut self,
        tx: &mut Tx<'_, '_>,
        s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        SioClient::on_open(self, tx, s.key)
    }

    fn on_message(
        &mut self,
        tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
        text: bool,
        data: &[u8],
    ) -> Result<(), DisconnectReason> {
        if text {
            self.on_text(tx, data)
        } else {
            self.on_binary(tx, data)
        }
    }

    fn on_closed(
        self: Box<Self>,
        tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
        reason: DisconnectReason,
        _owed: Option<&mut Closed>,
        _gives_up_at: Option<Instant>,
    ) {
        SioClient::on_closed(self, tx, reason);
    }

    fn on_timer(
        &mut self,
        tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
        t: Timer,
    ) -> Result<(), DisconnectReason> {
        SioClient::on_timer(self, tx, t)
    }

    fn on_upgrade(
        &mut self,
        tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
        _moved: &[Out],
    ) -> Result<(), DisconnectReason> {
        SioClient::on_upgrade(self, tx);
        Ok(())
    }

    fn on_drain(
        &mut self,
        tx: &mut Tx<'_, '_>,
        _s: &SessionInfo<'_>,
    ) -> Result<(), DisconnectReason> {
        if self.wants_drain() {
            SioClient::on_drain(self, tx);
        }
        Ok(())
    }
}

/// A Socket.IO endpoint makes a client for each Engine.IO session, with the handshake that
/// opened it; an Engine.IO v3 session carries a Socket.IO v2 client.
impl NewUpper for Arc<SioApp> {
    fn new_upper(&self, req: &Request, remote: Option<SocketAddr>) -> Box<dyn Upper> {
        // Only a server that allows Engine.IO v3 opens a session for a request that asks for
        // it, so the request's revision is the session's.
        let v2 = EioVersion::of(req.query_param("EIO").as_deref()) == EioVersion::V3;
        Box::new(SioClient::new(
            self.clone(),
            Handshake::from_request(req, remote),
            v2,
        ))
    }
}

impl SioClient {
    /// The Socket.IO client session `s` carries (none for a raw Engine.IO session), with the
    /// session's link.
    pub fn of(s: &mut EioSession) -> Option<(&mut SioClient, &mut Link)> {
        let (link, upper) = s.parts();
        let upper: &mut dyn Any = upper;
        upper.downcast_mut::<SioClient>().map(|c| (c, link))
    }
}

/// Removes Socket.IO socket `sid` of session `s` from its namespace (`close`: ends the whole
/// session).
pub(crate) fn disconnect_socket(s: &mut EioSession, cx: &mut dyn Port, sid: &Sid, close: bool) {
    let Some((client, link)) = SioClient::of(s) else {
        return;
    };
    let mut tx = Tx { cx, link };
    if close {
        // As the reference's `disconnect(true)`: every namespace of the connection gets its
        // DISCONNECT first, then the connection closes.
        client.disconnect_all(&mut tx);
        s.close(DisconnectReason::ServerNamespaceDisconnect);
    } else {
        client.disconnect(&mut tx, sid);
    }
}

/// A cluster store answered a CONNECT of session `s` that asked for its socket back.
pub(crate) fn restore_answer(s: &mut EioSession, cx: &mut dyn Port, reply: RestoreReply) {
    let Some((client, link)) = SioClient::of(s) else {
        return;
    };
    if let Err(reason) = client.on_restored(&mut Tx { cx, link }, reply) {
        s.close(reason);
    }
}

/// An asynchronous connect middleware answered for one of session `s`'s sockets.
pub(crate) fn connect_answer(s: &mut EioSession, cx: &mut dyn Port, answer: ConnectAnswer) {
    let Some((client, link)) = SioClient::of(s) else {
        return;
    };
    if let Err(reason) = client.on_connect_answer(&mut Tx { cx, link }, answer) {
        s.close(reason);
    }
}
