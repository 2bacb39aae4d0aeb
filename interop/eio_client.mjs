// Drives a Volley raw Engine.IO echo server (engine/examples/eio_echo.rs) with the official
// engine.io-client 6.x over WebSocket. Usage: node eio_client.mjs http://127.0.0.1:PORT
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import { Socket } from 'engine.io-client';
import assert from 'node:assert/strict';

const base = process.argv[2];
const cases = [];
const test = (name, fn) => cases.push([name, fn]);
const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);

function open() {
  const socket = new Socket(base, { transports: ['websocket'] });
  return withTimeout(new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  }), 5000, 'open');
}

function nextMessages(socket, n) {
  return withTimeout(new Promise((resolve) => {
    const got = [];
    const onMessage = (m) => {
      got.push(m);
      if (got.length === n) {
        socket.off('message', onMessage);
        resolve(got);
      }
    };
    socket.on('message', onMessage);
  }), 5000, `${n} messages`);
}

test('open over websocket', async () => {
  const s = await open();
  assert.equal(s.transport.name, 'websocket');
  assert.equal(typeof s.id, 'string');
  assert.equal(s.id.length, 20);
  s.close();
});

test('text echo', async () => {
  const s = await open();
  const got = nextMessages(s, 1);
  s.send('hello é 🦀');
  assert.deepEqual(await got, ['hello é 🦀']);
  s.close();
});

test('binary echo', async () => {
  const s = await open();
  const got = nextMessages(s, 2);
  s.send(Buffer.from([0, 1, 2, 255]));
  s.send(Buffer.alloc(0));
  const [a, b] = await got;
  assert.deepEqual([...Buffer.from(a)], [0, 1, 2, 255]);
  assert.equal(Buffer.from(b).length, 0);
  s.close();
});

test('many messages keep their order', async () => {
  const s = await open();
  const got = nextMessages(s, 200);
  for (let i = 0; i < 200; i++) s.send(i % 2 ? `m${i}` : Buffer.from([i]));
  const all = await got;
  all.forEach((m, i) => {
    if (i % 2) assert.equal(m, `m${i}`);
    else assert.deepEqual([...Buffer.from(m)], [i]);
  });
  s.close();
});

test('heartbeats keep the session alive', async () => {
  const s = await open();
  let closed = null;
  s.on('close', (reason) => { closed = reason; });
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(closed, null, `closed: ${closed}`);
  const got = nextMessages(s, 1);
  s.send('still here');
  assert.deepEqual(await got, ['still here']);
  s.close();
});

for (const [name, fn] of cases) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAILED ${name}: ${e.stack ?? e}`);
    process.exit(1);
  }
}
process.exit(0);
