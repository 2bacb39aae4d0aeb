//! [`ClientConn`]: one Socket.IO client connection as a state machine over bytes, with no I/O,
//! threads or clocks. The caller owns the socket: it writes what [`ClientConn::transmit`] holds,
//! feeds what it reads to [`ClientConn::handle_input`], and calls
//! [`ClientConn::handle_timeout`] at [`ClientConn::next_deadline`].
//!
//! Lifecycle: upgrade request queued by [`ClientConn::new`] -> `101` -> Engine.IO open packet
//! ([`ClientEvent::Open`]) -> Socket.IO traffic -> [`ClientEvent::Closed`]. Packets written before
//! the open packet arrives (namespace connects, emits) are held and sent right after it.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::event::{ClientError, ClientEvent, DisconnectReason};
use super::handshake::{write_request, ConnectOptions};
use super::rng::Rng;
use crate::proto::eio::{self, ClientHeartbeat};
use crate::proto::http;
use crate::proto::sio::{self, BinaryAssembler, PacketType};
use crate::proto::ws::{self, CloseCode, OpCode, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The upgrade request is out; waiting for `101`.
    AwaitUpgrade,
    /// WebSocket is up; waiting for the Engine.IO open packet.
    AwaitOpen,
    /// The session is open.
    Open,
    /// Over; [`ClientEvent::Closed`] was queued.
    Closed,
}

/// A sans-IO Socket.IO v5 client connection over Engine.IO v4 / WebSocket.
///
/// One instance per TCP connection; after [`ClientEvent::Closed`] make a new one to reconnect.
/// Steady-state sending reuses internal buffers (no allocation per packet); received events are
/// owned (see [`ClientEvent`]).
#[derive(Debug)]
pub struct ClientConn {
    decoder: ws::Decoder,
    core: Core,
}

/// Everything but the frame decoder, so a decoded message (which may borrow the decoder) can be
/// handled with `&mut Core`.
#[derive(Debug)]
struct Core {
    state: State,
    key: String,
    /// Bytes for the socket; `out[out_pos..]` is still unsent.
    out: Vec<u8>,
    out_pos: usize,
    /// Frames written before the open packet arrived.
    held: Vec<u8>,
    /// One packet's text while it is being built, before masking into `out`.
    scratch: Vec<u8>,
    rng: Rng,
    heartbeat: Option<ClientHeartbeat>,
    connect_deadline: Option<Instant>,
    events: VecDeque<ClientEvent>,
    binary: Option<BinaryAssembler>,
    limits: sio::Limits,
    json_buffers: JsonBuffers,
    next_ack_id: u64,
}

/// simd-json scratch space reused across packets; it has no `Debug` of its own.
struct JsonBuffers(simd_json::Buffers);

impl std::fmt::Debug for JsonBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JsonBuffers")
    }
}

impl ClientConn {
    /// Starts a connection at `now`: queues the HTTP upgrade request for `opts`. `rng_seed`
    /// seeds the generator of the WebSocket key and mask keys; give each connection its own
    /// (e.g. [`Rng::from_os`](super::Rng::from_os)).
    pub fn new(opts: &ConnectOptions, now: Instant, rng_seed: u64) -> Self {
        let mut rng = Rng::new(rng_seed);
        let key = http::new_websocket_key(rng.bytes16());
        let mut out = Vec::with_capacity(512);
        write_request(&mut out, opts, &key);
        Self {
            decoder: ws::Decoder::new(Role::Client, opts.max_message),
            core: Core {
                state: State::AwaitUpgrade,
                key,
                out,
                out_pos: 0,
                held: Vec::new(),
                scratch: Vec::new(),
                rng,
                heartbeat: None,
                connect_deadline: now.checked_add(opts.connect_timeout),
                events: VecDeque::new(),
                binary: None,
                limits: opts.sio_limits,
                json_buffers: JsonBuffers(simd_json::Buffers::default()),
                next_ack_id: 0,
            },
        }
    }

    /// Bytes waiting to be written to the socket, if any. Report what was written with
    /// [`advance_transmit`](Self::advance_transmit). The queue grows with every send until the
    /// caller drains it.
    pub fn transmit(&self) -> Option<&[u8]> {
        self.core
            .out
            .get(self.core.out_pos..)
            .filter(|rest| !rest.is_empty())
    }

    /// Marks the first `n` bytes of [`transmit`](Self::transmit) as written.
    pub fn advance_transmit(&mut self, n: usize) {
        let core = &mut self.core;
        core.out_pos = core.out_pos.saturating_add(n).min(core.out.len());
        if core.out_pos == core.out.len() {
            core.out.clear();
            core.out_pos = 0;
        }
    }

