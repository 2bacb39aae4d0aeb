//! Inputs shared by Volley's criterion benchmarks (`cargo bench -p volley-benches`): the wire
//! bytes of the messages each layer decodes and the arguments each encoder takes, in three
//! shapes: a small text event, a 1 KB text event and a 1 KB binary attachment.
//!
//! The benchmarks themselves live in `benches/benches/`; the peer servers the comparison script
//! runs live in `benches/peers/` (separate projects, outside the workspace).

use volley::proto::ws::{encode_masked_frame, OpCode};

/// Mask the client fixtures use; any non-zero mask costs the decoder the same.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Size of the "1 KB" payloads.
pub const KB: usize = 1024;

/// One message shape, at every layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Label in the benchmark ids: `small`, `1k`, `binary-1k`.
    pub name: &'static str,
    /// The event's only argument: a JSON string for text shapes, raw bytes for binary.
    pub payload: Vec<u8>,
    /// Whether the payload travels as a binary attachment.
    pub binary: bool,
}

impl Sample {
    /// The three shapes the benchmarks measure.
    pub fn all() -> [Sample; 3] {
        [
            Sample {
                name: "small",
                payload: b"hello".to_vec(),
                binary: false,
            },
            Sample {
                name: "1k",
                payload: text(KB),
                binary: false,
            },
            Sample {
                name: "binary-1k",
                payload: (0..KB).map(|i| (i % 251) as u8).collect(),
                binary: true,
            },
        ]
    }

    /// The event's argument as JSON: the quoted string, or the attachment's placeholder.
    pub fn arg_json(&self) -> Vec<u8> {
        if self.binary {
            return br#"{"_placeholder":true,"num":0}"#.to_vec();
        }
        let mut out = Vec::with_capacity(self.payload.len() + 2);
        out.push(b'"');
        out.extend_from_slice(&self.payload);
        out.push(b'"');
        out
    }

    /// The Socket.IO packet: `2["echo",<arg>]`, or `51-["echo",<placeholder>]` for binary.
    pub fn sio_packet(&self) -> Vec<u8> {
        let mut out = if self.binary {
            b"51-[\"echo\",".to_vec()
        } else {
            b"2[\"echo\",".to_vec()
        };
        out.extend_from_slice(&self.arg_json());
        out.push(b']');
        out
    }

    /// The Engine.IO message carrying the Socket.IO packet (`4` + packet); for binary shapes,
    /// the attachment (a binary WebSocket message is the Engine.IO message as it is).
    pub fn eio_message(&self) -> Vec<u8> {
        if self.binary {
            return self.payload.clone();
        }
        let mut out = b"4".to_vec();
        out.extend_from_slice(&self.sio_packet());
        out
    }

    /// The opcode of the WebSocket frame carrying [`eio_message`](Self::eio_message).
    pub fn opcode(&self) -> OpCode {
        if self.binary {
            OpCode::Binary
        } else {
            OpCode::Text
        }
    }

    /// The masked client frame carrying [`eio_message`](Self::eio_message), as a server reads it.
    pub fn ws_client_frame(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode_masked_frame(&mut out, self.opcode(), &self.eio_message(), MASK);
        out
    }
}

/// `len` bytes of printable ASCII that needs no JSON escaping.
pub fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley::proto::eio::{self, decode_text};
    use volley::proto::sio::{self, Limits};
    use volley::proto::ws::{Decoder, Message, Role};

    #[test]
    fn golden_wire_bytes() {
        let [small, kb, bin] = Sample::all();
        assert_eq!(small.eio_message(), br#"42["echo","hello"]"#);
        assert_eq!(
            bin.sio_packet(),
            br#"51-["echo",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(kb.payload.len(), KB);
        assert_eq!(&kb.payload[..3], b"abc");
        assert_eq!(kb.arg_json().len(), KB + 2);
        assert_eq!(bin.eio_message().len(), KB);
        // 126: the 16-bit extended length, then the mask.
        let frame = kb.ws_client_frame();
        assert_eq!(&frame[..2], &[0x81, 0x80 | 126]);
        assert_eq!(frame.len(), 2 + 2 + 4 + kb.eio_message().len());
    }

    #[test]
    fn every_sample_decodes_through_every_layer() {
        for s in Sample::all() {
            let mut frame = s.ws_client_frame();
            let mut dec = Decoder::new(Role::Server, 1 << 20);
            let decoded = dec.decode(&mut frame).unwrap();
            assert_eq!(decoded.consumed, s.ws_client_frame().len(), "{}", s.name);
            let body = match decoded.message {
                Some(Message::Text(t)) => t.to_vec(),
                Some(Message::Binary(b)) => b.to_vec(),
                other => panic!("{}: {other:?}", s.name),
            };
            assert_eq!(body, s.eio_message(), "{}", s.name);
            if s.binary {
                continue;
            }
            let mut body = body;
            let eio::Packet::MessageText(data) = decode_text(&mut body).unwrap() else {
                panic!("{}: not an Engine.IO message", s.name);
            };
            let packet = sio::decode(data, &Limits::default()).unwrap();
            assert_eq!(packet.event_name(), Some("echo"), "{}", s.name);
        }
        let [_, _, bin] = Sample::all();
        let header = bin.sio_packet();
        let packet = sio::decode(&header, &Limits::default()).unwrap();
        assert_eq!(packet.attachments, 1);
    }
}
