// Connection state recovery with the stock socket.io-client, against the servers of
// engine/tests/sio_recovery.rs (engine/examples/recovery.rs): the first keeps sessions for 60 s,
// the second for 300 ms.
// Usage: node sio_recovery.mjs http://127.0.0.1:PORT_LONG http://127.0.0.1:PORT_SHORT [msgpack]
// With `msgpack` the clients use socket.io-msgpack-parser (for servers with VOLLEY_PARSER=msgpack).
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import { io } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';
import assert from 'node:assert/strict';

const [long, short, parser] = process.argv.slice(2);
const parserOpts = parser === 'msgpack' ? { parser: msgpackParser } : {};
const cases = [];
const test = (name, fn) => cases.push([name, fn]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const once = (em, ev) => new Promise((resolve) => em.once(ev, (...a) => resolve(a)));
const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);
const call = (s, ev, ...args) => s.timeout(5000).emitWithAck(ev, ...args);

// About a second away: the client's reconnection delay, without randomness.
async function client(url, transports) {
  const s = io(url, { transports, forceNew: true, reconnectionDelay: 1000, reconnectionDelayMax: 1000, randomizationFactor: 0, ...parserOpts });
  s.got = [];
  s.on('news', (n) => s.got.push(n));
  await within(once(s, 'connect'), 5000, 'connect');
  return s;
}

// Joins `room`, reads one broadcast (so it has an offset), loses its connection, misses
// `missed` broadcasts, and comes back; returns what it saw.
async function dropAndMiss(url, transports, room, missed) {
  const a = await client(url, transports);
  const b = await client(url, ['websocket']);
  const firstId = a.id;
  await call(a, 'join', room);
  await call(b, 'tell', room, 0);
  await within((async () => { while (a.got.length < 1) await sleep(10); })(), 3000, 'first broadcast');
  const down = once(a, 'disconnect');
  a.io.engine.close();
  const [reason] = await within(down, 3000, 'disconnect');
  for (const n of missed) await call(b, 'tell', room, n);
  await within(once(a, 'connect'), 5000, 'reconnect');
  await sleep(100);
  const seen = { firstId, reason, recovered: a.recovered, id: a.id, got: [...a.got], server: await call(a, 'whoami') };
  // A fresh socket is in no room: it joins again, as an application would.
  if (!a.recovered) await call(a, 'join', room);
  await call(b, 'tell', room, 99);
  await within((async () => { while (!a.got.includes(99)) await sleep(10); })(), 3000, 'broadcast after the return');
  const poked = once(a, 'poked');
  assert.equal(await call(b, 'poke', a.id), true);
  [seen.poked] = await within(poked, 3000, 'emit to the id');
  a.close();
  b.close();
  return seen;
}

for (const transports of [['polling', 'websocket'], ['websocket']]) {
  test(`within the window the socket is recovered with its missed broadcasts in order (${transports})`, async () => {
    const s = await dropAndMiss(long, transports, `r-${transports.length}`, [1, 2, 3]);
    assert.equal(s.reason, 'forced close');
    assert.equal(s.recovered, true);
    assert.equal(s.id, s.firstId);
    assert.deepEqual(s.got, [0, 1, 2, 3]);
    assert.deepEqual(s.server, { recovered: true, data: 'set at first connect', rooms: true });
    assert.equal(s.poked, 'poke');
  });
}

test('after the window the client gets a fresh session', async () => {
  const s = await dropAndMiss(short, ['websocket'], 'r', [1, 2]);
  assert.equal(s.recovered, false);
  assert.notEqual(s.id, s.firstId);
  assert.deepEqual(s.got, [0]);
  assert.deepEqual(s.server, { recovered: false, data: 'set at first connect', rooms: false });
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
