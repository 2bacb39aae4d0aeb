//! Connection state recovery in the streams adapter's format, as
//! `@socket.io/redis-streams-adapter` 0.3 keeps it: a lost socket's session is the base64 of
//! msgpack `{sid, pid, rooms, data}` under `sessionKeyPrefix + pid` (`sio:session:` by
//! default), and the packets it missed are the broadcast entries of the stream after its
//! offset (the entry id its last packet carried) that its rooms would have got.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::Value as Json;

use super::cluster_msg::ty as kind;
use super::convert::{parse, write_mp};
use super::streams_wire::Message;
use super::wire_error::WireError;
use crate::proto::msgpack;
use crate::server::broadcast_msg::Shared;

/// The Node adapter's `sessionKeyPrefix`.
pub(crate) const SESSION_KEY_PREFIX: &str = "sio:session:";

/// A lost socket's session as stored in Redis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredSession {
    pub sid: String,
    pub pid: String,
    /// Its rooms, its own id's room among them.
    pub rooms: Vec<String>,
    /// `socket.data` (Node's default is `{}`).
    pub data: Json,
}

/// The Redis key of session `pid`.
pub(crate) fn session_key(pid: &str) -> String {
    format!("{SESSION_KEY_PREFIX}{pid}")
}

/// The value Node SETs: base64 of msgpack `{sid, pid, rooms, data}`, in that order.
pub(crate) fn encode_session(s: &StoredSession) -> Result<String, WireError> {
    let mut out = Vec::with_capacity(64 + s.rooms.iter().map(|r| r.len() + 2).sum::<usize>());
    msgpack::write_map_len(&mut out, 4);
    msgpack::write_str(&mut out, "sid");
    msgpack::write_str(&mut out, &s.sid);
    msgpack::write_str(&mut out, "pid");
    msgpack::write_str(&mut out, &s.pid);
    msgpack::write_str(&mut out, "rooms");
    msgpack::write_array_len(&mut out, s.rooms.len());
    for r in &s.rooms {
        msgpack::write_str(&mut out, r);
    }
    msgpack::write_str(&mut out, "data");
    write_mp(&mut out, &s.data, &[])?;
    Ok(BASE64.encode(out))
}

/// Decodes a stored session (any server's); `sid` and `pid` must be strings and `rooms` an
/// array of strings, as Node writes them.
pub(crate) fn decode_session(text: &[u8]) -> Result<StoredSession, WireError> {
    let bytes = BASE64
        .decode(text)
        .map_err(|_| WireError::Shape("session base64"))?;
    let (v, _) = parse(&bytes)?;
    let string = |name: &'static str| {
        v.get(name)
            .and_then(Json::as_str)
            .map(str::to_string)
            .ok_or(WireError::Shape(name))
    };
    let rooms = v
        .get("rooms")
        .and_then(Json::as_array)
        .ok_or(WireError::Shape("rooms"))?
        .iter()
        .map(|r| {
            r.as_str()
                .map(str::to_string)
                .ok_or(WireError::Shape("rooms"))
        })
        .collect::<Result<_, _>>()?;
    Ok(StoredSession {
        sid: string("sid")?,
        pid: string("pid")?,
        rooms,
        data: v.get("data").cloned().unwrap_or(Json::Null),
    })
}

/// Whether `offset` has the shape of a stream entry id (`ms-seq`), as Node checks it before
/// asking Redis.
pub(crate) fn is_entry_id(offset: &str) -> bool {
    let Some((ms, seq)) = offset.split_once('-') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(ms) && digits(seq)
}

/// The id right after entry `id` (Node's `nextOffset`: XRANGE's exclusive start before Redis
/// 6.2); `None` when `id` is not an entry id.
pub(crate) fn next_entry_id(id: &str) -> Option<String> {
    let (ms, seq) = id.split_once('-')?;
    let seq: u64 = seq.parse().ok()?;
    Some(format!("{ms}-{}", seq.checked_add(1)?))
}

