//! Negotiation cases, the worked examples of RFC 7692 §7.2.3 byte for byte, the size limit
//! on inflated bytes, and round trips with and without context takeover.

use proptest::prelude::*;

use super::super::frame::{write_frame_header, RSV1};
use super::super::{apply_mask, Decoder, Message, OpCode, Role, WsError};
use super::*;

fn params(offer: &str) -> Option<(DeflateParams, String)> {
    negotiate([offer]).map(|a| (a.params, a.response))
}

#[test]
fn a_bare_offer_is_accepted_with_defaults() {
    let (p, response) = params("permessage-deflate").unwrap();
    assert_eq!(p, DeflateParams::default());
    assert_eq!(response, "permessage-deflate");
}

#[test]
fn the_browser_offer_leaves_client_bits_to_the_client() {
    let (p, response) = params("permessage-deflate; client_max_window_bits").unwrap();
    assert_eq!(p.client_max_window_bits, 15);
    assert_eq!(response, "permessage-deflate");
}

#[test]
fn every_parameter_is_echoed() {
    let offer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=\"9\"";
    let (p, response) = params(offer).unwrap();
    assert_eq!(
        p,
        DeflateParams {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 10,
            client_max_window_bits: 9,
        }
    );
    assert_eq!(
        response,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
         server_max_window_bits=10; client_max_window_bits=9"
    );
}

#[test]
fn invalid_offers_are_declined_and_the_next_one_taken() {
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_max_window_bits=\"10",
        "x-webkit-deflate-frame",
    ] {
        assert_eq!(params(bad), None, "{bad}");
        let two = format!("{bad}, permessage-deflate; client_no_context_takeover");
        let (p, _) = params(&two).unwrap();
        assert!(p.client_no_context_takeover, "{two}");
    }
    let across_headers = negotiate(["foo", "permessage-deflate; server_max_window_bits=8"]);
    assert_eq!(across_headers.unwrap().params.server_max_window_bits, 8);
    assert_eq!(negotiate(["", "foo; bar"]), None);
}

fn deflate_all(d: &mut Deflater, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    d.deflate(message, &mut out);
    out
}

fn inflate_all(i: &mut Inflater, payload: &[u8], max: usize) -> Result<Vec<u8>, WsError> {
    let mut out = Vec::new();
    i.inflate(payload, &mut out, max)?;
    i.finish(&mut out, max)?;
    Ok(out)
}

#[test]
fn rfc_7692_hello_compressed() {
    // §7.2.3.1: one message, as the RFC shows it on the wire.
    let mut d = Deflater::new(15, false);
    let payload = deflate_all(&mut d, b"Hello");
    assert_eq!(payload, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    // §7.2.3.2: the second "Hello" refers back into the kept window.
    assert_eq!(
        deflate_all(&mut d, b"Hello"),
        [0xf2, 0x00, 0x11, 0x00, 0x00]
    );
    // Without context takeover it is compressed afresh.
    let mut d = Deflater::new(15, true);
    deflate_all(&mut d, b"Hello");
    assert_eq!(deflate_all(&mut d, b"Hello"), payload);
}

#[test]
fn rfc_7692_examples_inflate() {
    let mut i = Inflater::new(15, false);
    for payload in [
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..],
        // §7.2.3.2, referring to the first message's window.
        &[0xf2, 0x00, 0x11, 0x00, 0x00],
        // §7.2.3.3: a stored block.
        &[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ],
        // §7.2.3.4: BFINAL set.
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        // §7.2.3.5: two blocks in one message.
        &[
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ],
    ] {
        assert_eq!(inflate_all(&mut i, payload, 100).unwrap(), b"Hello");
    }
    // §7.2.3.6: an empty message is one byte, both ways.
    assert_eq!(inflate_all(&mut i, &[0x00], 100).unwrap(), b"");
    assert_eq!(deflate_all(&mut Deflater::new(15, true), b""), [0x00]);
    // And the window is still usable after all of them.
    let mut d = Deflater::new(15, false);
    let mut i = Inflater::new(15, false);
    for m in [&b"Hello"[..], b"", b"Hello, Hello", b""] {
        assert_eq!(
            inflate_all(&mut i, &deflate_all(&mut d, m), 100).unwrap(),
            m
        );
    }
}

