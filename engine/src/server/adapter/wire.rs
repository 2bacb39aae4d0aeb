//! The wire format of `@socket.io/redis-adapter` 8.x: channel names, broadcasts as msgpack
//! `[uid, packet, {rooms, except, flags}]`, and requests/responses (JSON, or msgpack for
//! broadcasts with acks), where `packet` is socket.io-parser's object `{type, data, nsp}` with
//! binary arguments as msgpack byte strings.
//!
//! Everything here runs on the adapter's threads, never in a worker: messages are converted
//! through `serde_json::Value` (allocating), which keeps one code path for JSON and msgpack.

use bytes::Bytes;
use serde_json::Value as Json;

use super::convert::{parse, write_mp};
use super::wire_error::WireError;
use crate::config::Parser;
use crate::proto::msgpack;
use crate::proto::sio::ArgList;
use crate::server::broadcast_msg::encode_event_at;
use crate::server::broadcast_msg::BroadcastMsg;
use crate::server::broadcast_msg::Shared;
use crate::server::out::Out;
use crate::server::rooms::Target;

/// The request types between nodes (the adapter's `RequestType`).
pub(crate) mod kind {
    /// Socket ids in rooms (`allSockets`).
    pub const SOCKETS: u64 = 0;
    /// Every room name.
    pub const ALL_ROOMS: u64 = 1;
    /// Sockets join rooms.
    pub const REMOTE_JOIN: u64 = 2;
    /// Sockets leave rooms.
    pub const REMOTE_LEAVE: u64 = 3;
    /// Sockets are disconnected.
    pub const REMOTE_DISCONNECT: u64 = 4;
    /// Details of sockets (`fetchSockets`).
    pub const REMOTE_FETCH: u64 = 5;
    /// An event between servers.
    pub const SERVER_SIDE_EMIT: u64 = 6;
    /// A broadcast with acks.
    pub const BROADCAST: u64 = 7;
    /// How many clients a node sent a broadcast with acks to.
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    /// One client's ack of a broadcast.
    pub const BROADCAST_ACK: u64 = 9;
}

/// Channel names for one key prefix (the adapter's `key` option, default `socket.io`).
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    prefix: String,
}

/// Which of the adapter's patterns a message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelKind {
    /// `prefix#nsp#[room#]`.
    Broadcast,
    /// `prefix-request#nsp#`.
    Request,
    /// `prefix-response#nsp#[uid#]`.
    Response,
}

impl Channels {
    /// Channels under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Channels {
            prefix: prefix.to_string(),
        }
    }

    /// Where a broadcast to `nsp` goes: a room's own channel when it targets exactly one room.
    pub fn broadcast(&self, nsp: &str, rooms: &[String]) -> String {
        match rooms {
            [one] => format!("{}#{nsp}#{one}#", self.prefix),
            _ => format!("{}#{nsp}#", self.prefix),
        }
    }

    /// The request channel of `nsp` (subscribed exactly: Node counts servers with NUMSUB on it).
    pub fn request(&self, nsp: &str) -> String {
        format!("{}-request#{nsp}#", self.prefix)
    }

    /// The response channel of `nsp`.
    pub fn response(&self, nsp: &str) -> String {
        format!("{}-response#{nsp}#", self.prefix)
    }

    /// The namespace of a request channel named exactly.
    pub fn request_nsp<'c>(&self, channel: &'c str) -> Option<&'c str> {
        channel
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix("-request#")?
            .strip_suffix('#')
    }

    /// The three patterns (broadcast, request, response) covering every namespace.
    pub fn patterns(&self) -> [String; 3] {
        let p = glob_escape(&self.prefix);
        [
            format!("{p}#*"),
            format!("{p}-request#*"),
            format!("{p}-response#*"),
        ]
    }

    /// What a message that matched `pattern` on `channel` is, and its namespace.
    pub fn classify<'c>(
        &self,
        pattern: &[u8],
        channel: &'c [u8],
    ) -> Option<(ChannelKind, &'c str)> {
        let [b, req, resp] = self.patterns();
        let (kind, head) = if pattern == b.as_bytes() {
            (ChannelKind::Broadcast, format!("{}#", self.prefix))
        } else if pattern == req.as_bytes() {
            (ChannelKind::Request, format!("{}-request#", self.prefix))
        } else if pattern == resp.as_bytes() {
            (ChannelKind::Response, format!("{}-response#", self.prefix))
        } else {
            return None;
        };
        let rest = std::str::from_utf8(channel.strip_prefix(head.as_bytes())?).ok()?;
        // The namespace runs to the next `#` (namespace names never hold one: the client
        // would send it as a URL fragment).
        let nsp = rest.split('#').next().filter(|n| n.starts_with('/'))?;
        Some((kind, nsp))
    }
}

