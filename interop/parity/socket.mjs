// packages/socket.io/test/socket.ts, against engine/tests/parity/socket.rs.
// The server reports what it received as an event or an ack: each argument as JSON, with a
// binary attachment shown as {"$binary": <length>} (a Buffer on the server's side).
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import {
  it, run, client, connected, next, ask, sleep, once, withTimeout, settled, base, mode,
  pollingEncodingOf,
} from './lib.mjs';

/** `byte[i]` of the server's stand-ins for the reference's image fixtures. */
const image = (len) => Buffer.from(Array.from({ length: len }, (_, i) => (i * 31 + 7) % 251));
const DOGE_LEN = 60000;
const BIG_JPG_LEN = 600000;

/** Waits until `cond()` holds. */
async function until(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await sleep(10);
  }
}

/** Counts `ev` on `socket` from now on. */
function counter(socket, ev) {
  const c = { n: 0 };
  socket.on(ev, () => c.n++);
  return c;
}

/** A client of a server started through `/aux` (on `port`), with reconnection as `extra` says. */
const auxClient = (port, extra) => io(`http://127.0.0.1:${port}/`, {
  ...{ websocket: { transports: ['websocket'] }, polling: { transports: ['polling'] }, upgrade: {} }[mode],
  forceNew: true,
  ...extra,
});

/** Starts a server through `/aux` (on `port`, or any) and returns its port. */
async function startAux(ctl, port) {
  const [reply] = await ask(ctl, 'start', ...(port === undefined ? [] : [port]));
  assert.equal(reply.error, undefined, 'the server started');
  return reply.port;
}

/** Counts through `/stats` the sockets of `nsp` (or of its `room`). */
async function count(nsp, room = null) {
  const stats = await connected(client('/stats'));
  const [n] = await ask(stats, 'count', nsp, room);
  stats.disconnect();
  return n;
}

it('should not fire events more than once after manually reconnecting', async () => {
  // The stock client closes at once only when no upgrade is in flight: mid-upgrade its close
  // waits, and the `connect()` on the next tick reuses the closing connection (a client race).
  const s = await settled(await connected(client('/')));
  let connects = 0;
  const again = new Promise((resolve) => s.on('connect', () => { connects++; resolve(); }));
  s.io.engine.close();
  process.nextTick(() => s.connect());
  // Generous: on a loaded 2-core machine a fresh handshake can take a while.
  await withTimeout(again, 15000, 'connect after the manual reconnect');
  await sleep(200);
  assert.equal(connects, 1);
  s.disconnect();
});

it('should not fire reconnect_failed event more than once when server closed', async () => {
  const ctl = await connected(client('/aux'));
  const port = await startAux(ctl);
  const s = auxClient(port, { reconnectionAttempts: 3, reconnectionDelay: 100 });
  const failed = counter(s.io, 'reconnect_failed');
  await connected(s);
  assert.deepEqual(await ask(ctl, 'close', port), [true]);
  await until(() => failed.n > 0, 15000, 'reconnect_failed');
  await sleep(500);
  assert.equal(failed.n, 1);
  s.close();
  ctl.disconnect();
});

it('should receive events', async () => {
  const s = await connected(client('/recv'));
  const got = next(s, 'got');
  s.emit('random', 1, '2', [3]);
  assert.deepEqual(await got, ['random', [1, '2', [3]]]);
  s.disconnect();
});

it('should receive message events through `send`', async () => {
  const s = await connected(client('/recv'));
  const got = next(s, 'got');
  s.send(1337);
  assert.deepEqual(await got, ['message', [1337]]);
  s.disconnect();
});

it('should error with null messages', async () => {
  const s = await connected(client('/recv'));
  const got = next(s, 'got');
  s.send(null);
  assert.deepEqual(await got, ['message', [null]]);
  s.disconnect();
});

it('should emit events', async () => {
  const s = client('/woot');
  const woot = next(s, 'woot');
  await connected(s);
  assert.deepEqual(await woot, ['tobi']);
  s.disconnect();
});

it('should emit events with utf8 multibyte character', async () => {
  const s = client('/hoot');
  const got = [];
  s.on('hoot', (...args) => got.push(args));
  await connected(s);
  await until(() => got.length >= 3, 3000, 'three hoots');
  await sleep(50);
  assert.deepEqual(got, [['utf8 — string'], ['utf8 — string'], ['utf8 — string']]);
  s.disconnect();
});

