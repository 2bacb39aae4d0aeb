//! The wire format of `@socket.io/redis-streams-adapter` 0.3 (socket.io-adapter's
//! `ClusterAdapter` messages): what every server must see in order (broadcasts without acks,
//! room joins and leaves, disconnections) is an entry of one stream, with the fields `uid`,
//! `nsp`, `type` (the message type as decimal text) and `data` (JSON text, or base64 msgpack
//! when it holds binary); the rest (requests, broadcasts with acks, responses) is msgpack
//! `{type, data, uid, nsp}` over pub/sub, requests on the namespace's public channel
//! `prefix#nsp#`, responses on the requester's `prefix#nsp#uid#`.
//!
//! Incoming messages are translated into the request and response shapes of
//! `@socket.io/redis-adapter` ([`super::wire`]), so both adapters answer them with one code
//! path. Everything here runs on the adapter's threads.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value as Json};

use super::api::RemoteOp;
use super::cluster_msg::ty as kind;
use super::convert::{parse, write_mp};
use super::wire::{self, Incoming};
use super::wire_error::WireError;
use crate::proto::msgpack;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::rooms::Target;

/// The stream and channel names (the adapter's `streamName` and `channelPrefix`).
#[derive(Debug, Clone)]
pub(crate) struct Names {
    prefix: String,
    stream: String,
}

impl Names {
    /// Names for channel prefix `prefix` and stream `stream`.
    pub fn new(prefix: &str, stream: &str) -> Self {
        Names {
            prefix: prefix.to_string(),
            stream: stream.to_string(),
        }
    }

    /// The stream every server appends to and reads.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// `nsp`'s public channel: requests go there, and Node counts servers with NUMSUB on it.
    pub fn public(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.prefix)
    }

    /// The channel where server `uid` gets the responses to its requests in `nsp`.
    pub fn private(&self, nsp: &str, uid: &str) -> String {
        format!("{}#{nsp}#{uid}#", self.prefix)
    }

    /// The namespace of a public channel named exactly.
    pub fn public_nsp<'c>(&self, channel: &'c str) -> Option<&'c str> {
        let nsp = channel
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('#')?
            .strip_suffix('#')?;
        (nsp.starts_with('/') && !nsp.contains('#')).then_some(nsp)
    }
}

/// One stream entry, as XADD writes it and XREAD returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub uid: String,
    pub nsp: String,
    pub ty: u64,
    /// JSON text, or base64 msgpack.
    pub data: String,
}

impl Entry {
    /// The `field value` arguments of XADD, in the Node adapter's order.
    pub fn fields(&self) -> [[Vec<u8>; 2]; 4] {
        [
            [b"uid".to_vec(), self.uid.as_bytes().to_vec()],
            [b"nsp".to_vec(), self.nsp.as_bytes().to_vec()],
            [b"type".to_vec(), self.ty.to_string().into_bytes()],
            [b"data".to_vec(), self.data.as_bytes().to_vec()],
        ]
    }
}

/// Appends `s` as a JSON string.
fn push_json_str(out: &mut String, s: &str) {
    out.push_str(&Json::from(s).to_string());
}

fn push_json_strs<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, s);
    }
    out.push(']');
}

/// `{"rooms":[..],"except":[..],"flags":{..}}`, the sender left out of `socket.broadcast` as
/// the room of its own id (as Node sends it).
fn opts_json(target: &Target, volatile: bool, compress: bool) -> String {
    let mut out = String::from("{\"rooms\":");
    push_json_strs(&mut out, target.rooms.iter().map(String::as_str));
    out.push_str(",\"except\":");
    let sender = target.except_sid.as_ref().map(|s| s.as_str());
    push_json_strs(
        &mut out,
        target.except.iter().map(String::as_str).chain(sender),
    );
    out.push_str(",\"flags\":{");
    let flags: Vec<&str> = [
        volatile.then_some("\"volatile\":true"),
        (!compress).then_some("\"compress\":false"),
    ]
    .into_iter()
    .flatten()
    .collect();
    out.push_str(&flags.join(","));
    out.push_str("}}");
    out
}

