//! Parsing a connection's input and dispatching it to the service: HTTP request heads and bodies,
//! then WebSocket frames after an upgrade. Backend-agnostic: the bytes come from whichever buffer
//! the I/O backend lent.

use super::{cx, Io, Worker};
use crate::proto::http::{self, HttpError};
use crate::proto::ws::{self, CloseCode, Message, Role};
use crate::runtime::conn::{BodyState, Handoff, Phase};
use crate::runtime::service::{Action, CloseReason, Cx, Service};

impl<S: Service, B: Io> Worker<S, B> {
    /// Parses as much of `buf` as forms complete units; returns the bytes consumed.
    pub(super) fn parse(&mut self, slot: usize, buf: &mut [u8]) -> usize {
        let mut pos = 0;
        while pos < buf.len() {
            if self.hold(slot, buf.len() - pos) {
                break;
            }
            let Some(conn) = self.conns.get_mut(slot) else {
                return buf.len();
            };
            let phase = std::mem::replace(&mut conn.phase, Phase::Busy);
            let (phase, used, more) = match phase {
                Phase::Http => self.parse_http(slot, &mut buf[pos..]),
                Phase::Body(state) => self.parse_body(slot, state, &buf[pos..]),
                Phase::WebSocket(dec) => self.parse_ws(slot, dec, &mut buf[pos..]),
                // A parked request's connection keeps later input for when it is answered.
                Phase::Parked => (Phase::Parked, 0, false),
                // Input after our close (or after a final response) is read and dropped while
                // we wait for the peer to finish.
                Phase::Closing | Phase::Busy | Phase::Handoff(_) => {
                    (Phase::Closing, buf.len() - pos, false)
                }
            };
            if let Phase::Handoff(to) = phase {
                self.handoff(slot, to, &buf[pos..]);
                return buf.len();
            }
            pos += used;
            match self.conns.get_mut(slot) {
                Some(c) if matches!(c.phase, Phase::Busy) => c.phase = phase,
                Some(_) => {}
                None => return buf.len(),
            }
            if !more {
                break;
            }
        }
        pos
    }

    /// Whether the rest of `slot`'s input (`input` bytes) should wait: the worker's queues are past the level
    /// its budget keeps to, so what more input would queue (a broadcast to thousands) waits for
    /// the writes and cuts of the end of the turn instead of growing memory within it. Input
    /// past `max_buffered` is parsed anyway, so held input stays bounded too; the budget's
    /// ceilings then bound what it queues.
    fn hold(&mut self, slot: usize, input: usize) -> bool {
        if !self.budget.over() || input > self.config.max_buffered {
            return false;
        }
        let Some(c) = self.conns.get_mut(slot) else {
            return false;
        };
        if !c.held {
            c.held = true;
            self.held.push(slot);
        }
        true
    }

    fn parse_http(&mut self, slot: usize, buf: &mut [u8]) -> (Phase, usize, bool) {
        let limits = http::Limits {
            max_header_bytes: self.config.max_header_bytes,
            max_headers: self.config.max_headers,
        };
        let req = match http::parse_request(buf, &limits) {
            Ok(Some(req)) => req,
            Ok(None) => return (Phase::Http, 0, false),
            Err(e) => {
                self.http_fail(slot, &e);
                return (Phase::Closing, buf.len(), false);
            }
        };
        let id = self.id(slot);
        let action = self.service.on_request(&mut cx!(self), id, &req);
        match action {
            Action::Upgrade { accept, session } => {
                let dec = self.upgrade(slot, &req, &accept, &[], session);
                (Phase::WebSocket(dec), req.head_len, true)
            }
            Action::UpgradeWith {
                accept,
                session,
                headers,
            } => {
                let headers: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let dec = self.upgrade(slot, &req, &accept, &headers, session);
                (Phase::WebSocket(dec), req.head_len, true)
            }
            Action::ReadBody { max } => match http::BodyReader::new(&req.body, max) {
                Ok(reader) => {
                    if req.expects_continue() {
                        self.scratch.clear();
                        http::write_continue(&mut self.scratch);
                        self.conns[slot].outq.push_copy(&self.scratch);
                        self.mark_dirty(slot);
                    }
                    let state = Box::new(BodyState {
                        req,
                        reader,
                        body: Vec::new(),
                    });
                    let head_len = state.req.head_len;
                    (Phase::Body(state), head_len, true)
                }
                Err(e) => {
                    self.service.on_body_error(&mut cx!(self), id, &req, &e);
                    self.http_fail(slot, &e);
                    (Phase::Closing, buf.len(), false)
                }
            },
            Action::Handoff(worker) => (Phase::Handoff(Handoff::Worker(worker)), 0, false),
            Action::Detach => (Phase::Handoff(Handoff::App), 0, false),
            other => self.after_request(slot, other, &req, false, req.head_len, buf.len()),
        }
    }

