//! Sockets as `fetchSockets` responses carry them between servers:
//! `{id, handshake: {headers, time, address, xdomain, secure, issued, url, query, auth}, rooms,
//! data}`, the shape Node's `RemoteSocket` reads.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value as Json};

use crate::proto::http;
use crate::server::sio::Handshake;
use crate::server::socket_info::SocketInfo;

/// A socket of this server for another server.
pub(crate) fn to_json(s: &SocketInfo) -> Json {
    let h = &s.handshake;
    let mut headers = Map::new();
    for (k, v) in &h.headers {
        // Node lower-cases header names.
        headers.insert(k.to_ascii_lowercase(), Json::String(v.clone()));
    }
    let query: Map<String, Json> = http::query_pairs(&h.query)
        .map(|(k, v)| (k.into_owned(), Json::String(v.into_owned())))
        .collect();
    let issued = h
        .issued
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let url = if h.query.is_empty() {
        h.path.clone()
    } else {
        format!("{}?{}", h.path, h.query)
    };
    json!({
        "id": s.id,
        "handshake": {
            "headers": headers,
            "time": issued.to_string(),
            "address": h.address.map(|a| a.ip().to_string()).unwrap_or_default(),
            "xdomain": h.header("origin").is_some(),
            "secure": false,
            "issued": issued,
            "url": url,
            "query": query,
            "auth": s.auth,
        },
        "rooms": s.rooms,
        "data": s.data,
    })
}

/// A socket another server reported; `None` when it lacks an id.
pub(crate) fn from_json(nsp: &str, v: &Json) -> Option<SocketInfo> {
    let id = v.get("id")?.as_str()?.to_string();
    let rooms = v
        .get("rooms")
        .and_then(Json::as_array)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| match r {
                    Json::String(s) => Some(s.clone()),
                    Json::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let h = v.get("handshake");
    let field = |name: &str| h.and_then(|h| h.get(name));
    let url = field("url").and_then(Json::as_str).unwrap_or_default();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let headers = field("headers")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Json::String(s) => s.clone(),
                        // Node joins repeated headers into arrays.
                        Json::Array(items) => items
                            .iter()
                            .filter_map(Json::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    let address = field("address")
        .and_then(Json::as_str)
        .and_then(|a| a.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 0));
    let issued = field("issued")
        .and_then(Json::as_u64)
        .map_or(UNIX_EPOCH, |ms| UNIX_EPOCH + Duration::from_millis(ms));
    let auth = field("auth").cloned().unwrap_or_else(|| json!({}));
    let data = v.get("data").cloned().unwrap_or_default();
    Some(SocketInfo {
        id,
        nsp: nsp.to_string(),
        rooms,
        auth,
        data,
        handshake: Handshake {
            path: path.to_string(),
            query: query.to_string(),
            headers,
            address,
            issued: if issued == UNIX_EPOCH {
                SystemTime::now()
            } else {
                issued
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_between_servers() {
        let issued = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let s = SocketInfo {
            id: "abc".into(),
            nsp: "/".into(),
            rooms: vec!["abc".into(), "r1".into()],
            handshake: Handshake {
                path: "/socket.io/".into(),
                query: "EIO=4&transport=websocket&name=J%20D".into(),
                headers: vec![("Host".into(), "h:1".into())],
                address: Some("127.0.0.1:5555".parse().unwrap()),
                issued,
            },
            auth: json!({"token": "t"}),
            data: json!({"user": {"name": "ann", "n": 3}}),
        };
        let v = to_json(&s);
        assert_eq!(v["handshake"]["auth"], json!({"token": "t"}));
        assert_eq!(v["data"], json!({"user": {"name": "ann", "n": 3}}));
        assert_eq!(v["handshake"]["query"]["name"], "J D");
        assert_eq!(v["handshake"]["headers"]["host"], "h:1");
        assert_eq!(v["handshake"]["address"], "127.0.0.1");
        assert_eq!(v["handshake"]["issued"], 1_700_000_000_123u64);
        let back = from_json("/", &v).unwrap();
        assert_eq!(back.id, "abc");
        assert_eq!(back.rooms, s.rooms);
        assert_eq!(back.handshake.path, "/socket.io/");
        assert_eq!(back.handshake.query, s.handshake.query);
        assert_eq!(back.handshake.header("HOST"), Some("h:1"));
        assert_eq!(back.handshake.address, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(back.handshake.issued, issued);
        assert_eq!((back.auth, back.data), (s.auth, s.data));
    }

    #[test]
    fn node_shapes_and_gaps() {
        let v = json!({"id": "n1", "rooms": ["n1", 7], "handshake": {
            "headers": {"cookie": ["a=1", "b=2"]}, "address": "::ffff:127.0.0.1", "url": "/x"}});
        let s = from_json("/chat", &v).unwrap();
        assert_eq!(s.nsp, "/chat");
        assert_eq!(s.rooms, ["n1", "7"]);
        assert_eq!(s.handshake.header("cookie"), Some("a=1, b=2"));
        assert!(s.handshake.address.is_some());
        assert_eq!(s.handshake.query, "");
        assert!(from_json("/", &json!({"rooms": []})).is_none());
    }
}
