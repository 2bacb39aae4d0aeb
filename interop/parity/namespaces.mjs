// packages/socket.io/test/namespaces.ts, against engine/tests/parity/namespaces.rs.
import assert from 'node:assert/strict';
import {
  it, run, client, connected, next, ask, sleep, pollingEncodingOf,
} from './lib.mjs';

/** What a handler of the server recorded under `key`, once it is there. */
async function seen(key) {
  const stats = await connected(client('/stats'));
  try {
    for (let i = 0; i < 40; i++) {
      const [fact] = await ask(stats, 'seen', key);
      if (fact !== null) return fact;
      await sleep(50);
    }
    throw new Error(`the server never recorded ${key}`);
  } finally {
    stats.disconnect();
  }
}

/** Every `ev` on `socket` from now on (their first arguments). */
function record(socket, ev) {
  const got = [];
  socket.on(ev, (arg) => got.push(arg));
  return got;
}

it('should automatically connect', async () => {
  const s = await connected(client('/'));
  assert.equal(s.connected, true);
  s.disconnect();
});

it('should fire a `connection` event', async () => {
  const s = client('/');
  const conn = next(s, 'connection');
  await connected(s);
  assert.deepEqual(await conn, [s.id]);
  s.disconnect();
});

it('should fire a `connect` event', async () => {
  const s = client('/');
  const conn = next(s, 'connection');
  await connected(s);
  assert.deepEqual(await conn, [s.id]);
  s.disconnect();
});

it('should work with many sockets', async () => {
  const chat = client('/chat');
  const news = client('/news');
  await Promise.all([connected(chat), connected(news)]);
  chat.disconnect();
  news.disconnect();
});

it('should be able to equivalently start with "" or "/" on server', async () => {
  const c1 = client('/');
  const c2 = client('/abc');
  const conn1 = next(c1, 'connection');
  const conn2 = next(c2, 'connection');
  await Promise.all([connected(c1), connected(c2)]);
  assert.deepEqual(await conn1, [c1.id]);
  assert.deepEqual(await conn2, [c2.id]);
  c1.disconnect();
  c2.disconnect();
});

it('should be equivalent for "" and "/" on client', async () => {
  const c1 = client('');
  const conn = next(c1, 'connection');
  await connected(c1);
  assert.equal(c1.nsp, '/');
  assert.deepEqual(await conn, [c1.id]);
  c1.disconnect();
});

it('should work with `of` and many sockets', async () => {
  const chat = client('/chat');
  const news = client('/news');
  const listeners = record(news, 'listener');
  await Promise.all([connected(chat), connected(news)]);
  await sleep(100);
  assert.deepEqual(listeners, [1, 2]);
  chat.disconnect();
  news.disconnect();
});

it('should work with `of` second param', async () => {
  const chat = client('/chat');
  const news = client('/news-of');
  const listeners = record(news, 'listener');
  await Promise.all([connected(chat), connected(news)]);
  await sleep(100);
  assert.deepEqual(listeners, [1, 2]);
  chat.disconnect();
  news.disconnect();
});

it('should disconnect upon transport disconnection', async () => {
  const chat = await connected(client('/chat'));
  // The same connection (Manager) for both namespaces, as the reference's clients share one.
  const news = await connected(chat.io.socket('/news'));
  const [chatId, newsId] = [chat.id, news.id];
  const gone = Promise.all([next(chat, 'disconnect'), next(news, 'disconnect')]);
  chat.emit('close');
  await gone;
  assert.equal(typeof await seen(`disconnect /chat ${chatId}`), 'string');
  assert.equal(typeof await seen(`disconnect /news ${newsId}`), 'string');
  chat.disconnect();
  news.disconnect();
});

it('should fire a `disconnecting` event just before leaving all rooms', async () => {
  const s = await connected(client('/disconnecting'));
  const id = s.id;
  const gone = next(s, 'disconnect');
  s.emit('disconnect-me');
  await gone;
  const before = await seen(`disconnecting /disconnecting ${id}`);
  assert.deepEqual([...before].sort(), [id, 'a'].sort());
  const after = await seen(`disconnect /disconnecting ${id}`);
  assert.equal(after.length, 0);
  s.disconnect();
});

