//! Where a session's packets go (a WebSocket, polling, or polling while a WebSocket probes), and
//! the sender that writes them on whichever it is now.

use bytes::Bytes;

use crate::proto::eio::{EioVersion, BINARY_MESSAGE_BYTE};
use crate::proto::ws::OpCode;
use crate::runtime::{ConnId, TimerKey};

use super::broadcast_msg::Shared;
use super::out::Out;
use super::polling::Polling;
use super::port::Port;

/// Where a session's packets go.
pub(crate) enum Link {
    /// A WebSocket connection, and the Engine.IO revision its session speaks (v3 binary
    /// frames start with the message type byte).
    Ws(ConnId, EioVersion),
    /// HTTP long-polling: packets wait for the next GET.
    Polling(Polling),
    /// Still polling while a WebSocket probes to take over; `probed` once `2probe` came, after
    /// which every GET is answered at once so the client can pause polling and finish.
    Upgrading {
        polling: Polling,
        ws: ConnId,
        timer: TimerKey,
        probed: bool,
    },
}

/// Sends packets of one session on whatever link it has now.
pub(crate) struct Tx<'c, 'a> {
    pub cx: &'c mut (dyn Port + 'a),
    pub link: &'c mut Link,
}

impl Tx<'_, '_> {
    /// Sends one text packet that `write` appends (type digit first); `write` returns false
    /// to abandon it. False if nothing was queued.
    pub fn text(&mut self, write: impl FnOnce(&mut Vec<u8>) -> bool) -> bool {
        self.text_with(write, true)
    }

    /// [`Tx::text`], saying whether the packet allows compression (of a polling payload, or by
    /// permessage-deflate).
    pub fn text_with(&mut self, write: impl FnOnce(&mut Vec<u8>) -> bool, compress: bool) -> bool {
        match self.link {
            Link::Ws(conn, _) => {
                let mut write = Some(write);
                self.cx
                    .send_with_compressible(*conn, OpCode::Text, compress, &mut |b| {
                        write.take().is_some_and(|w| w(b))
                    })
            }
            Link::Polling(p) | Link::Upgrading { polling: p, .. } => {
                let mut v = Vec::new();
                write(&mut v) && p.push_with(Out::Text(Bytes::from(v)), compress)
            }
        }
    }

    /// Sends one binary message.
    pub fn binary(&mut self, data: &[u8]) -> bool {
        self.binary_with(data, true)
    }

    /// [`Tx::binary`], saying whether the message allows compression (of a polling payload, or
    /// by permessage-deflate).
    pub fn binary_with(&mut self, data: &[u8], compress: bool) -> bool {
        match self.link {
            Link::Ws(conn, EioVersion::V4) => {
                self.cx
                    .send_frame_compressible(*conn, OpCode::Binary, data, compress)
            }
            Link::Ws(conn, EioVersion::V3) => {
                let framed = v3_binary(data);
                self.cx
                    .send_frame_compressible(*conn, OpCode::Binary, &framed, compress)
            }
            Link::Polling(p) | Link::Upgrading { polling: p, .. } => {
                p.push_with(Out::Binary(Bytes::copy_from_slice(data)), compress)
            }
        }
    }

    /// Sends an already encoded packet.
    pub fn out(&mut self, out: &Out) -> bool {
        self.out_with(out, true)
    }

    /// [`Tx::out`], saying whether the packet allows compression (of a polling payload, or by
    /// permessage-deflate).
    pub fn out_with(&mut self, out: &Out, compress: bool) -> bool {
        match self.link {
            Link::Ws(conn, version) => match (out, *version) {
                (Out::Text(b), _) => {
                    self.cx
                        .send_frame_compressible(*conn, OpCode::Text, b, compress)
                }
                (Out::Binary(b), EioVersion::V4) => {
                    self.cx
                        .send_frame_compressible(*conn, OpCode::Binary, b, compress)
                }
                (Out::Binary(b), EioVersion::V3) => {
                    let framed = v3_binary(b);
                    self.cx
                        .send_frame_compressible(*conn, OpCode::Binary, &framed, compress)
                }
            },
            Link::Polling(p) | Link::Upgrading { polling: p, .. } => {
                p.push_with(out.clone(), compress)
            }
        }
    }

    /// Sends a packet encoded once for many receivers, without copying it.
    pub fn shared(&mut self, p: &Shared) -> bool {
        self.shared_with(p, true)
    }

    /// [`Tx::shared`], saying whether the packet allows compression (of a polling payload, or
    /// by permessage-deflate).
    pub fn shared_with(&mut self, p: &Shared, compress: bool) -> bool {
        match self.link {
            // A v3 binary frame needs its type byte: the shared frame is v4's, so this one is
            // framed for this client alone.
            Link::Ws(conn, EioVersion::V3) if p.is_binary() => {
                let framed = v3_binary(p.eio_payload());
                self.cx
                    .send_frame_compressible(*conn, OpCode::Binary, &framed, compress)
            }
            Link::Ws(conn, _) => self.cx.send_shared(*conn, p.frame().clone(), compress),
            Link::Polling(q) | Link::Upgrading { polling: q, .. } => q.push_with(p.out(), compress),
        }
    }

    /// Asks to hear when the link's queue is empty; false when it is empty already.
    pub fn notify_drain(&mut self) -> bool {
        match self.link {
            Link::Ws(conn, _) => self.cx.notify_drain(*conn),
            // Polling drains when a GET takes the queue (see `EioSession::flush`).
            Link::Polling(q) | Link::Upgrading { polling: q, .. } => !q.is_empty(),
        }
    }

    /// Bytes waiting to go out on the link.
    pub fn queued_bytes(&mut self) -> usize {
        match self.link {
            Link::Ws(conn, _) => self.cx.queued_bytes(*conn),
            Link::Polling(p) | Link::Upgrading { polling: p, .. } => p.queued_bytes(),
        }
    }
}

/// A binary message as an Engine.IO v3 WebSocket frame carries it: the message type byte first.
fn v3_binary(data: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(data.len() + 1);
    framed.push(BINARY_MESSAGE_BYTE);
    framed.extend_from_slice(data);
    framed
}
