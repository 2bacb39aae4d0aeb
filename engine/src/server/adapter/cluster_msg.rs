//! The wire format of `createShardedAdapter` (`@socket.io/redis-adapter` 8.2+): its channel
//! names, and socket.io-adapter's `ClusterAdapter` messages `{uid, nsp, type, data}`, sent as
//! JSON unless they hold binary values, then as msgpack (notepack.io) with those values as
//! byte strings. A receiver tells them apart by the first byte (`{` is JSON), as Node does.

use bytes::Bytes;
use serde_json::{json, Value as Json};

use super::convert::{parse, write_mp};
use super::wire::{event_data, kind};
use super::wire_error::WireError;
use crate::config::SubscriptionMode;
use crate::server::broadcast_msg::BroadcastMsg;

/// socket.io-adapter's `MessageType`.
pub(crate) mod ty {
    /// A broadcast (with `data.requestId` when acks are wanted).
    pub const BROADCAST: u64 = 3;
    /// Sockets join rooms.
    pub const SOCKETS_JOIN: u64 = 4;
    /// Sockets leave rooms.
    pub const SOCKETS_LEAVE: u64 = 5;
    /// Sockets are disconnected.
    pub const DISCONNECT_SOCKETS: u64 = 6;
    /// `fetchSockets`.
    pub const FETCH_SOCKETS: u64 = 7;
    /// A server's sockets, answering `fetchSockets`.
    pub const FETCH_SOCKETS_RESPONSE: u64 = 8;
    /// `serverSideEmit` (with `data.requestId` when acks are wanted).
    pub const SERVER_SIDE_EMIT: u64 = 9;
    /// A server's answer to a server-side emit.
    pub const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    /// How many clients a server sent a broadcast with acks to.
    pub const BROADCAST_CLIENT_COUNT: u64 = 11;
    /// One client's ack of a broadcast.
    pub const BROADCAST_ACK: u64 = 12;
}

/// Channel names for one prefix (`channelPrefix`, default `socket.io`).
#[derive(Debug, Clone)]
pub(crate) struct ShardChannels {
    prefix: String,
    mode: SubscriptionMode,
}

impl ShardChannels {
    /// Channels under `prefix` in subscription mode `mode`.
    pub fn new(prefix: &str, mode: SubscriptionMode) -> Self {
        ShardChannels {
            prefix: prefix.to_string(),
            mode,
        }
    }

    /// The channel of `nsp` (`prefix#nsp#`): every server of the namespace listens; its
    /// SHARDNUMSUB counts them.
    pub fn nsp(&self, nsp: &str) -> String {
        format!("{}#{nsp}#", self.prefix)
    }

    /// The channel of one room (`prefix#nsp#room#`), and the response channel of the server
    /// whose uid is `room`, as Node names both.
    pub fn room(&self, nsp: &str, room: &str) -> String {
        format!("{}#{nsp}#{room}#", self.prefix)
    }

    /// Whether `room` has a channel of its own in this mode (Node's
    /// `shouldUseASeparateNamespace`: public rooms in `dynamic`, all in `dynamic-private`).
    pub fn room_has_channel(&self, private: bool) -> bool {
        match self.mode {
            SubscriptionMode::Static => false,
            SubscriptionMode::Dynamic => !private,
            SubscriptionMode::DynamicPrivate => true,
        }
    }

    /// Where a broadcast goes (Node's `computeChannel`): one room's channel for a broadcast
    /// without acks to exactly one room (not one that looks like a socket id in `dynamic`),
    /// else the namespace's.
    pub fn broadcast(&self, nsp: &str, rooms: &[String], with_acks: bool) -> String {
        match (rooms, self.mode) {
            ([room], SubscriptionMode::Dynamic) if !with_acks && room.len() != 20 => {
                self.room(nsp, room)
            }
            ([room], SubscriptionMode::DynamicPrivate) if !with_acks => self.room(nsp, room),
            _ => self.nsp(nsp),
        }
    }
}

/// Encodes `{type, data, uid, nsp}`: JSON, or msgpack when `attachments` (the binary values
/// `data` refers to by placeholder) is not empty.
pub(crate) fn encode(
    uid: &str,
    nsp: &str,
    ty: u64,
    data: Json,
    attachments: &[Bytes],
) -> Result<Vec<u8>, WireError> {
    let msg = json!({"type": ty, "data": data, "uid": uid, "nsp": nsp});
    if attachments.is_empty() {
        return serde_json::to_vec(&msg).map_err(|e| WireError::Json(e.to_string()));
    }
    let mut out = Vec::new();
    write_mp(&mut out, &msg, attachments)?;
    Ok(out)
}

