// packages/socket.io/test/middleware.ts, against engine/tests/parity/middleware.rs.
import assert from 'node:assert/strict';
import { it, run, client, connected, next, ask } from './lib.mjs';

it('should call functions', async () => {
  const s = client('/count');
  const ran = next(s, 'ran');
  await connected(s);
  assert.deepEqual(await ran, [2]);
  s.disconnect();
});

it('should pass errors', async () => {
  const s = client('/error');
  const [err] = await next(s, 'connect_error');
  assert.equal(err.message, 'Authentication error');
  s.close();
});

it('should pass an object', async () => {
  const s = client('/object');
  const [err] = await next(s, 'connect_error');
  assert.equal(err.message, 'Authentication error');
  assert.deepEqual(err.data, { a: 'b', c: 3 });
  s.close();
});

it('should only call connection after fns', async () => {
  const s = client('/data');
  const name = next(s, 'name');
  await connected(s);
  assert.deepEqual(await name, ['guest']);
  s.disconnect();
});

it('should call functions in expected order', async () => {
  const stats = await connected(client('/stats'));
  const [before] = await ask(stats, 'main-runs');
  const s = await connected(client('/order'));
  assert.deepEqual(await ask(s, 'order'), [[1, 2, 3]]);
  assert.deepEqual(await ask(stats, 'main-runs'), [before], 'the main namespace middleware ran');
  s.disconnect();
  stats.disconnect();
});

it('should disable the merge of handshake packets', async () => {
  const s = await connected(client('/count'));
  assert.ok(s.connected);
  s.disconnect();
});

it('should work with a custom namespace', async () => {
  const main = client('/');
  const custom = client('/count');
  await Promise.all([connected(main), connected(custom)]);
  main.disconnect();
  custom.disconnect();
});

it('should only set `connected` to true after the middleware execution', async () => {
  const s = await connected(client('/connected'));
  assert.deepEqual(await ask(s, 'states'), [false, true]);
  s.disconnect();
});

await run();
