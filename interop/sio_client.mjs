// Drives a Volley Socket.IO server (the conformance behaviour, see engine/examples/conformance.rs)
// with the official socket.io-client 4.x. Usage: node sio_client.mjs http://127.0.0.1:PORT [transports] [msgpack]
// transports: "websocket" (default), "polling", "default" (polling then upgrade), or "noupgrade"
// (polling with `upgrade: false`).
// A third argument `msgpack` makes every client use socket.io-msgpack-parser (for a server with
// VOLLEY_PARSER=msgpack).
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import { io } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';
import assert from 'node:assert/strict';

const base = process.argv[2];
const mode = process.argv[3] ?? 'websocket';
const parserOpts = process.argv[4] === 'msgpack' ? { parser: msgpackParser } : {};
const transportOpts = {
  ...({ default: {}, noupgrade: { upgrade: false } }[mode] ?? { transports: [mode] }),
  ...parserOpts,
};

const cases = [];
const test = (name, fn) => cases.push([name, fn]);
const opts = (extra = {}) => ({ ...transportOpts, forceNew: true, reconnection: false, ...extra });
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);

async function connected(socket) {
  const [err] = await withTimeout(Promise.race([
    once(socket, 'connect').then(() => [null]),
    once(socket, 'connect_error'),
  ]), 5000, 'connect');
  if (err) throw new Error(`connect_error: ${err.message}`);
  return socket;
}

test('connect with auth', async () => {
  const s = io(base, opts({ auth: { token: 'abc', n: 1 } }));
  const got = once(s, 'auth');
  await connected(s);
  assert.deepEqual((await withTimeout(got, 3000, 'auth event'))[0], { token: 'abc', n: 1 });
  assert.ok(typeof s.id === 'string' && s.id.length > 0);
  s.disconnect();
});

test('connect without auth gets {}', async () => {
  const s = io(base, opts());
  const got = once(s, 'auth');
  await connected(s);
  assert.deepEqual((await withTimeout(got, 3000, 'auth event'))[0], {});
  s.disconnect();
});

test('connect_error with data', async () => {
  const s = io(`${base}/private`, opts({ auth: { token: 'wrong' } }));
  const [err] = await withTimeout(once(s, 'connect_error'), 3000, 'connect_error');
  assert.equal(err.message, 'not authorized');
  assert.deepEqual(err.data, { code: 401 });
  s.close();
  const ok = io(`${base}/private`, opts({ auth: { token: 'secret' } }));
  await connected(ok);
  ok.disconnect();
});

test('unknown namespace is refused', async () => {
  const s = io(`${base}/nope`, opts());
  const [err] = await withTimeout(once(s, 'connect_error'), 3000, 'connect_error');
  assert.equal(err.message, 'Invalid namespace');
  s.close();
});

test('events both ways', async () => {
  const s = await connected(io(base, opts()));
  const back = once(s, 'message-back');
  s.emit('message', 1, 'two', { three: [3, 'é'] }, null, true);
  assert.deepEqual(await withTimeout(back, 3000, 'message-back'), [1, 'two', { three: [3, 'é'] }, null, true]);
  s.disconnect();
});

test('ack from the server', async () => {
  const s = await connected(io(base, opts()));
  const reply = await s.timeout(3000).emitWithAck('message-with-ack', 'x', { y: 2 });
  assert.deepEqual(reply, 'x');
  const all = await new Promise((resolve) => s.emit('message-with-ack', 1, 2, 3, (...args) => resolve(args)));
  assert.deepEqual(all, [1, 2, 3]);
  s.disconnect();
});

test('ack from the client, and its timeout on the server', async () => {
  const s = await connected(io(base, opts()));
  s.on('question', (q, ack) => ack(`answer to ${q}`));
  const result = once(s, 'ack-result');
  s.emit('ask', 'life');
  assert.deepEqual(await withTimeout(result, 3000, 'ack-result'), ['answer to life']);
  s.off('question');
  s.on('question', () => {}); // never acknowledges
  const timedOut = once(s, 'ack-timeout');
  s.emit('ask', 'silence');
  assert.deepEqual(await withTimeout(timedOut, 3000, 'ack-timeout'), ['silence']);
  s.disconnect();
});