    /// Feeds bytes read from the socket. Returns how many were used: drain them and keep the
    /// rest for the next call (an incomplete frame stays in `buf`, untouched). Frames are
    /// unmasked and parsed in place, hence `&mut`.
    ///
    /// On error the connection is closed: a WebSocket close frame may be queued for
    /// [`transmit`](Self::transmit), and [`ClientEvent::Closed`] (reason from
    /// [`ClientError::reason`]) is queued. After close, input is ignored and fully consumed.
    pub fn handle_input(&mut self, buf: &mut [u8], now: Instant) -> Result<usize, ClientError> {
        let mut consumed = 0;
        match self.consume(buf, now, &mut consumed) {
            Ok(()) => Ok(consumed),
            Err(e) => {
                self.core.fail(&e);
                Err(e)
            }
        }
    }

    fn consume(
        &mut self,
        buf: &mut [u8],
        now: Instant,
        consumed: &mut usize,
    ) -> Result<(), ClientError> {
        loop {
            let len = buf.len();
            let Some(rest) = buf.get_mut(*consumed..) else {
                return Ok(());
            };
            match self.core.state {
                State::Closed => {
                    *consumed = len;
                    return Ok(());
                }
                State::AwaitUpgrade => {
                    let Some(resp) = http::parse_response(rest, &http::Limits::default())? else {
                        return Ok(());
                    };
                    http::check_upgrade_response(&resp, &self.core.key)?;
                    *consumed += resp.head_len;
                    self.core.state = State::AwaitOpen;
                }
                State::AwaitOpen | State::Open => {
                    if rest.is_empty() {
                        return Ok(());
                    }
                    let decoded = self.decoder.decode(rest)?;
                    if decoded.consumed == 0 {
                        return Ok(());
                    }
                    *consumed += decoded.consumed;
                    if let Some(message) = decoded.message {
                        self.core.on_message(message, now)?;
                    }
                }
            }
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.core.events.pop_front()
    }

    /// Sends CONNECT for namespace `nsp` (e.g. `"/"`, `"/chat"`), with `auth_json` (a JSON
    /// object) as the auth payload. The answer is [`ClientEvent::Connected`] or
    /// [`ClientEvent::ConnectError`].
    pub fn connect_namespace(&mut self, nsp: &str, auth_json: Option<&[u8]>) {
        self.core.start_packet();
        sio::encode_connect_request(&mut self.core.scratch, nsp, auth_json);
        self.core.send_scratch();
    }

    /// Sends DISCONNECT for namespace `nsp`; the server sends nothing back.
    pub fn disconnect_namespace(&mut self, nsp: &str) {
        self.core.start_packet();
        sio::encode_disconnect(&mut self.core.scratch, nsp);
        self.core.send_scratch();
    }

    /// Emits event `event` on `nsp`. `args_json_array` is a JSON array whose items follow the
    /// name (`[]` or empty for none; any other JSON value is sent as the single argument).
    /// Binary arguments are `{"_placeholder":true,"num":N}` objects indexing `attachments`,
    /// which are sent as binary frames after the packet. With `want_ack` an ack id is allocated
    /// and returned; the answer arrives as [`ClientEvent::Ack`] with that id.
    pub fn emit(
        &mut self,
        nsp: &str,
        event: &str,
        args_json_array: &[u8],
        attachments: &[Bytes],
        want_ack: bool,
    ) -> Option<u64> {
        let id = want_ack.then(|| self.next_ack_id());
        self.emit_with_id(nsp, event, args_json_array, attachments, id);
        id
    }

    /// [`emit`](Self::emit) with an ack id the caller allocated (e.g. with
    /// [`next_ack_id`](Self::next_ack_id), or its own counter that outlives this connection).
    pub fn emit_with_id(
        &mut self,
        nsp: &str,
        event: &str,
        args_json_array: &[u8],
        attachments: &[Bytes],
        ack_id: Option<u64>,
    ) {
        let core = &mut self.core;
        core.start_packet();
        let ty = if attachments.is_empty() {
            PacketType::Event
        } else {
            PacketType::BinaryEvent
        };
        sio::encode_header(&mut core.scratch, ty, attachments.len(), nsp, ack_id);
        core.scratch.push(b'[');
        sio::write_json_str(&mut core.scratch, event);
        let items = array_items(args_json_array);
        if !items.is_empty() {
            core.scratch.push(b',');
            core.scratch.extend_from_slice(items);
        }
        core.scratch.push(b']');
        core.send_scratch();
        core.send_attachments(attachments);
    }

    /// Answers the server's event that carried ack id `id`. `args_json_array` is a JSON array
    /// (empty means `[]`); binary arguments as in [`emit`](Self::emit).
    pub fn ack(&mut self, nsp: &str, id: u64, args_json_array: &[u8], attachments: &[Bytes]) {
        let core = &mut self.core;
        core.start_packet();
        sio::encode_ack(
            &mut core.scratch,
            nsp,
            id,
            args_json_array,
            attachments.len(),
        );
        core.send_scratch();
        core.send_attachments(attachments);
    }

    /// Allocates the next ack id of this connection (0, 1, 2, ... as the JS client).
    pub fn next_ack_id(&mut self) -> u64 {
        let id = self.core.next_ack_id;
        self.core.next_ack_id = id.wrapping_add(1);
        id
    }

    /// When [`handle_timeout`](Self::handle_timeout) must run next: the connect deadline before
    /// the session opens, then the heartbeat deadline; `None` once closed.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.core.state {
            State::AwaitUpgrade | State::AwaitOpen => self.core.connect_deadline,
            State::Open => self.core.heartbeat.and_then(|hb| hb.next_deadline()),
            State::Closed => None,
        }
    }

    /// Applies the deadlines at `now`: closes with `"connect timeout"` or `"ping timeout"` when
    /// one has passed. Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let core = &mut self.core;
        match core.state {
            State::AwaitUpgrade | State::AwaitOpen
                if core.connect_deadline.is_some_and(|d| now >= d) =>
            {
                core.finish(DisconnectReason::ConnectTimeout);
            }
            State::Open if core.heartbeat.is_some_and(|hb| hb.is_expired(now)) => {
                core.finish(DisconnectReason::PingTimeout);
            }
            _ => {}
        }
    }

    /// The socket hit end-of-file (`error == false`, `"transport close"`) or an I/O error
    /// (`"transport error"`). Unsent bytes are dropped.
    pub fn handle_transport_closed(&mut self, error: bool) {
        let core = &mut self.core;
        core.out.clear();
        core.out_pos = 0;
        core.finish(if error {
            DisconnectReason::TransportError
        } else {
            DisconnectReason::TransportClose
        });
    }

    /// Closes on our side (`"io client disconnect"`): queues a WebSocket close frame (code
    /// 1000) once the upgrade is done; flush [`transmit`](Self::transmit), then drop the socket.
    pub fn close(&mut self) {
        let core = &mut self.core;
        if matches!(core.state, State::AwaitOpen | State::Open) {
            core.queue_close(CloseCode::NORMAL);
        }
        core.finish(DisconnectReason::IoClientDisconnect);
    }

    /// Whether the Engine.IO session is open.
    pub fn is_open(&self) -> bool {
        self.core.state == State::Open
    }

    /// Whether the connection is over ([`ClientEvent::Closed`] was queued).
    pub fn is_closed(&self) -> bool {
        self.core.state == State::Closed
    }
}

