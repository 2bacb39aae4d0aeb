//! Compression of polling payloads (issue "Compression", item 3): which deflate implementation
//! Volley's `Content-Encoding: gzip`/`deflate` responses should use, measured on the payloads
//! they carry — Socket.IO events with JSON arguments, `\x1e`-joined, of about 1 KB and 16 KB.
//!
//! - `miniz_oxide/*` and `zlib-rs/*`: the two pure-Rust backends flate2 can sit on (its
//!   default, and its `zlib-rs` feature), called directly so both are measured in one build,
//!   zlib format, level 6 (zlib's and Node's default). `oneshot` builds the compressor for
//!   each payload; `reused` resets one compressor between payloads, as Volley does.
//! - `volley/*`: what a polling response costs in the engine (`proto::http::encoding`), gzip and
//!   deflate, on the backend the engine is built with.
//!
//! - `permessage-deflate/*`: a WebSocket message's compression on the same kind of content,
//!   with and without context takeover, and its inflation.
//!
//! Before the timings the compressed sizes are printed (they do not depend on the run).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use volley::proto::http::encoding::{compress, ContentEncoding};

/// A polling payload of Socket.IO chat events of at least `size` bytes: varied words, numbers
/// and ids, as a chat or a dashboard sends them.
fn payload(size: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the",
        "meeting",
        "moved",
        "to",
        "room",
        "at",
        "noon",
        "please",
        "bring",
        "laptop",
        "deploy",
        "finished",
        "green",
        "build",
        "latency",
        "is",
        "fine",
        "now",
        "thanks",
        "ok",
        "dashboard",
        "cpu",
        "memory",
        "alert",
        "cleared",
        "new",
        "order",
        "shipped",
        "customer",
        "asked",
        "about",
        "refund",
        "lunch",
        "anyone",
        "coffee",
        "later",
        "release",
        "notes",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut out = Vec::new();
    let mut n = 0u64;
    while out.len() < size {
        if !out.is_empty() {
            out.push(0x1e);
        }
        let words: Vec<&str> = (0..3 + next() % 12)
            .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
            .collect();
        let event = format!(
            "42[\"chat\",{{\"id\":{},\"user\":\"user-{}\",\"room\":\"room-{}\",\"text\":\"{}\",\"ts\":{},\"score\":{:.3}}}]",
            1_000_000 + n,
            next() % 500,
            next() % 20,
            words.join(" "),
            1_765_000_000_000u64 + next() % 100_000_000,
            (next() % 100_000) as f64 / 997.0,
        );
        out.extend_from_slice(event.as_bytes());
        n += 1;
    }
    out
}