it('should return error connecting to non-existent namespace', async () => {
  const s = client('/doesnotexist');
  const [err] = await next(s, 'connect_error');
  assert.equal(err.message, 'Invalid namespace');
  s.close();
});

it('should not reuse same-namespace connections', async () => {
  const c1 = client('/');
  const c2 = client('/');
  const conn1 = next(c1, 'connection');
  const conn2 = next(c2, 'connection');
  await Promise.all([connected(c1), connected(c2)]);
  const [[id1], [id2]] = await Promise.all([conn1, conn2]);
  assert.equal(id1, c1.id);
  assert.equal(id2, c2.id);
  assert.notEqual(id1, id2);
  c1.disconnect();
  c2.disconnect();
});

it('should find all clients in a namespace', async () => {
  const c1 = await connected(client('/chat'));
  const c2 = await connected(client('/chat'));
  const c3 = await connected(client('/other'));
  const [sids] = await ask(c1, 'all-sockets');
  assert.ok(sids.includes(c1.id), `${c1.id} in ${sids}`);
  assert.ok(sids.includes(c2.id), `${c2.id} in ${sids}`);
  assert.ok(!sids.includes(c3.id), `${c3.id} not in ${sids}`);
  c1.disconnect();
  c2.disconnect();
  c3.disconnect();
});

it('should find all clients in a namespace room', async () => {
  const c1 = await connected(client('/chat'));
  const c2 = await connected(client('/chat'));
  const c3 = await connected(client('/other'));
  await ask(c1, 'join', 'bar');
  await ask(c2, 'join', 'foo');
  await ask(c3, 'join', 'foo');
  const [sids] = await ask(c1, 'all-sockets', 'foo');
  assert.ok(sids.includes(c2.id), `${c2.id} in ${sids}`);
  assert.ok(!sids.includes(c1.id), `${c1.id} not in ${sids}`);
  assert.ok(!sids.includes(c3.id), `${c3.id} not in ${sids}`);
  c1.disconnect();
  c2.disconnect();
  c3.disconnect();
});

it('should find all clients across namespace rooms', async () => {
  const c1 = await connected(client('/chat'));
  const c2 = await connected(client('/chat'));
  const c3 = await connected(client('/other'));
  await ask(c1, 'join', 'bar');
  await ask(c2, 'join', 'foo');
  await ask(c3, 'join', 'foo');
  const [sids] = await ask(c1, 'all-sockets');
  assert.ok(sids.includes(c1.id), `${c1.id} in ${sids}`);
  assert.ok(sids.includes(c2.id), `${c2.id} in ${sids}`);
  assert.ok(!sids.includes(c3.id), `${c3.id} not in ${sids}`);
  c1.disconnect();
  c2.disconnect();
  c3.disconnect();
});

it('should not emit volatile event after regular event', async () => {
  const s = client('/volatile-after-regular');
  const got = record(s, 'ev');
  await connected(s);
  // Let the packets of the connection go out first.
  await sleep(50);
  s.emit('trigger');
  await sleep(500);
  assert.deepEqual(got, ['data']);
  s.disconnect();
});

it('should emit volatile event', async () => {
  const s = client('/volatile');
  const got = record(s, 'ev');
  await connected(s);
  await sleep(100);
  s.emit('trigger');
  await sleep(500);
  assert.deepEqual(got, ['data']);
  s.disconnect();
});

// As in socket.mjs, for a broadcast to the namespace.
it('should enable compression by default', async () => {
  assert.equal(await pollingEncodingOf('/compression', 'compress-default'), 'gzip');
}, { modes: ['polling'] });

it('should disable compression', async () => {
  assert.equal(await pollingEncodingOf('/compression', 'compress-off'), '');
}, { modes: ['polling'] });

it('should throw on reserved event', async () => {
  const s = await connected(client('/'));
  assert.deepEqual(await ask(s, 'emit-reserved'), ['ReservedEvent: reserved event name']);
  s.disconnect();
});

it('should close a client without namespace', async () => {
  const s = client('/');
  s.io.engine.write = () => {}; // the client never sends its CONNECT packet
  let connects = 0;
  s.on('connect', () => connects++);
  await next(s, 'disconnect', 5000);
  assert.equal(connects, 0);
  assert.equal(s.connected, false);
  s.close();
});

