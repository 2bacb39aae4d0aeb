// packages/socket.io/test/messaging-many.ts, against engine/tests/parity/messaging_many.rs.
import assert from 'node:assert/strict';
import { it, run, client, connected, next, ask, sleep } from './lib.mjs';

/** Every `ev` on `socket` from now on (each one's arguments). */
function record(socket, ev) {
  const got = [];
  socket.on(ev, (...args) => got.push(args));
  return got;
}

/** Connected clients of `nsp`, each on its own connection (`multiplex: false`). */
const clients = (n, nsp = '/') => Promise.all(Array.from({ length: n }, () => connected(client(nsp))));

const disconnect = (...sockets) => sockets.forEach((s) => s.disconnect());

/** Time for a packet that should not come to arrive anyway. */
const SETTLE = 200;

it('emits to a namespace', async () => {
  const [s1, s2] = await clients(2);
  const s3 = await connected(client('/test'));
  const [g1, g2, g3] = [record(s1, 'a'), record(s2, 'a'), record(s3, 'a')];
  const [a1, a2] = [next(s1, 'a'), next(s2, 'a')];
  s3.emit('io-emit');
  assert.deepEqual(await a1, ['b']);
  assert.deepEqual(await a2, ['b']);
  await sleep(SETTLE);
  assert.deepEqual([g1.length, g2.length, g3.length], [1, 1, 0]);
  disconnect(s1, s2, s3);
});

it('emits binary data to a namespace', async () => {
  const [s1, s2] = await clients(2);
  const s3 = await connected(client('/test'));
  const [g1, g2, g3] = [record(s1, 'bin'), record(s2, 'bin'), record(s3, 'bin')];
  const [b1, b2] = [next(s1, 'bin'), next(s2, 'bin')];
  s3.emit('io-emit-bin');
  for (const [data] of [await b1, await b2]) {
    assert.ok(Buffer.isBuffer(data), `a Buffer: ${data}`);
    assert.deepEqual(data, Buffer.alloc(10));
  }
  await sleep(SETTLE);
  assert.deepEqual([g1.length, g2.length, g3.length], [1, 1, 0]);
  disconnect(s1, s2, s3);
});

it('emits to the rest', async () => {
  const [s1, s2] = await clients(2);
  const s3 = await connected(client('/test'));
  const [g2, g3] = [record(s2, 'a'), record(s3, 'a')];
  const a1 = next(s1, 'a');
  s2.emit('broadcast');
  assert.deepEqual(await a1, ['b']);
  await sleep(SETTLE);
  assert.deepEqual([g2.length, g3.length], [0, 0]);
  disconnect(s1, s2, s3);
});

it('emits to rooms', async () => {
  const [s1, s2] = await clients(2);
  const g2 = record(s2, 'a');
  const a1 = next(s1, 'a');
  s1.emit('join', 'woot');
  s1.emit('emit', 'woot');
  assert.deepEqual(await a1, []);
  await sleep(SETTLE);
  assert.equal(g2.length, 0);
  disconnect(s1, s2);
});

it('emits to rooms avoiding dupes', async () => {
  const [s1, s2] = await clients(2);
  const [g1a, g2a, g2b] = [record(s1, 'a'), record(s2, 'a'), record(s2, 'b')];
  await ask(s1, 'join', 'woot');
  await ask(s1, 'join', 'test');
  await ask(s2, 'join', 'third');
  const [a1, b2] = [next(s1, 'a'), next(s2, 'b')];
  s2.emit('emit-dupes');
  await Promise.all([a1, b2]);
  await sleep(SETTLE);
  assert.equal(g1a.length, 1, 'a socket in both rooms gets the event once');
  assert.equal(g2b.length, 1);
  assert.equal(g2a.length, 0);
  disconnect(s1, s2);
});

it('broadcasts to rooms', async () => {
  const [s1, s2, s3] = await clients(3);
  const [g1, g2, g3, g3b] = [record(s1, 'a'), record(s2, 'a'), record(s3, 'a'), record(s3, 'b')];
  await ask(s1, 'join', 'woot');
  await ask(s2, 'join', 'test');
  await ask(s3, 'join', 'test');
  const [a2, b3] = [next(s2, 'a'), next(s3, 'b')];
  s3.emit('broadcast-to-test');
  await Promise.all([a2, b3]);
  await sleep(SETTLE);
  assert.deepEqual([g1.length, g2.length, g3.length, g3b.length], [0, 1, 0, 1]);
  disconnect(s1, s2, s3);
});

it('broadcasts binary data to rooms', async () => {
  const [s1, s2, s3] = await clients(3);
  const got = [s1, s2, s3].map((s) => ({ bin: record(s, 'bin'), bin2: record(s, 'bin2') }));
  await ask(s1, 'join', 'woot');
  await ask(s2, 'join', 'test');
  await ask(s3, 'join', 'test');
  const [bin, bin2] = [next(s2, 'bin'), next(s3, 'bin2')];
  s3.emit('broadcast-bin');
  for (const [data] of await Promise.all([bin, bin2])) {
    assert.ok(Buffer.isBuffer(data), `a Buffer: ${data}`);
    assert.deepEqual(data, Buffer.alloc(5));
  }
  await sleep(SETTLE);
  assert.deepEqual(got.map((g) => [g.bin.length, g.bin2.length]), [[0, 0], [1, 0], [0, 1]]);
  disconnect(s1, s2, s3);
});

