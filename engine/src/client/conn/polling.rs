//! HTTP long-polling for [`ClientConn`](super::ClientConn): requests on the GET and POST
//! lanes, their responses, and the upgrade of a polling session to WebSocket.

use std::time::Instant;

use super::{Core, HttpLane, Inflight, Lane, LaneCommand, State, Upgrade, WsState};
use crate::client::event::{ClientError, ClientEvent, DisconnectReason};
use crate::proto::eio::{self, PayloadDecoder, Transport};
use crate::proto::http;

/// Content type of our POST bodies, as the JS client sends it.
const PAYLOAD_CONTENT_TYPE: &str = "text/plain;charset=UTF-8";

impl Core {
    fn http_mut(&mut self, lane: Lane) -> Option<&mut HttpLane> {
        match lane {
            Lane::Poll => Some(&mut self.poll),
            Lane::Post => Some(&mut self.post),
            Lane::WebSocket => None,
        }
    }

    /// Queues a bodiless request on `lane`.
    pub(super) fn start_request(&mut self, lane: Lane, method: &str) {
        self.start_request_with_body(lane, method, &[]);
    }

    /// Queues a request on `lane`, preceded by [`LaneCommand::Open`] when the lane has no
    /// connection to reuse.
    pub(super) fn start_request_with_body(&mut self, lane: Lane, method: &str, body: &[u8]) {
        let Core {
            target,
            poll_uri,
            poll,
            post,
            commands,
            ..
        } = self;
        let l = match lane {
            Lane::Poll => poll,
            Lane::Post => post,
            Lane::WebSocket => return,
        };
        if !l.socket {
            l.socket = true;
            l.generation = l.generation.wrapping_add(1);
            l.out.clear();
            commands.push_back(LaneCommand::Open(lane));
        }
        let mut headers = target.header_refs();
        if !body.is_empty() {
            headers.push(("Content-Type", PAYLOAD_CONTENT_TYPE));
        }
        http::write_request(
            &mut l.out.buf,
            method,
            &target.host,
            poll_uri,
            &headers,
            body,
        );
        l.inflight = Inflight::Head;
    }

    /// Feeds bytes of an HTTP lane: response heads and bodies.
    pub(super) fn consume_http(
        &mut self,
        lane: Lane,
        buf: &mut [u8],
        now: Instant,
        consumed: &mut usize,
    ) -> Result<(), ClientError> {
        let max_body = self.max_message;
        let closed = self.state == State::Closed;
        let Some(l) = self.http_mut(lane) else {
            return Ok(());
        };
        let generation = l.generation;
        if closed || !l.socket {
            *consumed = buf.len();
            return Ok(());
        }
        loop {
            let len = buf.len();
            let Some(l) = self.http_mut(lane) else {
                return Ok(());
            };
            // The connection was retired or replaced: what is left belongs to no request.
            if !l.socket || l.generation != generation {
                *consumed = len;
                return Ok(());
            }
            let Some(rest) = buf.get_mut(*consumed..).filter(|r| !r.is_empty()) else {
                return Ok(());
            };
            match &mut l.inflight {
                Inflight::Idle => {
                    return Err(ClientError::Unexpected("HTTP bytes with no request out"));
                }
                Inflight::Head => {
                    let Some(resp) = http::parse_response(rest, &http::Limits::default())? else {
                        return Ok(());
                    };
                    *consumed += resp.head_len;
                    let reader = http::BodyReader::new(&resp.body, max_body)?;
                    l.body.clear();
                    l.inflight = Inflight::Body {
                        status: resp.status,
                        keep_alive: resp.keep_alive,
                        reader,
                    };
                }
                Inflight::Body { reader, .. } => {
                    let (used, _) = reader.feed(rest, &mut l.body)?;
                    *consumed += used;
                }
            }
            if let Some((status, keep_alive)) = done_response(l) {
                self.on_response(lane, status, keep_alive, now)?;
            }
        }
    }

    /// A whole response arrived on `lane`.
    fn on_response(
        &mut self,
        lane: Lane,
        status: u16,
        keep_alive: bool,
        now: Instant,
    ) -> Result<(), ClientError> {
        let Some(l) = self.http_mut(lane) else {
            return Ok(());
        };
        l.inflight = Inflight::Idle;
        if !keep_alive {
            l.socket = false;
            self.commands.push_back(LaneCommand::Close(lane));
        }
        if status != 200 {
            return Err(ClientError::Status(status));
        }
        if lane == Lane::Poll {
            let mut body = std::mem::take(&mut self.poll.body);
            let result = self.on_payload(&mut body, now);
            body.clear();
            self.poll.body = body;
            result?;
            if self.polling_runs() && self.poll.is_idle() {
                self.start_request(Lane::Poll, "GET");
            }
        } else {
            self.maybe_post();
        }
        self.check_pause();
        Ok(())
    }

