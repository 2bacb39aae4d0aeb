//! A Socket.IO connection for the scenarios: the engine's sans-IO [`ClientConn`] joined to one
//! namespace, with its events reduced to what scenarios act on and its endings mapped to
//! [`Failure`]s.

use volley::client::Lane;
use volley::client::{ClientConn, ClientError, ClientEvent, DisconnectReason};

use crate::clock::Now;
use crate::failure::Failure;
use crate::scenario::Settings;

/// What a scenario hears.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// The namespace CONNECT was accepted.
    Connected,
    /// An event; `args_json` is the array after the name.
    Event {
        /// Event name.
        name: String,
        /// Arguments as a JSON array.
        args_json: Vec<u8>,
    },
    /// An ack for emit `id`.
    Ack {
        /// The emit's ack id.
        id: u64,
        /// Arguments as a JSON array.
        args_json: Vec<u8>,
    },
}

/// One Socket.IO connection.
#[derive(Debug)]
pub struct SioConn {
    /// The protocol state machine; scenarios emit through it.
    pub conn: ClientConn,
    /// The namespace joined.
    pub nsp: String,
    /// permessage-deflate is required (`--deflate`): a server that declines fails the
    /// connection rather than measuring something else.
    deflate: bool,
}

impl SioConn {
    /// Starts connection `index` at `now` and asks for the namespace of `settings` (sent once
    /// the Engine.IO session opens).
    pub fn new(settings: &Settings, index: u64, now: Now) -> Self {
        let seed = index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ now.ns;
        let mut conn = ClientConn::new(&settings.sio, now.at, seed);
        conn.connect_namespace(&settings.nsp, None);
        Self {
            conn,
            nsp: settings.nsp.clone(),
            deflate: settings.deflate,
        }
    }

    /// Feeds input, draining what was used.
    pub fn feed(&mut self, input: &mut Vec<u8>, now: Now) -> Result<(), Failure> {
        match self.conn.handle_input(Lane::WebSocket, input, now.at) {
            Ok(used) => {
                input.drain(..used.min(input.len()));
                Ok(())
            }
            Err(e) => Err(client_failure(&e)),
        }
    }

    /// The next event that matters, or the failure that ended the connection.
    pub fn next(&mut self) -> Result<Option<Heard>, Failure> {
        while let Some(event) = self.conn.poll_event() {
            match event {
                ClientEvent::Open { .. } if self.deflate && !self.conn.is_deflating() => {
                    return Err(Failure::Connect(
                        "the server declined permessage-deflate".into(),
                    ))
                }
                ClientEvent::Open { .. } => {}
                ClientEvent::Connected { nsp, .. } if nsp == self.nsp => {
                    return Ok(Some(Heard::Connected))
                }
                ClientEvent::ConnectError { nsp, message, .. } if nsp == self.nsp => {
                    return Err(Failure::Connect(format!("connect_error: {message}")))
                }
                ClientEvent::Event {
                    nsp,
                    name,
                    args_json,
                    ..
                } if nsp == self.nsp => return Ok(Some(Heard::Event { name, args_json })),
                ClientEvent::Ack {
                    nsp, id, args_json, ..
                } if nsp == self.nsp => return Ok(Some(Heard::Ack { id, args_json })),
                ClientEvent::Disconnected { nsp } if nsp == self.nsp => {
                    return Err(Failure::Closed("io server disconnect".into()))
                }
                ClientEvent::Closed { reason } => return Err(reason_failure(reason)),
                _ => {}
            }
        }
        Ok(None)
    }

    /// Applies the connection's deadlines (connect, heartbeat) at `now`.
    pub fn on_timer(&mut self, now: Now) {
        self.conn.handle_timeout(now.at);
    }

    /// The connection's own next deadline, in monotonic ns.
    pub fn deadline_ns(&self, now: Now) -> Option<u64> {
        self.conn.next_deadline().map(|d| now.ns_of(d))
    }
}

fn client_failure(e: &ClientError) -> Failure {
    match e {
        ClientError::Http(_) => Failure::Connect(e.to_string()),
        _ => Failure::Protocol(e.to_string()),
    }
}

