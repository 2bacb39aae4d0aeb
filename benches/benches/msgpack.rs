//! Volley's MessagePack decoder (`proto/msgpack.rs`, used by the Redis adapters and the
//! msgpack parser) against the `rmpv` crate's borrowing decoder (`read_value_ref`), on the
//! messages the adapters read most: a `@socket.io/redis-adapter` broadcast as Node's notepack
//! writes it (the golden bytes of `adapter/wire.rs`), a chat event with an object of ten
//! fields, and an event with a 1 KiB binary value. Both decode into a borrowed value tree and
//! the result is walked (counted), so neither skips work.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rmpv::{Value, ValueRef};
use std::hint::black_box;
use volley::bench_internals::msgpack_values;

/// The broadcast of `adapter/wire.rs`'s golden test: `[uid, packet, opts]`.
const BROADCAST: &[u8] = b"\x93\xa4uid1\x83\xa4type\x02\xa4data\x92\xa4news\x01\xa3nsp\xa1/\x83\xa5rooms\x91\xa1r\xa6except\x91\xa1x\xa5flags\x80";

/// `[uid, {type: 2, data: ["event", payload], nsp: "/"}, {rooms: ["room"], except: [], flags: {}}]`.
fn broadcast_of(payload: Value) -> Vec<u8> {
    let s = |t: &str| Value::from(t);
    let packet = Value::Map(vec![
        (s("type"), Value::from(2)),
        (s("data"), Value::Array(vec![s("event"), payload])),
        (s("nsp"), s("/")),
    ]);
    let opts = Value::Map(vec![
        (s("rooms"), Value::Array(vec![s("room")])),
        (s("except"), Value::Array(vec![])),
        (s("flags"), Value::Map(vec![])),
    ]);
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &Value::Array(vec![s("HxVbT1"), packet, opts]))
        .expect("encodes");
    out
}

fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let chat = Value::Map(
        (0..10)
            .map(|i| {
                (
                    Value::from(format!("field{i}")),
                    if i % 2 == 0 {
                        Value::from(i * 1000)
                    } else {
                        Value::from(format!("value number {i}"))
                    },
                )
            })
            .collect(),
    );
    vec![
        ("golden broadcast", BROADCAST.to_vec()),
        ("chat object", broadcast_of(chat)),
        ("1 KiB binary", broadcast_of(Value::Binary(vec![7; 1024]))),
    ]
}

fn count(v: &ValueRef<'_>) -> usize {
    match v {
        ValueRef::Array(items) => 1 + items.iter().map(count).sum::<usize>(),
        ValueRef::Map(pairs) => {
            1 + pairs
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("msgpack-decode");
    for (name, bytes) in samples() {
        let mut rd = &bytes[..];
        let theirs = rmpv::decode::read_value_ref(&mut rd)
            .map(|v| count(&v))
            .ok();
        assert_eq!(
            msgpack_values(&bytes),
            theirs,
            "{name}: both read the same tree"
        );
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("volley/{name}"), |b| {
            b.iter(|| msgpack_values(black_box(&bytes)))
        });
        g.bench_function(format!("rmpv/{name}"), |b| {
            b.iter(|| {
                let mut rd = black_box(&bytes[..]);
                rmpv::decode::read_value_ref(&mut rd)
                    .map(|v| count(&v))
                    .ok()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
