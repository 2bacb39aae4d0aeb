//! permessage-deflate as the runtime meets it: the first bytes choose the offer's window bits
//! and context takeover, the rest is split into compressed pieces for a server-role decoder
//! with an inflater and a small `max_payload`. Any panic is a bug; errors are expected, and a
//! message is never larger than the limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use volley::proto::ws::{
    apply_mask, write_frame_header, Decoder, Inflater, Message, OpCode, Role, RSV1,
};

/// Small enough that the fuzzer reaches the inflated-size limit quickly.
const MAX_PAYLOAD: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&[knobs, split], rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let bits = 8 + (knobs & 7);
    let no_context_takeover = knobs & 8 != 0;
    let mut decoder = Decoder::new(Role::Server, MAX_PAYLOAD)
        .with_inflater(Inflater::new(bits, no_context_takeover));
    // Each piece of the input is one frame; RSV1 and FIN follow the piece's position so both
    // whole and fragmented compressed messages come out.
    let piece = usize::from(split).max(1);
    let mut first = true;
    for (i, chunk) in rest.chunks(piece).enumerate() {
        let fin = i % 3 == 2 || chunk.len() < piece;
        let opcode = match (first, knobs & 16 != 0) {
            (true, true) => OpCode::Text,
            (true, false) => OpCode::Binary,
            (false, _) => OpCode::Continuation,
        };
        let mut frame = Vec::new();
        write_frame_header(&mut frame, opcode, fin, chunk.len(), Some([1, 2, 3, 4]));
        if first {
            frame[0] |= RSV1;
        }
        let start = frame.len();
        frame.extend_from_slice(chunk);
        apply_mask(&mut frame[start..], [1, 2, 3, 4], 0);
        first = fin;
        match decoder.decode(&mut frame) {
            Ok(d) => match d.message {
                Some(Message::Text(t)) => {
                    assert!(t.len() <= MAX_PAYLOAD);
                    assert!(std::str::from_utf8(t).is_ok(), "text message is not UTF-8");
                }
                Some(Message::Binary(b)) => assert!(b.len() <= MAX_PAYLOAD),
                _ => {}
            },
            Err(_) => return,
        }
    }
});
