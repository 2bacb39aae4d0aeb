//! Property tests over the whole codec: encoder output, random fragmentation and random read
//! splits must decode to the same messages; arbitrary bytes must never panic.

use proptest::prelude::*;

use super::*;

/// An owned copy of a [`Message`], so results outlive the buffers they were decoded from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Owned {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

impl From<Message<'_>> for Owned {
    fn from(m: Message<'_>) -> Self {
        match m {
            Message::Text(t) => Self::Text(t.to_vec()),
            Message::Binary(b) => Self::Binary(b.to_vec()),
            Message::Ping(p) => Self::Ping(p.to_vec()),
            Message::Pong(p) => Self::Pong(p.to_vec()),
            Message::Close(c) => Self::Close(c.map(|c| (c.code.0, c.reason.to_owned()))),
        }
    }
}

/// One message as sent: where its payload is cut into fragments, and which pings go between them.
#[derive(Clone, Debug)]
struct Planned {
    message: Owned,
    cuts: Vec<usize>,
    pings: Vec<Vec<u8>>,
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=125)
}

fn message() -> impl Strategy<Value = Owned> {
    prop_oneof![
        4 => "\\PC{0,60}".prop_map(|s| Owned::Text(s.into_bytes())),
        4 => proptest::collection::vec(any::<u8>(), 0..300).prop_map(Owned::Binary),
        1 => control_payload().prop_map(Owned::Ping),
        1 => control_payload().prop_map(Owned::Pong),
        1 => (prop_oneof![1000u16..=1003, 1007u16..=1011, 3000u16..=4999], "\\PC{0,30}")
            .prop_map(|(code, reason)| Owned::Close(Some((code, reason)))),
        1 => Just(Owned::Close(None)),
    ]
}

fn planned() -> impl Strategy<Value = Planned> {
    (
        message(),
        proptest::collection::vec(0usize..320, 0..4),
        proptest::collection::vec(control_payload(), 0..3),
    )
        .prop_map(|(message, mut cuts, pings)| {
            cuts.sort_unstable();
            Planned {
                message,
                cuts,
                pings,
            }
        })
}

/// Appends `payload` as one masked frame; the key is derived from a running counter.
fn push_frame(wire: &mut Vec<u8>, op: OpCode, fin: bool, payload: &[u8], seed: &mut u32) {
    *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
    let key = seed.to_be_bytes();
    write_frame_header(wire, op, fin, payload.len(), Some(key));
    let start = wire.len();
    wire.extend_from_slice(payload);
    apply_mask(&mut wire[start..], key, 0);
}

/// Encodes the plan as client frames; returns the wire bytes and the messages a decoder must
/// yield, in order.
fn encode_plan(plan: &[Planned], mut seed: u32) -> (Vec<u8>, Vec<Owned>) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for item in plan {
        let (op, payload) = match &item.message {
            Owned::Text(p) => (OpCode::Text, p.as_slice()),
            Owned::Binary(p) => (OpCode::Binary, p.as_slice()),
            control => {
                let payload = match control {
                    Owned::Ping(p) | Owned::Pong(p) => p.clone(),
                    Owned::Close(Some((code, reason))) => {
                        let mut p = code.to_be_bytes().to_vec();
                        p.extend_from_slice(reason.as_bytes());
                        p
                    }
                    _ => Vec::new(),
                };
                let op = match control {
                    Owned::Ping(_) => OpCode::Ping,
                    Owned::Pong(_) => OpCode::Pong,
                    _ => OpCode::Close,
                };
                push_frame(&mut wire, op, true, &payload, &mut seed);
                expected.push(item.message.clone());
                continue;
            }
        };
        let mut bounds: Vec<usize> = item.cuts.iter().map(|&c| c.min(payload.len())).collect();
        bounds.push(payload.len());
        let mut start = 0;
        for (i, &end) in bounds.iter().enumerate() {
            let last = i + 1 == bounds.len();
            let frame_op = if i == 0 { op } else { OpCode::Continuation };
            push_frame(&mut wire, frame_op, last, &payload[start..end], &mut seed);
            start = end;
            if let (false, Some(ping)) = (last, item.pings.get(i)) {
                push_frame(&mut wire, OpCode::Ping, true, ping, &mut seed);
                expected.push(Owned::Ping(ping.clone()));
            }
        }
        expected.push(item.message.clone());
    }
    (wire, expected)
}

