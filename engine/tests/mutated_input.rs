//! Stable-toolchain companion of the fuzz targets: every seed of every fuzz corpus, mutated
//! thousands of ways (bit flips, byte changes, truncation, duplication, splicing), fed to its
//! parser. Nothing may panic, and what parses must respect the configured limits (and, for the
//! msgpack codec, re-encode to itself).

use std::path::PathBuf;

use volley::proto::{eio, http, sio, ws};

/// A small deterministic generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out.sort();
    out
}

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = rng.next() as u8;
            }
            2 => v.truncate(rng.below(len + 1)),
            3 if len > 0 => {
                let (a, b) = (rng.below(len), rng.below(len));
                let piece = v[a.min(b)..a.max(b)].to_vec();
                let at = rng.below(len);
                v.splice(at..at, piece);
            }
            4 => {
                let at = rng.below(len + 1);
                let cut = rng.below(other.len() + 1);
                v.splice(at..at, other[..cut].iter().copied());
            }
            _ => v.insert(
                rng.below(len + 1),
                [b'[', b'{', b'"', b'\\', 0x1e, 0xff][rng.below(6)],
            ),
        }
    }
    v
}

fn each_mutation(target: &str, rounds: usize, mut check: impl FnMut(&[u8])) {
    let seeds = seeds(target);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for seed in &seeds {
        check(seed);
    }
    for _ in 0..rounds {
        let seed = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        check(&mutate(&mut rng, seed, other));
    }
}

#[test]
fn http_requests_and_bodies() {
    let limits = http::Limits::default();
    each_mutation("http_request", 20_000, |input| {
        if let Ok(Some(req)) = http::parse_request(input, &limits) {
            assert!(req.head_len <= input.len());
            if let Ok(mut body) = http::BodyReader::new(&req.body, 1024) {
                let mut out = Vec::new();
                let rest = &input[req.head_len..];
                if let Ok((used, _)) = body.feed(rest, &mut out) {
                    assert!(used <= rest.len());
                    assert!(out.len() <= 1024);
                }
            }
        }
    });
}

#[test]
fn websocket_frames() {
    each_mutation("ws_decoder", 20_000, |input| {
        let mut dec = ws::Decoder::new(ws::Role::Server, 4096);
        let mut buf = input.to_vec();
        let mut pos = 0;
        while pos < buf.len() {
            match dec.decode(&mut buf[pos..]) {
                Ok(d) if d.consumed == 0 && d.message.is_none() => break,
                Ok(d) => {
                    if let Some(ws::Message::Text(t)) = &d.message {
                        assert!(std::str::from_utf8(t).is_ok(), "text must be valid UTF-8");
                    }
                    pos += d.consumed;
                }
                Err(_) => break,
            }
        }
    });
}

#[test]
fn engine_io_packets_and_polling_payloads() {
    each_mutation("eio_packet", 20_000, |input| {
        let _ = eio::decode_text(&mut input.to_vec());
        let _ = eio::decode_binary(&mut input.to_vec());
        let mut body = input.to_vec();
        for packet in eio::PayloadDecoder::new(&mut body) {
            if packet.is_err() {
                break;
            }
        }
    });
}

#[test]
fn engine_io_v3_payloads_and_frames() {
    each_mutation("eio3_payload", 20_000, |input| {
        let _ = eio::decode_binary_v3(&mut input.to_vec());
        let _ = eio::decode_text_v3(&mut input.to_vec());
        let mut body = input.to_vec();
        let errors = eio::PayloadDecoderV3::new(&mut body)
            .filter(Result::is_err)
            .count();
        assert!(errors <= 1, "{input:?}");
        let mut body = input.to_vec();
        let errors = eio::BinaryPayloadDecoderV3::new(&mut body)
            .filter(Result::is_err)
            .count();
        assert!(errors <= 1, "{input:?}");
    });
}

#[test]
fn socket_io_packets_and_binary_reassembly() {
    let limits = sio::Limits {
        max_attachments: 4,
        max_attachment_bytes: 256,
        max_depth: 16,
    };
    each_mutation("sio_packet", 20_000, |input| {
        let mut segments = input.split(|&b| b == 0);
        let text = segments.next().unwrap_or_default().to_vec();
        let Ok(packet) = sio::decode(&text, &limits) else {
            return;
        };
        assert!(packet.attachments <= limits.max_attachments);
        if !packet.ty.is_binary() {
            return;
        }
        let Ok(mut asm) = sio::BinaryAssembler::start(packet, &limits) else {
            return;
        };
        for segment in segments {
            match asm.push(segment) {
                Ok(Some(p)) => {
                    let total: usize = p.attachments.iter().map(|a| a.len()).sum();
                    assert!(total <= limits.max_attachment_bytes);
                    return;
                }
                Ok(None) => {}
                Err(_) => return,
            }
        }
    });
}

#[test]
fn socket_io_msgpack_packets() {
    let limits = sio::Limits {
        max_attachments: 4,
        max_attachment_bytes: 256,
        max_depth: 16,
    };
    each_mutation("sio_msgpack", 20_000, |input| {
        let Ok(packet) = sio::decode_msgpack(input, &limits) else {
            return;
        };
        assert!(packet.attachments.len() <= limits.max_attachments);
        let total: usize = packet.attachments.iter().map(|a| a.len()).sum();
        assert!(total <= limits.max_attachment_bytes);
        let mut text = Vec::new();
        sio::encode_header(
            &mut text,
            packet.ty,
            packet.attachments.len(),
            &packet.nsp,
            packet.id,
        );
        text.extend_from_slice(packet.data.as_deref().unwrap_or_default().as_bytes());
        let mut wire = Vec::new();
        sio::encode_msgpack(&text, &packet.attachments, &mut wire).expect("re-encodes");
        assert_eq!(sio::decode_msgpack(&wire, &limits).as_ref(), Ok(&packet));
    });
}

#[test]
fn sharded_adapter_messages_and_cluster_replies() {
    each_mutation("sharded_adapter", 20_000, |input| {
        volley::fuzz_internals::sharded_adapter_input(input);
    });
}
