//! Fuzzes the msgpack Socket.IO codec (`socket.io-msgpack-parser`'s wire format). Input: one
//! binary message. Checks that nothing panics, that a decoded packet respects the limits, and
//! that re-encoding it and decoding again gives the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use volley::proto::sio::{decode_msgpack, encode_header, encode_msgpack, Limits};

fuzz_target!(|input: &[u8]| {
    let limits = Limits {
        max_attachments: 4,
        max_attachment_bytes: 256,
        max_depth: 16,
    };
    let Ok(packet) = decode_msgpack(input, &limits) else {
        return;
    };
    assert!(packet.attachments.len() <= limits.max_attachments);
    let total: usize = packet.attachments.iter().map(|a| a.len()).sum();
    assert!(total <= limits.max_attachment_bytes);
    let mut text = Vec::new();
    encode_header(
        &mut text,
        packet.ty,
        packet.attachments.len(),
        &packet.nsp,
        packet.id,
    );
    text.extend_from_slice(packet.data.as_deref().unwrap_or_default().as_bytes());
    let mut wire = Vec::new();
    encode_msgpack(&text, &packet.attachments, &mut wire).expect("a decoded packet re-encodes");
    let again = decode_msgpack(&wire, &limits).expect("a re-encoded packet decodes");
    assert_eq!(again.ty, packet.ty);
    assert_eq!(again.nsp, packet.nsp);
    assert_eq!(again.id, packet.id);
    assert_eq!(again.attachments, packet.attachments);
    assert_eq!(again.event_name(), packet.event_name());
});
