//! The client side of one WebSocket connection, sans-IO, on the engine's HTTP and frame codecs:
//! the upgrade request and its check, frame decoding, masked sends, pings and closes, and
//! permessage-deflate when asked for.

use volley::proto::http::{
    check_upgrade_response, new_websocket_key, parse_response, write_upgrade_request, Limits,
};
use volley::proto::ws::{negotiate, Decoder, Deflater, Inflater, Message, OpCode, Role, RSV1};

use crate::failure::Failure;

/// Mask keys from xorshift64*: a load generator's masks only need to vary, and a CSPRNG per
/// frame would cost more than the rest of the send path.
#[derive(Clone, Debug)]
pub struct Masker(u64);

impl Masker {
    /// A generator seeded with `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next pseudo-random 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Appends one masked frame.
    pub fn frame(&mut self, out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
        let key = (self.next_u64() as u32).to_be_bytes();
        volley::proto::ws::encode_masked_frame(out, opcode, payload, key);
    }
}

/// The offer `--deflate` makes: the one browsers and the Node client send.
const DEFLATE_OFFER: &str = "permessage-deflate; client_max_window_bits";
/// Smallest message sent compressed: the Node client's default `perMessageDeflate.threshold`.
const DEFLATE_THRESHOLD: usize = 1024;

/// Where a callback writes: the connection's output buffer, its masker and its compressor.
pub struct Writer<'a> {
    /// Bytes queued for the socket.
    pub out: &'a mut Vec<u8>,
    /// Mask keys for the frames written.
    pub masker: &'a mut Masker,
    /// permessage-deflate's compressor, once negotiated.
    deflater: Option<&'a mut Deflater>,
}

impl Writer<'_> {
    /// Queues a text frame, compressed from [`DEFLATE_THRESHOLD`] bytes on where
    /// permessage-deflate was negotiated.
    pub fn text(&mut self, payload: &[u8]) {
        match self.deflater.as_deref_mut() {
            Some(d) if payload.len() >= DEFLATE_THRESHOLD => {
                let mut compressed = Vec::with_capacity(payload.len() / 2 + 64);
                d.deflate(payload, &mut compressed);
                let start = self.out.len();
                self.masker.frame(self.out, OpCode::Text, &compressed);
                self.out[start] |= RSV1;
            }
            _ => self.masker.frame(self.out, OpCode::Text, payload),
        }
    }
}