it('should emit events with binary data', async () => {
  const s = client('/doge');
  const doge = next(s, 'doge');
  await connected(s);
  const [a] = await doge;
  const imageData = image(DOGE_LEN);
  assert.ok(Buffer.isBuffer(a), 'a Buffer');
  assert.equal(a.length, imageData.length);
  assert.equal(a[0], imageData[0]);
  assert.equal(a[a.length - 1], imageData[imageData.length - 1]);
  assert.ok(a.equals(imageData), 'the same bytes');
  s.disconnect();
});

it('should emit events with several types of data (including binary)', async () => {
  const s = client('/multiple');
  const multiple = next(s, 'multiple');
  await connected(s);
  const [a, b, c, d, e, f] = await multiple;
  assert.equal(a, 1);
  assert.ok(Buffer.isBuffer(b), 'b is a Buffer');
  assert.equal(c, '3');
  assert.deepEqual(d, [4]);
  assert.ok(Buffer.isBuffer(e), 'e is a Buffer');
  assert.ok(Buffer.isBuffer(f[0]), 'f[0] is a Buffer');
  assert.equal(f[1], 'swag');
  assert.ok(Buffer.isBuffer(f[2]), 'f[2] is a Buffer');
  assert.ok(b.equals(image(DOGE_LEN)) && f[0].equals(image(DOGE_LEN)));
  assert.equal(e.toString(), 'asdfasdf');
  assert.equal(f[2].toString(), 'asdfasdf');
  s.disconnect();
});

it('should receive events with binary data', async () => {
  const s = await connected(client('/recv'));
  const got = next(s, 'got');
  s.emit('buff', Buffer.from('abcdefg', 'utf8'));
  assert.deepEqual(await got, ['buff', [{ $binary: 7 }]]);
  s.disconnect();
});

it('should receive events with several types of data (including binary)', async () => {
  const s = await connected(client('/recv'));
  const got = next(s, 'got');
  const data = image(DOGE_LEN);
  const buf = Buffer.from('asdfasdf', 'utf8');
  s.emit('multiple', 1, data, '3', [4], buf, [data, 'swag', buf]);
  const bin = (n) => ({ $binary: n });
  assert.deepEqual(await got, ['multiple',
    [1, bin(DOGE_LEN), '3', [4], bin(8), [bin(DOGE_LEN), 'swag', bin(8)]]]);
  s.disconnect();
});

/** Connects to `nsp` (whose `on_connect` emits, then emits volatile) and counts `ev` for `ms`. */
async function volatileAfterRegular(ms) {
  const s = client('/volatile-after-regular');
  const evs = counter(s, 'ev');
  await connected(s);
  await sleep(ms);
  s.disconnect();
  return evs.n;
}

it('should not emit volatile event after regular event (polling)', async () => {
  assert.equal(await volatileAfterRegular(200), 1);
}, { modes: ['polling'] });

it('should not emit volatile event after regular event (ws)', async () => {
  assert.equal(await volatileAfterRegular(200), 1);
}, { modes: ['websocket'] });

/** Connects to `nsp`, waits `idle` ms, has the server run `what`, counts `ev` for `ms`. */
async function volatileCase(nsp, what, idle, ms) {
  const s = client(nsp);
  const evs = counter(s, 'ev');
  await connected(s);
  await sleep(idle);
  s.emit(what);
  await sleep(ms);
  s.disconnect();
  return evs.n;
}

it('should emit volatile event (polling)', async () => {
  assert.equal(await volatileCase('/volatile-go', 'one', 100, 500), 1);
}, { modes: ['polling'] });

it('should emit volatile event (ws)', async () => {
  assert.equal(await volatileCase('/volatile-go', 'one', 20, 200), 1);
}, { modes: ['websocket'] });

it('should emit only one consecutive volatile event (polling)', async () => {
  assert.equal(await volatileCase('/volatile-go', 'two', 100, 500), 1);
}, { modes: ['polling'] });

it('should emit only one consecutive volatile event (ws)', async () => {
  assert.equal(await volatileCase('/volatile-go', 'two', 20, 200), 1);
}, { modes: ['websocket'] });

it('should emit only one consecutive volatile event with binary (ws)', async () => {
  assert.equal(await volatileCase('/volatile-go', 'two-binary', 20, 200), 1);
}, { modes: ['websocket'] });

it('should broadcast only one consecutive volatile event with binary (ws)', async () => {
  assert.equal(await volatileCase('/volatile-broadcast', 'two-binary', 20, 200), 1);
}, { modes: ['websocket'] });

it('should emit regular events after trying a failed volatile event (polling)', async () => {
  assert.equal(await volatileCase('/volatile-go', 'regular-volatile-regular', 20, 200), 2);
}, { modes: ['polling'] });

