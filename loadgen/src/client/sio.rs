//! The client side of one Socket.IO connection over WebSocket, sans-IO: Engine.IO open and
//! heartbeat, the namespace CONNECT, emits with ack ids, and incoming events and acks, on the
//! engine's `eio` and `sio` codecs.
//!
//! Only what the load scenarios use: one namespace, text packets. Binary packets and their
//! attachment frames from the server are skipped, never misread.

use std::time::Duration;

use volley::proto::eio::{self, ClientHeartbeat, Packet as EioPacket, PacketType as EioType};
use volley::proto::sio::{self, Args, PacketType};

use crate::client::ws::{WsClient, WsEvent};
use crate::clock::Now;
use crate::failure::Failure;

/// What a load scenario hears from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum SioEvent<'a> {
    /// The namespace CONNECT was accepted.
    Connected,
    /// An ack for emit `id`; `first_arg` is its first argument when that is a string.
    Ack {
        /// The ack id we sent with the emit.
        id: u64,
        /// The first argument, if a string.
        first_arg: Option<&'a str>,
    },
    /// An event from the server.
    Event {
        /// The event name.
        name: &'a str,
        /// The first argument after the name, if a string.
        first_arg: Option<&'a str>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Upgrading,
    AwaitOpen,
    AwaitConnect,
    Connected,
}

/// One Socket.IO client connection joined to one namespace.
#[derive(Debug)]
pub struct SioClient {
    ws: WsClient,
    state: State,
    nsp: String,
    heartbeat: Option<ClientHeartbeat>,
    heartbeat_deadline_ns: Option<u64>,
    next_id: u64,
    limits: sio::Limits,
    /// Engine.IO message being built, reused so emits do not allocate.
    scratch: Vec<u8>,
}

impl SioClient {
    /// A connection to namespace `nsp` (e.g. `/`), masks seeded with `seed`, messages up to
    /// `max_payload` bytes.
    pub fn new(nsp: &str, seed: u64, max_payload: usize) -> Self {
        Self {
            ws: WsClient::new(seed, max_payload),
            state: State::Upgrading,
            nsp: nsp.to_owned(),
            heartbeat: None,
            heartbeat_deadline_ns: None,
            next_id: 0,
            limits: sio::Limits::default(),
            scratch: Vec::new(),
        }
    }

