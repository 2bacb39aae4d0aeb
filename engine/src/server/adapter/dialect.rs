//! What the two Redis adapters put on the wire for the same operation: the pub/sub adapter
//! (`@socket.io/redis-adapter`) publishes everything; the streams adapter
//! (`@socket.io/redis-streams-adapter`) appends broadcasts and room operations to its stream
//! and publishes the rest. The publisher thread runs what [`Dialect`] returns.

use std::time::Duration;

use serde_json::{json, Value as Json};

use super::api::RemoteOp;
use super::streams_wire::{self, Entry, Names};
use super::wire::{self, kind, Channels};
use super::wire_error::WireError;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::rooms::Target;

/// The streams adapter's settings (its Node options of the same names).
#[derive(Debug, Clone)]
pub(crate) struct StreamsOpts {
    pub names: Names,
    /// `maxLen`: about how many entries the stream keeps.
    pub max_len: usize,
    /// `readCount`: most entries one XREAD returns.
    pub read_count: usize,
    /// `blockTimeInMs`: how long one XREAD waits.
    pub block: Duration,
}

/// Which adapter's wire format a cluster speaks.
#[derive(Debug, Clone)]
pub(crate) enum Dialect {
    PubSub(Channels),
    Streams(StreamsOpts),
}

/// One command for the publisher.
pub(crate) enum Send {
    /// `PUBLISH channel payload`.
    Publish(String, Vec<u8>),
    /// `XADD stream MAXLEN ~ n * fields...`.
    Append(Entry),
}

/// The `{rooms, except}` of a request, the sender's own room among the exceptions.
fn opts_json(target: &Target) -> Json {
    let mut except = target.except.clone();
    if let Some(sid) = &target.except_sid {
        except.push(sid.as_str().to_string());
    }
    json!({"rooms": target.rooms, "except": except})
}

impl Dialect {
    /// The channel whose exact subscribers are the servers using `nsp` (counted with NUMSUB).
    pub fn servers_channel(&self, nsp: &str) -> String {
        match self {
            Dialect::PubSub(c) => c.request(nsp),
            Dialect::Streams(o) => o.names.public(nsp),
        }
    }

    /// The channels this server subscribes to exactly for `nsp`.
    pub fn listen(&self, nsp: &str, uid: &str) -> Vec<String> {
        match self {
            Dialect::PubSub(c) => vec![c.request(nsp)],
            Dialect::Streams(o) => vec![o.names.public(nsp), o.names.private(nsp, uid)],
        }
    }