it('should emit regular events after trying a failed volatile event (ws)', async () => {
  assert.equal(await volatileCase('/volatile-go', 'regular-volatile-regular', 20, 200), 2);
}, { modes: ['websocket'] });

it('should emit message events through `send`', async () => {
  const s = client('/send');
  const message = next(s, 'message');
  await connected(s);
  assert.deepEqual(await message, ['a']);
  s.disconnect();
});

it('should receive event with callbacks', async () => {
  const s = await connected(client('/ack-12'));
  assert.deepEqual(await ask(s, 'woot'), [1, 2]);
  s.disconnect();
});

it('should receive all events emitted from namespaced client immediately and in order', async () => {
  const chat = client('/chat');
  const order = next(chat, 'order');
  chat.emit('hi', 'a');
  setTimeout(() => chat.emit('hi', 'b'), 50);
  assert.deepEqual(await order, [['a', 'b']]);
  chat.disconnect();
});

it('should emit events with callbacks', async () => {
  const s = client('/emit-ack');
  const got = [];
  s.on('hi', (...args) => {
    const fn = args.pop();
    got.push(args);
    fn();
  });
  const acked = next(s, 'acked');
  await connected(s);
  assert.deepEqual(await acked, [{ args: [] }]);
  assert.deepEqual(got, [[]]);
  s.disconnect();
});

it('should receive events with args and callback', async () => {
  const s = await connected(client('/ack-args'));
  assert.deepEqual(await ask(s, 'woot', 1, 2), []);
  s.disconnect();
});

it('should emit events with args and callback', async () => {
  const s = client('/emit-ack-args');
  const got = [];
  s.on('hi', (a, b, fn) => {
    got.push([a, b]);
    fn();
  });
  const acked = next(s, 'acked');
  await connected(s);
  assert.deepEqual(await acked, [{ args: [] }]);
  assert.deepEqual(got, [[1, 2]]);
  s.disconnect();
});

it('should receive events with binary args and callbacks', async () => {
  const s = await connected(client('/ack-binary-args'));
  assert.deepEqual(await ask(s, 'woot', Buffer.alloc(3)), [1, 2]);
  s.disconnect();
});

it('should emit events with binary args and callback', async () => {
  const s = client('/emit-ack-binary');
  const got = [];
  s.on('hi', (a, fn) => {
    got.push(a);
    fn();
  });
  const acked = next(s, 'acked');
  await connected(s);
  assert.deepEqual(await acked, [{ args: [] }]);
  assert.equal(got.length, 1);
  assert.ok(Buffer.isBuffer(got[0]), 'a Buffer');
  assert.equal(got[0].length, 4);
  s.disconnect();
});

it('should emit events and receive binary data in a callback', async () => {
  const s = client('/emit-ack');
  s.on('hi', (fn) => fn(Buffer.alloc(1)));
  const acked = next(s, 'acked');
  await connected(s);
  assert.deepEqual(await acked, [{ args: [{ $binary: 1 }] }]);
  s.disconnect();
});

it('should receive events and pass binary data in a callback', async () => {
  const s = await connected(client('/ack-with-binary'));
  const [a] = await ask(s, 'woot');
  assert.ok(Buffer.isBuffer(a), 'a Buffer');
  assert.equal(a.length, 2);
  s.disconnect();
});

it('should emit an event and wait for the acknowledgement', async () => {
  const s = client('/emit-ack-args');
  const got = [];
  s.on('hi', (a, b, fn) => {
    got.push([a, b]);
    fn(3);
  });
  const acked = next(s, 'acked');
  await connected(s);
  assert.deepEqual(await acked, [{ args: [3] }]);
  assert.deepEqual(got, [[1, 2]]);
  s.disconnect();
});

it('should have access to the request', async () => {
  const s = client('/request');
  const request = next(s, 'request');
  await connected(s);
  const [r] = await request;
  assert.ok(r.headers > 0, 'the request has headers');
  assert.equal(r.host, new URL(base).host);
  s.disconnect();
});

it('should see query parameters in the request', async () => {
  const s = client('/query', { query: { key1: 1, key2: 2 } });
  const query = next(s, 'query');
  await connected(s);
  assert.deepEqual(await query, [{ key1: '1', key2: '2' }]);
  s.disconnect();
});

it('should see query parameters sent from secondary namespace connections in handshake object', async () => {
  const client1 = client('/');
  const client2 = client('/connection2', { auth: { key1: 'aa', key2: '&=bb' } });
  const handshake = next(client2, 'handshake');
  await Promise.all([connected(client1), connected(client2)]);
  const [h] = await handshake;
  assert.equal(h.hasKey1, false);
  assert.equal(h.EIO, '4');
  assert.equal(h.auth.key1, 'aa');
  assert.equal(h.auth.key2, '&=bb');
  client1.disconnect();
  client2.disconnect();
});

