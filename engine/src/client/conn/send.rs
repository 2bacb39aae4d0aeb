//! The send side of [`ClientConn`](super::ClientConn): Engine.IO packets go out as masked
//! WebSocket frames, or are held and POSTed as polling payloads.

use bytes::Bytes;

use super::{push_record, records, Core, Lane, State, Upgrade, WsState};
use crate::client::DEFLATE_THRESHOLD;
use crate::proto::eio::{self, Transport};
use crate::proto::ws::{self, CloseCode, OpCode};

fn opcode(binary: bool) -> OpCode {
    if binary {
        OpCode::Binary
    } else {
        OpCode::Text
    }
}

impl Core {
    /// Clears `scratch` for a new Engine.IO text packet.
    pub(super) fn start_frame(&mut self) {
        self.scratch.clear();
    }

    /// Clears `scratch` for a Socket.IO packet: an Engine.IO message, `4` + packet.
    pub(super) fn start_packet(&mut self) {
        self.scratch.clear();
        self.scratch.push(eio::PacketType::Message.as_byte());
    }

    /// Sends `scratch` as one text packet.
    pub(super) fn send_scratch(&mut self) {
        let scratch = std::mem::take(&mut self.scratch);
        self.send_packet(false, &scratch);
        self.scratch = scratch;
    }

    pub(super) fn send_attachments(&mut self, attachments: &[Bytes]) {
        for attachment in attachments {
            self.send_packet(true, attachment);
        }
    }

    /// Sends one Engine.IO packet (text: type digit and data; binary: the bytes) on the
    /// session's transport, or holds it until the transport can take it.
    fn send_packet(&mut self, binary: bool, data: &[u8]) {
        match self.state {
            State::Closed => {}
            State::Open if self.transport == Transport::WebSocket => {
                self.write_ws_message(opcode(binary), data);
            }
            State::Handshake | State::Open => {
                push_record(&mut self.pending, binary, data);
                self.maybe_post();
            }
        }
    }

    /// Moves the held packets to the WebSocket, in order.
    pub(super) fn flush_pending_to_ws(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        for (binary, data) in records(&pending) {
            self.write_ws_message(opcode(binary), data);
        }
        pending.clear();
        self.pending = pending;
    }

    /// POSTs the held packets when the polling session is open, no POST is in flight and no
    /// upgrade has paused polling.
    pub(super) fn maybe_post(&mut self) {
        if self.state == State::Open
            && self.transport == Transport::Polling
            && self.upgrade != Upgrade::Pausing
            && self.post.is_idle()
            && !self.pending.is_empty()
        {
            self.post_pending();
        }
    }

    /// POSTs every held packet as one payload.
    pub(super) fn post_pending(&mut self) {
        let mut body = std::mem::take(&mut self.post_body);
        body.clear();
        for (i, (binary, data)) in records(&self.pending).enumerate() {
            let first = i == 0;
            if binary {
                eio::encode_payload_binary(&mut body, data, first);
            } else {
                if !first {
                    body.push(eio::RECORD_SEPARATOR);
                }
                body.extend_from_slice(data);
            }
        }
        self.pending.clear();
        self.start_request_with_body(Lane::Post, "POST", &body);
        self.post_body = body;
    }

    /// Queues a control frame once the WebSocket is up.
    pub(super) fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        if self.ws.state != WsState::Up || self.state == State::Closed {
            return;
        }
        let payload = payload.get(..ws::MAX_CONTROL_PAYLOAD).unwrap_or(payload);
        let mask = self.rng.mask();
        ws::encode_masked_frame(&mut self.ws.out.buf, opcode, payload, mask);
    }

    pub(super) fn queue_close(&mut self, code: CloseCode) {
        self.queue_control(OpCode::Close, &code.0.to_be_bytes());
    }

    /// Queues one Engine.IO text packet straight on the WebSocket (the probe and `5`).
    pub(super) fn queue_ws_text(&mut self, packet: &[u8]) {
        self.write_ws_message(OpCode::Text, packet);
    }

    /// Frames one data message on the WebSocket, compressed where permessage-deflate was
    /// negotiated and it has [`DEFLATE_THRESHOLD`] bytes or more.
    fn write_ws_message(&mut self, opcode: OpCode, data: &[u8]) {
        let mask = self.rng.mask();
        let out = &mut self.ws.out.buf;
        match self.ws.deflater.as_mut() {
            Some(d) if data.len() >= DEFLATE_THRESHOLD => {
                let compressed = &mut self.ws.compressed;
                compressed.clear();
                d.deflate(data, compressed);
                let start = out.len();
                ws::encode_masked_frame(out, opcode, compressed, mask);
                out[start] |= ws::RSV1;
                // One huge message must not pin its buffer for the session's life.
                if compressed.capacity() > 1 << 20 {
                    *compressed = Vec::new();
                }
            }
            _ => ws::encode_masked_frame(out, opcode, data, mask),
        }
    }
}
