//! Codec throughput per layer and message shape (small text, 1 KB text, 1 KB binary):
//! WebSocket frame decode (unmask in place, UTF-8 check) and encode, Engine.IO message decode and
//! encode, Socket.IO packet decode (JSON validated, arguments as spans) and encode, and the same
//! packet with the msgpack parser (`sio-msgpack`: a binary shape's attachment inline as `bin`).
//!
//! Decoders work in place, so each iteration gets a fresh copy of the wire bytes; the copy is
//! made outside the timed section (`iter_batched_ref`).

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use volley::proto::eio::{self, decode_binary, decode_text, encode_text};
use volley::proto::sio::{decode, decode_msgpack, encode_event, encode_msgpack, Limits};
use volley::proto::ws::{encode_frame, Decoder, Role};
use volley_benches::Sample;

fn websocket(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws");
    for s in Sample::all() {
        let frame = s.ws_client_frame();
        g.throughput(Throughput::Bytes(frame.len() as u64));
        let mut dec = Decoder::new(Role::Server, 1 << 20);
        g.bench_function(format!("decode/{}", s.name), |b| {
            b.iter_batched_ref(
                || frame.clone(),
                |buf| {
                    let d = dec.decode(buf).map(|d| d.consumed);
                    black_box(d).ok()
                },
                BatchSize::SmallInput,
            )
        });
        let body = s.eio_message();
        let mut out = Vec::with_capacity(body.len() + 16);
        g.bench_function(format!("encode/{}", s.name), |b| {
            b.iter(|| {
                out.clear();
                encode_frame(&mut out, s.opcode(), black_box(&body));
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn engine_io(c: &mut Criterion) {
    let mut g = c.benchmark_group("eio");
    for s in Sample::all() {
        let msg = s.eio_message();
        g.throughput(Throughput::Bytes(msg.len() as u64));
        g.bench_function(format!("decode/{}", s.name), |b| {
            b.iter_batched_ref(
                || msg.clone(),
                |buf| {
                    if s.binary {
                        black_box(decode_binary(buf));
                    } else {
                        black_box(decode_text(buf).ok());
                    }
                },
                BatchSize::SmallInput,
            )
        });
        let packet = s.sio_packet();
        let mut out = Vec::with_capacity(packet.len() + 1);
        g.bench_function(format!("encode/{}", s.name), |b| {
            b.iter(|| {
                out.clear();
                encode_text(&mut out, eio::PacketType::Message, black_box(&packet));
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn socket_io(c: &mut Criterion) {
    let mut g = c.benchmark_group("sio");
    let limits = Limits::default();
    for s in Sample::all() {
        let packet = s.sio_packet();
        g.throughput(Throughput::Bytes(packet.len() as u64));
        g.bench_function(format!("decode/{}", s.name), |b| {
            b.iter(|| {
                let p = decode(black_box(&packet), &limits);
                black_box(p.map(|p| p.attachments)).ok()
            })
        });
        let arg = s.arg_json();
        let attachments = usize::from(s.binary);
        let mut out = Vec::with_capacity(packet.len() + 16);
        g.bench_function(format!("encode/{}", s.name), |b| {
            b.iter(|| {
                out.clear();
                encode_event(&mut out, "/", None, "echo", &[black_box(&arg)], attachments);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn socket_io_msgpack(c: &mut Criterion) {
    let mut g = c.benchmark_group("sio-msgpack");
    let limits = Limits::default();
    for s in Sample::all() {
        let packet = s.sio_packet();
        let attachments: Vec<Bytes> = if s.binary {
            vec![Bytes::from(s.payload.clone())]
        } else {
            Vec::new()
        };
        let mut wire = Vec::new();
        encode_msgpack(&packet, &attachments, &mut wire).expect("the sample transcodes");
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function(format!("decode/{}", s.name), |b| {
            b.iter(|| {
                let p = decode_msgpack(black_box(&wire), &limits);
                black_box(p.map(|p| p.attachments.len())).ok()
            })
        });
        // What an emit costs: the text form, then its transcoding.
        let arg = s.arg_json();
        let (mut text, mut out) = (Vec::new(), Vec::with_capacity(wire.len() + 16));
        g.bench_function(format!("encode/{}", s.name), |b| {
            b.iter(|| {
                text.clear();
                out.clear();
                encode_event(
                    &mut text,
                    "/",
                    None,
                    "echo",
                    &[black_box(&arg)],
                    attachments.len(),
                );
                encode_msgpack(&text, &attachments, &mut out).ok();
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, websocket, engine_io, socket_io, socket_io_msgpack);
criterion_main!(benches);