/// The entry of a broadcast without acks: `{packet: {type: 2, data}, opts}`, as JSON, or as
/// base64 msgpack when it carries binary arguments (as the Node adapter decides).
pub(crate) fn broadcast_entry(uid: &str, msg: &BroadcastMsg) -> Result<Entry, WireError> {
    let (text, attachments) = wire::event_text(&msg.packets)?;
    let data = if attachments.is_empty() {
        let text = std::str::from_utf8(text).map_err(|_| WireError::Shape("packet data"))?;
        let opts = opts_json(&msg.target, msg.volatile, msg.compress);
        format!("{{\"packet\":{{\"type\":2,\"data\":{text}}},\"opts\":{opts}}}")
    } else {
        let data: Json =
            serde_json::from_slice(text).map_err(|e| WireError::Json(e.to_string()))?;
        let mut out = Vec::with_capacity(text.len() + 64);
        msgpack::write_map_len(&mut out, 2);
        write_packet(&mut out, &data, &attachments)?;
        msgpack::write_str(&mut out, "opts");
        wire::write_opts(&mut out, msg, None);
        BASE64.encode(out)
    };
    Ok(Entry {
        uid: uid.to_string(),
        nsp: msg.nsp.clone(),
        ty: kind::BROADCAST,
        data,
    })
}

/// Appends `packet: {type: 2, data}`.
fn write_packet(out: &mut Vec<u8>, data: &Json, attachments: &[Bytes]) -> Result<(), WireError> {
    msgpack::write_str(out, "packet");
    msgpack::write_map_len(out, 2);
    msgpack::write_str(out, "type");
    msgpack::write_uint(out, 2);
    msgpack::write_str(out, "data");
    write_mp(out, data, attachments)
}

/// The entry of a room operation on the sockets `target` selects.
pub(crate) fn select_entry(uid: &str, nsp: &str, target: &Target, op: &RemoteOp) -> Entry {
    let opts = opts_json(target, false, true);
    let (ty, tail) = match op {
        RemoteOp::Join(rooms) | RemoteOp::Leave(rooms) => {
            let mut tail = String::from("\"rooms\":");
            push_json_strs(&mut tail, rooms.iter().map(String::as_str));
            let ty = match op {
                RemoteOp::Join(_) => kind::SOCKETS_JOIN,
                _ => kind::SOCKETS_LEAVE,
            };
            (ty, tail)
        }
        RemoteOp::Disconnect(close) => (kind::DISCONNECT_SOCKETS, format!("\"close\":{close}")),
    };
    Entry {
        uid: uid.to_string(),
        nsp: nsp.to_string(),
        ty,
        data: format!("{{\"opts\":{opts},{tail}}}"),
    }
}

/// A pub/sub message: msgpack `{type, data, uid, nsp}`, `data` written by `write_data`.
fn message(
    ty: u64,
    uid: &str,
    nsp: &str,
    write_data: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(128);
    msgpack::write_map_len(&mut out, 4);
    msgpack::write_str(&mut out, "type");
    msgpack::write_uint(&mut out, ty);
    msgpack::write_str(&mut out, "data");
    write_data(&mut out)?;
    msgpack::write_str(&mut out, "uid");
    msgpack::write_str(&mut out, uid);
    msgpack::write_str(&mut out, "nsp");
    msgpack::write_str(&mut out, nsp);
    Ok(out)
}

/// A broadcast with acks: `data: {packet, requestId, opts}`, the ack timeout in `opts.flags`.
pub(crate) fn broadcast_request(
    uid: &str,
    request_id: &str,
    msg: &BroadcastMsg,
    timeout_ms: u64,
) -> Result<Vec<u8>, WireError> {
    let (data, attachments) = wire::event_data(&msg.packets)?;
    message(kind::BROADCAST, uid, &msg.nsp, |out| {
        msgpack::write_map_len(out, 3);
        write_packet(out, &data, &attachments)?;
        msgpack::write_str(out, "requestId");
        msgpack::write_str(out, request_id);
        msgpack::write_str(out, "opts");
        wire::write_opts(out, msg, Some(timeout_ms));
        Ok(())
    })
}

