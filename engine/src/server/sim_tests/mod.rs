//! The server's sessions on one simulated worker ([`Sim`]) on virtual time: what was only
//! tested over real sockets with the wall clock (heartbeats, the upgrade, polling, timeouts,
//! slow consumers, shutdown) tested exactly, without sleeping. The peers here speak the wire
//! protocol byte for byte, as the stock clients do.

mod acks;
mod admin;
mod attachments;
mod budget;
mod connect_timeout;
mod eio3;
mod heartbeat;
mod mailbox;
mod msgpack;
mod polling;
mod queue_age;
mod recovery;
mod recovery_later;
mod shutdown;
mod slow_consumer;
mod upgrade;

use std::time::Duration;

use crate::proto::http::{self, BodyKind, Limits};
use crate::proto::ws::{self, CloseCode, Decoder, Message, OpCode, Role};
use crate::runtime::{Sim, SimConn};

use super::service::Router;

/// Milliseconds of virtual time.
pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a peer read from the server on a WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Got {
    Text(String),
    Binary(Vec<u8>),
    Close(Option<u16>),
}

/// An Engine.IO peer over WebSocket.
pub(super) struct WsPeer {
    pub conn: SimConn,
    dec: Decoder,
    buf: Vec<u8>,
}

impl WsPeer {
    /// Opens `/socket.io/?EIO=4&transport=websocket` (plus `query`) and reads the 101.
    pub fn open(sim: &mut Sim<Router>, query: &str) -> WsPeer {
        let conn = sim.connect();
        let path = format!("/socket.io/?EIO=4&transport=websocket{query}");
        WsPeer::upgrade(sim, conn, &path)
    }

    /// Sends a WebSocket upgrade for `path` on `conn` and reads the 101.
    pub fn upgrade(sim: &mut Sim<Router>, conn: SimConn, path: &str) -> WsPeer {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        sim.send(conn, req.as_bytes());
        let out = sim.take(conn);
        let head = http::parse_response(&out, &Limits::default())
            .expect("a response")
            .expect("a whole head");
        assert_eq!(head.status, 101, "{}", String::from_utf8_lossy(&out));
        WsPeer {
            conn,
            dec: Decoder::new(Role::Client, 1 << 24),
            buf: out[head.head_len..].to_vec(),
        }
    }

    /// Sends one text frame.
    pub fn send(&self, sim: &mut Sim<Router>, text: &str) {
        let mut frame = Vec::new();
        ws::encode_masked_frame(&mut frame, OpCode::Text, text.as_bytes(), [1, 2, 3, 4]);
        sim.send(self.conn, &frame);
    }

    /// Sends one binary frame.
    pub fn send_binary(&self, sim: &mut Sim<Router>, data: &[u8]) {
        let mut frame = Vec::new();
        ws::encode_masked_frame(&mut frame, OpCode::Binary, data, [5, 6, 7, 8]);
        sim.send(self.conn, &frame);
    }

    /// Every message the server sent since the last call.
    pub fn read(&mut self, sim: &mut Sim<Router>) -> Vec<Got> {
        self.buf.extend(sim.take(self.conn));
        let mut got = Vec::new();
        let mut pos = 0;
        loop {
            let d = self.dec.decode(&mut self.buf[pos..]).expect("valid frames");
            if d.consumed == 0 && d.message.is_none() {
                break;
            }
            pos += d.consumed;
            match d.message {
                Some(Message::Text(t)) => {
                    got.push(Got::Text(String::from_utf8_lossy(t).into_owned()))
                }
                Some(Message::Binary(b)) => got.push(Got::Binary(b.to_vec())),
                Some(Message::Close(c)) => got.push(Got::Close(c.map(|c| c.code.0))),
                Some(Message::Ping(_) | Message::Pong(_)) | None => {}
            }
        }
        self.buf.drain(..pos);
        got
    }

    /// The texts among [`WsPeer::read`].
    pub fn texts(&mut self, sim: &mut Sim<Router>) -> Vec<String> {
        self.read(sim)
            .into_iter()
            .filter_map(|g| match g {
                Got::Text(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// Reads the open packet and joins namespace `/`; returns the Socket.IO id.
    pub fn connect_sio(&mut self, sim: &mut Sim<Router>) -> String {
        let open = self.texts(sim);
        assert!(
            matches!(open.first(), Some(t) if t.starts_with("0{")),
            "{open:?}"
        );
        self.send(sim, "40");
        let got = self.texts(sim);
        let connect = got.first().expect("a CONNECT answer");
        let v: serde_json::Value =
            serde_json::from_str(connect.strip_prefix("40").expect("40{...}")).unwrap();
        v["sid"].as_str().unwrap().to_string()
    }
}

/// An HTTP exchange on `conn`: sends `request` and parses the whole response.
pub(super) fn exchange(sim: &mut Sim<Router>, conn: SimConn, request: &str) -> (u16, String) {
    sim.send(conn, request.as_bytes());
    response(sim, conn).expect("a complete response")
}

/// The complete response `conn` received, if one is there.
pub(super) fn response(sim: &mut Sim<Router>, conn: SimConn) -> Option<(u16, String)> {
    let out = sim.take(conn);
    let head = http::parse_response(&out, &Limits::default()).ok()??;
    let body = &out[head.head_len..];
    if let BodyKind::Length(n) = head.body {
        assert_eq!(body.len(), n, "the whole body arrived at once");
    }
    Some((head.status, String::from_utf8_lossy(body).into_owned()))
}

/// The close code of the WebSocket's end.
pub(super) const NORMAL: Got = Got::Close(Some(CloseCode::NORMAL.0));
