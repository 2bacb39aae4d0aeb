//! Sockets and dates as the admin UI reads them: the reference's `serialize(socket, nsp)` shape
//! (`{id, clientId, transport, nsp, data, handshake, rooms}`) and `new Date()` in JSON (ISO 8601
//! in UTC with milliseconds).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value as Json};

use crate::server::adapter::sockets;
use crate::server::socket_info::SocketInfo;

/// How a socket's connection is carried, as the admin UI names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Carrier {
    /// The first 12 characters of the connection's id, shared by its sockets in every
    /// namespace (the reference's `clientId.substring(0, 12)`).
    pub client_id: String,
    /// `polling` or `websocket`.
    pub transport: &'static str,
}

/// `s` as `socket_connected` and `all_sockets` carry it. `carrier` is `None` for a socket of
/// another server, whose `data._admin` (set by a Node server's `instrument`) says it instead.
pub(crate) fn socket(s: &SocketInfo, carrier: Option<&Carrier>) -> Json {
    let mut full = sockets::to_json(s);
    let mut handshake = full["handshake"].take();
    if let Some(h) = handshake.as_object_mut() {
        // The reference leaves out auth (it may hold the admin's password).
        h.remove("auth");
    }
    let (data, admin) = split_data(&s.data);
    let (client_id, transport) = match carrier {
        Some(c) => (json!(c.client_id), json!(c.transport)),
        None => (admin["clientId"].clone(), admin["transport"].clone()),
    };
    let mut out = json!({
        "id": s.id,
        "nsp": s.nsp,
        "data": data,
        "handshake": handshake,
        "rooms": s.rooms,
    });
    // `undefined` fields vanish from the reference's JSON.
    if !client_id.is_null() {
        out["clientId"] = client_id;
    }
    if !transport.is_null() {
        out["transport"] = transport;
    }
    out
}

/// The application's part of a socket's data, and the `_admin` part a Node server keeps
/// beside it (the reference's `serializeData`, whose `socket.data` starts as `{}`).
pub(crate) fn split_data(data: &Json) -> (Json, Json) {
    match data {
        Json::Null => (json!({}), Json::Null),
        Json::Object(m) => {
            let mut m = m.clone();
            let admin = m.remove("_admin").unwrap_or_default();
            (Json::Object(m), admin)
        }
        other => (other.clone(), Json::Null),
    }
}

/// `t` as JSON writes a JavaScript `Date`: `2021-05-04T10:20:30.456Z`.
pub(crate) fn iso_date(t: SystemTime) -> String {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let (secs, millis) = ((ms / 1000) as i64, (ms % 1000) as u32);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sio::Handshake;
    use std::time::Duration;

    #[test]
    fn dates_read_as_javascript_writes_them() {
        let at = |ms: u64| iso_date(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        // new Date(1620123630456).toJSON()
        assert_eq!(at(1_620_123_630_456), "2021-05-04T10:20:30.456Z");
        // A leap day: new Date(951782400000).toJSON()
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn a_socket_reads_as_the_reference_serializes_it() {
        let s = SocketInfo {
            id: "abc".into(),
            nsp: "/chat".into(),
            rooms: vec!["abc".into(), "r1".into()],
            handshake: Handshake {
                path: "/socket.io/".into(),
                query: "EIO=4&transport=polling".into(),
                headers: vec![("Host".into(), "x".into())],
                address: Some("127.0.0.1:5000".parse().unwrap()),
                issued: UNIX_EPOCH + Duration::from_millis(1000),
            },
            auth: json!({"password": "secret"}),
            data: json!({"user": "ann", "_admin": {"clientId": "other"}}),
        };
        let carrier = Carrier {
            client_id: "0123456789ab".into(),
            transport: "websocket",
        };
        let v = socket(&s, Some(&carrier));
        assert_eq!(v["clientId"], "0123456789ab");
        assert_eq!(v["transport"], "websocket");
        assert_eq!(v["data"], json!({"user": "ann"}));
        assert_eq!(v["rooms"], json!(["abc", "r1"]));
        assert_eq!(v["handshake"]["address"], "127.0.0.1");
        assert_eq!(v["handshake"]["headers"]["host"], "x");
        assert_eq!(v["handshake"]["query"]["transport"], "polling");
        assert_eq!(v["handshake"]["issued"], 1000);
        assert_eq!(v["handshake"]["url"], "/socket.io/?EIO=4&transport=polling");
        assert!(v["handshake"].get("auth").is_none());
        // A Node server's socket says its carrier in data._admin.
        let v = socket(&s, None);
        assert_eq!(v["clientId"], "other");
        assert!(v.get("transport").is_none());
    }
}
