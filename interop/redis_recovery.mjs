// Connection state recovery across the servers of one Redis Streams cluster, with the stock
// socket.io-client, for engine/tests/redis_recovery.rs: Volley nodes
// (engine/examples/recovery.rs with VOLLEY_REDIS_ADAPTER=streams) and Node nodes
// (redis_node_server.mjs PORT URL streams recovery). The client goes through a small TCP
// proxy, as it would through a load balancer, so its reconnection can land on another node.
// Usage: node redis_recovery.mjs V1_PORT V1_PID V2_PORT N1_PORT N1_PID N2_PORT
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import net from 'node:net';
import { io } from 'socket.io-client';
import assert from 'node:assert/strict';

const [v1, v1Pid, v2, n1, n1Pid, n2] = process.argv.slice(2).map(Number);
const cases = [];
const test = (name, fn) => cases.push([name, fn]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const once = (em, ev) => new Promise((resolve) => em.once(ev, (...a) => resolve(a)));
const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);
const call = (s, ev, ...args) => s.timeout(5000).emitWithAck(ev, ...args);
const until = async (cond, what) => within((async () => { while (!cond()) await sleep(10); })(), 5000, what);

// Forwards each new connection to `proxy.port` (changed to move the client elsewhere).
async function proxy(port) {
  const p = { port };
  p.server = net.createServer((down) => {
    const up = net.connect(p.port, '127.0.0.1');
    down.pipe(up);
    up.pipe(down);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    up.on('close', () => down.destroy());
  });
  await new Promise((r) => p.server.listen(0, '127.0.0.1', r));
  p.listen = p.server.address().port;
  return p;
}

async function client(port) {
  const s = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnectionDelay: 1000, reconnectionDelayMax: 1000, randomizationFactor: 0 });
  s.got = [];
  s.on('news', (n) => s.got.push(n));
  await within(once(s, 'connect'), 5000, 'connect');
  return s;
}

// A client on `from` joins a room and reads one broadcast (so it has an offset); it loses
// its connection (`killPid`: that server is stopped with SIGTERM, else the client drops it),
// misses three broadcasts sent from `teller`, and comes back on `to`.
async function move(from, to, teller, room, killPid) {
  const px = await proxy(from);
  const a = await client(px.listen);
  const b = await client(teller);
  const firstId = a.id;
  await call(a, 'join', room);
  await call(b, 'tell', room, 0);
  await until(() => a.got.length === 1, 'first broadcast');
  const down = once(a, 'disconnect');
  px.port = to;
  if (killPid) process.kill(killPid, 'SIGTERM');
  else a.io.engine.close();
  const [reason] = await within(down, 5000, 'disconnect');
  for (const n of [1, 2, 3]) await call(b, 'tell', room, n);
  await within(once(a, 'connect'), 5000, 'reconnect');
  await sleep(100);
  const seen = { firstId, reason, recovered: a.recovered, id: a.id, got: [...a.got], server: await call(a, 'whoami') };
  await call(b, 'tell', room, 99);
  await until(() => a.got.includes(99), 'broadcast after the return');
  const poked = once(a, 'poked');
  assert.equal(await call(b, 'poke', a.id), true);
  [seen.poked] = await within(poked, 5000, 'emit to the id from another node');
  a.close();
  b.close();
  px.server.close();
  return seen;
}

const recovered = (s, reason) => {
  assert.equal(s.reason, reason);
  assert.equal(s.recovered, true);
  assert.equal(s.id, s.firstId);
  assert.deepEqual(s.got, [0, 1, 2, 3]);
  assert.deepEqual(s.server, { recovered: true, data: 'set at first connect', rooms: true });
  assert.equal(s.poked, 'poke');
};

test('a client of a Volley node recovers on another Volley node', async () => {
  recovered(await move(v1, v2, v2, 'vv', null), 'forced close');
});

test('a client of a Node node that stops recovers on a Volley node', async () => {
  recovered(await move(n1, v1, v1, 'nv', n1Pid), 'transport close');
});

test('a client of a Volley node that stops recovers on a Node node', async () => {
  recovered(await move(v1, n2, n2, 'vn', v1Pid), 'transport close');
});

for (const [name, fn] of cases) {
  try {
    await within(fn(), 20000, name);
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAILED ${name}: ${e.stack ?? e}`);
    process.exitCode = 1;
    break;
  }
}
process.exit();