/// Escapes Redis glob characters so a prefix matches itself only.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `data` array (`[event, ...args]`) of one of our own encoded EVENT packets, as the JSON
/// text our encoder wrote, and its attachments.
pub(super) fn event_text(packets: &[Shared]) -> Result<(&[u8], Vec<Bytes>), WireError> {
    let (first, rest) = packets.split_first().ok_or(WireError::Shape("packets"))?;
    let text = first.eio_payload();
    // Skip the Engine.IO `4` and the header `<type>[<n>-][<nsp>,][<id>]` our encoder wrote.
    let mut at = 1;
    let ty = *text.get(at).ok_or(WireError::Shape("packet"))?;
    at += 1;
    if ty == b'5' {
        while text.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        at += 1;
    }
    if text.get(at) == Some(&b'/') {
        let comma = text
            .get(at..)
            .and_then(|t| t.iter().position(|&b| b == b','))
            .ok_or(WireError::Shape("packet nsp"))?;
        at += comma + 1;
    }
    while text.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    let json = text.get(at..).ok_or(WireError::Shape("packet data"))?;
    let attachments = rest
        .iter()
        .map(|p| match p.out() {
            Out::Text(b) | Out::Binary(b) => b,
        })
        .collect();
    Ok((json, attachments))
}

/// [`event_text`] parsed.
pub(super) fn event_data(packets: &[Shared]) -> Result<(Json, Vec<Bytes>), WireError> {
    let (json, attachments) = event_text(packets)?;
    let data = serde_json::from_slice(json).map_err(|e| WireError::Json(e.to_string()))?;
    Ok((data, attachments))
}

/// Appends socket.io-parser's packet object for our broadcast: `{type: 2, data, nsp}` (Node's
/// encoder turns it into a BINARY_EVENT itself when `data` holds byte strings).
fn write_packet(out: &mut Vec<u8>, msg: &BroadcastMsg) -> Result<(), WireError> {
    let (data, attachments) = event_data(&msg.packets)?;
    msgpack::write_map_len(out, 3);
    msgpack::write_str(out, "type");
    msgpack::write_uint(out, 2);
    msgpack::write_str(out, "data");
    write_mp(out, &data, &attachments)?;
    msgpack::write_str(out, "nsp");
    msgpack::write_str(out, &msg.nsp);
    Ok(())
}

/// Appends `{rooms, except, flags}`; the sender left out of `socket.broadcast` is the room of
/// its own id, as Node sends it.
pub(super) fn write_opts(out: &mut Vec<u8>, msg: &BroadcastMsg, timeout_ms: Option<u64>) {
    let t = &msg.target;
    msgpack::write_map_len(out, 3);
    msgpack::write_str(out, "rooms");
    msgpack::write_array_len(out, t.rooms.len());
    t.rooms.iter().for_each(|r| msgpack::write_str(out, r));
    msgpack::write_str(out, "except");
    let sender = t.except_sid.as_ref().map(|s| s.as_str());
    msgpack::write_array_len(out, t.except.len() + usize::from(sender.is_some()));
    t.except.iter().for_each(|r| msgpack::write_str(out, r));
    if let Some(s) = sender {
        msgpack::write_str(out, s);
    }
    msgpack::write_str(out, "flags");
    // As the Node adapter's flags: `volatile: true` and `compress: false` only when set.
    let flags = [
        msg.volatile.then_some(("volatile", 1)),
        (!msg.compress).then_some(("compress", 0)),
        timeout_ms.map(|ms| ("timeout", ms)),
    ];
    msgpack::write_map_len(out, flags.iter().flatten().count());
    for (name, v) in flags.iter().flatten() {
        msgpack::write_str(out, name);
        match *name {
            "volatile" => msgpack::write_bool(out, true),
            "compress" => msgpack::write_bool(out, false),
            _ => msgpack::write_uint(out, *v),
        }
    }
}