fn miniz_oneshot(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

fn zlib_rs_oneshot(data: &[u8], out: &mut [u8]) -> usize {
    let (done, rc) = zlib_rs::compress_slice(out, data, zlib_rs::DeflateConfig::new(6));
    assert_eq!(rc, zlib_rs::ReturnCode::Ok);
    done.len()
}

/// miniz_oxide with one compressor reset between payloads.
struct MinizReused(Box<miniz_oxide::deflate::core::CompressorOxide>);

impl MinizReused {
    fn new() -> Self {
        let flags = miniz_oxide::deflate::core::create_comp_flags_from_zip_params(6, 1, 0);
        MinizReused(Box::new(miniz_oxide::deflate::core::CompressorOxide::new(
            flags,
        )))
    }

    fn run(&mut self, data: &[u8], out: &mut [u8]) -> usize {
        use miniz_oxide::deflate::core::{compress, TDEFLFlush, TDEFLStatus};
        self.0.reset();
        let (status, _, written) = compress(&mut self.0, data, out, TDEFLFlush::Finish);
        assert_eq!(status, TDEFLStatus::Done);
        written
    }
}

/// zlib-rs with one compressor reset between payloads.
struct ZlibRsReused(zlib_rs::Deflate);

impl ZlibRsReused {
    fn new() -> Self {
        ZlibRsReused(zlib_rs::Deflate::new(6, true, 15))
    }

    fn run(&mut self, data: &[u8], out: &mut [u8]) -> usize {
        self.0.reset();
        let status = self
            .0
            .compress(data, out, zlib_rs::DeflateFlush::Finish)
            .expect("deflate");
        assert_eq!(status, zlib_rs::Status::StreamEnd);
        self.0.total_out() as usize
    }
}

fn deflate(c: &mut Criterion) {
    let shapes = [("1k", payload(1024)), ("16k", payload(16 * 1024))];
    for (name, data) in &shapes {
        let mut out = vec![0u8; zlib_rs::compress_bound(data.len())];
        let mut gz = Vec::new();
        compress(ContentEncoding::Gzip, data, &mut gz);
        eprintln!(
            "payload {name}: {} bytes; zlib level 6: miniz_oxide {}, zlib-rs {}; volley gzip {}",
            data.len(),
            miniz_oneshot(data).len(),
            zlib_rs_oneshot(data, &mut out),
            gz.len(),
        );
    }
    let mut g = c.benchmark_group("deflate");
    for (name, data) in &shapes {
        g.throughput(Throughput::Bytes(data.len() as u64));
        let mut out = vec![0u8; zlib_rs::compress_bound(data.len())];
        g.bench_function(format!("miniz_oxide/oneshot/{name}"), |b| {
            b.iter(|| black_box(miniz_oneshot(black_box(data)).len()))
        });
        g.bench_function(format!("zlib-rs/oneshot/{name}"), |b| {
            b.iter(|| black_box(zlib_rs_oneshot(black_box(data), &mut out)))
        });
        let mut m = MinizReused::new();
        g.bench_function(format!("miniz_oxide/reused/{name}"), |b| {
            b.iter(|| black_box(m.run(black_box(data), &mut out)))
        });
        let mut z = ZlibRsReused::new();
        g.bench_function(format!("zlib-rs/reused/{name}"), |b| {
            b.iter(|| black_box(z.run(black_box(data), &mut out)))
        });
        let mut v = Vec::with_capacity(out.len() + 32);
        for enc in [ContentEncoding::Gzip, ContentEncoding::Deflate] {
            g.bench_function(format!("volley/{}/{name}", enc.as_str()), |b| {
                b.iter(|| {
                    v.clear();
                    compress(enc, black_box(data), &mut v);
                    black_box(v.len())
                })
            });
        }
    }
    g.finish();
}

/// `n` distinct Socket.IO messages of at least `size` bytes each, as a dashboard or a chat
/// history sends them: `42["update",[event,...]]` with the chat events of [`payload`], none
/// repeated.
fn messages(n: usize, size: usize) -> Vec<Vec<u8>> {
    let all = payload(n * size + size);
    let mut events = all.split(|b| *b == 0x1e).filter_map(|e| {
        let start = e.iter().position(|b| *b == b'{')?;
        let end = e.iter().rposition(|b| *b == b'}')?;
        e.get(start..=end)
    });
    (0..n)
        .map(|_| {
            let mut m = b"42[\"update\",[".to_vec();
            while m.len() < size {
                match events.next() {
                    Some(e) => {
                        if !m.ends_with(b"[") {
                            m.push(b',');
                        }
                        m.extend_from_slice(e);
                    }
                    None => break,
                }
            }
            m.extend_from_slice(b"]]");
            m
        })
        .collect()
}

/// permessage-deflate (issue "Compression", items 1 and 2): what one message costs to deflate
/// with context takeover (a connection's own compressor, which browsers and the Node client ask
/// for) and without (the compressor a broadcast shares), and to inflate; before the timings, the
/// bytes on the wire per message for each.
fn permessage_deflate(c: &mut Criterion) {
    use volley::proto::ws::{Deflater, Inflater};
    let shapes = [("2k", messages(64, 2048)), ("16k", messages(64, 16 * 1024))];
    for (name, msgs) in &shapes {
        let plain: usize = msgs.iter().map(Vec::len).sum();
        let mut sizes = Vec::new();
        for takeover in [false, true] {
            let mut d = Deflater::new(15, !takeover);
            let mut total = 0;
            for m in msgs {
                let mut out = Vec::new();
                d.deflate(m, &mut out);
                total += out.len();
            }
            sizes.push(total / msgs.len());
        }
        eprintln!(
            "messages {name}: {} bytes each; permessage-deflate: {} without context takeover \
             ({:.1}x), {} with it ({:.1}x)",
            plain / msgs.len(),
            sizes[0],
            plain as f64 / (sizes[0] * msgs.len()) as f64,
            sizes[1],
            plain as f64 / (sizes[1] * msgs.len()) as f64,
        );
    }
    let mut g = c.benchmark_group("permessage-deflate");
    for (name, msgs) in &shapes {
        g.throughput(Throughput::Bytes((msgs[0].len()) as u64));
        for (label, no_takeover) in [("no-context", true), ("context", false)] {
            let mut d = Deflater::new(15, no_takeover);
            let mut out = Vec::new();
            let mut i = 0;
            g.bench_function(format!("deflate/{label}/{name}"), |b| {
                b.iter(|| {
                    out.clear();
                    d.deflate(black_box(&msgs[i % msgs.len()]), &mut out);
                    i += 1;
                    black_box(out.len())
                })
            });
        }
        let mut d = Deflater::new(15, true);
        let compressed: Vec<Vec<u8>> = msgs
            .iter()
            .map(|m| {
                let mut out = Vec::new();
                d.deflate(m, &mut out);
                out
            })
            .collect();
        let mut inflater = Inflater::new(15, true);
        let mut out = Vec::new();
        let mut i = 0;
        g.bench_function(format!("inflate/{name}"), |b| {
            b.iter(|| {
                out.clear();
                let m = &compressed[i % compressed.len()];
                inflater.inflate(black_box(m), &mut out, 1 << 20).unwrap();
                inflater.finish(&mut out, 1 << 20).unwrap();
                i += 1;
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, deflate, permessage_deflate);
criterion_main!(benches);