    /// Answers 101 (with `headers`, and permessage-deflate's answer when the server offers it
    /// and `req` asked for it), hands the connection to `session`, and returns its frame
    /// decoder.
    fn upgrade(
        &mut self,
        slot: usize,
        req: &http::Request,
        accept: &str,
        headers: &[(&str, &str)],
        session: S::Session,
    ) -> Box<ws::Decoder> {
        let id = self.id(slot);
        self.cancel_deadline(slot);
        let mut dec = ws::Decoder::new(Role::Server, self.config.max_payload);
        let deflate = self.config.per_message_deflate.then(|| {
            ws::negotiate(
                req.headers()
                    .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"))
                    .map(|(_, value)| value),
            )
        });
        let conn = &mut self.conns[slot];
        self.scratch.clear();
        match deflate.flatten() {
            Some(accepted) => {
                let p = accepted.params;
                dec = dec.with_inflater(ws::Inflater::new(
                    p.client_max_window_bits,
                    p.client_no_context_takeover,
                ));
                conn.deflate = Some(Box::new(ws::Deflater::new(
                    p.server_max_window_bits,
                    p.server_no_context_takeover,
                )));
                let mut all = headers.to_vec();
                all.push(("Sec-WebSocket-Extensions", &accepted.response));
                http::write_switching_protocols_with(&mut self.scratch, accept, &all);
            }
            None => http::write_switching_protocols_with(&mut self.scratch, accept, headers),
        }
        conn.outq.push_copy(&self.scratch);
        self.sessions[slot] = Some(session);
        self.mark_dirty(slot);
        if let Some(session) = self.sessions[slot].as_mut() {
            self.service.on_open(&mut cx!(self), id, session);
        }
        Box::new(dec)
    }

    fn parse_body(
        &mut self,
        slot: usize,
        mut state: Box<BodyState>,
        buf: &[u8],
    ) -> (Phase, usize, bool) {
        let (used, done) = match state.reader.feed(buf, &mut state.body) {
            Ok(r) => r,
            Err(e) => {
                let id = self.id(slot);
                self.service
                    .on_body_error(&mut cx!(self), id, &state.req, &e);
                self.http_fail(slot, &e);
                return (Phase::Closing, buf.len(), false);
            }
        };
        if !done {
            return (Phase::Body(state), used, false);
        }
        let id = self.id(slot);
        let BodyState { req, mut body, .. } = *state;
        let action = self.service.on_body(&mut cx!(self), id, &req, &mut body);
        self.after_request(slot, action, &req, true, used, buf.len())
    }

    /// The phase after a request the service answered (or parked): `consumed` bytes of the
    /// `available` belonged to it.
    fn after_request(
        &mut self,
        slot: usize,
        action: Action<S::Session>,
        req: &http::Request,
        body_read: bool,
        consumed: usize,
        available: usize,
    ) -> (Phase, usize, bool) {
        match action {
            Action::Park => {
                self.cancel_deadline(slot);
                (Phase::Parked, consumed, false)
            }
            Action::Responded => {
                if let Some(c) = self.conns.get_mut(slot) {
                    c.served += 1;
                }
                let unread_body = !matches!(req.body, http::BodyKind::None) && !body_read;
                let keep =
                    self.conns.get(slot).is_some_and(|c| !c.close_after_flush) && !unread_body;
                if keep {
                    self.rearm_deadline(slot);
                    (Phase::Http, consumed, true)
                } else {
                    if let Some(c) = self.conns.get_mut(slot) {
                        c.close_after_flush = true;
                    }
                    (Phase::Closing, available, false)
                }
            }
            // An upgrade, a second body or a hand-off after a body is a service bug: close.
            _ => {
                self.http_fail(slot, &HttpError::Malformed("request not supported here"));
                (Phase::Closing, available, false)
            }
        }
    }

    fn http_fail(&mut self, slot: usize, e: &HttpError) {
        let id = self.id(slot);
        cx!(self).respond_error(id, e.status());
    }

    fn parse_ws(
        &mut self,
        slot: usize,
        mut dec: Box<ws::Decoder>,
        buf: &mut [u8],
    ) -> (Phase, usize, bool) {
        let id = self.id(slot);
        let mut pos = 0;
        loop {
            let decoded = match dec.decode(&mut buf[pos..]) {
                Ok(d) => d,
                Err(e) => {
                    cx!(self).close(id, e.close_code(), "");
                    if let Some(last) = self.closing.last_mut() {
                        last.1 = CloseReason::Protocol(e);
                    }
                    return (Phase::Closing, buf.len(), false);
                }
            };
            if decoded.consumed == 0 && decoded.message.is_none() {
                return (Phase::WebSocket(dec), pos, false);
            }
            pos += decoded.consumed;
            let Some(msg) = decoded.message else { continue };
            match msg {
                Message::Ping(payload) => {
                    cx!(self).send_frame(id, ws::OpCode::Pong, payload);
                }
                Message::Pong(_) => {}
                Message::Close(frame) => {
                    let code = frame.as_ref().map(|f| f.code);
                    self.scratch.clear();
                    ws::encode_close(&mut self.scratch, code.unwrap_or(CloseCode::NORMAL), "");
                    if let Some(c) = self.conns.get_mut(slot) {
                        if c.is_open() {
                            c.outq.push_copy(&self.scratch);
                            c.close_after_flush = true;
                            self.closing.push((slot, CloseReason::PeerClose(code)));
                            self.mark_dirty(slot);
                        }
                    }
                    return (Phase::Closing, buf.len(), false);
                }
                msg @ (Message::Text(_) | Message::Binary(_)) => {
                    if let Some(session) = self.sessions.get_mut(slot).and_then(Option::as_mut) {
                        self.service.on_message(&mut cx!(self), id, session, msg);
                    }
                    if !self.conns.get(slot).is_some_and(|c| c.is_open()) {
                        return (Phase::Closing, buf.len(), false);
                    }
                    // The next message may wait (see `hold`).
                    if self.budget.over() {
                        return (Phase::WebSocket(dec), pos, true);
                    }
                }
            }
        }
    }
}