fn reason_failure(reason: DisconnectReason) -> Failure {
    let text = reason.as_str().to_owned();
    match reason {
        DisconnectReason::PingTimeout | DisconnectReason::ConnectTimeout => Failure::Timeout(text),
        DisconnectReason::ParseError => Failure::Protocol(text),
        _ => Failure::Closed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Target;
    use volley::client::ConnectOptions;
    use volley::proto::http::{parse_request, validate_upgrade, write_switching_protocols, Limits};
    use volley::proto::ws::{encode_frame, OpCode};

    pub(crate) fn settings() -> Settings {
        Settings {
            target: Target {
                addr: "127.0.0.1:1".parse().unwrap(),
                host: "127.0.0.1:1".into(),
                path: "/".into(),
                tls_name: None,
            },
            sio: ConnectOptions::default(),
            nsp: "/".into(),
            payload: 64,
            in_flight: 1,
            rate: None,
            connections: 1,
            request_timeout_ns: 1_000_000_000,
            event: "echo".into(),
            room: "bench".into(),
            senders: 1,
            deflate: false,
            words: false,
        }
    }

    /// Server bytes up to and including `frames`, as answers to the client's request.
    fn server_bytes(conn: &SioConn, frames: &[&[u8]]) -> Vec<u8> {
        let req = parse_request(
            conn.conn.transmit(Lane::WebSocket).unwrap(),
            &Limits::default(),
        )
        .unwrap()
        .unwrap();
        let mut wire = Vec::new();
        write_switching_protocols(&mut wire, &validate_upgrade(&req).unwrap());
        for f in frames {
            encode_frame(&mut wire, OpCode::Text, f);
        }
        wire
    }

    const OPEN: &[u8] = br#"0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;

    #[test]
    fn connected_events_and_acks_come_through() {
        let now = Now::read();
        let mut c = SioConn::new(&settings(), 0, now);
        let mut input = server_bytes(
            &c,
            &[
                OPEN,
                br#"40{"sid":"s"}"#,
                br#"42["news",1]"#,
                br#"431["x"]"#,
            ],
        );
        c.feed(&mut input, now).unwrap();
        assert!(input.is_empty());
        assert_eq!(c.next(), Ok(Some(Heard::Connected)));
        assert_eq!(
            c.next(),
            Ok(Some(Heard::Event {
                name: "news".into(),
                args_json: b"[1]".to_vec()
            }))
        );
        assert_eq!(
            c.next(),
            Ok(Some(Heard::Ack {
                id: 1,
                args_json: br#"["x"]"#.to_vec()
            }))
        );
        assert_eq!(c.next(), Ok(None));
        assert!(c.deadline_ns(now).is_some());
    }

    #[test]
    fn refusals_map_to_failures() {
        let now = Now::read();
        let mut c = SioConn::new(&settings(), 0, now);
        let mut input = server_bytes(&c, &[OPEN, br#"44{"message":"go away"}"#]);
        c.feed(&mut input, now).unwrap();
        assert_eq!(
            c.next(),
            Err(Failure::Connect("connect_error: go away".into()))
        );

        let mut c = SioConn::new(&settings(), 0, now);
        let mut input = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_vec();
        assert!(matches!(c.feed(&mut input, now), Err(Failure::Connect(_))));

        let mut c = SioConn::new(&settings(), 0, now);
        let mut input = server_bytes(&c, &[OPEN, b"4zz"]);
        assert!(matches!(c.feed(&mut input, now), Err(Failure::Protocol(_))));
    }

    #[test]
    fn server_disconnect_and_timeouts_are_reported() {
        let now = Now::read();
        let mut c = SioConn::new(&settings(), 0, now);
        let mut input = server_bytes(&c, &[OPEN, br#"40{"sid":"s"}"#, b"41"]);
        c.feed(&mut input, now).unwrap();
        assert_eq!(c.next(), Ok(Some(Heard::Connected)));
        assert_eq!(
            c.next(),
            Err(Failure::Closed("io server disconnect".into()))
        );

        let mut c = SioConn::new(&settings(), 0, now);
        let later = Now {
            ns: now.ns + 60_000_000_000,
            at: now.at + std::time::Duration::from_secs(60),
        };
        c.on_timer(later);
        assert_eq!(c.next(), Err(Failure::Timeout("connect timeout".into())));
    }
}
