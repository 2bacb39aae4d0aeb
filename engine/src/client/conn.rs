//! [`ClientConn`]: one Socket.IO client session as a state machine over bytes, with no I/O,
//! threads or clocks. The caller owns the sockets, one per [`Lane`]: it opens and closes them
//! as [`ClientConn::poll_lane_command`] says, writes what [`ClientConn::transmit`] holds, feeds
//! what it reads to [`ClientConn::handle_input`], and calls [`ClientConn::handle_timeout`] at
//! [`ClientConn::next_deadline`].
//!
//! Lifecycle over WebSocket: upgrade request -> `101` -> Engine.IO open packet
//! ([`ClientEvent::Open`]) -> Socket.IO traffic -> [`ClientEvent::Closed`]. Over polling: the
//! handshake GET answers with the open packet, then GETs carry the server's packets and POSTs
//! ours; with [`TransportKind::PollingThenUpgrade`] a WebSocket probes (`2probe` / `3probe`),
//! polling pauses, `5` moves the session to it ([`ClientEvent::Upgraded`]). Packets written
//! before the open packet (namespace connects, emits) are held and sent right after it.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::event::{ClientError, ClientEvent, DisconnectReason};
use super::handshake::{ConnectOptions, Target, TransportKind};
use super::rng::Rng;
use crate::proto::eio::{self, ClientHeartbeat, Transport};
use crate::proto::http;
use crate::proto::sio::{self, BinaryAssembler, PacketType};
use crate::proto::ws::{self, CloseCode, Role};
use lanes::{push_record, records, HttpLane, Inflight, OutBuf, WsLane, WsState};
pub use lanes::{Lane, LaneCommand};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the Engine.IO open packet (after the `101`, or in the handshake GET).
    Handshake,
    /// The session is open.
    Open,
    /// Over; [`ClientEvent::Closed`] was queued.
    Closed,
}

/// Where a polling session stands with its upgrade to WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upgrade {
    /// Not started (or not wanted).
    Idle,
    /// The WebSocket is connecting, or `2probe` is out.
    Probing,
    /// `3probe` came back; waiting for the GET and POST in flight before sending `5`.
    Pausing,
    /// The probe failed; the session stays on polling.
    Failed,
}

/// A sans-IO Socket.IO v5 client session over Engine.IO v4: WebSocket, HTTP long-polling, or
/// polling upgraded to WebSocket ([`TransportKind`]).
///
/// One instance per session; after [`ClientEvent::Closed`] make a new one to reconnect.
/// Over WebSocket, steady-state sending reuses internal buffers (no allocation per packet);
/// polling allocates a little per HTTP request (its target and header list), not per packet.
/// Received events are owned (see [`ClientEvent`]).
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
    transport: Transport,
    upgrade: Upgrade,
    want_upgrade: bool,
    target: Target,
    /// The polling request target once the session id is known.
    poll_uri: String,
    sid: Option<String>,
    max_message: usize,
    ws: WsLane,
    poll: HttpLane,
    post: HttpLane,
    commands: VecDeque<LaneCommand>,
    /// Packets not yet handed to a transport (before the open packet, between POSTs, while
    /// the upgrade pauses polling): records of a kind byte, a length and the packet.
    pending: Vec<u8>,
    /// One packet's text while it is being built, before it goes out.
    scratch: Vec<u8>,
    /// A POST body while it is being built.
    post_body: Vec<u8>,
    rng: Rng,
    heartbeat: Option<ClientHeartbeat>,
    connect_deadline: Option<Instant>,
    events: VecDeque<ClientEvent>,
    binary: Option<BinaryAssembler>,
    limits: sio::Limits,
    next_ack_id: u64,
}

impl ClientConn {
    /// Starts a session at `now`: queues the first request for `opts.transport` (the
    /// WebSocket upgrade, or the polling handshake GET) and its [`LaneCommand::Open`].
    /// `rng_seed` seeds the generator of WebSocket keys and mask keys; give each session its
    /// own (e.g. [`Rng::from_os`](super::Rng::from_os)).
    pub fn new(opts: &ConnectOptions, now: Instant, rng_seed: u64) -> Self {
        let polling = opts.transport != TransportKind::WebSocket;
        let mut core = Core {
            state: State::Handshake,
            transport: if polling {
                Transport::Polling
            } else {
                Transport::WebSocket
            },
            upgrade: Upgrade::Idle,
            want_upgrade: opts.transport == TransportKind::PollingThenUpgrade,
            target: Target::new(opts),
            poll_uri: String::new(),
            sid: None,
            max_message: opts.max_message,
            ws: WsLane {
                state: WsState::Off,
                key: String::new(),
                out: OutBuf::default(),
                deflater: None,
                compressed: Vec::new(),
            },
            poll: HttpLane::new(),
            post: HttpLane::new(),
            commands: VecDeque::new(),
            pending: Vec::new(),
            scratch: Vec::new(),
            post_body: Vec::new(),
            rng: Rng::new(rng_seed),
            heartbeat: None,
            connect_deadline: now.checked_add(opts.connect_timeout),
            events: VecDeque::new(),
            binary: None,
            limits: opts.sio_limits,
            next_ack_id: 0,
        };
        if polling {
            core.poll_uri = core.target.uri(Transport::Polling, None);
            core.start_request(Lane::Poll, "GET");
        } else {
            core.start_websocket();
        }
        Self {
            decoder: ws::Decoder::new(Role::Client, opts.max_message),
            core,
        }
    }