/// A broadcast for the channel [`Channels::broadcast`] names: `[uid, packet, opts]`.
pub(crate) fn encode_broadcast(uid: &str, msg: &BroadcastMsg) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(64 + msg.packets.first().map_or(0, |p| p.eio_payload().len()));
    msgpack::write_array_len(&mut out, 3);
    msgpack::write_str(&mut out, uid);
    write_packet(&mut out, msg)?;
    write_opts(&mut out, msg, None);
    Ok(out)
}

/// A broadcast with acks for the request channel: `{uid, requestId, type: 7, packet, opts}`.
pub(crate) fn encode_broadcast_request(
    uid: &str,
    request_id: &str,
    msg: &BroadcastMsg,
    timeout_ms: u64,
) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    msgpack::write_map_len(&mut out, 5);
    msgpack::write_str(&mut out, "uid");
    msgpack::write_str(&mut out, uid);
    msgpack::write_str(&mut out, "requestId");
    msgpack::write_str(&mut out, request_id);
    msgpack::write_str(&mut out, "type");
    msgpack::write_uint(&mut out, kind::BROADCAST);
    msgpack::write_str(&mut out, "packet");
    write_packet(&mut out, msg)?;
    msgpack::write_str(&mut out, "opts");
    write_opts(&mut out, msg, Some(timeout_ms));
    Ok(out)
}

/// One client's ack for the response channel: `{type: 9, requestId, packet: arg}` in msgpack
/// (the adapter forwards an ack's first argument only).
pub(crate) fn encode_broadcast_ack(request_id: &str, args_json: &[u8]) -> Vec<u8> {
    let first = serde_json::from_slice::<Json>(args_json)
        .ok()
        .and_then(|v| match v {
            Json::Array(mut items) if !items.is_empty() => Some(items.swap_remove(0)),
            _ => None,
        })
        .unwrap_or(Json::Null);
    let mut out = Vec::new();
    msgpack::write_map_len(&mut out, 3);
    msgpack::write_str(&mut out, "type");
    msgpack::write_uint(&mut out, kind::BROADCAST_ACK);
    msgpack::write_str(&mut out, "requestId");
    msgpack::write_str(&mut out, request_id);
    msgpack::write_str(&mut out, "packet");
    // Without attachments a placeholder-shaped object is written as the map it is.
    let _ = write_mp(&mut out, &first, &[]);
    out
}

/// A broadcast from another node, ready for the workers.
#[derive(Debug)]
pub(crate) struct Incoming {
    /// The sending node's uid.
    pub uid: String,
    /// The namespace (from the packet; `/` when absent, as the adapter assumes).
    pub nsp: String,
    /// Who gets it.
    pub target: Target,
    /// Whether receivers that are behind skip it.
    pub volatile: bool,
    /// Whether it may go compressed (the Node adapter's `flags.compress`, unless `false`).
    pub compress: bool,
    /// The EVENT (with `id` when acks are wanted) and its attachments, encoded once.
    pub packets: Vec<Shared>,
    /// The sender's ack timeout (`flags.timeout`), for broadcasts with acks.
    pub timeout_ms: Option<u64>,
}