    /// The packets of one GET response.
    fn on_payload(&mut self, body: &mut [u8], now: Instant) -> Result<(), ClientError> {
        for packet in PayloadDecoder::new(body) {
            self.on_eio(packet?, now)?;
            if self.state == State::Closed {
                break;
            }
        }
        Ok(())
    }

    /// Whether polling GETs should keep going: an open polling session not paused for an
    /// upgrade.
    fn polling_runs(&self) -> bool {
        self.state == State::Open
            && self.transport == Transport::Polling
            && self.upgrade != Upgrade::Pausing
    }

    /// `lane`'s connection is gone (see `ClientConn::handle_transport_closed`).
    pub(super) fn on_lane_closed(&mut self, lane: Lane, error: bool, now: Instant) {
        let reason = if error {
            DisconnectReason::TransportError
        } else {
            DisconnectReason::TransportClose
        };
        if lane == Lane::WebSocket {
            self.ws.out.clear();
            if self.transport == Transport::WebSocket {
                self.finish(reason);
            } else if self.ws.state != WsState::Off {
                self.abort_upgrade();
            }
            return;
        }
        let Some(l) = self.http_mut(lane) else {
            return;
        };
        if !l.socket {
            return;
        }
        l.socket = false;
        l.out.clear();
        let until_close = match &mut l.inflight {
            Inflight::Idle => return,
            Inflight::Head => None,
            Inflight::Body { status, reader, .. } => {
                (!error && reader.finish().is_ok()).then_some(*status)
            }
        };
        match until_close {
            Some(status) => {
                if let Err(e) = self.on_response(lane, status, false, now) {
                    self.fail(&e);
                }
            }
            None => self.finish(reason),
        }
    }

    /// Starts the probe when the open packet offers WebSocket and we want the upgrade.
    pub(super) fn maybe_start_upgrade(&mut self, upgrades: &[String]) {
        if self.want_upgrade
            && self.transport == Transport::Polling
            && self.upgrade == Upgrade::Idle
            && upgrades.iter().any(|u| u == Transport::WebSocket.as_str())
        {
            self.upgrade = Upgrade::Probing;
            self.start_websocket();
        }
    }

    /// The `101` arrived: over WebSocket the open packet comes next; on a probe, send `2probe`.
    pub(super) fn on_ws_up(&mut self) {
        self.ws.state = WsState::Up;
        if self.transport == Transport::Polling {
            self.queue_ws_text(b"2probe");
        }
    }

    /// `3probe` came back: pause polling, finish once the GET and POST in flight are done.
    pub(super) fn on_probe_answered(&mut self) -> Result<(), ClientError> {
        if self.upgrade != Upgrade::Probing {
            return Err(ClientError::Unexpected("probe answer without a probe"));
        }
        self.upgrade = Upgrade::Pausing;
        self.check_pause();
        Ok(())
    }

    /// Completes a paused upgrade once polling is quiet.
    fn check_pause(&mut self) {
        if self.upgrade != Upgrade::Pausing
            || self.state != State::Open
            || !self.poll.is_idle()
            || !self.post.is_idle()
        {
            return;
        }
        self.queue_ws_text(&[eio::PacketType::Upgrade.as_byte()]);
        self.transport = Transport::WebSocket;
        self.upgrade = Upgrade::Idle;
        self.flush_pending_to_ws();
        for lane in [Lane::Poll, Lane::Post] {
            if let Some(l) = self.http_mut(lane) {
                l.socket = false;
                l.out.clear();
            }
            self.commands.push_back(LaneCommand::Close(lane));
        }
        self.events.push_back(ClientEvent::Upgraded);
    }

    /// Gives up the probe; the session goes on polling.
    pub(super) fn abort_upgrade(&mut self) {
        if self.ws.state != WsState::Off {
            self.ws.state = WsState::Off;
            self.ws.out.clear();
            self.commands.push_back(LaneCommand::Close(Lane::WebSocket));
        }
        self.upgrade = Upgrade::Failed;
        if self.polling_runs() && self.poll.is_idle() {
            self.start_request(Lane::Poll, "GET");
        }
        self.maybe_post();
    }
}

/// `(status, keep_alive)` once `l`'s response body is complete.
fn done_response(l: &HttpLane) -> Option<(u16, bool)> {
    match &l.inflight {
        Inflight::Body {
            status,
            keep_alive,
            reader,
        } if reader.is_done() => Some((*status, *keep_alive)),
        _ => None,
    }
}
