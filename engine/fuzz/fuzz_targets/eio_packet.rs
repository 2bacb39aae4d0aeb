//! Fuzzes the Engine.IO decoders: a WebSocket text frame, a binary frame and a polling payload,
//! each over its own copy of the input since decoding rewrites bytes in place.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley::proto::eio::{decode_binary, decode_text, Packet, PayloadDecoder};

fuzz_target!(|data: &[u8]| {
    let mut frame = data.to_vec();
    if let Ok(packet) = decode_text(&mut frame) {
        check(&packet, data.len());
    }

    let mut frame = data.to_vec();
    assert_eq!(
        decode_binary(&mut frame),
        Packet::MessageBinary(&mut data.to_vec())
    );

    let mut body = data.to_vec();
    let mut errors = 0;
    for item in PayloadDecoder::new(&mut body) {
        match item {
            Ok(packet) => check(&packet, data.len()),
            Err(_) => errors += 1,
        }
        assert!(
            errors <= 1,
            "the payload decoder must stop after its first error"
        );
    }
});

/// Borrowed data can only be a part of the input.
fn check(packet: &Packet<'_>, input_len: usize) {
    let len = match packet {
        Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) => d.len(),
        Packet::MessageText(d) | Packet::MessageBinary(d) => d.len(),
        Packet::Close | Packet::Upgrade | Packet::Noop => 0,
    };
    assert!(len < input_len.max(1));
}