fn strings(v: Option<&Json>, field: &'static str) -> Result<Vec<String>, WireError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    v.as_array()
        .ok_or(WireError::Shape(field))?
        .iter()
        .map(|r| match r {
            Json::String(s) => Ok(s.clone()),
            // Node allows numeric room names.
            Json::Number(n) => Ok(n.to_string()),
            _ => Err(WireError::Shape(field)),
        })
        .collect()
}

/// The `{rooms, except}` of a request or broadcast as a target.
pub(crate) fn target_of(opts: Option<&Json>) -> Result<Target, WireError> {
    Ok(Target {
        rooms: strings(opts.and_then(|o| o.get("rooms")), "opts.rooms")?,
        except: strings(opts.and_then(|o| o.get("except")), "opts.except")?,
        except_sid: None,
    })
}

/// Encodes `packet` (`{type, data, nsp}`) as our EVENT, with ack id `id` and recovery
/// offset `offset` as its last argument.
pub(crate) fn event_of(
    packet: &Json,
    attachments: &[Bytes],
    id: Option<u64>,
    offset: Option<&str>,
) -> Result<(String, Vec<Shared>), WireError> {
    let ty = packet.get("type").and_then(Json::as_u64);
    if !matches!(ty, Some(2 | 5)) {
        return Err(WireError::Shape("packet.type"));
    }
    let nsp = match packet.get("nsp") {
        None | Some(Json::Null) => "/",
        Some(Json::String(s)) if s.starts_with('/') && !s.contains(',') => s.as_str(),
        Some(_) => return Err(WireError::Shape("packet.nsp")),
    };
    let data = packet
        .get("data")
        .and_then(Json::as_array)
        .ok_or(WireError::Shape("packet.data"))?;
    let (event, args) = data.split_first().ok_or(WireError::Shape("packet.data"))?;
    let event = event.as_str().ok_or(WireError::Shape("packet.data[0]"))?;
    let packets = encode_event_at(
        // The adapter is refused with the msgpack parser (`ServerBuilder::build`).
        Parser::Json,
        nsp,
        id,
        event,
        &ArgList(args),
        attachments,
        offset,
    )
    .map_err(|_| WireError::Shape("packet.data[0]"))?;
    Ok((nsp.to_string(), packets))
}

/// Decodes a message of a broadcast channel.
pub(crate) fn decode_broadcast(payload: &[u8]) -> Result<Incoming, WireError> {
    let (v, attachments) = parse(payload)?;
    let [uid, packet, opts] = v.as_array().map(Vec::as_slice).unwrap_or_default() else {
        return Err(WireError::Shape("message"));
    };
    incoming(uid, packet, opts, &attachments, None, None)
}

/// The broadcast inside a BROADCAST request (`{uid, requestId, type: 7, packet, opts}`),
/// encoded with ack id `id`.
pub(crate) fn decode_broadcast_request(
    request: &Json,
    attachments: &[Bytes],
    id: u64,
) -> Result<Incoming, WireError> {
    let field = |name| request.get(name).unwrap_or(&Json::Null);
    incoming(
        field("uid"),
        field("packet"),
        field("opts"),
        attachments,
        Some(id),
        None,
    )
}