    /// The next socket change the caller must make, oldest first. Apply them before writing
    /// or feeding bytes of the lanes they name.
    pub fn poll_lane_command(&mut self) -> Option<LaneCommand> {
        self.core.commands.pop_front()
    }

    /// Whether [`poll_lane_command`](Self::poll_lane_command) has something; a caller reading
    /// in a loop should stop and apply commands first, since bytes still unread on a replaced
    /// connection belong to no request.
    pub fn has_lane_commands(&self) -> bool {
        !self.core.commands.is_empty()
    }

    /// Bytes waiting to be written on `lane`'s socket, if any. Report what was written with
    /// [`advance_transmit`](Self::advance_transmit). The queue grows with every send until the
    /// caller drains it.
    pub fn transmit(&self, lane: Lane) -> Option<&[u8]> {
        self.core.out(lane).pending()
    }

    /// Marks the first `n` bytes of [`transmit`](Self::transmit) of `lane` as written.
    pub fn advance_transmit(&mut self, lane: Lane, n: usize) {
        self.core.out_mut(lane).advance(n);
    }

    /// Feeds bytes read from `lane`'s socket. Returns how many were used: drain them and keep
    /// the rest for the next call (an incomplete frame or response stays in `buf`). Frames and
    /// bodies are decoded in place, hence `&mut`.
    ///
    /// On error the session is closed: a WebSocket close frame may be queued for
    /// [`transmit`](Self::transmit), and [`ClientEvent::Closed`] (reason from
    /// [`ClientError::reason`]) is queued. A failed upgrade probe is no error: the session stays
    /// on polling. After close, and on a lane with no live connection, input is ignored and
    /// fully consumed.
    pub fn handle_input(
        &mut self,
        lane: Lane,
        buf: &mut [u8],
        now: Instant,
    ) -> Result<usize, ClientError> {
        let mut consumed = 0;
        let result = match lane {
            Lane::WebSocket => self.consume_ws(buf, now, &mut consumed),
            Lane::Poll | Lane::Post => self.core.consume_http(lane, buf, now, &mut consumed),
        };
        match result {
            Ok(()) => Ok(consumed),
            Err(_) if lane == Lane::WebSocket && self.core.transport == Transport::Polling => {
                self.core.abort_upgrade();
                Ok(buf.len())
            }
            Err(e) => {
                self.core.fail(&e);
                Err(e)
            }
        }
    }

