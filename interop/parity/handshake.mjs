// packages/socket.io/test/handshake.ts, against engine/tests/parity/handshake.rs.
import assert from 'node:assert/strict';
import { it, run, base } from './lib.mjs';

const url = `${base}/socket.io/?transport=polling&EIO=4`;

it('should send the Access-Control-Allow-xxx headers on OPTIONS request', async () => {
  const res = await fetch(url, { method: 'OPTIONS', headers: { Origin: 'http://localhost:54023' } });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:54023');
  assert.equal(res.headers.get('access-control-allow-methods'), 'GET,POST');
  assert.equal(res.headers.get('access-control-allow-headers'), 'content-type');
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
}, { modes: ['polling'] });

it('should send the Access-Control-Allow-xxx headers on GET request', async () => {
  const res = await fetch(url, { headers: { Origin: 'http://localhost:54024' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:54024');
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  await res.text();
}, { modes: ['polling'] });

it('should allow request if custom function in opts.allowRequest returns true', async () => {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  await res.text();
}, { modes: ['polling'] });

it('should disallow request if custom function in opts.allowRequest returns false', async () => {
  const res = await fetch(url, { headers: { origin: 'http://foo.example' } });
  assert.equal(res.status, 403);
  await res.text();
}, { modes: ['polling'] });

await run();