/// A `fetchSockets` request: `data: {opts, requestId}`.
pub(crate) fn fetch_request(
    uid: &str,
    nsp: &str,
    request_id: &str,
    target: &Target,
) -> Result<Vec<u8>, WireError> {
    let sender = target.except_sid.as_ref().map(|s| s.as_str());
    let except: Vec<&str> = target
        .except
        .iter()
        .map(String::as_str)
        .chain(sender)
        .collect();
    message(kind::FETCH_SOCKETS, uid, nsp, |out| {
        msgpack::write_map_len(out, 2);
        msgpack::write_str(out, "opts");
        msgpack::write_map_len(out, 3);
        msgpack::write_str(out, "rooms");
        msgpack::write_array_len(out, target.rooms.len());
        target.rooms.iter().for_each(|r| msgpack::write_str(out, r));
        msgpack::write_str(out, "except");
        msgpack::write_array_len(out, except.len());
        except.iter().for_each(|r| msgpack::write_str(out, r));
        msgpack::write_str(out, "flags");
        msgpack::write_map_len(out, 0);
        msgpack::write_str(out, "requestId");
        msgpack::write_str(out, request_id);
        Ok(())
    })
}

/// A server-side emit of `packet` (`[event, ...args]`): `data: {packet}`, or with an ack
/// `data: {requestId, packet}`.
pub(crate) fn emit_request(
    uid: &str,
    nsp: &str,
    request_id: Option<&str>,
    packet: &Json,
) -> Result<Vec<u8>, WireError> {
    message(kind::SERVER_SIDE_EMIT, uid, nsp, |out| {
        msgpack::write_map_len(out, 1 + usize::from(request_id.is_some()));
        if let Some(id) = request_id {
            msgpack::write_str(out, "requestId");
            msgpack::write_str(out, id);
        }
        msgpack::write_str(out, "packet");
        write_mp(out, packet, &[])
    })
}

/// Appends a map of `fields` in their order (Node's objects keep the order they were built in).
fn write_fields(out: &mut Vec<u8>, fields: &[(&str, &Json)]) -> Result<(), WireError> {
    msgpack::write_map_len(out, fields.len());
    for (k, v) in fields {
        msgpack::write_str(out, k);
        write_mp(out, v, &[])?;
    }
    Ok(())
}

/// Our answer to a request, given in `@socket.io/redis-adapter`'s shape (what the shared
/// request handler builds), as this adapter's response; `None` for an answer it has no
/// response type for.
pub(crate) fn response(uid: &str, nsp: &str, body: &Json) -> Option<Vec<u8>> {
    let request_id = body.get("requestId")?;
    let null = Json::Null;
    let field = |name: &str| body.get(name).unwrap_or(&null);
    let (ty, name, value) = match body.get("type").and_then(Json::as_u64) {
        None if body.get("sockets").is_some() => {
            (kind::FETCH_SOCKETS_RESPONSE, "sockets", field("sockets"))
        }
        Some(wire::kind::SERVER_SIDE_EMIT) => {
            (kind::SERVER_SIDE_EMIT_RESPONSE, "packet", field("data"))
        }
        Some(wire::kind::BROADCAST_CLIENT_COUNT) => (
            kind::BROADCAST_CLIENT_COUNT,
            "clientCount",
            field("clientCount"),
        ),
        _ => return None,
    };
    message(ty, uid, nsp, |out| {
        write_fields(out, &[("requestId", request_id), (name, value)])
    })
    .ok()
}

/// One client's ack of another server's broadcast: `data: {requestId, packet: arg}`, its first
/// argument only, as the Node adapter forwards.
/// `None` when the argument holds a placeholder without its attachment.
pub(crate) fn ack_response(
    uid: &str,
    nsp: &str,
    request_id: &str,
    args_json: &[u8],
) -> Option<Vec<u8>> {
    let first = serde_json::from_slice::<Json>(args_json)
        .ok()
        .and_then(|v| match v {
            Json::Array(mut items) if !items.is_empty() => Some(items.swap_remove(0)),
            _ => None,
        })
        .unwrap_or(Json::Null);
    let id = Json::from(request_id);
    message(kind::BROADCAST_ACK, uid, nsp, |out| {
        write_fields(out, &[("requestId", &id), ("packet", &first)])
    })
    .ok()
}

/// A message from another server, from the stream or pub/sub.
#[derive(Debug)]
pub(crate) struct Message {
    pub uid: String,
    pub nsp: String,
    pub ty: u64,
    /// Binary values as placeholders numbered into `attachments`.
    pub data: Json,
    pub attachments: Vec<Bytes>,
}

