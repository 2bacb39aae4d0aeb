//! Fuzzes the Socket.IO packet layer. Input: the packet text, then optional attachments, each
//! segment separated by a NUL byte (text packets never need one). Checks that nothing panics,
//! that binary assembly respects its limits, and that a decoded event re-encodes to the same
//! fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use volley::proto::sio::{
    decode, encode_event, BinaryAssembler, Limits, OwnedPacket, PacketType, SioError,
};

fuzz_target!(|input: &[u8]| {
    let limits = Limits {
        max_attachments: 4,
        max_attachment_bytes: 256,
        max_depth: 16,
    };
    let mut segments = input.split(|&b| b == 0);
    let text = segments.next().unwrap_or_default().to_vec();
    let Ok(packet) = decode(&text, &limits) else {
        return;
    };
    assert!(packet.attachments <= limits.max_attachments);
    if packet.ty.is_binary() {
        assemble(packet, segments, &limits);
    } else if packet.ty == PacketType::Event {
        reencode_event(&packet, &limits);
    }
});

fn assemble<'s>(
    packet: volley::proto::sio::Packet<'_>,
    segments: impl Iterator<Item = &'s [u8]>,
    limits: &Limits,
) {
    let expected = packet.attachments;
    let Ok(mut asm) = BinaryAssembler::start(packet, limits) else {
        return;
    };
    if asm.is_complete() {
        check_owned(&asm.finish().expect("complete assembler finishes"), limits);
        return;
    }
    for segment in segments {
        match asm.push(segment) {
            Ok(Some(owned)) => {
                assert_eq!(owned.attachments.len(), expected);
                check_owned(&owned, limits);
                assert_eq!(asm.push(b"late"), Err(SioError::UnexpectedBinary));
                return;
            }
            Ok(None) => assert!(asm.remaining() > 0),
            Err(e) => {
                assert_eq!(e, SioError::AttachmentsTooLarge);
                return;
            }
        }
    }
}

fn check_owned(owned: &OwnedPacket, limits: &Limits) {
    let total: usize = owned.attachments.iter().map(|a| a.len()).sum();
    assert!(total <= limits.max_attachment_bytes);
    let args = owned.args();
    for arg in args.iter() {
        if let Some(num) = arg.placeholder_num() {
            assert!(args.binary(num).is_some(), "validated placeholder resolves");
        }
    }
    let mut out = Vec::new();
    args.write_json(&mut out);
}

fn reencode_event(packet: &volley::proto::sio::Packet<'_>, limits: &Limits) {
    let name = packet.event_name().expect("decoded events have a name");
    let args = packet.args();
    let raw: Vec<Vec<u8>> = args
        .iter()
        .map(|a| {
            let mut out = Vec::new();
            a.write_json(&mut out);
            out
        })
        .collect();
    let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    encode_event(&mut out, packet.nsp, packet.id, name, &refs, 0);
    let again = decode(&out, limits).expect("re-encoded event decodes");
    assert_eq!(again.ty, PacketType::Event);
    assert_eq!(again.nsp, packet.nsp);
    assert_eq!(again.id, packet.id);
    assert_eq!(again.event_name(), Some(name));
    assert_eq!(again.args().len(), args.len());
}