#[test]
fn rfc_7692_frame_decodes_through_the_decoder() {
    // §7.2.3.1 as a client sends it: masked, RSV1 on the only frame.
    let payload = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let key = [1, 2, 3, 4];
    let mut frame = Vec::new();
    write_frame_header(&mut frame, OpCode::Text, true, payload.len(), Some(key));
    frame[0] |= RSV1;
    assert_eq!(frame[0], 0xc1);
    let start = frame.len();
    frame.extend_from_slice(&payload);
    apply_mask(&mut frame[start..], key, 0);
    let mut dec = Decoder::new(Role::Server, 100).with_inflater(Inflater::new(15, false));
    let d = dec.decode(&mut frame).unwrap();
    assert!(matches!(d.message, Some(Message::Text(t)) if t == b"Hello"));
    // Without the extension the same frame is a protocol error.
    let mut frame2 = frame.clone();
    frame2[start..].copy_from_slice(&payload);
    apply_mask(&mut frame2[start..], key, 0);
    let e = Decoder::new(Role::Server, 100)
        .decode(&mut frame2)
        .unwrap_err();
    assert!(matches!(e, WsError::Protocol(_)));
}

#[test]
fn a_bomb_is_refused_past_the_limit_without_growing() {
    let big = vec![0u8; 10 << 20];
    let payload = deflate_all(&mut Deflater::new(15, true), &big);
    assert!(payload.len() < 20_000, "{}", payload.len());
    let mut out = Vec::new();
    let mut i = Inflater::new(15, false);
    assert_eq!(i.inflate(&payload, &mut out, 100_000), Err(WsError::TooBig));
    assert!(out.capacity() <= 100_001, "{}", out.capacity());
    // Exactly at the limit passes.
    let payload = deflate_all(&mut Deflater::new(15, true), &big[..100_000]);
    let out = inflate_all(&mut Inflater::new(15, true), &payload, 100_000).unwrap();
    assert_eq!(out.len(), 100_000);
}

#[test]
fn garbage_is_bad_compression() {
    let mut i = Inflater::new(15, false);
    // BTYPE 11 is reserved.
    assert_eq!(
        inflate_all(&mut i, &[0xff, 0xff, 0xff], 100),
        Err(WsError::BadCompression)
    );
    assert_eq!(WsError::BadCompression.close_code().0, 1007);
}

#[test]
fn small_windows_round_trip() {
    let text: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("{{\"n\":{},\"w\":\"{}\"}}", i % 700, i % 13).into_bytes())
        .collect();
    for bits in 8..=15 {
        for no_ctx in [false, true] {
            let mut d = Deflater::new(bits, no_ctx);
            let mut i = Inflater::new(bits, no_ctx);
            for chunk in text.chunks(7000) {
                let c = deflate_all(&mut d, chunk);
                assert_eq!(
                    inflate_all(&mut i, &c, 1 << 20).unwrap(),
                    chunk,
                    "bits {bits}"
                );
            }
        }
    }
}

#[test]
fn context_is_released_without_takeover() {
    let mut d = Deflater::new(15, true);
    deflate_all(&mut d, b"some message");
    assert!(d.z.is_none());
    let mut i = Inflater::new(15, true);
    inflate_all(&mut i, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 10).unwrap();
    assert!(i.z.is_none());
    let mut d = Deflater::new(15, false);
    deflate_all(&mut d, b"some message");
    assert!(d.z.is_some());
}