/// Decodes a stream entry from its `field value` pairs.
pub(crate) fn decode_entry<'a>(
    fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
) -> Result<Message, WireError> {
    let (mut uid, mut nsp, mut ty, mut data) = (None, None, None, None);
    for (k, v) in fields {
        let v = std::str::from_utf8(v).map_err(|_| WireError::Shape("entry field"))?;
        match k {
            b"uid" => uid = Some(v),
            b"nsp" => nsp = Some(v),
            b"type" => ty = Some(v),
            b"data" => data = Some(v),
            _ => {}
        }
    }
    let ty = ty
        .and_then(|t| t.parse().ok())
        .ok_or(WireError::Shape("type"))?;
    let (data, attachments) = match data.filter(|d| !d.is_empty()) {
        None => (Json::Null, Vec::new()),
        Some(d) if d.starts_with('{') => parse(d.as_bytes())?,
        Some(d) => {
            let bytes = BASE64
                .decode(d)
                .map_err(|_| WireError::Shape("data base64"))?;
            if bytes.first() == Some(&b'{') {
                // msgpack never opens with `{` for a map; JSON here would be a forgery.
                return Err(WireError::Shape("data"));
            }
            parse(&bytes)?
        }
    };
    Ok(Message {
        uid: uid.ok_or(WireError::Shape("uid"))?.to_string(),
        nsp: nsp.ok_or(WireError::Shape("nsp"))?.to_string(),
        ty,
        data,
        attachments,
    })
}

/// Decodes a pub/sub message.
pub(crate) fn decode_message(payload: &[u8]) -> Result<Message, WireError> {
    if payload.first() == Some(&b'{') {
        return Err(WireError::Shape("message"));
    }
    let (v, attachments) = parse(payload)?;
    let field = |name| v.get(name).ok_or(WireError::Shape(name));
    Ok(Message {
        uid: field("uid")?
            .as_str()
            .ok_or(WireError::Shape("uid"))?
            .to_string(),
        nsp: field("nsp")?
            .as_str()
            .ok_or(WireError::Shape("nsp"))?
            .to_string(),
        ty: field("type")?.as_u64().ok_or(WireError::Shape("type"))?,
        data: v.get("data").cloned().unwrap_or(Json::Null),
        attachments,
    })
}

impl Message {
    fn field(&self, name: &str) -> Json {
        self.data.get(name).cloned().unwrap_or(Json::Null)
    }

    /// Whether this is a broadcast without acks (what [`Message::broadcast`] takes).
    pub fn is_plain_broadcast(&self) -> bool {
        self.ty == kind::BROADCAST && self.data.get("requestId").is_none()
    }

    /// The broadcast this message carries, ready for the workers.
    pub fn broadcast(&self) -> Result<Incoming, WireError> {
        self.broadcast_at(None)
    }

    /// [`Message::broadcast`] with recovery offset `offset` (its entry id) as the packet's
    /// last argument unless it is volatile.
    pub fn broadcast_at(&self, offset: Option<&str>) -> Result<Incoming, WireError> {
        let mut packet = self.field("packet");
        if let Some(p) = packet.as_object_mut() {
            p.insert("nsp".into(), Json::String(self.nsp.clone()));
        }
        let uid = Json::String(self.uid.clone());
        wire::incoming(
            &uid,
            &packet,
            &self.field("opts"),
            &self.attachments,
            None,
            offset,
        )
    }

