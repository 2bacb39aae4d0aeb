//! Broadcast fan-out: one encoded frame pushed into 10,000 connection write queues with
//! `OutQueue::push_shared` (a reference-count bump per queue, no copy). Throughput is in
//! elements, one per delivery, so criterion's `elem/s` is deliveries per second and the time per
//! iteration divided by 10,000 is the cost of one delivery.
//!
//! The queues persist across iterations (as they do on a worker); they are emptied outside the
//! timed section.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use volley::bench_internals::OutQueue;
use volley::proto::ws::OpCode;
use volley::server::encode_ws_frame;

const QUEUES: usize = 10_000;

fn fan_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    g.throughput(Throughput::Elements(QUEUES as u64));
    for (name, len) in [("small", 32), ("1k", 1024)] {
        let mut packet = b"42[\"broadcast\",\"".to_vec();
        packet.extend_from_slice(&volley_benches::text(len));
        packet.extend_from_slice(b"\"]");
        let frame: Bytes = encode_ws_frame(OpCode::Text, &packet);
        let mut queues: Vec<OutQueue> = (0..QUEUES).map(|_| OutQueue::new()).collect();
        g.bench_function(format!("push_shared-10k/{name}"), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    for q in &mut queues {
                        q.push_shared(frame.clone());
                    }
                    spent += start.elapsed();
                    black_box(queues.first().map(OutQueue::queued_bytes));
                    queues.iter_mut().for_each(OutQueue::clear);
                }
                spent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