/// The `opts` of a broadcast (`{rooms, except, flags}`), the sender left out of
/// `socket.broadcast` as the room of its own id, as Node sends it.
fn opts(msg: &BroadcastMsg, timeout_ms: Option<u64>) -> Json {
    let t = &msg.target;
    let mut except = t.except.clone();
    if let Some(sid) = &t.except_sid {
        except.push(sid.as_str().to_string());
    }
    let mut flags = serde_json::Map::new();
    if msg.volatile {
        flags.insert("volatile".into(), Json::Bool(true));
    }
    if !msg.compress {
        flags.insert("compress".into(), Json::Bool(false));
    }
    if let Some(ms) = timeout_ms {
        flags.insert("timeout".into(), Json::from(ms));
    }
    json!({"rooms": t.rooms, "except": except, "flags": flags})
}

/// A BROADCAST message for `msg`; with `acks`, `(requestId, timeout ms)`.
pub(crate) fn encode_broadcast(
    uid: &str,
    msg: &BroadcastMsg,
    acks: Option<(&str, u64)>,
) -> Result<Vec<u8>, WireError> {
    let (data, attachments) = event_data(&msg.packets)?;
    let packet = json!({"type": 2, "data": data, "nsp": msg.nsp});
    let mut body = json!({"packet": packet, "opts": opts(msg, acks.map(|a| a.1))});
    if let (Some((id, _)), Some(o)) = (acks, body.as_object_mut()) {
        o.insert("requestId".into(), Json::String(id.to_string()));
    }
    encode(uid, &msg.nsp, ty::BROADCAST, body, &attachments)
}

/// A message from another server.
#[derive(Debug)]
pub(crate) struct Message {
    /// The sender's uid.
    pub uid: String,
    /// Its namespace.
    pub nsp: String,
    /// Its [`ty`].
    pub ty: u64,
    /// Its `data` (binary values as placeholders into `attachments`).
    pub data: Json,
    /// The binary values of a msgpack message, in the order of their placeholders.
    pub attachments: Vec<Bytes>,
}

/// Decodes a message (JSON or msgpack).
pub(crate) fn decode(payload: &[u8]) -> Result<Message, WireError> {
    let (mut v, attachments) = parse(payload)?;
    let text = |v: &Json, field| {
        v.get(field)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or(WireError::Shape(field))
    };
    let uid = text(&v, "uid")?;
    let nsp = text(&v, "nsp")?;
    let ty = v
        .get("type")
        .and_then(Json::as_u64)
        .ok_or(WireError::Shape("type"))?;
    let data = v.get_mut("data").map_or(Json::Null, Json::take);
    Ok(Message {
        uid,
        nsp,
        ty,
        data,
        attachments,
    })
}