proptest! {
    /// However a compressed message is split into pieces, it inflates to the same bytes.
    #[test]
    fn split_input_inflates_the_same(
        messages in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..3000), 1..4),
        cuts in proptest::collection::vec(0usize..3000, 0..6),
        no_ctx in any::<bool>(),
    ) {
        let mut d = Deflater::new(15, no_ctx);
        let mut i = Inflater::new(15, no_ctx);
        for m in &messages {
            let c = deflate_all(&mut d, m);
            let mut cuts: Vec<usize> = cuts.iter().map(|&x| x % (c.len() + 1)).collect();
            cuts.sort_unstable();
            let mut out = Vec::new();
            let mut at = 0;
            for cut in cuts.into_iter().chain([c.len()]) {
                i.inflate(&c[at..cut], &mut out, 1 << 20).unwrap();
                at = cut;
            }
            i.finish(&mut out, 1 << 20).unwrap();
            prop_assert_eq!(&out, m);
        }
    }
}

/// A masked client frame, RSV1 set when `rsv1`.
fn client_frame(opcode: OpCode, fin: bool, rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let key = [9, 8, 7, 6];
    let mut out = Vec::new();
    write_frame_header(&mut out, opcode, fin, payload.len(), Some(key));
    if rsv1 {
        out[0] |= RSV1;
    }
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
    out
}

fn deflating_decoder(max: usize) -> Decoder {
    Decoder::new(Role::Server, max).with_inflater(Inflater::new(15, false))
}

#[test]
fn fragmented_compressed_message_with_a_ping_between() {
    let text = "compressed ".repeat(200);
    let c = deflate_all(&mut Deflater::new(15, false), text.as_bytes());
    let (a, b) = c.split_at(c.len() / 2);
    let mut wire = client_frame(OpCode::Text, false, true, a);
    wire.extend(client_frame(OpCode::Ping, true, false, b"p"));
    wire.extend(client_frame(OpCode::Continuation, true, false, b));
    let mut dec = deflating_decoder(1 << 20);
    let mut at = 0;
    let mut seen = Vec::new();
    while at < wire.len() {
        let d = dec.decode(&mut wire[at..]).unwrap();
        at += d.consumed;
        match d.message {
            Some(Message::Ping(p)) => seen.push(format!("ping {}", p.len())),
            Some(Message::Text(t)) => seen.push(String::from_utf8(t.to_vec()).unwrap()),
            Some(other) => panic!("{other:?}"),
            None => {}
        }
    }
    assert_eq!(seen, ["ping 1".to_string(), text]);
}

#[test]
fn rsv1_only_on_a_data_message_first_frame() {
    let c = deflate_all(&mut Deflater::new(15, false), b"Hello");
    for bad in [
        client_frame(OpCode::Ping, true, true, b""),
        client_frame(OpCode::Close, true, true, b""),
    ] {
        let e = deflating_decoder(100).decode(&mut bad.clone()).unwrap_err();
        assert!(matches!(e, WsError::Protocol(_)), "{e:?}");
    }
    let mut dec = deflating_decoder(100);
    let mut first = client_frame(OpCode::Text, false, true, &c[..2]);
    assert_eq!(dec.decode(&mut first).unwrap().message, None);
    let mut second = client_frame(OpCode::Continuation, true, true, &c[2..]);
    assert!(matches!(
        dec.decode(&mut second).unwrap_err(),
        WsError::Protocol(_)
    ));
}

#[test]
fn decoder_limits_inflated_bytes_and_checks_utf8() {
    let c = deflate_all(&mut Deflater::new(15, false), &[b'a'; 101]);
    let mut frame = client_frame(OpCode::Binary, true, true, &c);
    assert_eq!(
        deflating_decoder(100).decode(&mut frame).unwrap_err(),
        WsError::TooBig
    );
    let c = deflate_all(&mut Deflater::new(15, false), b"ok\xff");
    let mut frame = client_frame(OpCode::Text, true, true, &c);
    assert_eq!(
        deflating_decoder(100).decode(&mut frame).unwrap_err(),
        WsError::InvalidUtf8
    );
    // A plain message still passes on a connection that negotiated compression.
    let mut frame = client_frame(OpCode::Binary, true, false, b"plain");
    let mut dec = deflating_decoder(100);
    let d = dec.decode(&mut frame).unwrap();
    assert!(matches!(d.message, Some(Message::Binary(b)) if b == b"plain"));
}
