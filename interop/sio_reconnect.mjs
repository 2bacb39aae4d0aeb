// The official client reconnects by itself after the server process is killed and restarted on
// the same port. Usage: node sio_reconnect.mjs http://127.0.0.1:PORT SERVER_PID SERVER_BINARY
import { io } from 'socket.io-client';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';

const [url, pid, binary] = process.argv.slice(2);
const once = (em, ev) => new Promise((resolve) => em.once(ev, (...a) => resolve(a)));
const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);

let restarted;
try {
  const s = io(url, { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 300 });
  await within(once(s, 'connect'), 5000, 'first connect');
  const firstId = s.id;
  const down = once(s, 'disconnect');
  process.kill(Number(pid), 'SIGKILL');
  const [reason] = await within(down, 5000, 'disconnect after kill');
  assert.equal(reason, 'transport close');
  await new Promise((r) => setTimeout(r, 300));
  restarted = spawn(binary, [], {
    env: { ...process.env, VOLLEY_LISTEN: new URL(url).host, VOLLEY_PING_INTERVAL_MS: '300', VOLLEY_PING_TIMEOUT_MS: '200' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await within(once(s.io, 'reconnect'), 10000, 'reconnect');
  if (!s.connected) await within(once(s, 'connect'), 5000, 'connect after reconnect');
  assert.notEqual(s.id, firstId);
  const back = once(s, 'message-back');
  s.emit('message', 'after restart');
  assert.deepEqual(await within(back, 3000, 'message-back'), ['after restart']);
  s.close();
  console.log('ok reconnects after the server restarts');
} catch (e) {
  console.log(`FAILED reconnects after the server restarts: ${e.stack ?? e}`);
  process.exitCode = 1;
} finally {
  if (restarted) restarted.kill('SIGKILL');
}
process.exit();