/// The packet of entry `id` (its id appended as the offset) if a session of `nsp` in `rooms`
/// missed it: a broadcast of `nsp` for one of its rooms (or everyone) and not excluding any
/// of them, as Node's `shouldIncludePacket`, and not volatile (the reference never gives a
/// volatile packet an offset).
pub(crate) fn missed_packet(
    m: &Message,
    id: &str,
    nsp: &str,
    rooms: &[String],
) -> Result<Option<Vec<Shared>>, WireError> {
    if m.nsp != nsp || m.ty != kind::BROADCAST || !m.is_plain_broadcast() {
        return Ok(None);
    }
    let inc = m.broadcast_at(Some(id))?;
    let t = &inc.target;
    let included = t.rooms.is_empty() || rooms.iter().any(|r| t.rooms.contains(r));
    let excluded = rooms.iter().any(|r| t.except.contains(r));
    Ok((included && !excluded && !inc.volatile).then_some(inc.packets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::adapter::streams_wire::decode_entry;
    use serde_json::json;

    /// Captured from Node: `Buffer.from(msgpack.encode({sid, pid, rooms, data: {}}))
    /// .toString("base64")`, as the adapter's `persistSession` SETs it.
    const NODE_SESSION: &str = "hKNzaWS0c2lkX0FBQUFBQUFBQUFBQUFBQUGjcGlktHBpZF9CQkJCQkJCQkJCQkJCQkJCpXJvb21zkrRzaWRfQUFBQUFBQUFBQUFBQUFBQaVyb29tMaRkYXRhgA==";
    const NODE_SESSION_DATA: &str = "hKNzaWShc6NwaWShcKVyb29tc5Ghc6RkYXRhgqR1c2Vyo2FubqFuAw==";

    #[test]
    fn sessions_are_stored_as_node_stores_them() {
        let s = StoredSession {
            sid: "sid_AAAAAAAAAAAAAAAA".into(),
            pid: "pid_BBBBBBBBBBBBBBBB".into(),
            rooms: vec!["sid_AAAAAAAAAAAAAAAA".into(), "room1".into()],
            data: json!({}),
        };
        assert_eq!(encode_session(&s).unwrap(), NODE_SESSION);
        assert_eq!(decode_session(NODE_SESSION.as_bytes()).unwrap(), s);
        let d = decode_session(NODE_SESSION_DATA.as_bytes()).unwrap();
        assert_eq!(d.data, json!({"user": "ann", "n": 3}));
        assert_eq!((d.sid.as_str(), d.pid.as_str()), ("s", "p"));
        let again = encode_session(&d).unwrap();
        assert_eq!(decode_session(again.as_bytes()).unwrap(), d);
        assert_eq!(session_key("p1"), "sio:session:p1");
        assert!(decode_session(b"not base64!").is_err());
        assert!(decode_session(b"gA==").is_err(), "{{}}: no sid");
    }

    #[test]
    fn offsets_are_entry_ids() {
        assert!(is_entry_id("1700000000000-0"));
        assert!(!is_entry_id("12"));
        assert!(!is_entry_id("1-"));
        assert!(!is_entry_id("a-1"));
        assert_eq!(next_entry_id("5-9").as_deref(), Some("5-10"));
        assert_eq!(next_entry_id("5-x"), None);
    }

    fn entry(data: &str) -> Message {
        let fields: [(&[u8], &[u8]); 4] = [
            (b"uid", b"node"),
            (b"nsp", b"/"),
            (b"type", b"3"),
            (b"data", data.as_bytes()),
        ];
        decode_entry(fields).unwrap()
    }

    fn text(p: &[Shared]) -> String {
        String::from_utf8(p[0].eio_payload().to_vec()).unwrap()
    }

    /// Entries as the Node adapter writes them: a session in `r` gets those for `r` or for
    /// everyone, with the entry id as the last argument; not those for other rooms, excluding
    /// it, volatile, or of another namespace.
    #[test]
    fn a_session_gets_the_entries_its_rooms_would_have_got() {
        let rooms = vec!["me".to_string(), "r".to_string()];
        let data = |opts: &str| {
            format!(
                "{{\"packet\":{{\"type\":2,\"data\":[\"news\",1],\"nsp\":\"/\"}},\"opts\":{opts}}}"
            )
        };
        let got = |opts: &str| {
            missed_packet(&entry(&data(opts)), "7-1", "/", &rooms)
                .unwrap()
                .map(|p| text(&p))
        };
        assert_eq!(
            got("{\"rooms\":[\"r\"],\"except\":[],\"flags\":{}}").as_deref(),
            Some("42[\"news\",1,\"7-1\"]")
        );
        assert!(got("{\"rooms\":[],\"except\":[],\"flags\":{}}").is_some());
        assert!(got("{\"rooms\":[\"other\"],\"except\":[],\"flags\":{}}").is_none());
        assert!(got("{\"rooms\":[],\"except\":[\"me\"],\"flags\":{}}").is_none());
        assert!(got("{\"rooms\":[],\"except\":[],\"flags\":{\"volatile\":true}}").is_none());
        let m = entry(&data("{\"rooms\":[],\"except\":[],\"flags\":{}}"));
        assert!(missed_packet(&m, "7-1", "/chat", &rooms).unwrap().is_none());
    }
}
