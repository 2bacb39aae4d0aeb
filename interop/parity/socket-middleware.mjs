// packages/socket.io/test/socket-middleware.ts, against engine/tests/parity/socket-middleware.rs.
// Volley's event middleware sees the event and may refuse it; it cannot rewrite it (the
// reference's first case also prepends "wrap" to the packet: see PARITY.md).
import assert from 'node:assert/strict';
import { it, run, client, connected, collect, ask, next } from './lib.mjs';

it('should call functions', async () => {
  const s = await connected(client('/calls'));
  const errors = collect(s, 'middleware-error', 300);
  assert.deepEqual(await ask(s, 'join', 'woot'), ['woot', 2]);
  assert.deepEqual(await errors, []);
  s.disconnect();
});

it('should pass errors', async () => {
  const s = await connected(client('/errors'));
  const handled = collect(s, 'handled', 400);
  const error = next(s, 'error');
  s.emit('join', 'woot');
  assert.deepEqual(await error, ['Authentication error']);
  assert.deepEqual(await handled, []);
  assert.ok(s.connected, 'the refusal must not end the session');
  s.disconnect();
});

await run();