    /// The namespace whose [`Dialect::servers_channel`] `channel` is.
    pub fn servers_channel_nsp<'c>(&self, channel: &'c str) -> Option<&'c str> {
        match self {
            Dialect::PubSub(c) => c.request_nsp(channel),
            Dialect::Streams(o) => o.names.public_nsp(channel),
        }
    }

    /// A room operation on the other servers.
    pub fn select(&self, uid: &str, nsp: &str, target: &Target, op: &RemoteOp) -> Send {
        match self {
            Dialect::PubSub(c) => {
                let opts = opts_json(target);
                let body = match op {
                    RemoteOp::Join(rooms) => {
                        json!({"uid": uid, "type": kind::REMOTE_JOIN, "opts": opts, "rooms": rooms})
                    }
                    RemoteOp::Leave(rooms) => {
                        json!({"uid": uid, "type": kind::REMOTE_LEAVE, "opts": opts, "rooms": rooms})
                    }
                    RemoteOp::Disconnect(close) => {
                        json!({"uid": uid, "type": kind::REMOTE_DISCONNECT, "opts": opts, "close": close})
                    }
                };
                Send::Publish(c.request(nsp), body.to_string().into_bytes())
            }
            Dialect::Streams(_) => Send::Append(streams_wire::select_entry(uid, nsp, target, op)),
        }
    }

    /// A `fetchSockets` request with id `id`.
    pub fn fetch(
        &self,
        uid: &str,
        nsp: &str,
        id: &str,
        target: &Target,
    ) -> Result<Send, WireError> {
        Ok(match self {
            Dialect::PubSub(c) => {
                let body = json!({"uid": uid, "requestId": id,
                    "type": kind::REMOTE_FETCH, "opts": opts_json(target)});
                Send::Publish(c.request(nsp), body.to_string().into_bytes())
            }
            Dialect::Streams(o) => Send::Publish(
                o.names.public(nsp),
                streams_wire::fetch_request(uid, nsp, id, target)?,
            ),
        })
    }

    /// A server-side emit of `data` (`[event, ...args]`), with request id `id` when acks are
    /// wanted.
    pub fn emit(
        &self,
        uid: &str,
        nsp: &str,
        id: Option<&str>,
        data: &Json,
    ) -> Result<Send, WireError> {
        Ok(match self {
            Dialect::PubSub(c) => {
                let mut body = json!({"uid": uid, "type": kind::SERVER_SIDE_EMIT, "data": data});
                if let Some(id) = id {
                    body["requestId"] = Json::from(id);
                }
                Send::Publish(c.request(nsp), body.to_string().into_bytes())
            }
            Dialect::Streams(o) => Send::Publish(
                o.names.public(nsp),
                streams_wire::emit_request(uid, nsp, id, data)?,
            ),
        })
    }

    /// A broadcast without acks.
    pub fn broadcast(&self, uid: &str, msg: &BroadcastMsg) -> Result<Send, WireError> {
        Ok(match self {
            Dialect::PubSub(c) => Send::Publish(
                c.broadcast(&msg.nsp, &msg.target.rooms),
                wire::encode_broadcast(uid, msg)?,
            ),
            Dialect::Streams(_) => Send::Append(streams_wire::broadcast_entry(uid, msg)?),
        })
    }

    /// A broadcast with acks, request id `id`, whose receivers answer within `timeout_ms`.
    pub fn broadcast_request(
        &self,
        uid: &str,
        id: &str,
        msg: &BroadcastMsg,
        timeout_ms: u64,
    ) -> Result<Send, WireError> {
        Ok(match self {
            Dialect::PubSub(c) => Send::Publish(
                c.request(&msg.nsp),
                wire::encode_broadcast_request(uid, id, msg, timeout_ms)?,
            ),
            Dialect::Streams(o) => Send::Publish(
                o.names.public(&msg.nsp),
                streams_wire::broadcast_request(uid, id, msg, timeout_ms)?,
            ),
        })
    }

    /// Our answer (in the pub/sub adapter's shape) to a request of server `to` in `nsp`.
    pub fn response(&self, uid: &str, nsp: &str, to: Option<&str>, mut body: Json) -> Option<Send> {
        match self {
            Dialect::PubSub(c) => {
                // Signed with this server's uid so the requester can tell who answered (Node's
                // adapter ignores the extra field).
                if let Some(o) = body.as_object_mut() {
                    o.insert("uid".into(), Json::String(uid.to_string()));
                }
                Some(Send::Publish(
                    c.response(nsp),
                    body.to_string().into_bytes(),
                ))
            }
            Dialect::Streams(o) => Some(Send::Publish(
                o.names.private(nsp, to?),
                streams_wire::response(uid, nsp, &body)?,
            )),
        }
    }

    /// One client's ack (`args_json`) of server `to`'s broadcast request `id` in `nsp`.
    pub fn ack(
        &self,
        uid: &str,
        nsp: &str,
        to: Option<&str>,
        id: &str,
        args_json: &[u8],
    ) -> Option<Send> {
        match self {
            Dialect::PubSub(c) => Some(Send::Publish(
                c.response(nsp),
                wire::encode_broadcast_ack(id, args_json),
            )),
            Dialect::Streams(o) => Some(Send::Publish(
                o.names.private(nsp, to?),
                streams_wire::ack_response(uid, nsp, id, args_json)?,
            )),
        }
    }
}
