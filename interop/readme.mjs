// Drives the README's first example (engine/examples/readme.rs) with the stock socket.io-client,
// as engine/tests/readme.rs runs it. Usage: node readme.mjs http://127.0.0.1:PORT
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import { io } from 'socket.io-client';
import assert from 'node:assert/strict';

const base = process.argv[2];
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
const within = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);
const client = (nsp, auth) => io(`${base}${nsp}`, { forceNew: true, reconnection: false, auth });
async function connected(s) {
  const [err] = await within(Promise.race([
    once(s, 'connect').then(() => [null]), once(s, 'connect_error'),
  ]), 5000, 'connect');
  if (err) throw new Error(`connect_error: ${err.message}`);
  return s;
}
const cases = [];
const test = (name, fn) => cases.push([name, fn]);

test('a client without auth is refused', async () => {
  const s = io(`${base}/`, { forceNew: true, reconnection: false });
  const [err] = await within(once(s, 'connect_error'), 3000, 'connect_error');
  assert.equal(err.message, 'auth required');
  s.close();
});

test('a room member gets the chat of another, the sender does not', async () => {
  const ann = await connected(client('/', { user: 'ann' }));
  const bob = await connected(client('/', { user: 'bob' }));
  let echoed = false;
  bob.on('chat', () => { echoed = true; });
  const got = within(once(ann, 'chat'), 3000, 'chat');
  bob.emit('chat', 'hi');
  assert.deepEqual(await got, ['bob', 'hi']);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(echoed, false, 'the sender got its own chat');
  ann.disconnect();
  bob.disconnect();
});

test('getData is acknowledged with the object', async () => {
  const s = await connected(client('/', { user: 'x' }));
  const reply = await within(new Promise((r) => s.emit('getData', (...a) => r(a))), 3000, 'ack');
  assert.deepEqual(reply, [{ name: 'John' }]);
  s.disconnect();
});

test('the timed question gets its answer', async () => {
  const s = await connected(client('/', { user: 'x' }));
  s.on('question', (q, cb) => { assert.equal(q, '?'); cb('!'); });
  const answered = within(once(s, 'answered'), 3000, 'answered');
  s.emit('ask');
  assert.deepEqual(await answered, [true]);
  s.disconnect();
});

test('a member leaving is announced with its reason', async () => {
  const ann = await connected(client('/', { user: 'ann' }));
  const bob = await connected(client('/', { user: 'bob' }));
  const left = within(once(ann, 'left'), 3000, 'left');
  const id = bob.id;
  bob.disconnect();
  assert.deepEqual(await left, [id, 'client namespace disconnect']);
  ann.disconnect();
});

test('a dynamic namespace accepts a client', async () => {
  const s = await connected(client('/tenant-42', {}));
  assert.ok(s.connected);
  s.disconnect();
});

for (const [name, fn] of cases) {
  try {
    await within(fn(), 10000, name);
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`fail ${name}: ${e.stack ?? e}`);
    process.exit(1);
  }
}
process.exit(0);