impl Core {
    /// Clears `scratch` for a new Engine.IO text frame.
    fn start_frame(&mut self) {
        self.scratch.clear();
    }

    /// Clears `scratch` for a Socket.IO packet: an Engine.IO message, `4` + packet.
    fn start_packet(&mut self) {
        self.scratch.clear();
        self.scratch.push(eio::PacketType::Message.as_byte());
    }

    /// Where data frames go now: `out` once open, `held` before, nowhere once closed.
    fn data_target(&mut self) -> Option<&mut Vec<u8>> {
        match self.state {
            State::Open => Some(&mut self.out),
            State::AwaitUpgrade | State::AwaitOpen => Some(&mut self.held),
            State::Closed => None,
        }
    }

    /// Sends `scratch` as one masked text frame.
    fn send_scratch(&mut self) {
        let mask = self.rng.mask();
        let Core {
            state,
            out,
            held,
            scratch,
            ..
        } = self;
        let target = match state {
            State::Open => out,
            State::AwaitUpgrade | State::AwaitOpen => held,
            State::Closed => return,
        };
        ws::encode_masked_frame(target, OpCode::Text, scratch, mask);
    }

    fn send_attachments(&mut self, attachments: &[Bytes]) {
        for attachment in attachments {
            let mask = self.rng.mask();
            if let Some(target) = self.data_target() {
                ws::encode_masked_frame(target, OpCode::Binary, attachment, mask);
            }
        }
    }

    /// Queues a control frame; only called once the WebSocket is up and not yet closed.
    fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        let payload = payload.get(..ws::MAX_CONTROL_PAYLOAD).unwrap_or(payload);
        let mask = self.rng.mask();
        ws::encode_masked_frame(&mut self.out, opcode, payload, mask);
    }

    fn queue_close(&mut self, code: CloseCode) {
        self.queue_control(OpCode::Close, &code.0.to_be_bytes());
    }

    /// Fails the connection after `error`: a WebSocket error gets its close code sent back.
    fn fail(&mut self, error: &ClientError) {
        if let ClientError::Ws(e) = error {
            self.queue_close(e.close_code());
        } else if self.state != State::AwaitUpgrade {
            self.queue_close(CloseCode::PROTOCOL_ERROR);
        }
        self.finish(error.reason());
    }

    /// Moves to `Closed` and reports `reason`, once.
    fn finish(&mut self, reason: DisconnectReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.held = Vec::new();
        self.binary = None;
        self.heartbeat = None;
        self.connect_deadline = None;
        self.events.push_back(ClientEvent::Closed { reason });
    }
}

/// The items of a JSON array without its brackets; any other JSON value is returned whole, as a
/// single item.
fn array_items(json: &[u8]) -> &[u8] {
    let trimmed = json.trim_ascii();
    match trimmed
        .strip_prefix(b"[")
        .and_then(|inner| inner.strip_suffix(b"]"))
    {
        Some(inner) => inner.trim_ascii(),
        None => trimmed,
    }
}

mod recv;
#[cfg(test)]
mod tests;
