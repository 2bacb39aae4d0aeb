// packages/socket.io/test/close.ts, against engine/tests/parity/close.rs. The first extra
// argument is a server started for this run alone, which the main server shuts down on request.
import assert from 'node:assert/strict';
import net from 'node:net';
import { it, run, base, extra, client, clientAt, connected, ask, next } from './lib.mjs';

// Engine.IO long-polling by hand, as the reference's eioHandshake/eioPush/eioPoll helpers.
const eio = `${base}/socket.io/?EIO=4&transport=polling`;
async function handshake() {
  const body = await (await fetch(eio)).text();
  return JSON.parse(body.slice(1)).sid;
}
const push = async (sid, body) => (await fetch(`${eio}&sid=${sid}`, { method: 'POST', body })).text();
const poll = async (sid) => (await fetch(`${eio}&sid=${sid}`)).text();

it('should be able to close sio sending a srv', async () => {
  const other = extra[0];
  const s = await connected(clientAt(other));
  const gone = next(s, 'disconnect', 8000);
  const main = await connected(client('/'));
  assert.deepEqual(await ask(main, 'close-other'), [true]);
  await gone;
  main.disconnect();
  // The port is free again.
  const port = Number(new URL(other).port);
  await new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => srv.close((e) => (e ? reject(e) : resolve())));
  });
});

it('should close the connection when receiving several CONNECT packets', async () => {
  const sid = await handshake();
  await push(sid, '40');
  await push(sid, '40');
  assert.match(await poll(sid), /^40\{"sid":/);
  assert.equal(await poll(sid), '6\u001e1');
}, { modes: ['polling'] });

it('should close the connection when receiving an EVENT packet while not connected', async () => {
  const sid = await handshake();
  await push(sid, '42["some event"]');
  assert.equal(await poll(sid), '6\u001e1');
}, { modes: ['polling'] });

it('should close the connection when receiving an invalid packet', async () => {
  const sid = await handshake();
  await push(sid, '40');
  await push(sid, '4abc');
  assert.match(await poll(sid), /^40\{"sid":/);
  assert.equal(await poll(sid), '6\u001e1');
}, { modes: ['polling'] });

await run();
