// N clients in room "all" across the server's workers; two of them emit numbered streams that
// the server broadcasts from their handlers, while the test's own thread emits a third stream
// through the server handle. Every client must get every message of every sender exactly once
// and in each sender's order. Usage: node sio_fanout.mjs URL N MESSAGES
import { io } from 'socket.io-client';

const [base, nArg, mArg] = process.argv.slice(2);
const N = Number(nArg);
const M = Number(mArg);
const senders = ['handle', 's0', 's1'];
const fail = (msg) => { console.log(`FAILED 2000 clients: ${msg}`); process.exit(1); };
setTimeout(() => fail('timed out'), 90000).unref();

const clients = [];
for (let i = 0; i < N; i += 100) {
  const batch = await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => new Promise((resolve, reject) => {
    const s = io(base, { transports: ['websocket'], forceNew: true, reconnection: false });
    s.seen = Object.fromEntries(senders.map((k) => [k, []]));
    s.on('seq', (who, n) => s.seen[who].push(n));
    s.on('msg', ([who, n]) => s.seen[who].push(n));
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  })));
  clients.push(...batch);
}
await Promise.all(clients.map((s) => s.timeout(10000).emitWithAck('join', 'all')));
// Two in-handler emitters, concurrent with the handle's stream.
await Promise.all([0, 1].map(async (k) => {
  for (let n = 0; n < M; n++) {
    clients[k].emit('within', 'all', [`s${k}`, n]);
    if (n % 10 === 0) await new Promise((r) => setTimeout(r, 1));
  }
}));
const want = Array.from({ length: M }, (_, i) => i);
const deadline = Date.now() + 60000;
for (;;) {
  const done = clients.every((s) => senders.every((k) => s.seen[k].length >= M));
  if (done || Date.now() > deadline) break;
  await new Promise((r) => setTimeout(r, 100));
}
for (const [i, s] of clients.entries()) {
  for (const k of senders) {
    const got = s.seen[k];
    if (got.length !== M || got.some((v, j) => v !== want[j])) {
      fail(`client ${i} sender ${k}: got ${got.length} messages, first wrong at ${got.findIndex((v, j) => v !== want[j])}`);
    }
  }
}
console.log('ok 2000 clients got every message of every sender exactly once, in order');
clients.forEach((s) => s.disconnect());
process.exit(0);
