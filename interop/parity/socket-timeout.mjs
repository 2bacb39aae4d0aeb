// packages/socket.io/test/socket-timeout.ts, against engine/tests/parity/socket_timeout.rs. The
// server reports what its timed emit's callback got with a "result" event.
import assert from 'node:assert/strict';
import { it, run, client, connected, next, collect } from './lib.mjs';

it('should timeout if the client does not acknowledge the event', async () => {
  const s = client('/unknown');
  const result = next(s, 'result');
  await connected(s);
  assert.deepEqual(await result, ['timeout']);
  s.disconnect();
});

it('should timeout if the client does not acknowledge the event in time', async () => {
  const s = client('/in-time');
  s.on('echo', (arg, cb) => cb(arg));
  await connected(s);
  const results = collect(s, 'result', 200);
  s.emit('start');
  assert.deepEqual(await results, [['timeout']]);
  s.disconnect();
});

it('should not timeout if the client does acknowledge the event', async () => {
  const s = client('/acked');
  s.on('echo', (arg, cb) => cb(arg));
  await connected(s);
  const result = next(s, 'result');
  s.emit('start');
  assert.deepEqual(await result, [null, 40]);
  s.disconnect();
});

it('should timeout if the client does not acknowledge the event (promise)', async () => {
  const s = client('/unknown-promise');
  const result = next(s, 'result');
  await connected(s);
  assert.deepEqual(await result, ['timeout']);
  s.disconnect();
});

it('should not timeout if the client does acknowledge the event (promise)', async () => {
  const s = client('/acked-promise');
  s.on('echo', (arg, cb) => cb(arg));
  await connected(s);
  const result = next(s, 'result');
  s.emit('start');
  assert.deepEqual(await result, [null, 42]);
  s.disconnect();
});

await run();
