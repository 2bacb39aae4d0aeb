//! An Engine.IO v4 session over WebSocket: the open packet, heartbeats driven by the worker's
//! timer wheel, packet decoding, and hand-off of messages to the layer above (a raw Engine.IO
//! handler or a Socket.IO client).

use std::sync::Arc;

use crate::proto::eio::{self, Heartbeat, HeartbeatAction, OpenInfo, Packet, Sid};
use crate::proto::ws::{CloseCode, Message, OpCode};
use crate::runtime::timer::TimerKey;
use crate::runtime::{CloseReason, ConnId, Cx};

use super::engine_io::{EioHandler, EioSocket};
use super::reason::DisconnectReason;
use super::router::{Router, Timer};
use super::sio::client::SioClient;
use super::ws::WsMessage;

/// What sits on top of the Engine.IO session.
pub(crate) enum Upper {
    Raw(Arc<dyn EioHandler>),
    Sio(Box<SioClient>),
}

pub(crate) struct EioSession {
    sid: Sid,
    heartbeat: Heartbeat,
    heartbeat_timer: Option<TimerKey>,
    /// Set when the server ends the session, so `on_closed` reports why.
    closing: Option<DisconnectReason>,
    upper: Upper,
}

impl EioSession {
    pub fn new(sid: Sid, cx: &Cx<'_, Router>, upper: Upper) -> Self {
        let c = cx.config();
        EioSession {
            sid,
            heartbeat: Heartbeat::new(cx.now(), c.ping_interval, c.ping_timeout),
            heartbeat_timer: None,
            closing: None,
            upper,
        }
    }

    pub fn on_open(&mut self, cx: &mut Cx<'_, Router>, id: ConnId) {
        let c = cx.config();
        let (interval, timeout, max_payload) = (
            c.ping_interval.as_millis() as u64,
            c.ping_timeout.as_millis() as u64,
            c.max_payload,
        );
        let sid = self.sid;
        cx.send_with(id, OpCode::Text, |b| {
            let info = OpenInfo {
                sid: sid.as_str(),
                upgrades: &[],
                ping_interval_ms: interval,
                ping_timeout_ms: timeout,
                max_payload,
            };
            eio::encode_open(b, &info);
            true
        });
        self.arm_heartbeat(cx, id);
        match &mut self.upper {
            Upper::Raw(h) => h.on_open(&mut EioSocket { cx, id, sid }),
            Upper::Sio(client) => client.on_open(cx, id),
        }
    }

    fn arm_heartbeat(&mut self, cx: &mut Cx<'_, Router>, id: ConnId) {
        if let Some(k) = self.heartbeat_timer.take() {
            cx.cancel(k);
        }
        if let Some(at) = self.heartbeat.next_deadline() {
            self.heartbeat_timer = Some(cx.arm(id, at, Timer::Heartbeat));
        }
    }

    pub fn on_timer(&mut self, cx: &mut Cx<'_, Router>, id: ConnId, t: Timer) {
        let result = match t {
            Timer::Heartbeat => {
                self.heartbeat_timer = None;
                match self.heartbeat.on_deadline(cx.now()) {
                    Some(HeartbeatAction::SendPing) => {
                        cx.send_frame(id, OpCode::Text, b"2");
                        self.arm_heartbeat(cx, id);
                        Ok(())
                    }
                    Some(HeartbeatAction::Timeout) => Err(DisconnectReason::PingTimeout),
                    None => {
                        self.arm_heartbeat(cx, id);
                        Ok(())
                    }
                }
            }
            other => match &mut self.upper {
                Upper::Sio(client) => client.on_timer(cx, id, other),
                Upper::Raw(_) => Ok(()),
            },
        };
        if let Err(reason) = result {
            self.close(cx, id, reason);
        }
    }

    pub fn on_message(&mut self, cx: &mut Cx<'_, Router>, id: ConnId, msg: Message<'_>) {
        let result = match msg {
            Message::Text(frame) => match eio::decode_text(frame) {
                Ok(Packet::MessageText(data)) => self.upper_text(cx, id, data),
                Ok(Packet::Pong(_)) => {
                    self.heartbeat.on_pong(cx.now());
                    self.arm_heartbeat(cx, id);
                    Ok(())
                }
                Ok(Packet::Close) => Err(DisconnectReason::TransportClose),
                Ok(Packet::Noop) => Ok(()),
                // Clients only ping while probing an upgrade; anything else is a broken peer.
                Ok(_) | Err(_) => Err(DisconnectReason::ParseError),
            },
            Message::Binary(data) => match &mut self.upper {
                Upper::Raw(h) => {
                    h.on_message(
                        &mut EioSocket {
                            cx,
                            id,
                            sid: self.sid,
                        },
                        WsMessage::Binary(data),
                    );
                    Ok(())
                }
                Upper::Sio(client) => client.on_binary(cx, id, data),
            },
            _ => Ok(()),
        };
        if let Err(reason) = result {
            self.close(cx, id, reason);
        }
    }

    fn upper_text(
        &mut self,
        cx: &mut Cx<'_, Router>,
        id: ConnId,
        data: &mut [u8],
    ) -> Result<(), DisconnectReason> {
        match &mut self.upper {
            Upper::Raw(h) => {
                // The WebSocket layer validated the frame as UTF-8; the prefix is one ASCII byte.
                let text = std::str::from_utf8(data).map_err(|_| DisconnectReason::ParseError)?;
                h.on_message(
                    &mut EioSocket {
                        cx,
                        id,
                        sid: self.sid,
                    },
                    WsMessage::Text(text),
                );
                Ok(())
            }
            Upper::Sio(client) => client.on_text(cx, id, data),
        }
    }

    /// Ends the session for `reason`: a close frame after what is queued.
    pub fn close(&mut self, cx: &mut Cx<'_, Router>, id: ConnId, reason: DisconnectReason) {
        if self.closing.is_none() {
            self.closing = Some(reason);
        }
        cx.close(id, CloseCode::NORMAL, "");
    }

    /// The connection is gone; tell the layer above.
    pub fn on_closed(self, cx: &mut Cx<'_, Router>, id: ConnId, reason: &CloseReason) {
        let reason = match (reason, self.closing) {
            (CloseReason::Shutdown, _) => DisconnectReason::ServerShuttingDown,
            (_, Some(r)) => r,
            (r, None) => DisconnectReason::from_close(r),
        };
        if let Some(k) = self.heartbeat_timer {
            cx.cancel(k);
        }
        match self.upper {
            Upper::Raw(h) => h.on_close(self.sid.as_str(), reason),
            Upper::Sio(client) => client.on_closed(cx, id, reason),
        }
    }
}