/// Feeds `wire` the way the runtime does: append a read, decode until more is needed, drain.
fn decode_in_chunks(
    dec: &mut Decoder,
    wire: &[u8],
    chunks: &[usize],
) -> Result<(Vec<Owned>, usize), WsError> {
    let mut acc = Vec::new();
    let mut got = Vec::new();
    let mut sizes = chunks.iter().cycle();
    let mut fed = 0;
    while fed < wire.len() {
        let n = sizes.next().copied().unwrap_or(1).min(wire.len() - fed);
        acc.extend_from_slice(&wire[fed..fed + n]);
        fed += n;
        loop {
            let d = dec.decode(&mut acc)?;
            let consumed = d.consumed;
            if let Some(m) = d.message {
                got.push(Owned::from(m));
            }
            if consumed == 0 {
                break;
            }
            acc.drain(..consumed);
        }
    }
    Ok((got, acc.len()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fragmented_chunked_stream_round_trips(
        plan in proptest::collection::vec(planned(), 0..8),
        seed in any::<u32>(),
        chunks in proptest::collection::vec(1usize..80, 1..20),
    ) {
        let (wire, expected) = encode_plan(&plan, seed);
        let mut dec = Decoder::new(Role::Server, 4096);
        let (got, left) = decode_in_chunks(&mut dec, &wire, &chunks)?;
        prop_assert_eq!(left, 0);
        prop_assert_eq!(got, expected);
        prop_assert_eq!(dec.buffered_fragment_bytes(), 0);
    }

    #[test]
    fn encoders_round_trip(
        payload in proptest::collection::vec(any::<u8>(), 0..70_000),
        key in any::<[u8; 4]>(),
    ) {
        let mut wire = Vec::new();
        encode_frame(&mut wire, OpCode::Binary, &payload);
        encode_masked_frame(&mut wire, OpCode::Binary, &payload, key);
        prop_assert_eq!(wire.len(), 2 * payload.len()
            + frame_header_len(payload.len(), false) + frame_header_len(payload.len(), true));

        let split = frame_header_len(payload.len(), false) + payload.len();
        let (server_frame, client_frame) = wire.split_at_mut(split);
        let mut dec = Decoder::new(Role::Client, 1 << 17);
        let d = dec.decode(server_frame)?;
        prop_assert_eq!((d.consumed, d.message), (split, Some(Message::Binary(&mut payload.clone()))));
        let mut dec = Decoder::new(Role::Server, 1 << 17);
        let d = dec.decode(client_frame)?;
        prop_assert_eq!(d.message, Some(Message::Binary(&mut payload.clone())));
    }

    #[test]
    fn close_encoder_round_trips(code in 3000u16..5000, reason in "\\PC{0,80}") {
        let mut wire = Vec::new();
        encode_close(&mut wire, CloseCode(code), &reason);
        let mut dec = Decoder::new(Role::Client, 0);
        let d = dec.decode(&mut wire)?;
        match d.message {
            Some(Message::Close(Some(frame))) => {
                prop_assert_eq!(frame.code, CloseCode(code));
                prop_assert!(reason.starts_with(frame.reason));
                prop_assert!(frame.reason.len() <= 123);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        chunks in proptest::collection::vec(1usize..64, 1..8),
        max in 0usize..300,
    ) {
        for role in [Role::Server, Role::Client] {
            let mut dec = Decoder::new(role, max);
            // Errors are expected; only panics fail the test.
            let _ = decode_in_chunks(&mut dec, &bytes, &chunks);
        }
    }

    #[test]
    fn arbitrary_bytes_after_valid_headers_never_panic(
        prefix in proptest::collection::vec(planned(), 0..3),
        junk in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let (mut wire, _) = encode_plan(&prefix, 7);
        wire.extend_from_slice(&junk);
        let mut dec = Decoder::new(Role::Server, 512);
        let _ = decode_in_chunks(&mut dec, &wire, &[wire.len().max(1)]);
    }
}