test('binary both ways', async () => {
  const s = await connected(io(base, opts()));
  const back = once(s, 'message-back');
  s.emit('message', Buffer.from([1, 2, 3]), { nested: Buffer.from([4, 5]), list: [Buffer.alloc(0)] });
  const [a, b] = await withTimeout(back, 3000, 'binary message-back');
  assert.deepEqual([...a], [1, 2, 3]);
  assert.deepEqual([...b.nested], [4, 5]);
  assert.equal(b.list[0].length, 0);
  const acked = await s.timeout(3000).emitWithAck('message-with-ack', Buffer.from('bin'));
  assert.equal(Buffer.from(acked).toString(), 'bin');
  s.disconnect();
});

test('several namespaces on one connection', async () => {
  const root = io(base, { ...transportOpts, reconnection: false });
  const custom = io(`${base}/custom`, { ...transportOpts, reconnection: false });
  assert.equal(root.io, custom.io, 'the two sockets share one Manager');
  await Promise.all([connected(root), connected(custom)]);
  const [r, c] = [once(root, 'message-back'), once(custom, 'message-back')];
  root.emit('message', 'to root');
  custom.emit('message', 'to custom');
  assert.deepEqual(await withTimeout(r, 3000, 'root'), ['to root']);
  assert.deepEqual(await withTimeout(c, 3000, 'custom'), ['to custom']);
  custom.disconnect();
  const again = once(root, 'message-back');
  root.emit('message', 'root still connected');
  assert.deepEqual(await withTimeout(again, 3000, 'root after custom left'), ['root still connected']);
  root.disconnect();
});

test('server disconnect reason', async () => {
  const s = await connected(io(base, opts()));
  const d = once(s, 'disconnect');
  s.emit('disconnect-me');
  assert.equal((await withTimeout(d, 3000, 'disconnect'))[0], 'io server disconnect');
});

test('client disconnect reason', async () => {
  const s = await connected(io(base, opts()));
  const d = once(s, 'disconnect');
  s.disconnect();
  assert.equal((await d)[0], 'io client disconnect');
});

test('heartbeats keep the connection alive', async () => {
  const s = await connected(io(base, opts()));
  let dropped = null;
  s.on('disconnect', (r) => { dropped = r; });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(dropped, null, `dropped: ${dropped}`);
  assert.ok(s.connected);
  s.disconnect();
});

if (mode === 'default') {
  test('upgrades to websocket without losing or duplicating events', async () => {
    const s = io(base, opts());
    const got = [];
    const all = new Promise((resolve) => s.on('message-back', (n) => { got.push(n); if (got.length === 300) resolve(); }));
    const opened = once(s.io, 'open');
    await withTimeout(opened, 5000, 'engine open');
    const first = s.io.engine.transport.name;
    const upgraded = s.io.engine.transport.name === 'websocket' ? Promise.resolve() : once(s.io.engine, 'upgrade');
    // Emits start while the engine is still on polling and go on through the upgrade.
    for (let i = 0; i < 300; i++) {
      s.emit('message', i);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    assert.equal(first, 'polling', 'starts on polling');
    await withTimeout(all, 10000, 'all 300 message-backs');
    await withTimeout(upgraded, 5000, 'upgrade');
    assert.equal(s.io.engine.transport.name, 'websocket');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, Array.from({ length: 300 }, (_, i) => i), 'every event once, in order');
    s.disconnect();
  });
}

if (mode === 'polling' || mode === 'noupgrade') {
  test('stays on polling', async () => {
    const s = await connected(io(base, opts()));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(s.io.engine.transport.name, 'polling');
    s.disconnect();
  });

  test('100 concurrent polling clients', async () => {
    const sockets = await Promise.all(Array.from({ length: 100 }, () => connected(io(base, opts()))));
    const replies = await Promise.all(sockets.map((s, i) => s.timeout(5000).emitWithAck('message-with-ack', i, `c${i}`)));
    replies.forEach((r, i) => assert.equal(r, i));
    sockets.forEach((s) => s.disconnect());
  });
}

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
