// Drives a Socket.IO server that accepts Engine.IO v3 clients (Volley's conformance example with
// VOLLEY_ALLOW_EIO3=1, or interop/eio3_ref_server.mjs: the reference with `allowEIO3: true`) with
// the stock socket.io-client 2.x (npm `socket.io-client-v2`), whose Node transport asks for
// base64 binary over polling (`b64=1`).
// Usage: node sio_v2.mjs http://127.0.0.1:PORT websocket|polling|upgrade
// Prints "ok <case>" per passing case and "observed <case> <json>" with what the client saw (the
// test compares those lines between the two servers); exits 1 at the first failure.
import io from 'socket.io-client-v2';
import assert from 'node:assert/strict';

const base = process.argv[2];
const mode = process.argv[3] ?? 'websocket';
const transportOpts = { websocket: { transports: ['websocket'] }, polling: { transports: ['polling'] }, upgrade: {} }[mode];
if (!base || !transportOpts) {
  console.error('usage: node sio_v2.mjs <base url> websocket|polling|upgrade');
  process.exit(2);
}
const opts = (extra = {}) => ({ ...transportOpts, forceNew: true, reconnection: false, ...extra });
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A v2 socket for `nsp`, once connected; its first `auth` event (the server's view of the
 * namespace query) is kept as `socket.authSeen`. */
const connected = async (nsp = '', extra = {}) => {
  const s = io(`${base}${nsp}`, opts(extra));
  s.authSeen = once(s, 'auth');
  await withTimeout(Promise.race([
    once(s, 'connect'),
    once(s, 'error').then(([e]) => { throw new Error(`error: ${JSON.stringify(e)}`); }),
    once(s, 'connect_error').then(([e]) => { throw new Error(`connect_error: ${e}`); }),
  ]), 5000, `connect ${nsp || '/'}`);
  return s;
};
const ack = (s, ev, ...args) => withTimeout(
  new Promise((resolve) => s.emit(ev, ...args, (...reply) => resolve(reply))), 3000, `ack of ${ev}`);
/** Buffers as `{buffer: [bytes]}`, so observations compare as JSON. */
const plain = (v) => {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { buffer: [...v] };
  if (v instanceof ArrayBuffer) return { buffer: [...new Uint8Array(v)] };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

const cases = [];
const test = (name, fn) => cases.push([name, fn]);

test('connects to / and to a custom namespace with a query', async () => {
  const root = await connected();
  const [rootAuth] = await withTimeout(root.authSeen, 3000, 'auth on /');
  const custom = await connected('/custom', { query: { token: 'abc', x: 'y z' } });
  const [customAuth] = await withTimeout(custom.authSeen, 3000, 'auth on /custom');
  assert.deepEqual(customAuth, { token: 'abc', x: 'y z' });
  const transport = root.io.engine.transport.name;
  root.close();
  custom.close();
  return { rootAuth, customAuth, transport: mode === 'upgrade' ? 'any' : transport };
});

test('events both ways, binary included', async () => {
  const s = await connected('/custom');
  const back = once(s, 'message-back');
  const sent = ['text é', 42, 1.5, null, true, { a: [1, 'two', { c: false }] }];
  s.emit('message', ...sent);
  const got = await withTimeout(back, 3000, 'message-back');
  assert.deepEqual(got, sent);
  const binBack = once(s, 'message-back');
  s.emit('message', Buffer.from([0, 1, 255]), { nested: Buffer.from('bin') });
  const bin = plain(await withTimeout(binBack, 3000, 'binary message-back'));
  assert.deepEqual(bin, [{ buffer: [0, 1, 255] }, { nested: { buffer: [...Buffer.from('bin')] } }]);
  s.close();
  return { got, bin };
});

test('acks both ways, binary included', async () => {
  const s = await connected();
  const reply = plain(await ack(s, 'message-with-ack', 'x', { y: 2 }, Buffer.from('b')));
  assert.deepEqual(reply, ['x', { y: 2 }, { buffer: [98] }]);
  s.on('question', (q, answer) => answer(`answer to ${q}`, Buffer.from([7])));
  const result = once(s, 'ack-result');
  s.emit('ask', 'why?');
  const answered = plain(await withTimeout(result, 3000, 'ack-result'));
  assert.deepEqual(answered, ['answer to why?', { buffer: [7] }]);
  s.close();
  return { reply, answered };
});

test('a room broadcast reaches every member once', async () => {
  const members = await Promise.all([0, 1, 2].map(() => connected()));
  const outsider = await connected();
  for (const m of members) assert.deepEqual(await ack(m, 'join', 'room-a'), [true]);
  const got = members.map((m) => once(m, 'msg'));
  let leaked = false;
  outsider.on('msg', () => { leaked = true; });
  const [delivered] = await ack(members[0], 'within', 'room-a', { hello: [1, 2] });
  assert.equal(delivered, 3);
  const seen = [];
  for (const g of got) seen.push(await withTimeout(g, 3000, 'room msg'));
  await sleep(200);
  assert.equal(leaked, false, 'the outsider got nothing');
  [...members, outsider].forEach((s) => s.close());
  return { delivered, seen };
});

test('connect_error from middleware', async () => {
  const s = io(`${base}/private`, opts({ query: { token: 'wrong' } }));
  const [err] = await withTimeout(once(s, 'error'), 3000, 'error packet');
  assert.deepEqual(err, { code: 401 });
  s.close();
  const ok = await connected('/private', { query: { token: 'secret' } });
  const [auth] = await withTimeout(ok.authSeen, 3000, 'auth');
  assert.deepEqual(auth, { token: 'secret' });
  ok.close();
  return { err, auth };
});

test('heartbeat: the client pings and stays connected for several intervals', async () => {
  const s = await connected();
  let pongs = 0;
  let lost = null;
  s.on('pong', () => { pongs += 1; });
  s.on('disconnect', (reason) => { lost = reason; });
  await sleep(1600);
  assert.equal(lost, null, `disconnected: ${lost}`);
  assert.ok(pongs >= 3, `only ${pongs} pongs`);
  const back = once(s, 'message-back');
  s.emit('message', 'still here');
  const [still] = await withTimeout(back, 3000, 'message-back after the pings');
  s.close();
  return { connected: true, still, atLeastThreePongs: pongs >= 3 };
});

test('disconnect both ways', async () => {
  const s = await connected();
  const d = once(s, 'disconnect');
  s.emit('disconnect-me');
  const [serverReason] = await withTimeout(d, 3000, 'server disconnect');
  assert.equal(serverReason, 'io server disconnect');
  s.close();
  const a = await connected();
  const b = await connected();
  for (const m of [a, b]) assert.deepEqual(await ack(m, 'join', 'room-d'), [true]);
  const bd = once(b, 'disconnect');
  b.disconnect();
  const [clientReason] = await bd;
  await sleep(200);
  // The server let the socket go: the room has only `a` left.
  const [left] = await ack(a, 'within', 'room-d', 'bye');
  assert.equal(left, 1);
  a.close();
  return { serverReason, clientReason, left };
});

for (const [name, fn] of cases) {
  try {
    const observed = await fn();
    console.log(`observed ${name} ${JSON.stringify(observed)}`);
    console.log(`ok ${name}`);
  } catch (e) {
    console.error(`FAIL ${name}: ${e.stack ?? e}`);
    process.exit(1);
  }
}
process.exit(0);