    /// A request in `@socket.io/redis-adapter`'s shape, for the shared request handler.
    pub fn as_request(&self) -> Option<Json> {
        let uid = &self.uid;
        let opts = self.field("opts");
        let request_id = self.field("requestId");
        Some(match self.ty {
            kind::BROADCAST => {
                let mut packet = self.field("packet");
                if let Some(p) = packet.as_object_mut() {
                    p.insert("nsp".into(), Json::String(self.nsp.clone()));
                }
                json!({"uid": uid, "type": wire::kind::BROADCAST, "requestId": request_id,
                    "packet": packet, "opts": opts})
            }
            kind::SOCKETS_JOIN => {
                json!({"uid": uid, "type": wire::kind::REMOTE_JOIN, "opts": opts,
                    "rooms": self.field("rooms")})
            }
            kind::SOCKETS_LEAVE => {
                json!({"uid": uid, "type": wire::kind::REMOTE_LEAVE, "opts": opts,
                    "rooms": self.field("rooms")})
            }
            kind::DISCONNECT_SOCKETS => {
                json!({"uid": uid, "type": wire::kind::REMOTE_DISCONNECT, "opts": opts,
                    "close": self.field("close")})
            }
            kind::FETCH_SOCKETS => {
                json!({"uid": uid, "type": wire::kind::REMOTE_FETCH, "requestId": request_id,
                    "opts": opts})
            }
            kind::SERVER_SIDE_EMIT => {
                json!({"uid": uid, "type": wire::kind::SERVER_SIDE_EMIT, "requestId": request_id,
                    "data": self.field("packet")})
            }
            _ => return None,
        })
    }

    /// A response in `@socket.io/redis-adapter`'s shape, for the pending requests.
    pub fn as_response(&self) -> Option<Json> {
        let uid = &self.uid;
        let request_id = self.field("requestId");
        Some(match self.ty {
            kind::FETCH_SOCKETS_RESPONSE => {
                json!({"uid": uid, "requestId": request_id, "sockets": self.field("sockets")})
            }
            kind::SERVER_SIDE_EMIT_RESPONSE => {
                json!({"uid": uid, "type": wire::kind::SERVER_SIDE_EMIT,
                    "requestId": request_id, "data": self.field("packet")})
            }
            kind::BROADCAST_CLIENT_COUNT => {
                json!({"uid": uid, "type": wire::kind::BROADCAST_CLIENT_COUNT,
                    "requestId": request_id, "clientCount": self.field("clientCount")})
            }
            kind::BROADCAST_ACK => {
                json!({"uid": uid, "type": wire::kind::BROADCAST_ACK,
                    "requestId": request_id, "packet": self.field("packet")})
            }
            _ => return None,
        })
    }
}

