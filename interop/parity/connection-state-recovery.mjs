// packages/socket.io/test/connection-state-recovery.ts, against
// engine/tests/parity/connection_state_recovery.rs. The reference drives Engine.IO long-polling by
// hand and acts on its server in between; here a stock client on each server's `/control` does
// what the reference's test does to its `io` (emit, `io.once("connection")`, `io.use`) and reads
// what `/` saw of the last connection. Extra arguments: the server whose recovery runs the
// middleware, the one without recovery, and a fresh one for the scenarios of a client that never
// got an offset.
import assert from 'node:assert/strict';
import { it, run, base, extra, clientAt, connected, ask } from './lib.mjs';

const [withMiddleware, disabled, fresh] = extra;

// The reference's eioHandshake / eioPush / eioPoll, on the server at `url`.
const eio = (url) => `${url}/socket.io/?EIO=4&transport=polling`;
async function eioHandshake(url) {
  const body = await (await fetch(eio(url))).text();
  return JSON.parse(body.slice(1)).sid;
}
async function eioPush(url, sid, body) {
  const res = await fetch(`${eio(url)}&sid=${sid}`, { method: 'POST', body });
  assert.equal(res.status, 200, `POST ${body}`);
  await res.text();
}
const eioPoll = async (url, sid) => (await fetch(`${eio(url)}&sid=${sid}`)).text();

const controls = new Map();
/** The `/control` client of the server at `url`, connected once. */
async function control(url) {
  if (!controls.has(url)) controls.set(url, await connected(clientAt(url, '/control')));
  return controls.get(url);
}
/** Asks the server at `url` to do `ev` (see the server) and returns the acknowledgement. */
const tell = async (url, ev, ...args) => (await ask(await control(url), ev, ...args))[0];
/** What `/` saw of the last connection: id, recovered, rooms, data. */
const lastConnection = (url) => tell(url, 'last-connection');

/** The reference's `init`: a session with a `pid`, one broadcast received with its offset, closed. */
async function init(url) {
  const sid = await eioHandshake(url);
  await eioPush(url, sid, '40');
  const handshakeBody = await eioPoll(url, sid);
  assert.ok(handshakeBody.startsWith('40'), handshakeBody);
  const handshake = JSON.parse(handshakeBody.substring(2));
  assert.notEqual(handshake.sid, undefined);
  // in that case, the handshake also contains a private session ID
  assert.notEqual(handshake.pid, undefined);
  assert.equal(await tell(url, 'emit', 'hello'), true);
  const message = await eioPoll(url, sid);
  assert.ok(message.startsWith('42["hello"'), message);
  const offset = JSON.parse(message.substring(2))[1];
  // in that case, each packet also includes an offset in the data array
  assert.notEqual(offset, undefined);
  await eioPush(url, sid, '1');
  return [handshake.sid, handshake.pid, offset];
}

it('should restore session and missed packets', async () => {
  assert.equal(await tell(base, 'once'), true);
  const [sid, pid, offset] = await init(base);
  assert.equal(await tell(base, 'emit', 'hello1'), true); // broadcast
  assert.equal(await tell(base, 'emit', 'hello2', 'room1'), true); // broadcast to room
  assert.equal(await tell(base, 'emit-to', sid, 'hello3'), true); // direct message
  const newSid = await eioHandshake(base);
  await eioPush(base, newSid, `40{"pid":"${pid}","offset":"${offset}"}`);
  const payload = await eioPoll(base, newSid);
  const packets = payload.split('\x1e');
  assert.equal(packets.length, 4, payload);
  assert.ok(packets[0].startsWith('42["hello1"'), payload);
  assert.ok(packets[1].startsWith('42["hello2"'), payload);
  assert.ok(packets[2].startsWith('42["hello3"'), payload);
  assert.equal(packets[3], `40{"sid":"${sid}","pid":"${pid}"}`);
  await eioPush(base, newSid, '1');
}, { modes: ['polling'] });

it('should restore rooms and data attributes', async () => {
  assert.equal(await tell(base, 'once'), true);
  const [sid, pid, offset] = await init(base);
  assert.equal((await lastConnection(base)).recovered, false);
  const newSid = await eioHandshake(base);
  await eioPush(base, newSid, `40{"pid":"${pid}","offset":"${offset}"}`);
  await eioPoll(base, newSid); // drain buffer
  const socket = await lastConnection(base);
  assert.equal(socket.id, sid);
  assert.equal(socket.recovered, true);
  assert.deepEqual(socket.rooms, [sid, 'room1', 'room2'].sort());
  assert.equal(socket.data.foo, 'bar');
  await eioPush(base, newSid, '1');
}, { modes: ['polling'] });