it('should handle very large json', async () => {
  const s = client('/big-json');
  let received = 0;
  let first;
  const done = new Promise((resolve, reject) => {
    s.on('big', (a) => {
      try {
        assert.equal(Buffer.isBuffer(a.json), false);
        assert.equal(a.hello, 'friend');
        assert.equal(a.json.items.length, 4000);
        if (first) assert.deepEqual(a, first);
        else first = a;
      } catch (e) {
        reject(e);
        return;
      }
      if (++received === 3) resolve();
      else s.emit('big', a);
    });
  });
  await withTimeout(done, 10000, 'three round trips');
  s.disconnect();
});

it('should handle very large binary data', async () => {
  const s = client('/big-binary');
  let received = 0;
  const expected = image(BIG_JPG_LEN);
  const done = new Promise((resolve, reject) => {
    s.on('not-binary', (a) => reject(new Error(`the server got no Buffer: ${JSON.stringify(a)}`)));
    s.on('big', (a) => {
      try {
        assert.ok(Buffer.isBuffer(a.image), 'a Buffer');
        assert.ok(a.image.equals(expected), 'the same bytes');
        assert.equal(a.hello, 'friend');
      } catch (e) {
        reject(e);
        return;
      }
      if (++received === 3) resolve();
      else s.emit('big', a);
    });
  });
  await withTimeout(done, 10000, 'three round trips');
  s.disconnect();
});

it('should be able to emit after server close and restart', async () => {
  const ctl = await connected(client('/aux'));
  const port = await startAux(ctl);
  // The reference's client backs off from 100 ms up to 5 s between attempts; capped at 1 s here
  // (with attempts for as long), so a restart slowed by a loaded machine is not followed by a
  // wait of seconds more for the next attempt.
  const s = auxClient(port, {
    reconnectionAttempts: 30, reconnectionDelay: 100, reconnectionDelayMax: 1000,
  });
  await connected(s);
  assert.deepEqual(await ask(ctl, 'close', port), [true]);
  const reconnected = once(s.io, 'reconnect');
  assert.equal(await startAux(ctl, port), port);
  await withTimeout(reconnected, 15000, 'reconnect');
  const got = next(s, 'ev-got');
  s.emit('ev', 'payload');
  assert.deepEqual(await got, [['payload']]);
  s.close();
  assert.deepEqual(await ask(ctl, 'close', port), [true]);
  ctl.disconnect();
});

// The reference checks the `compress` option of the packet its Engine.IO socket creates; a
// client sees it as a polling response compressed or not (4 KiB, the client accepting gzip).
it('should enable compression by default', async () => {
  assert.equal(await pollingEncodingOf('/compression', 'compress-default'), 'gzip');
}, { modes: ['polling'] });

it('should disable compression', async () => {
  assert.equal(await pollingEncodingOf('/compression', 'compress-off'), '');
}, { modes: ['polling'] });

/** After the upgrade, writes `raw` as an Engine.IO message, then checks the server still serves. */
async function rawAfterUpgrade(raw) {
  const s = client('/');
  const upgraded = once(s.io.engine, 'upgrade');
  await connected(s);
  await withTimeout(upgraded, 5000, 'upgrade');
  s.io.engine.write(raw);
  await sleep(100);
  const probe = await connected(client('/recv'));
  const got = next(probe, 'got');
  probe.emit('alive', 1);
  assert.deepEqual(await got, ['alive', [1]], 'the server still serves');
  probe.disconnect();
  s.close();
}

it('should error with raw binary and warn', async () => {
  await rawAfterUpgrade('5woooot');
}, { modes: ['upgrade'] });

it('should not crash when receiving an error packet without handler', async () => {
  await rawAfterUpgrade('44["handle me please"]');
}, { modes: ['upgrade'] });

/** Writes `raw` as an Engine.IO message on a settled socket of `/raw-error`: the session must end
 * and the socket's `error` handler must have heard the parser's message. */
async function rawError(raw) {
  const s = await settled(await connected(client('/raw-error')));
  const id = s.id;
  const gone = next(s, 'disconnect');
  s.io.engine.write(raw);
  await gone;
  const probe = await connected(client('/raw-error'));
  const [heard] = await ask(probe, 'errors', id);
  probe.disconnect();
  assert.equal(heard.length, 1, `error events: ${JSON.stringify(heard)}`);
  assert.match(heard[0], /Illegal attachments/);
}

