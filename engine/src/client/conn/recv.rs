//! The receive side of [`ClientConn`](super::ClientConn): WebSocket messages to Engine.IO
//! packets to Socket.IO packets to [`ClientEvent`]s.

use std::time::{Duration, Instant};

use super::{Core, State};
use crate::client::event::{ClientError, ClientEvent, DisconnectReason};
use crate::proto::eio::Transport;
use crate::proto::eio::{self, ClientHeartbeat};
use crate::proto::sio::{self, BinaryAssembler, OwnedPacket, PacketType};
use crate::proto::ws::{CloseCode, Message, OpCode};

impl Core {
    /// A WebSocket message: session traffic, or the answer to an upgrade probe.
    pub(super) fn on_ws_message(
        &mut self,
        message: Message<'_>,
        now: Instant,
    ) -> Result<(), ClientError> {
        if self.transport == Transport::WebSocket {
            return self.on_message(message, now);
        }
        match message {
            Message::Text(text) if &text[..] == b"3probe" => self.on_probe_answered(),
            Message::Ping(payload) => {
                self.queue_control(OpCode::Pong, payload);
                Ok(())
            }
            Message::Pong(_) => Ok(()),
            _ => Err(ClientError::Unexpected("not a probe answer")),
        }
    }

    fn on_message(&mut self, message: Message<'_>, now: Instant) -> Result<(), ClientError> {
        match message {
            Message::Text(text) => {
                let packet = eio::decode_text(text)?;
                self.on_eio(packet, now)
            }
            Message::Binary(bytes) => self.on_attachment(bytes),
            Message::Ping(payload) => {
                self.queue_control(OpCode::Pong, payload);
                Ok(())
            }
            Message::Pong(_) => Ok(()),
            Message::Close(frame) => {
                self.queue_close(frame.map_or(CloseCode::NORMAL, |f| f.code));
                self.finish(DisconnectReason::TransportClose);
                Ok(())
            }
        }
    }

    pub(super) fn on_eio(
        &mut self,
        packet: eio::Packet<'_>,
        now: Instant,
    ) -> Result<(), ClientError> {
        if let eio::Packet::Open(data) = packet {
            return self.on_open(data, now);
        }
        if self.state != State::Open {
            return Err(ClientError::Unexpected("packet before the open packet"));
        }
        match packet {
            eio::Packet::Ping(data) => {
                if let Some(hb) = &mut self.heartbeat {
                    hb.on_ping(now);
                }
                self.start_frame();
                eio::encode_text(&mut self.scratch, eio::PacketType::Pong, data);
                self.send_scratch();
            }
            eio::Packet::Close => self.finish(DisconnectReason::TransportClose),
            eio::Packet::MessageText(text) => self.on_sio(text)?,
            eio::Packet::MessageBinary(bytes) => self.on_attachment(bytes)?,
            eio::Packet::Open(_)
            | eio::Packet::Pong(_)
            | eio::Packet::Upgrade
            | eio::Packet::Noop => {}
        }
        Ok(())
    }

    fn on_open(&mut self, data: &[u8], now: Instant) -> Result<(), ClientError> {
        if self.state != State::Handshake {
            return Err(ClientError::Unexpected("second open packet"));
        }
        let open = eio::parse_open(data)?;
        if self.transport == Transport::Polling {
            self.poll_uri = self.target.uri(Transport::Polling, Some(&open.sid));
            self.sid = Some(open.sid.clone());
            self.maybe_start_upgrade(&open.upgrades);
        }
        let ping_interval = Duration::from_millis(open.ping_interval_ms);
        let ping_timeout = Duration::from_millis(open.ping_timeout_ms);
        self.heartbeat = Some(ClientHeartbeat::new(now, ping_interval, ping_timeout));
        self.connect_deadline = None;
        self.state = State::Open;
        self.events.push_back(ClientEvent::Open {
            sid: open.sid,
            ping_interval,
            ping_timeout,
            max_payload: open.max_payload,
        });
        if self.transport == Transport::WebSocket {
            self.flush_pending_to_ws();
        } else {
            self.maybe_post();
        }
        Ok(())
    }

    fn on_sio(&mut self, text: &mut [u8]) -> Result<(), ClientError> {
        if self.binary.is_some() {
            return Err(ClientError::Unexpected(
                "text packet while binary attachments are due",
            ));
        }
        let packet = sio::decode(text, &self.limits)?;
        let nsp = packet.nsp.to_owned();
        let event = match packet.ty {
            PacketType::Connect => {
                #[derive(serde::Deserialize)]
                struct Reply {
                    sid: String,
                }
                let reply: Reply = packet
                    .data
                    .and_then(|d| d.deserialize().ok())
                    .ok_or(sio::SioError::InvalidPayload("CONNECT without a sid"))?;
                ClientEvent::Connected {
                    nsp,
                    sid: reply.sid,
                }
            }
            PacketType::Disconnect => ClientEvent::Disconnected { nsp },
            PacketType::ConnectError => {
                #[derive(serde::Deserialize)]
                struct Refusal {
                    #[serde(default)]
                    message: String,
                    data: Option<Box<serde_json::value::RawValue>>,
                }
                let (message, data_json) = match packet.data {
                    Some(d) if d.json().starts_with('"') => {
                        (d.as_str().unwrap_or_default().into_owned(), None)
                    }
                    Some(d) => match d.deserialize::<Refusal>() {
                        Ok(r) => (r.message, r.data.map(|d| d.get().as_bytes().to_vec())),
                        Err(_) => (String::new(), None),
                    },
                    None => (String::new(), None),
                };
                ClientEvent::ConnectError {
                    nsp,
                    message,
                    data_json,
                }
            }
            PacketType::Event => {
                let mut args_json = Vec::new();
                packet.args().write_json(&mut args_json);
                ClientEvent::Event {
                    nsp,
                    name: packet.event_name().unwrap_or_default().to_owned(),
                    args_json,
                    attachments: Vec::new(),
                    ack_id: packet.id,
                }
            }
            PacketType::Ack => {
                let mut args_json = Vec::new();
                packet.args().write_json(&mut args_json);
                ClientEvent::Ack {
                    nsp,
                    id: packet.id.ok_or(sio::SioError::BadAckId)?,
                    args_json,
                    attachments: Vec::new(),
                }
            }
            PacketType::BinaryEvent | PacketType::BinaryAck => {
                let assembler = BinaryAssembler::start(packet, &self.limits)?;
                if assembler.is_complete() {
                    return self.on_binary_packet(assembler.finish()?);
                }
                self.binary = Some(assembler);
                return Ok(());
            }
        };
        self.events.push_back(event);
        Ok(())
    }

    fn on_attachment(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let assembler = self
            .binary
            .as_mut()
            .ok_or(sio::SioError::UnexpectedBinary)?;
        if let Some(packet) = assembler.push(bytes)? {
            self.binary = None;
            self.on_binary_packet(packet)?;
        }
        Ok(())
    }

    fn on_binary_packet(&mut self, packet: OwnedPacket) -> Result<(), ClientError> {
        let mut args_json = Vec::new();
        packet.args().write_json(&mut args_json);
        let event = if packet.ty.is_event() {
            ClientEvent::Event {
                name: packet.event_name().unwrap_or_default().to_owned(),
                nsp: packet.nsp,
                args_json,
                attachments: packet.attachments,
                ack_id: packet.id,
            }
        } else {
            ClientEvent::Ack {
                id: packet.id.ok_or(sio::SioError::BadAckId)?,
                nsp: packet.nsp,
                args_json,
                attachments: packet.attachments,
            }
        };
        self.events.push_back(event);
        Ok(())
    }
}