it('should restore session even if the client did not receive any event', async () => {
  assert.equal(await tell(fresh, 'once'), true);
  const eioSid = await eioHandshake(fresh);
  // Socket.IO handshake (without any prior event, hence without any offset)
  await eioPush(fresh, eioSid, '40');
  const handshakeBody = await eioPoll(fresh, eioSid);
  assert.ok(handshakeBody.startsWith('40'), handshakeBody);
  const handshake = JSON.parse(handshakeBody.substring(2));
  assert.notEqual(handshake.sid, undefined);
  assert.notEqual(handshake.pid, undefined);
  assert.equal((await lastConnection(fresh)).recovered, false);
  await eioPush(fresh, eioSid, '1'); // close

  const newSid = await eioHandshake(fresh);
  await eioPush(fresh, newSid, `40{"pid":"${handshake.pid}"}`);
  const payload = await eioPoll(fresh, newSid);
  const socket = await lastConnection(fresh);
  assert.equal(socket.id, handshake.sid);
  assert.equal(socket.recovered, true);
  assert.ok(socket.rooms.includes(socket.id));
  assert.ok(socket.rooms.includes('room1'));
  assert.equal(socket.data.foo, 'bar');
  assert.equal(payload, `40{"sid":"${handshake.sid}","pid":"${handshake.pid}"}`);
  await eioPush(fresh, newSid, '1');
}, { modes: ['polling'] });

it('should replay missed packets even if the client did not receive any event before disconnection', async () => {
  assert.equal(await tell(fresh, 'once'), true);
  const eioSid = await eioHandshake(fresh);
  // Socket.IO handshake (without any prior event, hence without any offset)
  await eioPush(fresh, eioSid, '40');
  const handshake = JSON.parse((await eioPoll(fresh, eioSid)).substring(2));
  await eioPush(fresh, eioSid, '1'); // close

  // emit while disconnected - these packets should be replayed even though the client never
  // received any event before
  assert.equal(await tell(fresh, 'emit', 'hello', 'room1', 'world'), true);
  assert.equal(await tell(fresh, 'emit', 'broadcast'), true);

  const newSid = await eioHandshake(fresh);
  await eioPush(fresh, newSid, `40{"pid":"${handshake.pid}"}`);
  const payload = await eioPoll(fresh, newSid);
  const socket = await lastConnection(fresh);
  assert.equal(socket.id, handshake.sid);
  assert.equal(socket.recovered, true);
  assert.ok(socket.rooms.includes('room1'));

  // missed packets are sent before the CONNECT packet
  const packets = payload.split('\x1e');
  assert.equal(packets.length, 3, payload);
  assert.ok(packets[0].startsWith('42["hello"'), payload);
  assert.ok(packets[1].startsWith('42["broadcast"'), payload);
  assert.equal(packets[2], `40{"sid":"${handshake.sid}","pid":"${handshake.pid}"}`);
  await eioPush(fresh, newSid, '1');
}, { modes: ['polling'] });

it('should not restore session if the provided offset is not a string', async () => {
  assert.equal(await tell(base, 'once'), true);
  const eioSid = await eioHandshake(base);
  await eioPush(base, eioSid, '40');
  const handshake = JSON.parse((await eioPoll(base, eioSid)).substring(2));
  await eioPush(base, eioSid, '1'); // close

  const newSid = await eioHandshake(base);
  await eioPush(base, newSid, `40{"pid":"${handshake.pid}","offset":123}`);
  await eioPoll(base, newSid); // drain buffer
  // malformed offset should fail closed - new session, not recovered
  const socket = await lastConnection(base);
  assert.equal(socket.recovered, false);
  assert.notEqual(socket.id, handshake.sid);
  assert.ok(!socket.rooms.includes('room1'));
  await eioPush(base, newSid, '1');
}, { modes: ['polling'] });

/** The reference's two middleware scenarios: `io.use` added after `init` on the server at `url`. */
async function middlewareUponRecovery(url) {
  const [, pid, offset] = await init(url);
  assert.equal(await tell(url, 'use', true), true);
  try {
    const newSid = await eioHandshake(url);
    await eioPush(url, newSid, `40{"pid":"${pid}","offset":"${offset}"}`);
    await eioPoll(url, newSid); // drain buffer
    await eioPush(url, newSid, '1');
    return await lastConnection(url);
  } finally {
    await tell(url, 'use', false);
  }
}

it('should not run middlewares upon recovery by default', async () => {
  const socket = await middlewareUponRecovery(base);
  assert.equal(socket.recovered, true);
  assert.equal(socket.data?.middlewareWasCalled, undefined);
}, { modes: ['polling'] });

it('should run middlewares even upon recovery', async () => {
  const socket = await middlewareUponRecovery(withMiddleware);
  assert.equal(socket.recovered, true);
  assert.equal(socket.data?.middlewareWasCalled, true);
}, { modes: ['polling'] });

it('should fail to restore an unknown session', async () => {
  const sid = await eioHandshake(base);
  await eioPush(base, sid, '40{"pid":"foo","offset":"bar"}');
  const handshakeBody = await eioPoll(base, sid);
  assert.ok(handshakeBody.startsWith('40'), handshakeBody);
  const handshake = JSON.parse(handshakeBody.substring(2));
  assert.notEqual(handshake.sid, 'foo');
  assert.notEqual(handshake.pid, 'bar');
  assert.equal((await lastConnection(base)).recovered, false);
  await eioPush(base, sid, '1');
}, { modes: ['polling'] });

it('should be disabled by default', async () => {
  const sid = await eioHandshake(disabled);
  await eioPush(disabled, sid, '40');
  const handshakeBody = await eioPoll(disabled, sid);
  assert.ok(handshakeBody.startsWith('40'), handshakeBody);
  const handshake = JSON.parse(handshakeBody.substring(2));
  assert.notEqual(handshake.sid, undefined);
  assert.equal(handshake.pid, undefined);
  await eioPush(disabled, sid, '1');
}, { modes: ['polling'] });

await run();
