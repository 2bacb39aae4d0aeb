//! Fuzzes the Engine.IO v3 decoders: a polling text payload (`<length>:<packet>` records), a
//! binary polling payload and a WebSocket binary or text frame, each over its own copy of the
//! input since decoding rewrites bytes in place.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley::proto::eio::{
    decode_binary_v3, decode_text_v3, BinaryPayloadDecoderV3, EioError, Packet, PayloadDecoderV3,
};

fuzz_target!(|data: &[u8]| {
    let mut body = data.to_vec();
    drain(PayloadDecoderV3::new(&mut body), data.len());

    let mut body = data.to_vec();
    drain(BinaryPayloadDecoderV3::new(&mut body), data.len());

    let mut frame = data.to_vec();
    if let Ok(packet) = decode_binary_v3(&mut frame) {
        check(&packet, data.len());
    }

    // Text frames are UTF-8 by the time they are decoded.
    if std::str::from_utf8(data).is_ok() {
        let mut frame = data.to_vec();
        if let Ok(packet) = decode_text_v3(&mut frame) {
            check(&packet, data.len());
        }
    }
});

/// Every packet borrows a part of the input, and the decoder stops after its first error.
fn drain<'a>(packets: impl Iterator<Item = Result<Packet<'a>, EioError>>, input_len: usize) {
    let mut errors = 0;
    for item in packets {
        match item {
            Ok(packet) => check(&packet, input_len),
            Err(_) => errors += 1,
        }
        assert!(
            errors <= 1,
            "a v3 payload decoder must stop after its first error"
        );
    }
}

fn check(packet: &Packet<'_>, input_len: usize) {
    let len = match packet {
        Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) => d.len(),
        Packet::MessageText(d) | Packet::MessageBinary(d) => d.len(),
        Packet::Close | Packet::Upgrade | Packet::Noop => 0,
    };
    assert!(len < input_len.max(1));
}
