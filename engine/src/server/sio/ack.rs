//! Acknowledgements: what a handler returns to acknowledge an event, acks sent later from any
//! thread, and the server's pending acks for its own emits (with timeouts and cancel).

use bytes::Bytes;
use serde::Serialize;

use crate::config::Parser;
use crate::proto::eio::Sid;
use crate::proto::sio::{self, Args};
use crate::runtime::Peers;
use crate::server::broadcast_msg::msgpack_packet;

use super::super::link::Tx;
use super::super::out::Out;
use super::super::post::Post;
use super::errors::EmitError;

/// The arguments of an acknowledgement: a JSON array plus binary attachments (referenced from
/// the JSON with [`sio::Placeholder`]).
#[derive(Debug, Clone, Default)]
pub struct Ack {
    pub(crate) json: Vec<u8>,
    pub(crate) attachments: Vec<Bytes>,
}

impl Ack {
    /// An ack with the arguments `args`, as an emit takes them: a tuple or a fixed-size array
    /// is several arguments, `()` none, any other value (a `Vec` and `serde_json::Value`
    /// included) one; bytes (`bytes::Bytes`, `serde_bytes`, `Vec<u8>`) become attachments.
    pub fn new<T: Serialize + ?Sized>(args: &T) -> Result<Ack, EmitError> {
        let mut json = vec![b'['];
        let mut attachments = Vec::new();
        sio::write_args(&mut json, &mut attachments, args)
            .map_err(|e| EmitError::Serialize(e.to_string()))?;
        json.push(b']');
        Ok(Ack { json, attachments })
    }

    /// An ack with one argument, whatever its type (a tuple or array included, as one array).
    pub fn one<T: Serialize + ?Sized>(value: &T) -> Result<Ack, EmitError> {
        let mut json = vec![b'['];
        let mut attachments = Vec::new();
        sio::write_value(&mut json, &mut attachments, value)
            .map_err(|e| EmitError::Serialize(e.to_string()))?;
        json.push(b']');
        Ok(Ack { json, attachments })
    }

    /// An ack with no arguments.
    pub fn empty() -> Ack {
        Ack {
            json: b"[]".to_vec(),
            attachments: Vec::new(),
        }
    }

    /// An ack of an already encoded JSON array and its attachments.
    pub(crate) fn new_raw(json: Vec<u8>, attachments: Vec<Bytes>) -> Ack {
        Ack { json, attachments }
    }

    /// An ack carrying exactly the given arguments, binary included (an echo).
    pub fn from_args(args: &Args<'_>) -> Ack {
        let mut json = Vec::new();
        args.write_json(&mut json);
        Ack {
            json,
            attachments: args.attachments().to_vec(),
        }
    }

    /// Adds binary attachments; the JSON must reference them with placeholders `0..n`.
    pub fn with_attachments(mut self, attachments: Vec<Bytes>) -> Ack {
        self.attachments = attachments;
        self
    }

    /// Sends this ack for `nsp` and ack `id` on the session's link, encoded straight into the
    /// outgoing frame (no intermediate packet on the per-event path).
    pub(crate) fn send(&self, tx: &mut Tx<'_, '_>, nsp: &str, id: u64) {
        if tx.cx.state().config.parser == Parser::Msgpack {
            for out in self.outs(Parser::Msgpack, nsp, id) {
                tx.out(&out);
            }
            return;
        }
        tx.text(|b| {
            b.push(b'4');
            sio::encode_ack(b, nsp, id, &self.json, self.attachments.len());
            true
        });
        for a in &self.attachments {
            tx.binary(a);
        }
    }

    /// The packets of this ack for `nsp` and ack `id` as `parser` sends them: the ACK, then
    /// one per attachment, or one msgpack message (for acks sent later from another thread).
    /// Arguments that do not transcode to msgpack (raw JSON that is not valid) send nothing.
    pub(crate) fn outs(&self, parser: Parser, nsp: &str, id: u64) -> Vec<Out> {
        let mut outs = Vec::with_capacity(1 + self.attachments.len());
        let mut b = Vec::with_capacity(self.json.len() + nsp.len() + 24);
        if parser == Parser::Msgpack {
            sio::encode_ack(&mut b, nsp, id, &self.json, self.attachments.len());
            let wire = msgpack_packet(&b, &self.attachments);
            outs.extend(wire.ok().map(|w| Out::Binary(Bytes::from(w))));
            return outs;
        }
        b.push(b'4');
        sio::encode_ack(&mut b, nsp, id, &self.json, self.attachments.len());
        outs.push(Out::Text(Bytes::from(b)));
        outs.extend(self.attachments.iter().map(|a| Out::Binary(a.clone())));
        outs
    }
}

/// Identifies a server-to-client emit waiting for its acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckId(pub u64);

/// Sends the acknowledgement of one event later, from any thread. Dropping it sends nothing (the
/// client's own timeout then applies).
pub struct DeferredAck {
    pub(crate) peers: Peers<Post>,
    /// The socket the event came from.
    pub(crate) socket: Sid,
    pub(crate) nsp: String,
    pub(crate) id: u64,
    /// How the server encodes its packets.
    pub(crate) parser: Parser,
}

impl DeferredAck {
    /// Sends the ack; false if the connection's worker is gone.
    pub fn send(self, ack: Ack) -> bool {
        let outs = ack.outs(self.parser, &self.nsp, self.id);
        self.peers.post(
            self.socket.home(self.peers.len()),
            Post::ToSocket(self.socket, outs),
        )
    }
}
