// Drives a Socket.IO server using socket.io-msgpack-parser (Volley with VOLLEY_PARSER=msgpack, or
// interop/msgpack_ref_server.mjs) with the official socket.io-client 4.x and that parser.
// Usage: node sio_msgpack.mjs http://127.0.0.1:PORT [websocket|polling|default]
// Prints "ok <case>" per passing case (exits 1 at the first failure), then one line
// "outcome <what a default JSON client saw>", which the test compares between servers.
import { io } from 'socket.io-client';
import msgpackParser from 'socket.io-msgpack-parser';
import assert from 'node:assert/strict';

const base = process.argv[2];
const mode = process.argv[3] ?? 'websocket';
const transportOpts = { default: {} }[mode] ?? { transports: [mode] };
const opts = (extra = {}) => ({
  ...transportOpts, parser: msgpackParser, forceNew: true, reconnection: false, ...extra,
});
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);
const connected = async (socket) => {
  const [err] = await withTimeout(Promise.race([
    once(socket, 'connect').then(() => [null]),
    once(socket, 'connect_error'),
  ]), 5000, 'connect');
  if (err) throw new Error(`connect_error: ${err.message}`);
  return socket;
};

const cases = [];
const test = (name, fn) => cases.push([name, fn]);

test('events with every kind of value both ways, on / and /custom', async () => {
  for (const nsp of ['', '/custom']) {
    const s = await connected(io(`${base}${nsp}`, opts()));
    const back = once(s, 'message-back');
    const sent = ['text é', 42, -7, 1.5, null, true, { a: { b: [1, 'two', { c: false }] } },
      Buffer.from([0, 1, 255]), { bin: Buffer.from('nested'), list: [Buffer.alloc(0)] }];
    s.emit('message', ...sent);
    const got = await withTimeout(back, 3000, `message-back on ${nsp || '/'}`);
    assert.deepEqual(got.slice(0, 7), sent.slice(0, 7));
    assert.ok(Buffer.isBuffer(got[7]) || got[7] instanceof Uint8Array, 'binary stays binary');
    assert.deepEqual([...got[7]], [0, 1, 255]);
    assert.equal(Buffer.from(got[8].bin).toString(), 'nested');
    assert.equal(got[8].list[0].length, 0);
    s.disconnect();
  }
});

test('acks both ways, binary included', async () => {
  const s = await connected(io(base, opts()));
  const reply = await s.timeout(3000).emitWithAck('message-with-ack', 'x', { y: 2 }, Buffer.from('bin'));
  assert.equal(reply, 'x');
  const all = await new Promise((resolve) =>
    s.emit('message-with-ack', 1, Buffer.from('b'), (...args) => resolve(args)));
  assert.equal(all[0], 1);
  assert.equal(Buffer.from(all[1]).toString(), 'b');
  s.disconnect();
});

test('a room broadcast reaches every member once', async () => {
  const members = await Promise.all([0, 1, 2].map(() => connected(io(base, opts()))));
  const outsider = await connected(io(base, opts()));
  for (const m of members) assert.equal(await m.timeout(3000).emitWithAck('join', 'room-a'), true);
  const got = members.map((m) => once(m, 'msg'));
  let leaked = false;
  outsider.on('msg', () => { leaked = true; });
  const delivered = await members[0].timeout(3000).emitWithAck('within', 'room-a', { hello: [1, 2] });
  assert.equal(delivered, 3);
  for (const g of got) assert.deepEqual(await withTimeout(g, 3000, 'room msg'), [{ hello: [1, 2] }]);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(leaked, false, 'the outsider got nothing');
  [...members, outsider].forEach((s) => s.disconnect());
});

test('connect_error from middleware, with data', async () => {
  const s = io(`${base}/private`, opts({ auth: { token: 'wrong' } }));
  const [err] = await withTimeout(once(s, 'connect_error'), 3000, 'connect_error');
  assert.equal(err.message, 'not authorized');
  assert.deepEqual(err.data, { code: 401 });
  s.close();
  const ok = io(`${base}/private`, opts({ auth: { token: 'secret' } }));
  const gotAuth = once(ok, 'auth');
  await connected(ok);
  const [auth] = await withTimeout(gotAuth, 3000, 'auth');
  assert.deepEqual(auth, { token: 'secret' });
  ok.disconnect();
});

test('disconnect both ways', async () => {
  const s = await connected(io(base, opts()));
  const d = once(s, 'disconnect');
  s.emit('disconnect-me');
  assert.equal((await withTimeout(d, 3000, 'server disconnect'))[0], 'io server disconnect');
  const c = await connected(io(base, opts()));
  const cd = once(c, 'disconnect');
  c.disconnect();
  assert.equal((await cd)[0], 'io client disconnect');
});

// A client with the default (JSON) parser: what it sees within two seconds.
async function wrongParserOutcome() {
  const s = io(base, { ...transportOpts, forceNew: true, reconnection: false });
  const seen = [];
  for (const ev of ['connect', 'connect_error', 'disconnect']) {
    s.on(ev, (arg) => seen.push(`${ev}${arg === undefined ? '' : `:${arg?.message ?? arg}`}`));
  }
  await new Promise((r) => setTimeout(r, 2000));
  s.close();
  return seen.join(',') || 'nothing';
}

for (const [name, fn] of cases) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.error(`FAIL ${name}: ${e.stack ?? e}`);
    process.exit(1);
  }
}
console.log(`outcome ${await wrongParserOutcome()}`);
process.exit(0);
