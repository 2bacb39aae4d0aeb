// packages/socket.io/test/middleware.ts, against engine/tests/parity/middleware.rs.
import assert from 'node:assert/strict';
import { it, run, client, connected, next, ask, sleep } from './lib.mjs';

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

it('should only call connection after (lengthy) fns', async () => {
  const s = client('/lengthy');
  const authenticated = next(s, 'authenticated', 5000);
  const lengthy = connected(s).then(() => 'lengthy');
  // The worker serves others while the middleware's future waits.
  const quick = connected(client('/')).then((q) => { q.disconnect(); return 'quick'; });
  assert.equal(await Promise.race([lengthy, quick]), 'quick', 'a worker waited on a future');
  await lengthy;
  assert.deepEqual(await authenticated, [true]);
  s.disconnect();
});

it('should be ignored if socket gets closed', async () => {
  const stats = await connected(client('/stats'));
  assert.deepEqual(await ask(stats, 'closed-early', 'reset'), [[]]);
  const s = client('/closed-early');
  const log = async () => (await ask(stats, 'closed-early'))[0];
  for (let i = 0; i < 100 && !(await log()).includes('started'); i++) await sleep(20);
  assert.deepEqual(await log(), ['started'], 'the middleware is running');
  s.io.engine.close();
  await sleep(500);
  assert.deepEqual(await log(), ['started'], 'no connection handler after the close');
  assert.equal(s.connected, false);
  s.close();
  stats.disconnect();
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
