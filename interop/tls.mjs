// Drives a Volley Socket.IO server over TLS with the official socket.io-client 4.x, trusting
// only the test CA whose PEM file is given: over WebSocket (wss://), over polling (https://)
// without upgrade, and over polling upgraded to WebSocket. Each case connects, has
// `message-with-ack` echo a small and a 300 KB binary payload (many TLS records each way), and
// receives a room broadcast the server sends on `broadcast-me`.
// Usage: node tls.mjs CA_PEM URL ; prints "ok <transport>" per passing case, exits 1 at the
// first failure. A client that does not trust the CA must be refused: "ok untrusted refused".
import { io } from 'socket.io-client';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const [caPath, url] = process.argv.slice(2);
const ca = readFileSync(caPath);

const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);

const connected = (s) => withTimeout(new Promise((resolve, reject) => {
  s.once('connect', resolve);
  s.once('connect_error', reject);
}), 10000, 'connect');

async function roundTrip(transport) {
  const opts = {
    websocket: { transports: ['websocket'] },
    polling: { transports: ['polling'] },
    upgrade: { transports: ['polling', 'websocket'] },
  }[transport];
  const s = io(url, { ...opts, ca, forceNew: true, reconnection: false });
  try {
    await connected(s);
    if (transport === 'upgrade') {
      await withTimeout(new Promise((resolve) => {
        if (s.io.engine.transport.name === 'websocket') resolve();
        s.io.engine.once('upgrade', resolve);
      }), 10000, 'upgrade');
    }
    assert.equal(s.io.engine.transport.name, transport === 'polling' ? 'polling' : 'websocket');
    const small = { transport, n: [1, 2, 3] };
    assert.deepEqual(await withTimeout(s.emitWithAck('message-with-ack', small), 10000, 'ack'), small);
    const big = Buffer.alloc(300 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const back = await withTimeout(s.emitWithAck('message-with-ack', big), 10000, 'big ack');
    assert.ok(Buffer.from(back).equals(big), 'the 300 KB payload came back unchanged');
    const news = withTimeout(new Promise((resolve) => s.once('news', resolve)), 10000, 'broadcast');
    s.emit('broadcast-me', transport);
    assert.equal(await news, `news for ${transport}`);
  } finally {
    s.disconnect();
  }
}

async function untrusted() {
  const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
  try {
    await connected(s);
    throw new Error('connected without trusting the CA');
  } catch (e) {
    if (!/certificate|self.signed|unable to verify|websocket error/i.test(`${e.message} ${e.description?.message ?? ''}`)) {
      throw e;
    }
  } finally {
    s.disconnect();
  }
}

try {
  for (const transport of ['websocket', 'polling', 'upgrade']) {
    await roundTrip(transport);
    console.log(`ok ${transport}`);
  }
  await untrusted();
  console.log('ok untrusted refused');
} catch (e) {
  console.log(`FAILED: ${e.stack ?? e}`);
  process.exit(1);
}
process.exit(0);
