//! The open (handshake) packet: written by the server, parsed by our Rust client.

use serde::Deserialize;

use super::packet::{EioError, PacketType};

/// The reference server's `maxPayload` default in bytes, assumed when an open packet omits it.
pub const DEFAULT_MAX_PAYLOAD: usize = 1_000_000;

/// Session parameters the server announces in its open packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenInfo<'a> {
    /// The session id.
    pub sid: &'a str,
    /// Transports the client may upgrade to: `["websocket"]` on polling, empty on WebSocket.
    pub upgrades: &'a [&'a str],
    /// How often the server pings, in milliseconds (reference default 25000).
    pub ping_interval_ms: u64,
    /// How long the server waits for a pong, in milliseconds (reference default 20000).
    pub ping_timeout_ms: u64,
    /// Largest polling payload the server accepts, in bytes (reference default 1000000).
    pub max_payload: usize,
}

/// An open packet as parsed by a client, owning its strings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct OpenOwned {
    /// The session id.
    pub sid: String,
    /// Transports the client may upgrade to.
    pub upgrades: Vec<String>,
    /// How often the server pings, in milliseconds.
    #[serde(rename = "pingInterval")]
    pub ping_interval_ms: u64,
    /// How long the server waits for a pong, in milliseconds.
    #[serde(rename = "pingTimeout")]
    pub ping_timeout_ms: u64,
    /// Largest polling payload the server accepts, in bytes; [`DEFAULT_MAX_PAYLOAD`] if absent.
    #[serde(rename = "maxPayload", default = "default_max_payload")]
    pub max_payload: usize,
}

fn default_max_payload() -> usize {
    DEFAULT_MAX_PAYLOAD
}

/// Appends the whole open packet, leading `0` included, with keys in the reference order:
///
/// ```text
/// 0{"sid":"…","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}
/// ```
pub fn encode_open(out: &mut Vec<u8>, info: &OpenInfo<'_>) {
    out.push(PacketType::Open.as_byte());
    out.extend_from_slice(br#"{"sid":"#);
    write_json_str(out, info.sid);
    out.extend_from_slice(br#","upgrades":["#);
    for (i, upgrade) in info.upgrades.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(out, upgrade);
    }
    out.extend_from_slice(br#"],"pingInterval":"#);
    write_u64(out, info.ping_interval_ms);
    out.extend_from_slice(br#","pingTimeout":"#);
    write_u64(out, info.ping_timeout_ms);
    out.extend_from_slice(br#","maxPayload":"#);
    write_u64(out, u64::try_from(info.max_payload).unwrap_or(u64::MAX));
    out.push(b'}');
}

/// Parses the data of an open packet (the JSON after the `0`), as a client does.
///
/// Unknown keys are ignored; `maxPayload` is optional, every other key is required.
pub fn parse_open(data: &[u8]) -> Result<OpenOwned, EioError> {
    serde_json::from_slice(data).map_err(|_| EioError::BadOpen)
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(br#"\""#),
            b'\\' => out.extend_from_slice(br"\\"),
            0..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        start -= 1;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;

    fn spec_info() -> OpenInfo<'static> {
        OpenInfo {
            sid: "lv_VI97HAXpY6yYWAAAC",
            upgrades: &["websocket"],
            ping_interval_ms: 25000,
            ping_timeout_ms: 20000,
            max_payload: 1_000_000,
        }
    }

    #[test]
    fn golden_open() {
        let mut out = Vec::new();
        encode_open(&mut out, &spec_info());
        assert_eq!(std::str::from_utf8(&out).unwrap(), SPEC);
    }

    #[test]
    fn websocket_open_has_no_upgrades() {
        let mut out = Vec::new();
        let info = OpenInfo {
            upgrades: &[],
            ping_interval_ms: 300,
            ping_timeout_ms: 200,
            max_payload: 0,
            ..spec_info()
        };
        encode_open(&mut out, &info);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":0}"#
        );
    }

    #[test]
    fn parse_round_trips() {
        let parsed = parse_open(&SPEC.as_bytes()[1..]).unwrap();
        assert_eq!(
            parsed,
            OpenOwned {
                sid: "lv_VI97HAXpY6yYWAAAC".into(),
                upgrades: vec!["websocket".into()],
                ping_interval_ms: 25000,
                ping_timeout_ms: 20000,
                max_payload: 1_000_000,
            }
        );
    }

    #[test]
    fn escapes_and_extremes_round_trip() {
        let info = OpenInfo {
            sid: "a\"b\\c\n\u{1}é",
            upgrades: &["websocket", "x"],
            ping_interval_ms: u64::MAX,
            ping_timeout_ms: 0,
            max_payload: 7,
        };
        let mut out = Vec::new();
        encode_open(&mut out, &info);
        let parsed = parse_open(&out[1..]).unwrap();
        assert_eq!(parsed.sid, info.sid);
        assert_eq!(parsed.upgrades, ["websocket", "x"]);
        assert_eq!(parsed.ping_interval_ms, u64::MAX);
        assert_eq!(parsed.ping_timeout_ms, 0);
        assert_eq!(parsed.max_payload, 7);
    }

    #[test]
    fn parse_defaults_and_errors() {
        let old = br#"{"sid":"s","upgrades":[],"pingInterval":1,"pingTimeout":2,"extra":true}"#;
        assert_eq!(parse_open(old).unwrap().max_payload, DEFAULT_MAX_PAYLOAD);
        assert_eq!(parse_open(b""), Err(EioError::BadOpen));
        assert_eq!(parse_open(b"{}"), Err(EioError::BadOpen));
        assert_eq!(parse_open(br#"{"sid":1}"#), Err(EioError::BadOpen));
        let negative = br#"{"sid":"s","upgrades":[],"pingInterval":-1,"pingTimeout":2}"#;
        assert_eq!(parse_open(negative), Err(EioError::BadOpen));
    }
}
