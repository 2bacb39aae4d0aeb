// packages/socket.io/test/utility-methods.ts, against engine/tests/parity/utility_methods.rs.
// As in the reference's beforeEach: three clients, the first in room1, the second in room1 and
// room2, the third in room2. The server answers "op" with [[id, rooms without the own id]...].
import assert from 'node:assert/strict';
import { it, run, client, connected, settled, ask, next, mode, collect } from './lib.mjs';

let n = 0;
async function three() {
  const nsp = `/util-${mode}-${n++}`;
  const [a, b, c] = await Promise.all(
    [client(nsp), client(nsp), client(nsp)].map(async (s) => settled(await connected(s))),
  );
  await ask(a, 'join', ['room1']);
  await ask(b, 'join', ['room1', 'room2']);
  await ask(c, 'join', ['room2']);
  // A watcher asks; it sits in no room, so it is outside every room operation.
  const w = await settled(await connected(client(nsp)));
  const op = async (...args) => (await ask(w, 'op', ...args))[0];
  const rooms = (all, s) => all.find(([id]) => id === s.id)[1];
  const close = () => [a, b, c, w].forEach((s) => s.disconnect());
  return { a, b, c, w, op, rooms, close };
}

it('returns all socket instances', async () => {
  const t = await three();
  const all = await t.op('fetch', null, null);
  assert.equal(all.length, 4);
  t.close();
});

it('returns all socket instances in the given room', async () => {
  const t = await three();
  const inRoom = await t.op('fetch', 'room1', null);
  assert.deepEqual(inRoom.map(([id]) => id).sort(), [t.a.id, t.b.id].sort());
  t.close();
});

it('makes all socket instances join the given room', async () => {
  const t = await three();
  const all = await t.op('join', null, 'room3');
  for (const s of [t.a, t.b, t.c, t.w]) assert.ok(t.rooms(all, s).includes('room3'));
  t.close();
});

it('makes all socket instances in a room join the given room', async () => {
  const t = await three();
  const all = await t.op('join', 'room1', 'room3');
  assert.deepEqual(t.rooms(all, t.a), ['room1', 'room3']);
  assert.deepEqual(t.rooms(all, t.b), ['room1', 'room2', 'room3']);
  assert.deepEqual(t.rooms(all, t.c), ['room2']);
  t.close();
});

it('makes all socket instances leave the given room', async () => {
  const t = await three();
  const all = await t.op('leave', null, 'room1');
  assert.deepEqual(t.rooms(all, t.a), []);
  assert.deepEqual(t.rooms(all, t.b), ['room2']);
  assert.deepEqual(t.rooms(all, t.c), ['room2']);
  t.close();
});

it('makes all socket instances in a room leave the given room', async () => {
  const t = await three();
  const all = await t.op('leave', 'room2', 'room1');
  assert.deepEqual(t.rooms(all, t.a), ['room1']);
  assert.deepEqual(t.rooms(all, t.b), ['room2']);
  assert.deepEqual(t.rooms(all, t.c), ['room2']);
  t.close();
});

it('makes all socket instances disconnect', async () => {
  const t = await three();
  const gone = [t.a, t.b, t.c, t.w].map((s) => next(s, 'disconnect'));
  t.w.emit('op', 'disconnect', null, null, () => {});
  for (const [reason] of await Promise.all(gone)) assert.equal(reason, 'io server disconnect');
  t.close();
});

it('makes all socket instances in a room disconnect', async () => {
  const t = await three();
  const gone = [t.b, t.c].map((s) => next(s, 'disconnect'));
  const kept = [t.a, t.w].map((s) => collect(s, 'disconnect', 600));
  await ask(t.w, 'op', 'disconnect', 'room2', null);
  for (const [reason] of await Promise.all(gone)) assert.equal(reason, 'io server disconnect');
  assert.deepEqual(await Promise.all(kept), [[], []]);
  t.close();
});

await run();