/// What the server sent, as far as the WebSocket layer goes.
#[derive(Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// The server accepted the upgrade; frames may flow.
    Upgraded,
    /// A text message.
    Text(&'a mut [u8]),
    /// A binary message.
    Binary(&'a mut [u8]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    AwaitUpgrade,
    Open,
    Closed,
}

/// One client WebSocket.
#[derive(Debug)]
pub struct WsClient {
    state: State,
    key: String,
    decoder: Decoder,
    masker: Masker,
    /// Offer permessage-deflate, and require it.
    offer_deflate: bool,
    deflater: Option<Deflater>,
}

impl WsClient {
    /// A connection whose masks (and upgrade key) derive from `seed`, accepting messages up to
    /// `max_payload` bytes; `deflate` offers permessage-deflate and fails the upgrade without it.
    pub fn new(seed: u64, max_payload: usize, deflate: bool) -> Self {
        Self {
            state: State::Idle,
            key: String::new(),
            decoder: Decoder::new(Role::Client, max_payload),
            masker: Masker::new(seed),
            offer_deflate: deflate,
            deflater: None,
        }
    }

    /// Queues the upgrade request for `path_and_query` on `host`.
    pub fn start(&mut self, out: &mut Vec<u8>, host: &str, path_and_query: &str) {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.masker.next_u64().to_le_bytes());
        nonce[8..].copy_from_slice(&self.masker.next_u64().to_le_bytes());
        self.key = new_websocket_key(nonce);
        let offer = [("Sec-WebSocket-Extensions", DEFLATE_OFFER)];
        let headers = if self.offer_deflate { &offer[..] } else { &[] };
        write_upgrade_request(out, host, path_and_query, &self.key, headers);
        self.state = State::AwaitUpgrade;
    }

    /// Whether the upgrade completed and no close happened since.
    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// A writer on `out` with this connection's masker.
    pub fn writer<'a>(&'a mut self, out: &'a mut Vec<u8>) -> Writer<'a> {
        Writer {
            out,
            masker: &mut self.masker,
            deflater: self.deflater.as_mut(),
        }
    }

    /// Consumes what it can of `input` (draining it), answering pings and closes into `out` and
    /// handing upgrade and data messages to `on`. A close from the server or any protocol error
    /// ends the connection with the returned failure.
    pub fn handle_input<F>(
        &mut self,
        input: &mut Vec<u8>,
        out: &mut Vec<u8>,
        mut on: F,
    ) -> Result<(), Failure>
    where
        F: FnMut(WsEvent<'_>, &mut Writer<'_>) -> Result<(), Failure>,
    {
        let mut pos = 0;
        let result = self.process(input, &mut pos, out, &mut on);
        input.drain(..pos.min(input.len()));
        result
    }

    fn process<F>(
        &mut self,
        input: &mut [u8],
        pos: &mut usize,
        out: &mut Vec<u8>,
        on: &mut F,
    ) -> Result<(), Failure>
    where
        F: FnMut(WsEvent<'_>, &mut Writer<'_>) -> Result<(), Failure>,
    {
        let Self {
            state,
            key,
            decoder,
            masker,
            offer_deflate,
            deflater,
        } = self;
        loop {
            let rest = input.get_mut(*pos..).unwrap_or_default();
            if rest.is_empty() {
                return Ok(());
            }
            match *state {
                State::Idle => return Err(Failure::Protocol("bytes before our request".into())),
                State::Closed => return Ok(()),
                State::AwaitUpgrade => {
                    let Some(resp) = parse_response(rest, &Limits::default())
                        .map_err(|e| Failure::Protocol(format!("upgrade response: {e}")))?
                    else {
                        return Ok(());
                    };
                    if resp.status != 101 {
                        return Err(Failure::Connect(format!(
                            "upgrade refused with HTTP {}",
                            resp.status
                        )));
                    }
                    check_upgrade_response(&resp, key)
                        .map_err(|e| Failure::Protocol(format!("upgrade response: {e}")))?;
                    if *offer_deflate {
                        // The answer's parameters read as an offer's do.
                        let accepted = negotiate(resp.header("sec-websocket-extensions"))
                            .ok_or_else(|| {
                                Failure::Connect("the server declined permessage-deflate".into())
                            })?;
                        let p = accepted.params;
                        let plain = std::mem::replace(decoder, Decoder::new(Role::Client, 0));
                        *decoder = plain.with_inflater(Inflater::new(
                            p.server_max_window_bits,
                            p.server_no_context_takeover,
                        ));
                        *deflater = Some(Deflater::new(
                            p.client_max_window_bits,
                            p.client_no_context_takeover,
                        ));
                    }
                    *pos += resp.head_len;
                    *state = State::Open;
                    let deflater = deflater.as_mut();
                    on(
                        WsEvent::Upgraded,
                        &mut Writer {
                            out,
                            masker,
                            deflater,
                        },
                    )?;
                }
                State::Open => {
                    let decoded = decoder
                        .decode(rest)
                        .map_err(|e| Failure::Protocol(e.to_string()))?;
                    if decoded.consumed == 0 {
                        return Ok(());
                    }
                    *pos += decoded.consumed;
                    let deflater = deflater.as_mut();
                    let mut w = Writer {
                        out,
                        masker,
                        deflater,
                    };
                    match decoded.message {
                        None | Some(Message::Pong(_)) => {}
                        Some(Message::Ping(data)) => w.masker.frame(w.out, OpCode::Pong, data),
                        Some(Message::Text(t)) => on(WsEvent::Text(t), &mut w)?,
                        Some(Message::Binary(b)) => on(WsEvent::Binary(b), &mut w)?,
                        Some(Message::Close(frame)) => {
                            *state = State::Closed;
                            let (code, reason) = frame
                                .map(|f| (f.code.0, f.reason.to_owned()))
                                .unwrap_or((1005, String::new()));
                            let echo = if code == 1005 {
                                Vec::new()
                            } else {
                                code.to_be_bytes().to_vec()
                            };
                            w.masker.frame(w.out, OpCode::Close, &echo);
                            return Err(Failure::Closed(format!(
                                "server sent close {code} {reason}"
                            )));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use volley::proto::http::{parse_request, validate_upgrade, write_switching_protocols};
    use volley::proto::ws::{encode_close, encode_frame, CloseCode};

    /// Answers the client's upgrade request the way a server would.
    fn accept(request: &[u8]) -> Vec<u8> {
        let req = parse_request(request, &Limits::default()).unwrap().unwrap();
        let accept = validate_upgrade(&req).unwrap();
        let mut answer = Vec::new();
        write_switching_protocols(&mut answer, &accept);
        answer
    }

    /// Decodes masked client frames as a server would.
    fn server_read(bytes: &mut [u8]) -> Vec<(OpCode, Vec<u8>)> {
        let mut dec = Decoder::new(Role::Server, 1 << 20);
        let mut pos = 0;
        let mut frames = Vec::new();
        while pos < bytes.len() {
            let d = dec.decode(&mut bytes[pos..]).unwrap();
            assert!(d.consumed > 0);
            pos += d.consumed;
            frames.push(match d.message.unwrap() {
                Message::Text(t) => (OpCode::Text, t.to_vec()),
                Message::Binary(b) => (OpCode::Binary, b.to_vec()),
                Message::Ping(p) => (OpCode::Ping, p.to_vec()),
                Message::Pong(p) => (OpCode::Pong, p.to_vec()),
                Message::Close(c) => (
                    OpCode::Close,
                    c.map(|c| c.code.0.to_be_bytes().to_vec())
                        .unwrap_or_default(),
                ),
            });
        }
        frames
    }

    fn opened() -> WsClient {
        let mut ws = WsClient::new(7, 1 << 20, false);
        let mut out = Vec::new();
        ws.start(&mut out, "127.0.0.1:3000", "/");
        let mut input = accept(&out);
        let mut events = 0;
        ws.handle_input(&mut input, &mut Vec::new(), |e, _| {
            assert_eq!(e, WsEvent::Upgraded);
            events += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(events, 1);
        assert!(ws.is_open());
        ws
    }

    #[test]
    fn upgrade_then_frames_in_one_read_split_anywhere() {
        let mut ws = WsClient::new(1, 1 << 20, false);
        let mut out = Vec::new();
        ws.start(&mut out, "h:1", "/socket.io/?EIO=4&transport=websocket");
        assert!(out.starts_with(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"));
        let mut wire = accept(&out);
        encode_frame(&mut wire, OpCode::Text, b"hello");
        encode_frame(&mut wire, OpCode::Ping, b"p");
        encode_frame(&mut wire, OpCode::Binary, &[1, 2, 3]);
        for split in 0..wire.len() {
            let mut ws = WsClient::new(1, 1 << 20, false);
            ws.start(
                &mut Vec::new(),
                "h:1",
                "/socket.io/?EIO=4&transport=websocket",
            );
            let mut got = Vec::new();
            let mut replies = Vec::new();
            let mut input = wire[..split].to_vec();
            for chunk in [&wire[split..], &[][..]] {
                ws.handle_input(&mut input, &mut replies, |e, _| {
                    got.push(format!("{e:?}"));
                    Ok(())
                })
                .unwrap();
                input.extend_from_slice(chunk);
            }
            assert!(input.is_empty(), "split {split}");
            assert_eq!(got.len(), 3, "split {split}: {got:?}");
            assert_eq!(
                server_read(&mut replies),
                vec![(OpCode::Pong, b"p".to_vec())]
            );
        }
    }

    #[test]
    fn sends_are_masked_text_frames() {
        let mut ws = opened();
        let mut out = Vec::new();
        ws.writer(&mut out).text(b"abc");
        ws.writer(&mut out).text(b"abc");
        assert_ne!(out[2..6], out[11..15], "mask keys vary");
        assert_eq!(
            server_read(&mut out),
            vec![
                (OpCode::Text, b"abc".to_vec()),
                (OpCode::Text, b"abc".to_vec())
            ]
        );
    }

    #[test]
    fn refused_or_forged_upgrades_fail() {
        let mut ws = WsClient::new(3, 1024, false);
        ws.start(&mut Vec::new(), "h", "/");
        let mut input = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec();
        let err = ws.handle_input(&mut input, &mut Vec::new(), |_, _| Ok(()));
        assert_eq!(
            err,
            Err(Failure::Connect("upgrade refused with HTTP 404".into()))
        );

        let mut ws = WsClient::new(3, 1024, false);
        ws.start(&mut Vec::new(), "h", "/");
        let mut input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                          Connection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n"
            .to_vec();
        let err = ws.handle_input(&mut input, &mut Vec::new(), |_, _| Ok(()));
        assert!(matches!(err, Err(Failure::Protocol(_))), "{err:?}");
    }

    #[test]
    fn server_close_is_answered_and_reported() {
        let mut ws = opened();
        let mut input = Vec::new();
        encode_close(&mut input, CloseCode(1001), "going away");
        let mut out = Vec::new();
        let err = ws.handle_input(&mut input, &mut out, |_, _| Ok(()));
        assert_eq!(
            err,
            Err(Failure::Closed("server sent close 1001 going away".into()))
        );
        assert_eq!(
            server_read(&mut out),
            vec![(OpCode::Close, 1001u16.to_be_bytes().to_vec())]
        );
        assert!(!ws.is_open());
    }

    #[test]
    fn garbage_frames_are_protocol_errors_never_panics() {
        for junk in [
            &[0xffu8, 0xff][..],
            &[0x81, 0x85, 1, 2, 3, 4, 5][..],
            &[0x8f, 0][..],
        ] {
            let mut ws = opened();
            let mut input = junk.to_vec();
            let err = ws.handle_input(&mut input, &mut Vec::new(), |_, _| Ok(()));
            assert!(
                matches!(err, Err(Failure::Protocol(_))),
                "{junk:?}: {err:?}"
            );
        }
    }

    #[test]
    fn deflate_is_offered_required_and_used() {
        use volley::proto::http::write_switching_protocols_with;
        let mut ws = WsClient::new(5, 1 << 20, true);
        let mut out = Vec::new();
        ws.start(&mut out, "h:1", "/");
        let head = String::from_utf8(out.clone()).unwrap();
        assert!(head
            .contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
        // A server that does not answer the offer fails the connection.
        let mut input = accept(&out);
        let e = ws.handle_input(&mut input, &mut Vec::new(), |_, _| Ok(()));
        assert!(matches!(e, Err(Failure::Connect(_))), "{e:?}");

        let mut ws = WsClient::new(5, 1 << 20, true);
        let mut request = Vec::new();
        ws.start(&mut request, "h:1", "/");
        let req = parse_request(&request, &Limits::default())
            .unwrap()
            .unwrap();
        let mut input = Vec::new();
        let accepted = negotiate(req.header("sec-websocket-extensions")).unwrap();
        write_switching_protocols_with(
            &mut input,
            &validate_upgrade(&req).unwrap(),
            &[("Sec-WebSocket-Extensions", &accepted.response)],
        );
        // A compressed message from the server, then the client's two sends.
        let big = "0123456789abcdef".repeat(100);
        let mut compressed = Vec::new();
        Deflater::new(15, false).deflate(big.as_bytes(), &mut compressed);
        let start = input.len();
        encode_frame(&mut input, OpCode::Text, &compressed);
        input[start] |= RSV1;
        let mut sent = Vec::new();
        let mut got = Vec::new();
        ws.handle_input(&mut input, &mut sent, |e, w| {
            if let WsEvent::Text(t) = e {
                got.push(t.to_vec());
                w.text(big.as_bytes());
                w.text(b"short");
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(got, [big.as_bytes().to_vec()]);
        assert_eq!(sent[0] & RSV1, RSV1, "the long message goes compressed");
        let mut dec = Decoder::new(Role::Server, 1 << 20).with_inflater(Inflater::new(15, false));
        let d = dec.decode(&mut sent).unwrap();
        assert!(matches!(d.message, Some(Message::Text(t)) if t == big.as_bytes()));
        let consumed = d.consumed;
        assert_eq!(sent[consumed] & RSV1, 0, "the short one plain");
    }
}