impl Message {
    /// A response in the shape [`super::pending::Pending`] reads (the classic adapter's), or
    /// `None` when this is no response.
    pub fn as_response(&self) -> Option<Json> {
        let d = &self.data;
        let id = d.get("requestId").cloned().unwrap_or(Json::Null);
        let field = |name| d.get(name).cloned().unwrap_or(Json::Null);
        let uid = &self.uid;
        Some(match self.ty {
            ty::FETCH_SOCKETS_RESPONSE => {
                json!({"requestId": id, "uid": uid, "sockets": field("sockets")})
            }
            ty::SERVER_SIDE_EMIT_RESPONSE => json!({"type": kind::SERVER_SIDE_EMIT,
                "requestId": id, "uid": uid, "data": field("packet")}),
            ty::BROADCAST_CLIENT_COUNT => json!({"type": kind::BROADCAST_CLIENT_COUNT,
                "requestId": id, "uid": uid, "clientCount": field("clientCount")}),
            ty::BROADCAST_ACK => json!({"type": kind::BROADCAST_ACK,
                "requestId": id, "uid": uid, "packet": field("packet")}),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Parser;
    use crate::proto::sio::ArgList;
    use crate::server::broadcast_msg::encode_event;
    use crate::server::rooms::Target;

    fn msg(rooms: &[&str], args: &Json, bins: &[Bytes]) -> BroadcastMsg {
        BroadcastMsg {
            nsp: "/".to_string(),
            target: Target {
                rooms: rooms.iter().map(|r| r.to_string()).collect(),
                except: vec!["x".into()],
                except_sid: None,
            },
            volatile: false,
            compress: true,
            packets: encode_event(
                Parser::Json,
                "/",
                None,
                "news",
                &ArgList(args.as_array().unwrap()),
                bins,
            )
            .unwrap(),
            acks: None,
        }
    }

    #[test]
    fn channel_names_match_the_sharded_adapter() {
        let s = ShardChannels::new("socket.io", SubscriptionMode::Static);
        let d = ShardChannels::new("socket.io", SubscriptionMode::Dynamic);
        let p = ShardChannels::new("socket.io", SubscriptionMode::DynamicPrivate);
        let sid = "AAAAAAAAAAAAAAAAAAAA".to_string();
        assert_eq!(s.nsp("/chat"), "socket.io#/chat#");
        assert_eq!(s.room("/", "abc"), "socket.io#/#abc#");
        let one = ["r1".to_string()];
        assert_eq!(s.broadcast("/", &one, false), "socket.io#/#");
        assert_eq!(d.broadcast("/", &one, false), "socket.io#/#r1#");
        assert_eq!(
            d.broadcast("/", &one, true),
            "socket.io#/#",
            "acks: all servers"
        );
        let two = ["a".to_string(), "b".to_string()];
        assert_eq!(d.broadcast("/", &two, false), "socket.io#/#");
        assert_eq!(
            d.broadcast("/", std::slice::from_ref(&sid), false),
            "socket.io#/#"
        );
        assert_eq!(
            p.broadcast("/", &[sid], false),
            "socket.io#/#AAAAAAAAAAAAAAAAAAAA#"
        );
        assert!(!s.room_has_channel(false));
        assert!(d.room_has_channel(false) && !d.room_has_channel(true));
        assert!(p.room_has_channel(true));
    }

    #[test]
    fn broadcast_is_json_as_node_writes_it() {
        let m = msg(&["r"], &json!([1]), &[]);
        let wire = encode_broadcast("u1", &m, None).unwrap();
        // JSON.parse of what Node's ClusterAdapter publishes for io.to("r").except("x").emit("news", 1).
        let node: Json = serde_json::from_str(
            r#"{"type":3,"data":{"packet":{"type":2,"data":["news",1],"nsp":"/"},
            "opts":{"rooms":["r"],"except":["x"],"flags":{}}},"uid":"u1","nsp":"/"}"#,
        )
        .unwrap();
        assert_eq!(serde_json::from_slice::<Json>(&wire).unwrap(), node);
        let back = decode(&wire).unwrap();
        assert_eq!((back.uid.as_str(), back.nsp.as_str()), ("u1", "/"));
        assert_eq!(back.ty, ty::BROADCAST);
        assert!(back.as_response().is_none());
    }

    #[test]
    fn binary_goes_as_msgpack_and_back() {
        let args = json!([{"_placeholder": true, "num": 0}]);
        let m = msg(&[], &args, &[Bytes::from_static(&[0xde, 0xad])]);
        let wire = encode_broadcast("u", &m, Some(("req", 500))).unwrap();
        assert_eq!(wire[0] & 0xf0, 0x80, "a msgpack map: {wire:x?}");
        assert!(wire.windows(4).any(|w| w == [0xc4, 2, 0xde, 0xad]), "bin 8");
        let back = decode(&wire).unwrap();
        assert_eq!(back.data["requestId"], "req");
        assert_eq!(back.data["opts"]["flags"]["timeout"], 500);
        assert_eq!(back.attachments, [Bytes::from_static(&[0xde, 0xad])]);
        assert_eq!(
            back.data["packet"]["data"],
            json!(["news", {"_placeholder": true, "num": 0}])
        );
    }

    #[test]
    fn decodes_node_msgpack() {
        // notepack.io's encode({type: 12, data: {requestId: "r", packet: Buffer[7]}, uid: "n", nsp: "/"}).
        let wire = b"\x84\xa4type\x0c\xa4data\x82\xa9requestId\xa1r\xa6packet\xc4\x01\x07\xa3uid\xa1n\xa3nsp\xa1/";
        let m = decode(wire).unwrap();
        assert_eq!(m.ty, ty::BROADCAST_ACK);
        assert_eq!(m.attachments, [Bytes::from_static(&[7])]);
        let r = m.as_response().unwrap();
        assert_eq!(r["type"], kind::BROADCAST_ACK);
        assert_eq!(r["requestId"], "r");
        assert_eq!(r["uid"], "n");
    }

    #[test]
    fn responses_take_the_pending_shape() {
        let wire = br#"{"type":11,"data":{"requestId":"q","clientCount":3},"uid":"n","nsp":"/"}"#;
        let r = decode(wire).unwrap().as_response().unwrap();
        assert_eq!(
            r,
            json!({"type": kind::BROADCAST_CLIENT_COUNT, "requestId": "q", "uid": "n", "clientCount": 3})
        );
        let wire = br#"{"type":10,"data":{"requestId":"q","packet":"ok"},"uid":"n","nsp":"/"}"#;
        let r = decode(wire).unwrap().as_response().unwrap();
        assert_eq!(
            (&r["type"], &r["data"]),
            (&json!(kind::SERVER_SIDE_EMIT), &json!("ok"))
        );
        let wire = br#"{"type":8,"data":{"requestId":"q","sockets":[]},"uid":"n","nsp":"/"}"#;
        assert_eq!(
            decode(wire).unwrap().as_response().unwrap()["sockets"],
            json!([])
        );
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        assert_eq!(
            decode(br#"{"nsp":"/","type":3}"#).unwrap_err(),
            WireError::Shape("uid")
        );
        assert_eq!(
            decode(br#"{"uid":"u","type":3}"#).unwrap_err(),
            WireError::Shape("nsp")
        );
        assert_eq!(
            decode(br#"{"uid":"u","nsp":"/","type":"x"}"#).unwrap_err(),
            WireError::Shape("type")
        );
        assert!(matches!(decode(b"{"), Err(WireError::Json(_))));
        assert!(matches!(decode(b"\xc1"), Err(WireError::Msgpack(_))));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            if let Ok(m) = decode(&bytes) {
                let _ = m.as_response();
            }
        }
    }
}