/// A broadcast from its parts: the sender's uid, socket.io-parser's packet object and the
/// `{rooms, except, flags}` options, encoded with ack id `id`, and with recovery offset
/// `offset` as its last argument unless it is volatile or wants acks (the reference's
/// `addOffsetIfNecessary`).
pub(super) fn incoming(
    uid: &Json,
    packet: &Json,
    opts: &Json,
    attachments: &[Bytes],
    id: Option<u64>,
    offset: Option<&str>,
) -> Result<Incoming, WireError> {
    let uid = uid.as_str().ok_or(WireError::Shape("uid"))?.to_string();
    let flags = opts.get("flags");
    let flag = |name| flags.and_then(|f| f.get(name));
    let volatile = flag("volatile").is_some_and(|v| v != &Json::Null && v != &Json::Bool(false));
    let offset = offset.filter(|_| !volatile && id.is_none());
    let (nsp, packets) = event_of(packet, attachments, id, offset)?;
    Ok(Incoming {
        uid,
        nsp,
        target: target_of(Some(opts))?,
        volatile,
        compress: flag("compress") != Some(&Json::Bool(false)),
        packets,
        timeout_ms: flag("timeout").and_then(Json::as_u64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::eio::{Sid, SidRng};
    use crate::server::broadcast_msg::encode_event;

    fn msg(nsp: &str, target: Target, volatile: bool, args: &Json, bins: &[Bytes]) -> BroadcastMsg {
        BroadcastMsg {
            nsp: nsp.to_string(),
            target,
            volatile,
            compress: true,
            packets: encode_event(
                Parser::Json,
                nsp,
                None,
                "news",
                &ArgList(args.as_array().unwrap()),
                bins,
            )
            .unwrap(),
            acks: None,
        }
    }

    fn text(p: &Shared) -> String {
        String::from_utf8(p.eio_payload().to_vec()).unwrap()
    }

    #[test]
    fn channel_names_match_the_node_adapter() {
        let c = Channels::new("socket.io");
        assert_eq!(c.broadcast("/", &[]), "socket.io#/#");
        assert_eq!(c.broadcast("/chat", &["r1".into()]), "socket.io#/chat#r1#");
        assert_eq!(c.broadcast("/", &["a".into(), "b".into()]), "socket.io#/#");
        assert_eq!(c.request("/"), "socket.io-request#/#");
        assert_eq!(c.response("/x"), "socket.io-response#/x#");
        assert_eq!(
            c.patterns(),
            ["socket.io#*", "socket.io-request#*", "socket.io-response#*"]
        );
        assert_eq!(Channels::new("a*b").patterns()[0], "a\\*b#*");
        assert_eq!(
            c.classify(b"socket.io#*", b"socket.io#/chat#room#"),
            Some((ChannelKind::Broadcast, "/chat"))
        );
        assert_eq!(
            c.classify(b"socket.io-response#*", b"socket.io-response#/#abc#"),
            Some((ChannelKind::Response, "/"))
        );
        assert_eq!(c.classify(b"socket.io#*", b"socket.io#nope#"), None);
        assert_eq!(c.request_nsp("socket.io-request#/a#"), Some("/a"));
        assert_eq!(c.request_nsp("socket.io-response#/a#"), None);
        assert_eq!(c.classify(b"other#*", b"socket.io#/#"), None);
    }

    #[test]
    fn broadcast_golden_bytes() {
        // What notepack.io writes for
        // ["uid1", {type: 2, data: ["news", 1], nsp: "/"}, {rooms: ["r"], except: ["x"], flags: {}}].
        let golden = b"\x93\xa4uid1\x83\xa4type\x02\xa4data\x92\xa4news\x01\xa3nsp\xa1/\x83\xa5rooms\x91\xa1r\xa6except\x91\xa1x\xa5flags\x80";
        let target = Target {
            rooms: vec!["r".into()],
            except: vec!["x".into()],
            except_sid: None,
        };
        let m = msg("/", target, false, &serde_json::json!([1]), &[]);
        assert_eq!(encode_broadcast("uid1", &m).unwrap(), golden);
        let back = decode_broadcast(golden).unwrap();
        assert_eq!(back.uid, "uid1");
        assert_eq!(back.nsp, "/");
        assert_eq!(back.target.rooms, ["r"]);
        assert_eq!(back.target.except, ["x"]);
        assert!(!back.volatile);
        assert!(back.compress, "no flag: compressible, as Node's default");
        assert_eq!(text(&back.packets[0]), r#"42["news",1]"#);
    }

    /// `compress(false)` travels as the Node adapter's `flags.compress: false`.
    #[test]
    fn compress_false_round_trips_as_nodes_flag() {
        let mut m = msg("/", Target::default(), false, &serde_json::json!([1]), &[]);
        m.compress = false;
        let wire = encode_broadcast("u", &m).unwrap();
        let flags: &[u8] = &[0xa5, b'f', b'l', b'a', b'g', b's', 0x81, 0xa8];
        assert!(
            wire.windows(flags.len()).any(|w| w == flags),
            "a one-entry flags map: {wire:x?}"
        );
        assert!(wire.ends_with(b"compress\xc2"), "compress: false");
        assert!(!decode_broadcast(&wire).unwrap().compress);
    }

    #[test]
    fn binary_and_namespaces_round_trip() {
        let mut rng = SidRng::new().unwrap();
        let sender = Sid::generate(0, &mut rng);
        let target = Target {
            rooms: Vec::new(),
            except: Vec::new(),
            except_sid: Some(sender),
        };
        let args = serde_json::json!([{"_placeholder": true, "num": 0}, {"k": [-1.5, null, "s"]}]);
        let bins = [Bytes::from_static(&[0xde, 0xad])];
        let m = msg("/chat", target, true, &args, &bins);
        let wire = encode_broadcast("u", &m).unwrap();
        let back = decode_broadcast(&wire).unwrap();
        assert_eq!(back.nsp, "/chat");
        assert!(back.volatile);
        assert_eq!(
            back.target.except,
            [sender.as_str()],
            "sender as an except room"
        );
        assert_eq!(back.packets.len(), 2);
        assert_eq!(
            text(&back.packets[0]),
            r#"451-/chat,["news",{"_placeholder":true,"num":0},{"k":[-1.5,null,"s"]}]"#
        );
        assert_eq!(back.packets[1].eio_payload(), &[0xde, 0xad][..]);
    }

    #[test]
    fn broadcast_request_carries_packet_and_timeout() {
        let m = msg(
            "/",
            Target::default(),
            false,
            &serde_json::json!(["x"]),
            &[],
        );
        let wire = encode_broadcast_request("me", "req1", &m, 1500).unwrap();
        let (v, bins) = parse(&wire).unwrap();
        assert_eq!(v["type"], 7);
        assert_eq!(v["requestId"], "req1");
        assert_eq!(v["opts"]["flags"]["timeout"], 1500);
        let inc = decode_broadcast_request(&v, &bins, 77).unwrap();
        assert_eq!(inc.uid, "me");
        assert_eq!(inc.timeout_ms, Some(1500));
        assert_eq!(text(&inc.packets[0]), r#"4277["news","x"]"#);
    }

    #[test]
    fn acks_carry_the_first_argument() {
        let (v, _) = parse(&encode_broadcast_ack("r9", br#"[{"ok":true},2]"#)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": 9, "requestId": "r9", "packet": {"ok": true}})
        );
        let (v, _) = parse(&encode_broadcast_ack("r9", b"[]")).unwrap();
        assert_eq!(v["packet"], Json::Null);
    }

    #[test]
    fn bad_messages_are_typed_errors() {
        assert!(matches!(
            decode_broadcast(b"\x92\xa1u\xc0"),
            Err(WireError::Shape(_))
        ));
        assert!(matches!(
            decode_broadcast(b"\xc1"),
            Err(WireError::Msgpack(_))
        ));
        assert!(matches!(parse(b"{oops"), Err(WireError::Json(_))));
        let no_event = serde_json::json!({"type": 2, "data": [], "nsp": "/"});
        assert!(event_of(&no_event, &[], None, None).is_err());
        let reserved = serde_json::json!({"type": 2, "data": ["connect"]});
        assert!(event_of(&reserved, &[], None, None).is_err());
        let bad_nsp = serde_json::json!({"type": 2, "data": ["e"], "nsp": "a,b"});
        assert!(event_of(&bad_nsp, &[], None, None).is_err());
        let dangling = serde_json::json!({"_placeholder": true, "num": 3});
        assert!(write_mp(&mut Vec::new(), &dangling, &[]).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = decode_broadcast(&bytes);
            if let Ok((v, bins)) = parse(&bytes) {
                let _ = decode_broadcast_request(&v, &bins, 1);
            }
        }
    }
}
