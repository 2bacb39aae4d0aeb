// Drives a Volley Socket.IO server on each URL given (one per listening address, IPv6 ones as
// http://[::1]:PORT) with the official socket.io-client 4.x, over WebSocket and over polling
// with the upgrade: connect, `message-with-ack` answered with the same arguments.
// Usage: node listeners.mjs URL... ; prints "ok <url> <transport>" per passing case, exits 1
// at the first failure.
import { io } from 'socket.io-client';
import assert from 'node:assert/strict';

const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);

async function roundTrip(url, transport) {
  const opts = transport === 'websocket' ? { transports: ['websocket'] } : {};
  const s = io(url, { ...opts, forceNew: true, reconnection: false });
  try {
    await withTimeout(new Promise((resolve, reject) => {
      s.once('connect', resolve);
      s.once('connect_error', reject);
    }), 5000, `connect to ${url}`);
    const sent = { url, transport, n: [1, 2, 3] };
    const got = await withTimeout(s.emitWithAck('message-with-ack', sent), 5000, 'ack');
    assert.deepEqual(got, sent);
  } finally {
    s.disconnect();
  }
}

for (const url of process.argv.slice(2)) {
  for (const transport of ['websocket', 'polling']) {
    try {
      await roundTrip(url, transport);
      console.log(`ok ${url} ${transport}`);
    } catch (e) {
      console.log(`FAILED ${url} ${transport}: ${e.stack ?? e}`);
      process.exit(1);
    }
  }
}
process.exit(0);
