//! The connections of a [`ClientConn`](super::ClientConn): lane names and commands for the
//! caller, and per-lane output buffers and request state inside.

use crate::proto::{http, ws};

/// One of the TCP connections a [`ClientConn`](super::ClientConn) uses. A WebSocket session uses only
/// [`Lane::WebSocket`]; a polling session uses [`Lane::Poll`] and [`Lane::Post`], plus
/// [`Lane::WebSocket`] while it upgrades.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// The WebSocket: the whole session, or the upgrade's probe and then the session.
    WebSocket,
    /// Long-polling GETs (the handshake GET included).
    Poll,
    /// Polling POSTs carrying our packets.
    Post,
}

impl Lane {
    /// Every lane, in a fixed order (e.g. to index an array of sockets).
    pub const ALL: [Lane; 3] = [Lane::WebSocket, Lane::Poll, Lane::Post];

    /// The lane's position in [`Lane::ALL`].
    pub fn index(self) -> usize {
        match self {
            Lane::WebSocket => 0,
            Lane::Poll => 1,
            Lane::Post => 2,
        }
    }
}

/// What the caller must do with its sockets, from [`ClientConn::poll_lane_command`](super::ClientConn::poll_lane_command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneCommand {
    /// Open a new TCP connection to the server for this lane, dropping the lane's previous one
    /// (and whatever was read from it but not fed yet), then write its
    /// [`transmit`](super::ClientConn::transmit) bytes once connected.
    Open(Lane),
    /// Drop the lane's connection; nothing more will be sent or read on it.
    Close(Lane),
}

/// Bytes for one socket; `buf[pos..]` is still unsent.
#[derive(Debug, Default)]
pub(super) struct OutBuf {
    pub(super) buf: Vec<u8>,
    pub(super) pos: usize,
}

impl OutBuf {
    pub(super) fn pending(&self) -> Option<&[u8]> {
        self.buf.get(self.pos..).filter(|rest| !rest.is_empty())
    }

    pub(super) fn advance(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.clear();
        }
    }

    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WsState {
    /// No WebSocket on this session.
    Off,
    /// The upgrade request is out; waiting for `101`.
    AwaitUpgrade,
    /// Frames flow.
    Up,
}

#[derive(Debug)]
pub(super) struct WsLane {
    pub(super) state: WsState,
    pub(super) key: String,
    pub(super) out: OutBuf,
    /// permessage-deflate's compressor, once the server accepted the offer.
    pub(super) deflater: Option<ws::Deflater>,
    /// A compressed message while it is being framed.
    pub(super) compressed: Vec<u8>,
}

/// One HTTP lane of a polling session: at most one request in flight, on a connection kept
/// while the server allows it.
#[derive(Debug)]
pub(super) struct HttpLane {
    pub(super) out: OutBuf,
    /// The caller has (or was asked to open) a connection usable for the next request.
    pub(super) socket: bool,
    /// Bumped with every [`LaneCommand::Open`], so input of a replaced connection stops.
    pub(super) generation: u32,
    pub(super) inflight: Inflight,
    /// The response body being read; reused across requests.
    pub(super) body: Vec<u8>,
}

#[derive(Debug)]
pub(super) enum Inflight {
    Idle,
    /// The request is out; waiting for the response head.
    Head,
    Body {
        status: u16,
        keep_alive: bool,
        reader: http::BodyReader,
    },
}

impl HttpLane {
    pub(super) fn new() -> Self {
        Self {
            out: OutBuf::default(),
            socket: false,
            generation: 0,
            inflight: Inflight::Idle,
            body: Vec::new(),
        }
    }

    pub(super) fn is_idle(&self) -> bool {
        matches!(self.inflight, Inflight::Idle)
    }
}

/// Appends a packet record to the held packets of a session: kind (1 binary, 0 text), length, bytes.
pub(super) fn push_record(pending: &mut Vec<u8>, binary: bool, data: &[u8]) {
    pending.push(u8::from(binary));
    pending.extend_from_slice(&(data.len() as u64).to_le_bytes());
    pending.extend_from_slice(data);
}

/// Iterates the records [`push_record`] wrote: `(binary, bytes)`.
pub(super) fn records(pending: &[u8]) -> impl Iterator<Item = (bool, &[u8])> {
    let mut rest = pending;
    std::iter::from_fn(move || {
        let (&kind, tail) = rest.split_first()?;
        let len_bytes: [u8; 8] = tail.get(..8)?.try_into().ok()?;
        let len = usize::try_from(u64::from_le_bytes(len_bytes)).ok()?;
        let end = len.checked_add(8)?;
        let data = tail.get(8..end)?;
        rest = tail.get(end..)?;
        Some((kind == 1, data))
    })
}