    /// Queues the WebSocket upgrade to `path` (e.g. `/socket.io/`) on `host`.
    pub fn start(&mut self, out: &mut Vec<u8>, host: &str, path: &str) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let target = format!("{path}{sep}EIO=4&transport=websocket");
        self.ws.start(out, host, &target);
    }

    /// Whether the namespace is joined.
    pub fn is_connected(&self) -> bool {
        self.state == State::Connected
    }

    /// When the server counts as gone unless it pings first, in monotonic ns.
    pub fn deadline_ns(&self) -> Option<u64> {
        self.heartbeat_deadline_ns
    }

    /// Fails once the server has missed its heartbeat.
    pub fn check_heartbeat(&self, now: Now) -> Result<(), Failure> {
        match self.heartbeat {
            Some(hb) if hb.is_expired(now.at) => Err(Failure::Timeout("ping timeout".into())),
            _ => Ok(()),
        }
    }

    /// Queues an EVENT `[event, args...]` asking for an ack; `args` must each be valid JSON.
    /// Returns the ack id, or `None` (sending nothing) before the namespace is joined.
    pub fn emit_with_ack(&mut self, out: &mut Vec<u8>, event: &str, args: &[&[u8]]) -> Option<u64> {
        if self.state != State::Connected {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.write_event(out, event, args, Some(id));
        Some(id)
    }

    /// Queues an EVENT `[event, args...]` without an ack; `false` (sending nothing) before the
    /// namespace is joined.
    pub fn emit(&mut self, out: &mut Vec<u8>, event: &str, args: &[&[u8]]) -> bool {
        if self.state != State::Connected {
            return false;
        }
        self.write_event(out, event, args, None);
        true
    }

    fn write_event(&mut self, out: &mut Vec<u8>, event: &str, args: &[&[u8]], id: Option<u64>) {
        self.scratch.clear();
        self.scratch.push(EioType::Message.as_byte());
        sio::encode_event(&mut self.scratch, &self.nsp, id, event, args, 0);
        self.ws.writer(out).text(&self.scratch);
    }

    /// Consumes `input` (draining what it used), answering pings into `out` and handing events
    /// to `on`.
    pub fn handle_input<F>(
        &mut self,
        input: &mut Vec<u8>,
        out: &mut Vec<u8>,
        now: Now,
        mut on: F,
    ) -> Result<(), Failure>
    where
        F: FnMut(SioEvent<'_>),
    {
        let Self {
            ws,
            state,
            nsp,
            heartbeat,
            heartbeat_deadline_ns,
            limits,
            scratch,
            ..
        } = self;
        ws.handle_input(input, out, |event, w| match event {
            WsEvent::Upgraded => {
                *state = State::AwaitOpen;
                Ok(())
            }
            WsEvent::Binary(_) => Ok(()),
            WsEvent::Text(frame) => {
                let packet = eio::decode_text(frame)
                    .map_err(|e| Failure::Protocol(format!("engine.io: {e}")))?;
                match packet {
                    EioPacket::Open(data) if *state == State::AwaitOpen => {
                        let open = eio::parse_open(data)
                            .map_err(|e| Failure::Protocol(format!("engine.io: {e}")))?;
                        let hb = ClientHeartbeat::new(
                            now.at,
                            Duration::from_millis(open.ping_interval_ms),
                            Duration::from_millis(open.ping_timeout_ms),
                        );
                        *heartbeat_deadline_ns = hb.next_deadline().map(|d| now.ns_of(d));
                        *heartbeat = Some(hb);
                        scratch.clear();
                        scratch.push(EioType::Message.as_byte());
                        sio::encode_connect_request(scratch, nsp, None);
                        w.text(scratch);
                        *state = State::AwaitConnect;
                        Ok(())
                    }
                    EioPacket::Open(_) => Err(Failure::Protocol("unexpected open packet".into())),
                    EioPacket::Ping(data) => {
                        if let Some(hb) = heartbeat.as_mut() {
                            hb.on_ping(now.at);
                            *heartbeat_deadline_ns = hb.next_deadline().map(|d| now.ns_of(d));
                        }
                        scratch.clear();
                        eio::encode_text(scratch, EioType::Pong, data);
                        w.text(scratch);
                        Ok(())
                    }
                    EioPacket::Close => Err(Failure::Closed("engine.io close packet".into())),
                    EioPacket::MessageText(text) => {
                        let packet = sio::decode(text, limits)
                            .map_err(|e| Failure::Protocol(format!("socket.io: {e}")))?;
                        on_packet(state, nsp, &packet, &mut on)
                    }
                    EioPacket::Pong(_)
                    | EioPacket::MessageBinary(_)
                    | EioPacket::Upgrade
                    | EioPacket::Noop => Ok(()),
                }
            }
        })
    }
}

fn on_packet<F>(
    state: &mut State,
    nsp: &str,
    packet: &sio::Packet<'_>,
    on: &mut F,
) -> Result<(), Failure>
where
    F: FnMut(SioEvent<'_>),
{
    if packet.nsp != nsp {
        return Ok(());
    }
    let args = Args::from_packet(packet);
    let first_arg = args.get(0).and_then(|v| v.as_str());
    match packet.ty {
        PacketType::Connect if *state == State::AwaitConnect => {
            *state = State::Connected;
            on(SioEvent::Connected);
        }
        PacketType::Connect => return Err(Failure::Protocol("unexpected CONNECT".into())),
        PacketType::ConnectError => {
            let data = serde_json::to_string(&packet.data).unwrap_or_default();
            return Err(Failure::Connect(format!("connect_error {data}")));
        }
        PacketType::Disconnect => {
            return Err(Failure::Closed("server disconnected the namespace".into()))
        }
        PacketType::Event => {
            if let Some(name) = packet.event_name() {
                on(SioEvent::Event { name, first_arg });
            }
        }
        PacketType::Ack => {
            if let Some(id) = packet.id {
                on(SioEvent::Ack { id, first_arg });
            }
        }
        PacketType::BinaryEvent | PacketType::BinaryAck => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley::proto::http::{parse_request, validate_upgrade, write_switching_protocols, Limits};
    use volley::proto::ws::{encode_frame, Decoder, Message, OpCode, Role};

    const OPEN: &[u8] = br#"0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;

    /// Texts of the masked frames the client wrote, decoded as a server would.
    fn sent_texts(out: &mut Vec<u8>) -> Vec<String> {
        let mut dec = Decoder::new(Role::Server, 1 << 20);
        let mut texts = Vec::new();
        let mut pos = 0;
        while pos < out.len() {
            let d = dec.decode(&mut out[pos..]).unwrap();
            pos += d.consumed;
            if let Some(Message::Text(t)) = d.message {
                texts.push(String::from_utf8(t.to_vec()).unwrap());
            }
        }
        out.clear();
        texts
    }

    fn server_text(input: &mut Vec<u8>, text: &[u8]) {
        encode_frame(input, OpCode::Text, text);
    }

    /// A client through upgrade, open and CONNECT to `nsp`, plus the events it reported.
    fn joined(nsp: &str, now: Now) -> SioClient {
        let mut c = SioClient::new(nsp, 9, 1 << 20);
        let mut out = Vec::new();
        c.start(&mut out, "127.0.0.1:1", "/socket.io/");
        let req = parse_request(&out, &Limits::default()).unwrap().unwrap();
        assert_eq!(req.path, "/socket.io/");
        assert_eq!(req.query, "EIO=4&transport=websocket");
        let mut input = Vec::new();
        write_switching_protocols(&mut input, &validate_upgrade(&req).unwrap());
        server_text(&mut input, OPEN);
        out.clear();
        let mut events = Vec::new();
        c.handle_input(&mut input, &mut out, now, |e| events.push(format!("{e:?}")))
            .unwrap();
        let expected_connect = if nsp == "/" {
            "40".to_owned()
        } else {
            format!("40{nsp},")
        };
        assert_eq!(sent_texts(&mut out), [expected_connect]);
        assert!(events.is_empty());
        assert!(!c.is_connected());
        let reply = if nsp == "/" {
            br#"40{"sid":"s1"}"#.to_vec()
        } else {
            format!(r#"40{nsp},{{"sid":"s1"}}"#).into_bytes()
        };
        server_text(&mut input, &reply);
        c.handle_input(&mut input, &mut out, now, |e| events.push(format!("{e:?}")))
            .unwrap();
        assert_eq!(events, ["Connected"]);
        assert!(c.is_connected());
        c
    }

    #[test]
    fn emits_acks_events_and_pings_golden() {
        let now = Now::read();
        let mut c = joined("/", now);
        let mut out = Vec::new();
        assert_eq!(c.emit_with_ack(&mut out, "echo", &[br#""hi""#]), Some(0));
        assert_eq!(c.emit_with_ack(&mut out, "echo", &[b"1", b"2"]), Some(1));
        assert!(c.emit(&mut out, "broadcast", &[br#""x""#]));
        assert_eq!(
            sent_texts(&mut out),
            [r#"420["echo","hi"]"#, r#"421["echo",1,2]"#, r#"42["broadcast","x"]"#]
        );

        let mut input = Vec::new();
        server_text(&mut input, br#"431["hi"]"#);
        server_text(&mut input, b"2");
        server_text(&mut input, br#"42["broadcast","1:2:3"]"#);
        server_text(&mut input, br#"42/other,["broadcast","ignored"]"#);
        let mut events = Vec::new();
        c.handle_input(&mut input, &mut out, now, |e| events.push(format!("{e:?}")))
            .unwrap();
        assert_eq!(
            events,
            [
                r#"Ack { id: 1, first_arg: Some("hi") }"#,
                r#"Event { name: "broadcast", first_arg: Some("1:2:3") }"#
            ]
        );
        assert_eq!(sent_texts(&mut out), ["3"]);
    }

    #[test]
    fn namespaced_connect_and_emit() {
        let mut c = joined("/bench", Now::read());
        let mut out = Vec::new();
        c.emit_with_ack(&mut out, "echo", &[b"7"]);
        assert_eq!(sent_texts(&mut out), [r#"42/bench,0["echo",7]"#]);
    }

    #[test]
    fn heartbeat_expires_without_pings_and_renews_with_them() {
        let now = Now::read();
        let mut c = joined("/", now);
        assert_eq!(c.deadline_ns(), Some(now.ns + 500_000_000));
        let later = Now {
            ns: now.ns + 400_000_000,
            at: now.at + Duration::from_millis(400),
        };
        assert!(c.check_heartbeat(later).is_ok());
        let mut input = Vec::new();
        server_text(&mut input, b"2");
        c.handle_input(&mut input, &mut Vec::new(), later, |_| {})
            .unwrap();
        assert_eq!(c.deadline_ns(), Some(later.ns + 500_000_000));
        let dead = Now {
            ns: later.ns + 500_000_000,
            at: later.at + Duration::from_millis(500),
        };
        assert_eq!(
            c.check_heartbeat(dead),
            Err(Failure::Timeout("ping timeout".into()))
        );
    }

    #[test]
    fn refusals_and_garbage_are_typed_failures() {
        let now = Now::read();
        let cases: [(&[u8], fn(&Failure) -> bool); 5] = [
            (br#"44{"message":"nope"}"#, |f| {
                *f == Failure::Connect(r#"connect_error {"message":"nope"}"#.into())
            }),
            (b"41", |f| matches!(f, Failure::Closed(_))),
            (b"1", |f| matches!(f, Failure::Closed(_))),
            (b"9", |f| matches!(f, Failure::Protocol(_))),
            (b"42[not json", |f| matches!(f, Failure::Protocol(_))),
        ];
        for (text, check) in cases {
            let mut c = joined("/", now);
            let mut input = Vec::new();
            server_text(&mut input, text);
            let err = c
                .handle_input(&mut input, &mut Vec::new(), now, |_| {})
                .unwrap_err();
            assert!(check(&err), "{:?}: {err:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn emits_before_connect_send_nothing() {
        let mut c = SioClient::new("/", 1, 1024);
        let mut out = Vec::new();
        assert_eq!(c.emit_with_ack(&mut out, "echo", &[]), None);
        assert!(!c.emit(&mut out, "echo", &[]));
        assert!(out.is_empty());
    }
}