/// Decodes `input` as a pub/sub message and as the `data` field of a stream entry, and turns
/// what decodes into what the adapter would act on (the fuzz target's body; nothing may panic).
pub(crate) fn decode_untrusted(input: &[u8]) {
    if let Ok(m) = decode_message(input) {
        let _ = m.as_request();
        let _ = m.as_response();
        let _ = m.broadcast();
    }
    let fields: [(&[u8], &[u8]); 4] = [
        (b"uid", b"u"),
        (b"nsp", b"/"),
        (b"type", b"3"),
        (b"data", input),
    ];
    if let Ok(m) = decode_entry(fields) {
        let _ = m.as_request();
        let _ = m.broadcast();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Parser;
    use crate::proto::sio::ArgList;
    use crate::server::broadcast_msg::encode_event;

    // Golden values: what @socket.io/redis-streams-adapter 0.3.1 (socket.io 4.8) hands to
    // XADD and PUBLISH, captured with a recording Redis client, the adapter's uid set to `uid1`.

    fn msg(target: Target, event: &str, args: &Json, bins: &[Bytes]) -> BroadcastMsg {
        BroadcastMsg {
            nsp: "/".into(),
            target,
            volatile: false,
            compress: true,
            packets: encode_event(
                Parser::Json,
                "/",
                None,
                event,
                &ArgList(args.as_array().unwrap()),
                bins,
            )
            .unwrap(),
            acks: None,
        }
    }

    fn room(r: &str) -> Target {
        Target {
            rooms: vec![r.into()],
            ..Target::default()
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn text(inc: &Incoming) -> String {
        String::from_utf8(inc.packets[0].eio_payload().to_vec()).unwrap()
    }

    #[test]
    fn names_match_the_node_adapter() {
        let n = Names::new("socket.io", "socket.io");
        assert_eq!(n.stream(), "socket.io");
        assert_eq!(n.public("/"), "socket.io#/#");
        assert_eq!(n.private("/chat", "uid1"), "socket.io#/chat#uid1#");
        assert_eq!(n.public_nsp("socket.io#/chat#"), Some("/chat"));
        assert_eq!(n.public_nsp("socket.io#/#uid1#"), None);
        assert_eq!(n.public_nsp("other#/#"), None);
    }

    #[test]
    fn broadcast_entry_golden() {
        // io.to("r").except("x").emit("news", 1)
        let golden = r#"{"packet":{"type":2,"data":["news",1]},"opts":{"rooms":["r"],"except":["x"],"flags":{}}}"#;
        let mut target = room("r");
        target.except = vec!["x".into()];
        let e = broadcast_entry("uid1", &msg(target, "news", &json!([1]), &[])).unwrap();
        assert_eq!(
            e,
            Entry {
                uid: "uid1".into(),
                nsp: "/".into(),
                ty: 3,
                data: golden.into()
            }
        );
        let fields = e.fields();
        let back = decode_entry(fields.iter().map(|[k, v]| (&k[..], &v[..]))).unwrap();
        assert!(back.is_plain_broadcast());
        let inc = back.broadcast().unwrap();
        assert_eq!(inc.uid, "uid1");
        assert_eq!(inc.target.rooms, ["r"]);
        assert_eq!(inc.target.except, ["x"]);
        assert_eq!(text(&inc), r#"42["news",1]"#);
    }

    #[test]
    fn binary_broadcast_entry_golden() {
        // io.emit("bin", Buffer.from([1, 2]), "t"): base64 msgpack.
        let golden =
            "gqZwYWNrZXSCpHR5cGUCpGRhdGGTo2JpbsQCAQKhdKRvcHRzg6Vyb29tc5CmZXhjZXB0kKVmbGFnc4A=";
        let args = json!([{"_placeholder": true, "num": 0}, "t"]);
        let m = msg(
            Target::default(),
            "bin",
            &args,
            &[Bytes::from_static(&[1, 2])],
        );
        assert_eq!(broadcast_entry("uid1", &m).unwrap().data, golden);
        let fields: [(&[u8], &[u8]); 4] = [
            (b"uid", b"uid1"),
            (b"nsp", b"/chat"),
            (b"type", b"3"),
            (b"data", golden.as_bytes()),
        ];
        let inc = decode_entry(fields).unwrap().broadcast().unwrap();
        assert_eq!(inc.nsp, "/chat", "the namespace of the entry");
        assert_eq!(
            text(&inc),
            r#"451-/chat,["bin",{"_placeholder":true,"num":0},"t"]"#
        );
        assert_eq!(inc.packets[1].eio_payload(), &[1, 2][..]);
    }

    #[test]
    fn room_operation_entries_golden() {
        let t = room("r");
        let join = select_entry("uid1", "/", &t, &RemoteOp::Join(vec!["vip".into()]));
        assert_eq!(join.ty, 4);
        assert_eq!(
            join.data,
            r#"{"opts":{"rooms":["r"],"except":[],"flags":{}},"rooms":["vip"]}"#
        );
        let leave = select_entry("uid1", "/", &t, &RemoteOp::Leave(vec!["vip".into()]));
        assert_eq!((leave.ty, leave.data), (5, join.data.clone()));
        let bye = select_entry("uid1", "/", &t, &RemoteOp::Disconnect(true));
        assert_eq!(bye.ty, 6);
        assert_eq!(
            bye.data,
            r#"{"opts":{"rooms":["r"],"except":[],"flags":{}},"close":true}"#
        );
        let fields = join.fields();
        let req = decode_entry(fields.iter().map(|[k, v]| (&k[..], &v[..])))
            .unwrap()
            .as_request()
            .unwrap();
        assert_eq!(req["type"], wire::kind::REMOTE_JOIN);
        assert_eq!(req["rooms"], json!(["vip"]));
        assert_eq!(req["opts"]["rooms"], json!(["r"]));
    }

    #[test]
    fn pubsub_messages_golden() {
        // io.serverSideEmit("hello", 1)
        let sse = "84a47479706509a46461746181a67061636b657492a568656c6c6f01a3756964a475696431a36e7370a12f";
        assert_eq!(
            emit_request("uid1", "/", None, &json!(["hello", 1])).unwrap(),
            unhex(sse)
        );
        let m = decode_message(&unhex(sse)).unwrap();
        assert_eq!((m.uid.as_str(), m.nsp.as_str(), m.ty), ("uid1", "/", 9));
        let req = m.as_request().unwrap();
        assert_eq!(req["data"], json!(["hello", 1]));
        assert_eq!(req["requestId"], Json::Null);

        // The answer to {type: 9, data: {requestId: "rq3", packet: ["hello"]}} from "other".
        let answer = "84a4747970650aa46461746182a9726571756573744964a3727133a67061636b6574a6616e73776572a3756964a475696431a36e7370a12f";
        let body =
            json!({"type": wire::kind::SERVER_SIDE_EMIT, "requestId": "rq3", "data": "answer"});
        assert_eq!(response("uid1", "/", &body).unwrap(), unhex(answer));
        let resp = decode_message(&unhex(answer))
            .unwrap()
            .as_response()
            .unwrap();
        assert_eq!(resp["data"], "answer");
        assert_eq!(resp["type"], wire::kind::SERVER_SIDE_EMIT);

        // The answer to {type: 7, data: {requestId: "rq", opts: {rooms: [], except: []}}}.
        let fetched = "84a47479706508a46461746182a9726571756573744964a27271a7736f636b65747390a3756964a475696431a36e7370a12f";
        let body = json!({"requestId": "rq", "sockets": []});
        assert_eq!(response("uid1", "/", &body).unwrap(), unhex(fetched));

        // io.to("r").timeout(50).emit("q", 1, cb), request id 24e2d3845f5dba59.
        let ask = "84a47479706503a46461746183a67061636b657482a47479706502a46461746192a17101a9726571756573744964b032346532643338343566356462613539a46f70747383a5726f6f6d7391a172a665786365707490a5666c61677381a774696d656f757432a3756964a475696431a36e7370a12f";
        let m = msg(room("r"), "q", &json!([1]), &[]);
        assert_eq!(
            broadcast_request("uid1", "24e2d3845f5dba59", &m, 50).unwrap(),
            unhex(ask)
        );
        let m = decode_message(&unhex(ask)).unwrap();
        assert!(!m.is_plain_broadcast());
        let req = m.as_request().unwrap();
        let inc = wire::decode_broadcast_request(&req, &m.attachments, 7).unwrap();
        assert_eq!(inc.timeout_ms, Some(50));
        assert_eq!(text(&inc), r#"427["q",1]"#);
    }

    #[test]
    fn requests_and_acks_round_trip() {
        let wire = fetch_request("me", "/", "id1", &room("r")).unwrap();
        let req = decode_message(&wire).unwrap().as_request().unwrap();
        assert_eq!(req["type"], wire::kind::REMOTE_FETCH);
        assert_eq!(req["requestId"], "id1");
        assert_eq!(
            req["opts"],
            json!({"rooms": ["r"], "except": [], "flags": {}})
        );
        let ack = ack_response("me", "/", "id2", br#"[{"ok":true},2]"#).unwrap();
        let resp = decode_message(&ack).unwrap().as_response().unwrap();
        assert_eq!(
            resp,
            json!({"uid": "me", "type": wire::kind::BROADCAST_ACK, "requestId": "id2", "packet": {"ok": true}})
        );
        let count = json!({"type": wire::kind::BROADCAST_CLIENT_COUNT, "requestId": "id3", "clientCount": 2});
        let resp = decode_message(&response("me", "/", &count).unwrap())
            .unwrap()
            .as_response()
            .unwrap();
        assert_eq!(resp["clientCount"], 2);
        assert_eq!(response("me", "/", &json!({"requestId": "x"})), None);
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        let entry = |data: &'static [u8]| {
            decode_entry([
                (&b"uid"[..], &b"u"[..]),
                (b"nsp", b"/"),
                (b"type", b"3"),
                (b"data", data),
            ])
        };
        assert!(matches!(entry(b"{nope"), Err(WireError::Json(_))));
        assert!(matches!(entry(b"!!"), Err(WireError::Shape(_))));
        assert!(
            matches!(entry(b"e30="), Err(WireError::Shape(_))),
            "base64 of {{}}"
        );
        assert!(entry(b"{}").unwrap().broadcast().is_err());
        assert!(matches!(
            decode_entry([(&b"uid"[..], &b"u"[..]), (b"type", b"x")]),
            Err(WireError::Shape("type"))
        ));
        assert!(decode_message(b"{}").is_err());
        assert!(decode_message(b"\x81\xa3uid\xa1u").is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            decode_untrusted(&bytes);
        }
    }
}
