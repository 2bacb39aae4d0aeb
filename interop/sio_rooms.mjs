// Rooms and broadcasts against the server of engine/tests/sio_rooms.rs, with the official
// socket.io-client. Usage: node sio_rooms.mjs http://127.0.0.1:PORT
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import { io } from 'socket.io-client';
import assert from 'node:assert/strict';

const base = process.argv[2];
const cases = [];
const test = (name, fn) => cases.push([name, fn]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

async function client(transports = ['websocket']) {
  const s = io(base, { transports, forceNew: true, reconnection: false });
  s.got = [];
  s.on('msg', (m) => s.got.push(m));
  await within(new Promise((resolve, reject) => { s.once('connect', resolve); s.once('connect_error', reject); }), 5000, 'connect');
  return s;
}
const call = (s, ev, ...args) => s.timeout(5000).emitWithAck(ev, ...args);
const closeAll = (list) => list.forEach((s) => s.disconnect());

test('members of a room get one copy, others none', async () => {
  const [a, b, c] = await Promise.all([client(), client(), client()]);
  await call(a, 'join', 'r1');
  await call(b, 'join', 'r1');
  const n = await call(c, 'to', ['r1'], [], 'hello r1');
  await sleep(150);
  assert.deepEqual(a.got, ['hello r1']);
  assert.deepEqual(b.got, ['hello r1']);
  assert.deepEqual(c.got, []);
  assert.ok(n <= 2);
  closeAll([a, b, c]);
});

test('socket.to leaves the sender out', async () => {
  const [a, b] = await Promise.all([client(), client()]);
  await call(a, 'join', 'r');
  await call(b, 'join', 'r');
  await call(a, 'to', ['r'], [], 'from a');
  await sleep(150);
  assert.deepEqual(a.got, []);
  assert.deepEqual(b.got, ['from a']);
  closeAll([a, b]);
});

test('several rooms: union without duplicates', async () => {
  const [a, b, c, d] = await Promise.all([client(), client(), client(), client()]);
  await call(a, 'join', 'x');
  await call(a, 'join', 'y');
  await call(b, 'join', 'y');
  await call(d, 'to', ['x', 'y'], [], 'xy');
  await sleep(150);
  assert.deepEqual(a.got, ['xy']);
  assert.deepEqual(b.got, ['xy']);
  assert.deepEqual(c.got, []);
  closeAll([a, b, c, d]);
});

test('except leaves out a room', async () => {
  const [a, b, c] = await Promise.all([client(), client(), client()]);
  await call(a, 'join', 'all');
  await call(b, 'join', 'all');
  await call(b, 'join', 'muted');
  await call(c, 'to', ['all'], ['muted'], 'not for muted');
  await sleep(150);
  assert.deepEqual(a.got, ['not for muted']);
  assert.deepEqual(b.got, []);
  closeAll([a, b, c]);
});

test('broadcast from a socket reaches all but itself', async () => {
  const list = await Promise.all(Array.from({ length: 12 }, () => client()));
  await call(list[0], 'to', [], [], 'to everyone else');
  await sleep(200);
  assert.deepEqual(list[0].got, []);
  for (const s of list.slice(1)) assert.deepEqual(s.got.filter((m) => m === 'to everyone else'), ['to everyone else']);
  closeAll(list);
});

test('leaving stops delivery at once', async () => {
  const [a, b, c] = await Promise.all([client(), client(), client()]);
  await call(a, 'join', 'l');
  await call(b, 'join', 'l');
  await call(a, 'leave', 'l');
  await call(c, 'to', ['l'], [], 'after a left');
  await sleep(150);
  assert.deepEqual(a.got, []);
  assert.deepEqual(b.got, ['after a left']);
  assert.deepEqual(await call(a, 'rooms'), [a.id]);
  closeAll([a, b, c]);
});

test('broadcast with acks collects replies and counts the silent', async () => {
  const [a, b, c, asker] = await Promise.all([client(), client(), client(), client()]);
  a.on('question', (q, ack) => ack('a says pong'));
  b.on('question', (q, ack) => ack('b says pong'));
  c.on('question', () => {}); // silent
  for (const s of [a, b, c]) await call(s, 'join', 'q');
  const result = new Promise((resolve) => asker.once('acks', resolve));
  asker.emit('ask-room', 'q');
  const r = await within(result, 5000, 'acks');
  assert.deepEqual(r.replies, [['a says pong'], ['b says pong']]);
  assert.equal(r.noReply, 1);
  closeAll([a, b, c, asker]);
});

test('handle from another thread: count, join, fetch, emit, leave', async () => {
  const [a, b, c] = await Promise.all([client(), client(), client()]);
  await call(a, 'join', 'src');
  await call(b, 'join', 'src');
  const r = await call(c, 'handle-ops', 'src', 'dst');
  assert.equal(r.before, 2);
  assert.deepEqual(r.ids, [a.id, b.id].sort());
  assert.equal(r.roomsOk, true);
  assert.equal(r.after, 0);
  await sleep(100);
  assert.deepEqual(a.got, ['from the handle']);
  assert.deepEqual(b.got, ['from the handle']);
  assert.deepEqual(c.got, []);
  closeAll([a, b, c]);
});

test('disconnect_sockets through the handle', async () => {
  const [a, b, c] = await Promise.all([client(), client(), client()]);
  await call(a, 'join', 'kick');
  await call(b, 'join', 'kick');
  const reasons = Promise.all([a, b].map((s) => new Promise((resolve) => s.once('disconnect', resolve))));
  c.emit('kick-room', 'kick');
  assert.deepEqual(await within(reasons, 3000, 'disconnects'), ['io server disconnect', 'io server disconnect']);
  assert.ok(c.connected);
  closeAll([c]);
});

test('rooms over polling and websocket together', async () => {
  const [p, w, s] = await Promise.all([client(['polling']), client(['websocket']), client()]);
  await call(p, 'join', 'mixed');
  await call(w, 'join', 'mixed');
  for (let i = 0; i < 20; i++) await call(s, 'to', ['mixed'], [], i);
  await sleep(300);
  const want = Array.from({ length: 20 }, (_, i) => i);
  assert.deepEqual(p.got, want);
  assert.deepEqual(w.got, want);
  closeAll([p, w, s]);
});

test('binary broadcasts keep their attachments with their header', async () => {
  const [a, b, s1, s2] = await Promise.all([client(), client(['polling']), client(), client()]);
  const bins = new Map([[a, []], [b, []]]);
  for (const m of [a, b]) {
    m.on('bin', (buf, n) => bins.get(m).push([n, Buffer.from(buf)]));
    await call(m, 'join', 'bin');
  }
  // Two senders at once: binary broadcasts from one, text broadcasts from the other.
  await Promise.all([
    (async () => { for (let n = 0; n < 30; n++) s1.emit('bin-within', 'bin', n); })(),
    (async () => { for (let n = 0; n < 30; n++) await call(s2, 'to', ['bin'], [], `text ${n}`); })(),
  ]);
  await within((async () => {
    while ([a, b].some((m) => bins.get(m).length < 30 || m.got.length < 30)) await sleep(20);
  })(), 5000, 'all broadcasts');
  for (const m of [a, b]) {
    const got = bins.get(m);
    assert.deepEqual(got.map(([n]) => n), Array.from({ length: 30 }, (_, i) => i));
    for (const [n, buf] of got) {
      assert.equal(buf.length, 1000 + n);
      assert.ok(buf.every((x) => x === n), `attachment of ${n} carries other bytes`);
    }
    assert.deepEqual(m.got, Array.from({ length: 30 }, (_, i) => `text ${i}`));
  }
  closeAll([a, b, s1, s2]);
});

for (const [name, fn] of cases) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAILED ${name}: ${e.stack ?? e}`);
    process.exit(1);
  }
}
process.exit(0);