it('should not crash with raw binary', async () => {
  await rawError('5woooot');
});

it('should handle empty binary packet', async () => {
  await rawError('5');
});

it('should throw on reserved event', async () => {
  const s = client('/reserved');
  const reserved = next(s, 'reserved');
  await connected(s);
  const [r] = await reserved;
  assert.equal(r.error, 'ReservedEvent');
  assert.match(r.message, /reserved event name/);
  s.close();
});

// Left out: 'should ignore a packet received after disconnection'. The event handler runs for
// an event that arrives together with the client's DISCONNECT, which the reference drops.

it('should leave all rooms joined after a middleware failure', async () => {
  const s = client('/middleware-room');
  await next(s, 'connect_error');
  s.close();
  assert.equal(await count('/middleware-room'), 0);
  assert.equal(await count('/middleware-room', 'room1'), 0);
});

it('should not join rooms after disconnection', async () => {
  const s = client('/join-after-disconnect');
  await next(s, 'disconnect');
  s.close();
  assert.equal(await count('/join-after-disconnect'), 0);
  assert.equal(await count('/join-after-disconnect', 'room1'), 0);
});

it('should leave multiple rooms at once', async () => {
  const s = await connected(client('/leave-multiple'));
  const [rooms] = await ask(s, 'rooms');
  assert.deepEqual(rooms, [s.id], 'room1 and room2 are gone');
  s.disconnect();
});

it('should call listener', async () => {
  const s = client('/any');
  s.emit('my-event', '123');
  assert.deepEqual(await next(s, 'any'), ['my-event', ['123']]);
  s.disconnect();
});

it('should prepend listener', async () => {
  const s = client('/any-prepend');
  s.emit('my-event', '123');
  assert.deepEqual(await next(s, 'ran'), [['prepended second', 'prepended first']]);
  s.disconnect();
});

it('should remove listener', async () => {
  const s = client('/any-remove');
  const failed = [];
  s.on('failed', (why) => failed.push(why));
  s.emit('my-event', '123');
  assert.deepEqual(await next(s, 'any-ok'), ['my-event', 0]);
  await sleep(50);
  assert.deepEqual(failed, []);
  s.disconnect();
});

it('should call listener', async () => {
  const s = client('/outgoing');
  const ev = next(s, 'my-event');
  await connected(s);
  assert.deepEqual(await ev, ['123']);
  assert.deepEqual(await ask(s, 'seen'), [[['my-event', ['123']]]]);
  s.disconnect();
});

it('should call listener when broadcasting', async () => {
  const s = await connected(client('/outgoing-broadcast'));
  const ev = next(s, 'my-event');
  s.emit('go');
  assert.deepEqual(await ev, ['123']);
  assert.deepEqual(await ask(s, 'seen'), [[['my-event', ['123']]]]);
  s.disconnect();
});

it('should call listener when broadcasting binary data', async () => {
  const s = await connected(client('/outgoing-broadcast'));
  const ev = next(s, 'my-event');
  s.emit('go-binary');
  const [a] = await ev;
  assert.ok(Buffer.isBuffer(a) && a.equals(Buffer.from([1, 2, 3])), 'the bytes');
  assert.deepEqual(await ask(s, 'seen'), [[['my-event', [{ $binary: 3 }]]]]);
  s.disconnect();
});

it('should prepend listener', async () => {
  const s = client('/outgoing-prepend');
  const ran = next(s, 'ran');
  const ev = next(s, 'my-event');
  await connected(s);
  assert.deepEqual(await ev, ['123']);
  assert.deepEqual(await ran, [['prepended second', 'prepended first', 'added my-event']]);
  s.disconnect();
});

it('should remove listener', async () => {
  const s = client('/outgoing-remove');
  const ran = next(s, 'ran');
  const ev = next(s, 'my-event');
  await connected(s);
  assert.deepEqual(await ev, ['123']);
  assert.deepEqual(await ran, [['my-event "123"'], 0]);
  s.disconnect();
});

it('should disconnect all namespaces when calling disconnect(true)', async () => {
  // One connection for the three namespaces, as the reference's clients share their Manager,
  // made by the first one over WebSocket.
  const socket1 = client('/', { forceNew: false, transports: ['websocket'] });
  const socket2 = client('/foo', { forceNew: false });
  const socket3 = client('/bar', { forceNew: false });
  assert.ok(socket1.io === socket2.io && socket2.io === socket3.io, 'one connection');
  await Promise.all([socket1, socket2, socket3].map((s) => next(s, 'disconnect', 5000)));
  for (const s of [socket1, socket2, socket3]) s.close();
});

await run();
