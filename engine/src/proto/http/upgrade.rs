//! The WebSocket opening handshake (RFC 6455 §4): validating upgrades and computing keys.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::{Method, Request};

/// The GUID RFC 6455 §1.3 appends to the client key before hashing.
const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Why a WebSocket upgrade request was refused (RFC 6455 §4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeError {
    /// The method is not `GET` (405).
    NotGet,
    /// `Upgrade: websocket` or `Connection: upgrade` is missing (426).
    NotUpgrade,
    /// `Sec-WebSocket-Version` is missing or not 13 (426; the response must carry
    /// `Sec-WebSocket-Version: 13`, which [`write_error`](super::write_error) adds).
    BadVersion,
    /// `Sec-WebSocket-Key` is missing, repeated, or not 16 bytes in base64 (400).
    BadKey,
}

impl UpgradeError {
    /// The HTTP status code to refuse the upgrade with.
    pub fn status(&self) -> u16 {
        match self {
            UpgradeError::NotGet => 405,
            UpgradeError::NotUpgrade | UpgradeError::BadVersion => 426,
            UpgradeError::BadKey => 400,
        }
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpgradeError::NotGet => "WebSocket upgrade must use GET",
            UpgradeError::NotUpgrade => "missing Upgrade: websocket or Connection: upgrade",
            UpgradeError::BadVersion => "unsupported Sec-WebSocket-Version (need 13)",
            UpgradeError::BadKey => "missing or invalid Sec-WebSocket-Key",
        })
    }
}

impl std::error::Error for UpgradeError {}

/// Whether the request asks for a WebSocket (`Upgrade: websocket`), valid or not; route such
/// requests to [`validate_upgrade`] rather than to polling.
pub fn is_websocket_upgrade(req: &Request) -> bool {
    req.header_has_token("upgrade", "websocket")
}

/// Checks a WebSocket upgrade request and returns the `Sec-WebSocket-Accept` value to answer
/// with. Checks run in the order of [`UpgradeError`]'s variants; `Host` and HTTP/1.1 were
/// already enforced by [`parse_request`](super::parse_request).
pub fn validate_upgrade(req: &Request) -> Result<String, UpgradeError> {
    if req.method != Method::Get {
        return Err(UpgradeError::NotGet);
    }
    if !is_websocket_upgrade(req) || !req.header_has_token("connection", "upgrade") {
        return Err(UpgradeError::NotUpgrade);
    }
    if req.header("sec-websocket-version") != Some("13") {
        return Err(UpgradeError::BadVersion);
    }
    let mut keys = req
        .headers()
        .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-key"));
    match (keys.next(), keys.next()) {
        (Some((_, key)), None) if is_valid_key(key) => Ok(websocket_accept(key)),
        _ => Err(UpgradeError::BadKey),
    }
}

/// Whether `key` is canonical base64 of exactly 16 bytes (RFC 6455 §4.1).
fn is_valid_key(key: &str) -> bool {
    // 16 bytes encode to 24 characters; decode_slice wants room for its 18-byte estimate.
    let mut decoded = [0u8; 18];
    key.len() == 24 && matches!(STANDARD.decode_slice(key, &mut decoded), Ok(16))
}

/// `base64(sha1(key + GUID))`, the `Sec-WebSocket-Accept` value for a client key.
pub fn websocket_accept(key: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(WEBSOCKET_GUID.as_bytes());
    STANDARD.encode(hasher.finalize())
}

/// A `Sec-WebSocket-Key` for a client handshake from 16 random bytes.
pub fn new_websocket_key(random16: [u8; 16]) -> String {
    STANDARD.encode(random16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::{parse_request, Limits};

    const CHROME_UPGRADE: &str = "GET /socket.io/?EIO=4&transport=websocket&sid=abc%2Fdef HTTP/1.1\r\n\
        Host: localhost:3000\r\n\
        Connection: Upgrade\r\n\
        Pragma: no-cache\r\n\
        Cache-Control: no-cache\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36\r\n\
        Upgrade: websocket\r\n\
        Origin: http://localhost:8080\r\n\
        Sec-WebSocket-Version: 13\r\n\
        Accept-Encoding: gzip, deflate, br, zstd\r\n\
        Accept-Language: en-US,en;q=0.9\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

    fn request(wire: &str) -> Request {
        parse_request(wire.as_bytes(), &Limits::default())
            .expect("valid request")
            .expect("complete request")
    }

    /// The Chrome request with header `name` replaced by `line` (or dropped when empty).
    fn with_header(name: &str, line: &str) -> Request {
        let mut wire = String::new();
        for l in CHROME_UPGRADE.split_inclusive("\r\n") {
            if l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            {
                if !line.is_empty() {
                    wire.push_str(line);
                    wire.push_str("\r\n");
                }
            } else {
                wire.push_str(l);
            }
        }
        request(&wire)
    }

    /// RFC 6455 §1.3's worked example. (The task brief quoted `...TxaK9kOdMHxrVmLxmzo=`,
    /// which is not what SHA-1 gives; the RFC, MDN and every browser agree on this value.)
    #[test]
    fn rfc_6455_accept_golden() {
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn chrome_upgrade_validates() {
        let req = request(CHROME_UPGRADE);
        assert!(is_websocket_upgrade(&req));
        assert_eq!(
            validate_upgrade(&req).as_deref(),
            Ok("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        assert_eq!(req.query_param("sid").as_deref(), Some("abc/def"));
        assert_eq!(req.query_param("transport").as_deref(), Some("websocket"));
    }

    #[test]
    fn header_case_and_lists_are_tolerated() {
        let req = with_header("connection", "connection: keep-alive, upgrade");
        assert!(validate_upgrade(&req).is_ok());
        let req = with_header("upgrade", "UPGRADE: WebSocket");
        assert!(validate_upgrade(&req).is_ok());
    }

    #[test]
    fn each_refusal_with_its_status() {
        let post = request(&CHROME_UPGRADE.replacen("GET", "POST", 1));
        assert_eq!(validate_upgrade(&post), Err(UpgradeError::NotGet));
        assert_eq!(UpgradeError::NotGet.status(), 405);

        for req in [
            with_header("upgrade", ""),
            with_header("upgrade", "Upgrade: h2c"),
            with_header("connection", ""),
            with_header("connection", "Connection: keep-alive"),
        ] {
            assert_eq!(validate_upgrade(&req), Err(UpgradeError::NotUpgrade));
        }
        assert!(!is_websocket_upgrade(&with_header("upgrade", "")));
        assert_eq!(UpgradeError::NotUpgrade.status(), 426);

        for line in [
            "",
            "Sec-WebSocket-Version: 8",
            "Sec-WebSocket-Version: 13, 8",
        ] {
            let req = with_header("sec-websocket-version", line);
            assert_eq!(
                validate_upgrade(&req),
                Err(UpgradeError::BadVersion),
                "{line:?}"
            );
        }
        assert_eq!(UpgradeError::BadVersion.status(), 426);

        for line in [
            "",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==AA",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j!Q==",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ] {
            let req = with_header("sec-websocket-key", line);
            assert_eq!(validate_upgrade(&req), Err(UpgradeError::BadKey), "{line:?}");
        }
        assert_eq!(UpgradeError::BadKey.status(), 400);
    }

    #[test]
    fn client_keys_are_valid_server_keys() {
        let key = new_websocket_key(*b"the sample nonce");
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
        assert!(is_valid_key(&new_websocket_key([0xff; 16])));
    }
}
