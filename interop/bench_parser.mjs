// Load for scripts/bench-msgpack.sh: stock socket.io-client connections, with the default parser
// or socket.io-msgpack-parser, against bench_server. Usage:
//   node bench_parser.mjs URL json|msgpack echo|broadcast object|binary CLIENTS SECONDS
// echo: every client keeps 4 `echo` emits with ack in flight; broadcast: every client joins
// room `r` and client 0 sends `broadcast` (r, payload) RATE times a second (env, default 1000;
// bench_server acknowledges none), the server emitting it to all. Prints one JSON line: {"messages": N, "seconds": S, "start": T0, "end": T1}, where
// messages are acks (echo) or deliveries (broadcast) within the window [start, end] (ms since
// the epoch), after a 1 s warmup.
import { io } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';

const [url, parser, mode, kind, clientsArg, secondsArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const seconds = Number(secondsArg);
const payload = kind === 'binary'
  ? { user: 'alice', n: 12345, blob: Buffer.alloc(1024, 7) }
  : { user: 'alice', text: 'hello, how is everyone doing today?', n: 12345, tags: ['a', 'b', 'c'], at: 1733550000000 };
const opts = { transports: ['websocket'], forceNew: true, reconnection: false, ...(parser === 'msgpack' ? { parser: msgpackParser } : {}) };

const sockets = await Promise.all(Array.from({ length: clients }, () => new Promise((resolve, reject) => {
  const s = io(url, opts);
  s.once('connect', () => resolve(s));
  s.once('connect_error', reject);
})));

let counting = false;
let messages = 0;
let running = true;
if (mode === 'echo') {
  for (const s of sockets) {
    for (let k = 0; k < 4; k++) {
      (async () => {
        while (running) {
          await s.emitWithAck('echo', payload);
          if (counting) messages++;
        }
      })();
    }
  }
} else {
  await Promise.all(sockets.map((s) => s.emitWithAck('join', 'r')));
  for (const s of sockets) s.on('broadcast', () => { if (counting) messages++; });
  const perTick = Math.max(1, Math.round(Number(process.env.RATE ?? 1000) / 100));
  const timer = setInterval(() => {
    if (!running) return clearInterval(timer);
    for (let k = 0; k < perTick; k++) sockets[0].emit('broadcast', 'r', payload);
  }, 10);
}
await new Promise((r) => setTimeout(r, 1000));
counting = true;
const start = Date.now();
console.log('counting');
await new Promise((r) => setTimeout(r, seconds * 1000));
counting = false;
const end = Date.now();
running = false;
console.log(JSON.stringify({ messages, seconds: (end - start) / 1000 }));
process.exit(0);