it('should exclude a specific socket when emitting', async () => {
  const s1 = await connected(client('/'));
  const s2 = await connected(client('/'));
  const got2 = record(s2, 'a');
  const a1 = next(s1, 'a');
  assert.deepEqual(await ask(s1, 'except-emit', s2.id), [true]);
  assert.deepEqual(await a1, []);
  await sleep(100);
  assert.equal(got2.length, 0);
  s1.disconnect();
  s2.disconnect();
});

it('should exclude a specific socket when emitting (in a namespace)', async () => {
  const s1 = await connected(client('/nsp'));
  const s2 = await connected(client('/nsp'));
  const got2 = record(s2, 'a');
  const a1 = next(s1, 'a');
  assert.deepEqual(await ask(s1, 'except-emit', s2.id), [true]);
  assert.deepEqual(await a1, []);
  await sleep(100);
  assert.equal(got2.length, 0);
  s1.disconnect();
  s2.disconnect();
});

it('should exclude a specific room when emitting', async () => {
  const s1 = await connected(client('/nsp'));
  const s2 = await connected(client('/nsp'));
  const got2 = record(s2, 'a');
  const a1 = next(s1, 'a');
  s2.emit('broadcast');
  assert.deepEqual(await a1, []);
  await sleep(100);
  assert.equal(got2.length, 0);
  s1.disconnect();
  s2.disconnect();
});

it('should allow connections to dynamic namespaces with a regex', async () => {
  const s = client('/dynamic-101');
  const nsp = next(s, 'nsp');
  const hello = next(s, 'hello');
  await connected(s);
  assert.deepEqual(await nsp, ['/dynamic-101', true]);
  assert.deepEqual(await hello, [1, '2', { 3: '4' }]);
  s.disconnect();
});

it('should allow connections to dynamic namespaces with a regex and emit in a room', async () => {
  const s = client('/dynamic-101');
  const hellos = [];
  s.on('hello', (...args) => hellos.push(args));
  await connected(s);
  await sleep(200);
  assert.deepEqual(hellos, [[1, '2', { 3: '4' }], [4, '3', { 2: '1' }]]);
  s.disconnect();
});

it('should allow connections to dynamic namespaces with a function', async () => {
  const s = await connected(client('/dynamic-fn-101'));
  assert.equal(s.connected, true);
  s.disconnect();
});

/** The names the server's `new_namespace` hook heard, in order. */
async function created() {
  const ctl = await connected(client('/created'));
  const [names] = await ask(ctl, 'created');
  ctl.disconnect();
  return names;
}

/** A dynamic namespace name no earlier run used. */
const freshDynamic = () => `/dynamic-${Date.now()}${Math.floor(Math.random() * 1000)}`;

it('should emit an \'new_namespace\' event', async () => {
  // `io.of("/nsp")`: namespaces registered by name are new when the server starts.
  const names = await created();
  assert.equal(names.filter((n) => n === '/nsp').length, 1, `heard: ${names}`);
  assert.ok(!names.includes('/'), 'the main namespace exists from the start');
});

it('should emit an \'new_namespace\' event for a dynamic namespace', async () => {
  const name = freshDynamic();
  const s = await connected(client(name));
  const names = await created();
  assert.equal(names.filter((n) => n === name).length, 1, `heard: ${names}`);
  s.disconnect();
});

// The reference's matcher answers later (`next`), so two connects race inside one process;
// Volley's matchers answer at once, and the race is between the workers the two clients land on.
it('should handle race conditions with dynamic namespaces (#4136)', async () => {
  const name = freshDynamic();
  const [one, two] = [client(name), client(name)];
  const messages = [next(one, 'message'), next(two, 'message')];
  await Promise.all([connected(one), connected(two)]);
  const names = await created();
  assert.equal(names.filter((n) => n === name).length, 1, `heard: ${names}`);
  const ctl = await connected(client('/created'));
  assert.deepEqual(await ask(ctl, 'emit-to', name), [true]);
  await Promise.all(messages);
  ctl.disconnect();
  one.disconnect();
  two.disconnect();
});

it('should disallow connections when no dynamic namespace matches', async () => {
  const s = client('/xyz');
  const [err] = await next(s, 'connect_error');
  assert.equal(err.message, 'Invalid namespace');
  s.close();
});

await run();
