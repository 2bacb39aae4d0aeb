// Closed-loop WebSocket echo load from the `ws` npm client, used by scripts/bench.sh until the
// Rust load generator exists. Usage: node ws_bench.mjs URL CONNECTIONS SECONDS PAYLOAD_BYTES
// Prints one JSON line: messages, rate, latency percentiles (ms).
import WebSocket from 'ws';

const [url, conns = '50', secs = '5', size = '32'] = process.argv.slice(2);
const payload = 'x'.repeat(Number(size));
const lat = [];
let count = 0;
let errors = 0;
let running = true;

const sockets = await Promise.all(Array.from({ length: Number(conns) }, () => new Promise((resolve, reject) => {
  const ws = new WebSocket(url);
  ws.once('open', () => resolve(ws));
  ws.once('error', reject);
})));

const start = process.hrtime.bigint();
for (const ws of sockets) {
  let sent = 0n;
  ws.on('message', (data) => {
    if (data.length !== payload.length) errors++;
    const now = process.hrtime.bigint();
    lat.push(Number(now - sent) / 1e6);
    count++;
    if (running) { sent = process.hrtime.bigint(); ws.send(payload); }
  });
  ws.on('error', () => errors++);
  sent = process.hrtime.bigint();
  ws.send(payload);
}
await new Promise((r) => setTimeout(r, Number(secs) * 1000));
running = false;
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
lat.sort((a, b) => a - b);
const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] : 0;
console.log(JSON.stringify({
  connections: Number(conns), payload: Number(size), seconds: elapsed, messages: count, errors,
  rate: count / elapsed, p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: lat[lat.length - 1] ?? 0,
}));
for (const ws of sockets) ws.terminate();
