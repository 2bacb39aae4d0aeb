// One soak client process: COUNT socket.io clients from LOCAL_ADDR for SECONDS. Half are
// "stable": they stay connected, sit in this process's stable room and broadcast numbered
// messages to it; every stable member must get every one exactly once. The other half churn:
// they join and leave random rooms, emit with acks, and disconnect and reconnect. Prints one
// JSON line with the accounting. Usage: node soak.mjs URL COUNT SECONDS INDEX LOCAL_ADDR
import { io } from 'socket.io-client';

const [url, countArg, secsArg, index, localAddress] = process.argv.slice(2);
const COUNT = Number(countArg);
const SECONDS = Number(secsArg);
const room = `stable-${index}`;
const opts = () => ({ transports: ['websocket'], forceNew: true, reconnection: false, localAddress });
const stats = { acksSent: 0, acksOk: 0, acksFailed: 0, broadcasts: 0, expected: 0, delivered: 0,
  duplicates: 0, missing: 0, reconnects: 0, joins: 0, connectErrors: 0 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function connect() {
  return new Promise((resolve) => {
    const s = io(url, opts());
    s.once('connect', () => resolve(s));
    s.once('connect_error', () => { stats.connectErrors++; s.close(); resolve(null); });
  });
}

async function connectMany(n) {
  const out = [];
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(Array.from({ length: Math.min(200, n - i) }, connect));
    out.push(...batch.filter(Boolean));
  }
  return out;
}

const stable = await connectMany(Math.ceil(COUNT / 2));
for (const s of stable) {
  s.seen = new Map();
  s.on('msg', ([who, n]) => {
    const key = `${who}:${n}`;
    s.seen.set(key, (s.seen.get(key) ?? 0) + 1);
  });
}
await Promise.all(stable.map((s) => s.timeout(30000).emitWithAck('join', room)));
let churners = await connectMany(Math.floor(COUNT / 2));

const end = Date.now() + SECONDS * 1000;
const sent = [];
const broadcaster = (async () => {
  let n = 0;
  while (Date.now() < end) {
    const s = stable[n % stable.length];
    s.emit('within', room, [`p${index}`, n]);
    sent.push(`p${index}:${n}`);
    n++;
    await sleep(50);
  }
})();
const churn = (async () => {
  while (Date.now() < end) {
    await Promise.all(churners.map(async (s, i) => {
      const r = Math.random();
      if (r < 0.5) {
        stats.acksSent++;
        try {
          const back = await s.timeout(10000).emitWithAck('message-with-ack', i);
          if (back === i) stats.acksOk++; else stats.acksFailed++;
        } catch { stats.acksFailed++; }
      } else if (r < 0.8) {
        const rm = `r${Math.floor(Math.random() * 50)}`;
        try {
          await s.timeout(10000).emitWithAck('join', rm);
          await s.timeout(10000).emitWithAck('leave', rm);
          stats.joins++;
        } catch { stats.acksFailed++; }
      } else if (r < 0.85) {
        s.disconnect();
        const again = await connect();
        if (again) { churners[i] = again; stats.reconnects++; }
      }
    }));
    await sleep(200);
  }
})();
await Promise.all([broadcaster, churn]);
await sleep(2000);
stats.broadcasts = sent.length;
for (const s of stable) {
  for (const key of sent) {
    const c = s.seen.get(key) ?? 0;
    stats.expected++;
    if (c >= 1) stats.delivered++;
    if (c > 1) stats.duplicates += c - 1;
    if (c === 0) stats.missing++;
  }
}
console.log(JSON.stringify(stats));
for (const s of [...stable, ...churners]) s.disconnect();
process.exit(0);