    fn consume_ws(
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
            if self.core.state == State::Closed || rest.is_empty() {
                *consumed = len;
                return Ok(());
            }
            match self.core.ws.state {
                WsState::Off => {
                    *consumed = len;
                    return Ok(());
                }
                WsState::AwaitUpgrade => {
                    let Some(resp) = http::parse_response(rest, &http::Limits::default())? else {
                        return Ok(());
                    };
                    http::check_upgrade_response(&resp, &self.core.ws.key)?;
                    if let Some(answer) = resp.header("sec-websocket-extensions") {
                        self.accept_deflate(answer)?;
                    }
                    *consumed += resp.head_len;
                    self.core.on_ws_up();
                }
                WsState::Up => {
                    let decoded = self.decoder.decode(rest)?;
                    if decoded.consumed == 0 {
                        return Ok(());
                    }
                    *consumed += decoded.consumed;
                    if let Some(message) = decoded.message {
                        self.core.on_ws_message(message, now)?;
                    }
                }
            }
        }
    }

    /// The server's `Sec-WebSocket-Extensions` answer: permessage-deflate, with parameters
    /// our offer allows (RFC 7692 §5: anything else fails the connection).
    fn accept_deflate(&mut self, answer: &str) -> Result<(), ClientError> {
        let refused = ClientError::Ws(ws::WsError::Protocol(
            "the server answered with an extension we did not offer",
        ));
        if !self.core.target.deflate {
            return Err(refused);
        }
        // The answer's parameters read as an offer's do.
        let p = ws::negotiate([answer]).ok_or(refused)?.params;
        let plain = std::mem::replace(&mut self.decoder, ws::Decoder::new(Role::Client, 0));
        self.decoder = plain.with_inflater(ws::Inflater::new(
            p.server_max_window_bits,
            p.server_no_context_takeover,
        ));
        self.core.ws.deflater = Some(ws::Deflater::new(
            p.client_max_window_bits,
            p.client_no_context_takeover,
        ));
        Ok(())
    }

    /// Whether the WebSocket negotiated permessage-deflate (known once its `101` arrived).
    pub fn is_deflating(&self) -> bool {
        self.core.ws.deflater.is_some()
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
    /// which are sent as binary messages after the packet. With `want_ack` an ack id is
    /// allocated and returned; the answer arrives as [`ClientEvent::Ack`] with that id.
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
    /// [`next_ack_id`](Self::next_ack_id), or its own counter that outlives this session).
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

    /// Allocates the next ack id of this session (0, 1, 2, ... as the JS client).
    pub fn next_ack_id(&mut self) -> u64 {
        let id = self.core.next_ack_id;
        self.core.next_ack_id = id.wrapping_add(1);
        id
    }

    /// When [`handle_timeout`](Self::handle_timeout) must run next: the connect deadline before
    /// the session opens, then the heartbeat deadline; `None` once closed.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.core.state {
            State::Handshake => self.core.connect_deadline,
            State::Open => self.core.heartbeat.and_then(|hb| hb.next_deadline()),
            State::Closed => None,
        }
    }

    /// Applies the deadlines at `now`: closes with `"connect timeout"` or `"ping timeout"` when
    /// one has passed. Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        let core = &mut self.core;
        match core.state {
            State::Handshake if core.connect_deadline.is_some_and(|d| now >= d) => {
                core.finish(DisconnectReason::ConnectTimeout);
            }
            State::Open if core.heartbeat.is_some_and(|hb| hb.is_expired(now)) => {
                core.finish(DisconnectReason::PingTimeout);
            }
            _ => {}
        }
    }

    /// `lane`'s socket hit end-of-file (`error == false`) or an I/O error, or could not be
    /// opened, at `now`. A polling response that runs until close completes here. Losing the session's transport closes it with `"transport close"` or
    /// `"transport error"`; losing the upgrade probe leaves the session on polling; an idle
    /// polling connection (the server closed a kept-alive socket) is simply reopened for the
    /// next request. Unsent bytes of the lane are dropped.
    pub fn handle_transport_closed(&mut self, lane: Lane, error: bool, now: Instant) {
        self.core.on_lane_closed(lane, error, now);
    }

    /// Closes on our side (`"io client disconnect"`): a WebSocket close frame (code 1000), or
    /// over polling a close packet POSTed when the POST connection is open and free. Flush
    /// [`transmit`](Self::transmit), then drop the sockets.
    pub fn close(&mut self) {
        self.core.close();
    }

    /// The transport the session uses now (polling until an upgrade completes).
    pub fn transport(&self) -> Transport {
        self.core.transport
    }

    /// Whether the Engine.IO session is open.
    pub fn is_open(&self) -> bool {
        self.core.state == State::Open
    }

    /// Whether the session is over ([`ClientEvent::Closed`] was queued).
    pub fn is_closed(&self) -> bool {
        self.core.state == State::Closed
    }
}

impl Core {
    fn out(&self, lane: Lane) -> &OutBuf {
        match lane {
            Lane::WebSocket => &self.ws.out,
            Lane::Poll => &self.poll.out,
            Lane::Post => &self.post.out,
        }
    }

    fn out_mut(&mut self, lane: Lane) -> &mut OutBuf {
        match lane {
            Lane::WebSocket => &mut self.ws.out,
            Lane::Poll => &mut self.poll.out,
            Lane::Post => &mut self.post.out,
        }
    }

    /// Queues the WebSocket upgrade request (for the session `sid` once known) on a new
    /// connection.
    fn start_websocket(&mut self) {
        self.ws.key = http::new_websocket_key(self.rng.bytes16());
        self.ws.out.clear();
        self.target
            .write_upgrade(&mut self.ws.out.buf, self.sid.as_deref(), &self.ws.key);
        self.ws.state = WsState::AwaitUpgrade;
        self.commands.push_back(LaneCommand::Open(Lane::WebSocket));
    }

    /// Fails the session after `error`: a WebSocket error gets its close code sent back.
    fn fail(&mut self, error: &ClientError) {
        if let ClientError::Ws(e) = error {
            self.queue_close(e.close_code());
        } else {
            self.queue_close(CloseCode::PROTOCOL_ERROR);
        }
        self.finish(error.reason());
    }

    fn close(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.queue_close(CloseCode::NORMAL);
        // Opening a connection just for the close packet is not worth it: the server also
        // ends the session when our GET goes away.
        if self.transport == Transport::Polling
            && self.state == State::Open
            && self.post.socket
            && self.post.is_idle()
        {
            self.pending.clear();
            push_record(
                &mut self.pending,
                false,
                &[eio::PacketType::Close.as_byte()],
            );
            self.post_pending();
        }
        self.finish(DisconnectReason::IoClientDisconnect);
    }

    /// Moves to `Closed` and reports `reason`, once.
    fn finish(&mut self, reason: DisconnectReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.pending = Vec::new();
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

mod lanes;
mod polling;
#[cfg(test)]
mod polling_tests;
mod recv;
mod send;
#[cfg(test)]
mod tests;
