// Drives a Volley Socket.IO server (the conformance example) with the stock socket.io-client
// over WebSocket, compressing every message it sends (`perMessageDeflate: { threshold: 0 }`).
// Usage: node sio_deflate.mjs http://127.0.0.1:PORT on|off — whether the server was started with
// VOLLEY_PER_MESSAGE_DEFLATE=1. The bytes each socket read and wrote show what went compressed.
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import { io } from 'socket.io-client';
import assert from 'node:assert/strict';

const base = process.argv[2];
const on = process.argv[3] === 'on';
const cases = [];
const test = (name, fn) => cases.push([name, fn]);
const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);

async function connect() {
  const s = io(base, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    perMessageDeflate: { threshold: 0 },
  });
  await withTimeout(once(s, 'connect'), 5000, 'connect');
  return s;
}

// Chat-like JSON, about 200 KB: compresses well, as real payloads do.
const big = JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({
  id: i, user: `user${i % 17}`, text: `message number ${i} in the room`, ts: 1700000000 + i,
})));

/** The raw TCP socket under the client's WebSocket: what really crossed the wire. */
const tcp = (s) => s.io.engine.transport.ws._socket;

test(on ? 'permessage-deflate is negotiated' : 'permessage-deflate is not negotiated', async () => {
  const s = await connect();
  assert.equal(s.io.engine.transport.ws.extensions, on ? 'permessage-deflate' : '');
  s.disconnect();
});

test('a large message round-trips both ways', async () => {
  const s = await connect();
  const sock = tcp(s);
  const [read0, written0] = [sock.bytesRead, sock.bytesWritten];
  const reply = await withTimeout(s.emitWithAck('message-with-ack', big), 5000, 'ack');
  assert.equal(reply, big);
  const read = sock.bytesRead - read0;
  const written = sock.bytesWritten - written0;
  if (on) {
    assert.ok(written < big.length / 3, `client sent ${written} bytes for ${big.length}`);
    assert.ok(read < big.length / 3, `server sent ${read} bytes for ${big.length}`);
  } else {
    assert.ok(written > big.length && read > big.length, `${written} / ${read} bytes`);
  }
  s.disconnect();
});

test('a large event is echoed, and small ones too', async () => {
  const s = await connect();
  for (const payload of [big, 'small', big.slice(0, 1500)]) {
    const got = once(s, 'message-back');
    s.emit('message', payload);
    const [back] = await withTimeout(got, 5000, 'message-back');
    assert.equal(back, payload);
  }
  s.disconnect();
});

test('a large broadcast reaches every member, and their own messages still inflate after it', async () => {
  const members = await Promise.all([connect(), connect(), connect()]);
  for (const m of members) assert.deepEqual(await withTimeout(m.emitWithAck('join', 'deflate-room'), 5000, 'join'), true);
  const [read0] = [tcp(members[1]).bytesRead];
  for (const payload of [big, big.slice(0, 5000)]) {
    const got = members.map((m) => withTimeout(once(m, 'msg'), 5000, 'msg'));
    await withTimeout(members[0].emitWithAck('within', 'deflate-room', payload), 5000, 'within');
    for (const [p] of await Promise.all(got)) assert.equal(p, payload);
  }
  if (on) {
    const read = tcp(members[1]).bytesRead - read0;
    assert.ok(read < (big.length + 5000) / 3, `a member read ${read} bytes`);
  }
  // Each member's own compressor goes on after the shared frames.
  for (const m of members) {
    const got = once(m, 'message-back');
    m.emit('message', big.slice(0, 3000));
    assert.equal((await withTimeout(got, 5000, 'message-back'))[0], big.slice(0, 3000));
  }
  members.forEach((m) => m.disconnect());
});

for (const [name, fn] of cases) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.stack}`);
    process.exit(1);
  }
}
process.exit(0);
