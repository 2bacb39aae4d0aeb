//! Feeds arbitrary bytes to a server-role WebSocket decoder the way the runtime does: reads of a
//! varying size are appended to an accumulation buffer, frames are decoded until more bytes are
//! needed, and consumed bytes are drained. Any panic is a bug; errors are expected.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley::proto::ws::{Decoder, Message, Role};

/// Small enough that the fuzzer reaches the size limit quickly.
const MAX_PAYLOAD: usize = 1024;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the read size, so both whole and split frames get exercised.
    let Some((&read_size, wire)) = data.split_first() else {
        return;
    };
    let read_size = usize::from(read_size).max(1);
    let mut decoder = Decoder::new(Role::Server, MAX_PAYLOAD);
    let mut acc = Vec::new();
    for read in wire.chunks(read_size) {
        acc.extend_from_slice(read);
        loop {
            let decoded = match decoder.decode(&mut acc) {
                Ok(decoded) => decoded,
                Err(_) => return,
            };
            let consumed = decoded.consumed;
            if let Some(Message::Text(text)) = decoded.message {
                assert!(std::str::from_utf8(text).is_ok(), "text message is not UTF-8");
            }
            if consumed == 0 {
                break;
            }
            acc.drain(..consumed);
        }
    }
});