it('keeps track of rooms', async () => {
  const s = client('/track-rooms');
  const rooms = next(s, 'rooms');
  await connected(s);
  const [id, steps] = await rooms;
  assert.equal(id, s.id);
  const set = (...r) => r.sort();
  assert.deepEqual(steps, [
    set(id, 'a'),
    set(id, 'a', 'b'),
    set(id, 'a', 'b', 'c'),
    set(id, 'a', 'c'),
    [],
  ]);
  s.disconnect();
});

it('should properly cleanup left rooms', async () => {
  const s = client('/cleanup-rooms');
  const rooms = next(s, 'rooms');
  await connected(s);
  const [id, steps] = await rooms;
  assert.equal(id, s.id);
  const set = (...r) => r.sort();
  assert.deepEqual(steps, [set(id, 'a'), set(id, 'a', 'b'), set(id, 'a', 'b'), []]);
  s.disconnect();
});

it('deletes empty rooms', async () => {
  const s = await connected(client('/empty-rooms'));
  assert.deepEqual(await ask(s, 'join', 'a'), [true]);
  const [withA] = await ask(s, 'rooms');
  assert.ok(withA.includes('a'), `rooms after the join: ${withA}`);
  assert.deepEqual(await ask(s, 'leave', 'a'), [true]);
  const [withoutA] = await ask(s, 'rooms');
  assert.ok(!withoutA.includes('a'), `rooms after the leave: ${withoutA}`);
  assert.ok(withoutA.includes(s.id), 'the own-id room stays');
  s.disconnect();
});

it('allows to join several rooms at once', async () => {
  const s = client('/join-several');
  const rooms = next(s, 'rooms');
  await connected(s);
  const [id, now] = await rooms;
  assert.equal(id, s.id);
  assert.deepEqual(now, [id, 'a', 'b', 'c'].sort());
  s.disconnect();
});

it('should exclude specific sockets when broadcasting', async () => {
  const [s1, s2, s3] = await clients(3);
  const [g2, g3] = [record(s2, 'a'), record(s3, 'a')];
  const a1 = next(s1, 'a');
  s3.emit('exclude', s2.id);
  assert.deepEqual(await a1, []);
  await sleep(SETTLE);
  assert.deepEqual([g2.length, g3.length], [0, 0]);
  disconnect(s1, s2, s3);
});

it('should exclude a specific room when broadcasting', async () => {
  const [s1, s2, s3] = await clients(3);
  const [g2, g3] = [record(s2, 'a'), record(s3, 'a')];
  const a1 = next(s1, 'a');
  await ask(s2, 'join', 'room1');
  s3.emit('broadcast-except-room1');
  assert.deepEqual(await a1, []);
  await sleep(SETTLE);
  assert.deepEqual([g2.length, g3.length], [0, 0]);
  disconnect(s1, s2, s3);
});

/** Three clients of `nsp` answering "some event" with 1, 2 and 3 (`answer[i]` false: never). */
async function answering(nsp, answer = [true, true, true]) {
  const sockets = await clients(3, nsp);
  sockets.forEach((s, i) => s.on('some event', (cb) => answer[i] && cb(i + 1)));
  return sockets;
}

it('should broadcast and expect multiple acknowledgements', async () => {
  const [s1, s2, s3] = await answering('/acks');
  const [report] = await ask(s1, 'start', 2000);
  assert.equal(report.noReply, 0, 'err is null');
  assert.deepEqual([...report.responses].sort(), [1, 2, 3]);
  disconnect(s1, s2, s3);
});

it('should fail when a client does not acknowledge the event in the given delay', async () => {
  const [s1, s2, s3] = await answering('/acks-timeout', [true, true, false]);
  const [report] = await ask(s1, 'start', 200);
  assert.equal(report.noReply, 1, 'err is an Error');
  assert.deepEqual([...report.responses].sort(), [1, 2]);
  disconnect(s1, s2, s3);
});

it('should broadcast and expect multiple acknowledgements (promise)', async () => {
  const [s1, s2, s3] = await answering('/acks');
  const [report] = await ask(s1, 'start-promise', 2000);
  assert.equal(report.rejected, false, 'the promise resolves');
  assert.deepEqual([...report.responses].sort(), [1, 2, 3]);
  disconnect(s1, s2, s3);
});

it('should fail when a client does not acknowledge the event in the given delay (promise)', async () => {
  const [s1, s2, s3] = await answering('/acks-timeout', [true, true, false]);
  const [report] = await ask(s1, 'start-promise', 200);
  assert.equal(report.rejected, true, 'the promise rejects');
  assert.equal(report.noReply, 1);
  assert.deepEqual([...report.responses].sort(), [1, 2], 'err.responses');
  disconnect(s1, s2, s3);
});

it('should broadcast and return if the packet is sent to 0 client', async () => {
  const sockets = await clients(3, '/acks-none');
  const got = sockets.map((s) => record(s, 'some event'));
  const [report] = await ask(sockets[0], 'start', 200, 'room123');
  assert.equal(report.noReply, 0, 'err is null');
  assert.deepEqual(report.responses, []);
  assert.ok(report.elapsedMs < 200, `returned before the timeout: ${report.elapsedMs} ms`);
  await sleep(SETTLE);
  assert.deepEqual(got.map((g) => g.length), [0, 0, 0]);
  disconnect(...sockets);
});

await run();
