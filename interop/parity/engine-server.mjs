// packages/engine.io/test/server.js, against engine/tests/parity/engine_server.rs: raw Engine.IO
// with the stock engine.io-client, plain HTTP (node:http) and raw WebSocket (ws).
// The main server says where the servers with other options are (`?urls`) and reports what the
// handlers of every server saw (`?sid <sid>`: opened, messages received, close reason;
// `?req <tag>`: the handshake request allow_request saw). A text `!{json}` asks a server to send
// (`send`, `repeat`) and to close (`close`); other messages are recorded and echoed (`test` is
// answered `woot`, `hey` is answered `holà`).
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import zlib from 'node:zlib';
import { Socket } from 'engine.io-client';
import { WebSocket } from 'ws';
import { it, run, base, mode, sleep, once, withTimeout } from './lib.mjs';

const modeOpts = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'] },
  upgrade: {},
}[mode];

/** A stock engine.io-client; `sid` keeps its session id (the client forgets it once closed). */
function mk(url, opts) {
  const s = new Socket(url, opts);
  s.on('handshake', (obj) => { s.sid = obj.sid; });
  return s;
}
/** A stock engine.io-client for `url` in this run's transport mode. */
const eio = (url = base, opts = {}) => mk(url, { ...modeOpts, ...opts });

/** Resolves with `s` once open; rejects on an error or a close before. */
const opened = (s, ms = 5000) => withTimeout(new Promise((resolve, reject) => {
  s.once('open', () => resolve(s));
  s.once('error', (e) => reject(new Error(`error before open: ${e && e.message ? e.message : e}`)));
  s.once('close', (r) => reject(new Error(`close before open: ${r}`)));
}), ms, 'open');

const nextMessage = (s, ms = 3000) => withTimeout(once(s, 'message').then(([m]) => m), ms, 'message');
/** The next `close` of `s`: [reason, description]. */
const closeOf = (s, ms = 3000) => withTimeout(once(s, 'close'), ms, 'close');
/** Asks the server of `s` to do `c` (send, repeat, close). */
const command = (s, c) => s.send(`!${JSON.stringify(c)}`);
/** `n` messages of `s`, in arrival order. */
const messages = (s, n, ms = 3000) => withTimeout(new Promise((resolve) => {
  const got = [];
  s.on('message', (m) => { got.push(m); if (got.length === n) resolve(got); });
}), ms, `${n} messages`);

// The control session and what it asks the servers' shared records.
const control = await opened(new Socket(base, { transports: ['websocket'] }));
let queue = Promise.resolve();
function ask(q) {
  const p = queue.then(() => {
    const reply = nextMessage(control);
    control.send(`?${q}`);
    return reply;
  }).then((text) => JSON.parse(text));
  queue = p.catch(() => {});
  return p;
}
const urls = await ask('urls');
const url = (name) => {
  assert.ok(urls[name], `no server ${name}`);
  return urls[name];
};
const record = (sid) => ask(`sid ${sid}`);
/** Waits until `f(record)` holds for session `sid`; returns the record. */
async function recordWhen(sid, f, what, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await record(sid);
    if (r && f(r)) return r;
    if (Date.now() > end) throw new Error(`timeout: ${what} (record ${JSON.stringify(r)})`);
    await sleep(20);
  }
}
/** The reason the server gave when session `sid` ended. */
const serverClose = async (sid, ms) => (await recordWhen(sid, (r) => r.closed !== null, 'server close', ms)).closed;
let tags = 0;
const tag = () => `t${process.pid}-${mode}-${++tags}`;

/** One HTTP request on a fresh connection: { status, headers, text, body (the bytes) }. */
function request(target, { method = 'GET', headers = {}, body, chunks } = {}) {
  return withTimeout(new Promise((resolve, reject) => {
    const u = new URL(target);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false,
    }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const bytes = Buffer.concat(parts);
        resolve({ status: res.statusCode, headers: res.headers, text: bytes.toString(), body: bytes });
      });
    });
    req.on('error', reject);
    if (chunks) for (const c of chunks) req.write(c);
    else if (body !== undefined) req.write(body);
    req.end();
  }), 5000, `${method} ${target}`);
}
const json = (res) => JSON.parse(res.text);
/** A polling handshake by hand: the response and the session id. */
async function pollingHandshake(server = base, extra = '') {
  const res = await request(`${server}/engine.io/?EIO=4&transport=polling${extra}`);
  assert.equal(res.status, 200, res.text);
  return { res, sid: JSON.parse(res.text.slice(1)).sid };
}
/** Raw bytes to the server on a fresh TCP connection; resolves after `ms`. */
function rawBytes(server, bytes, ms = 50) {
  return new Promise((resolve, reject) => {
    const u = new URL(server);
    const sock = net.connect(Number(u.port), u.hostname, () => sock.write(bytes));
    sock.on('error', () => {});
    sock.on('data', () => {});
    setTimeout(() => { sock.destroy(); resolve(); }, ms);
    sock.on('error', reject);
  });
}
/** The server answers: a new session opens and echoes. */
async function stillServing(server = base) {
  const s = await opened(eio(server));
  const echo = nextMessage(s);
  s.send('still here');
  assert.equal(await echo, 'still here');
  s.close();
}
const upgradeHeaders = 'Connection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n'
  + 'Sec-WebSocket-Key: DXR4dX615eRds8nRmlhqtw==\r\n';

// ---------------------------------------------------------------- verification

it('should disallow non-existent transports', async () => {
  const res = await request(`${base}/engine.io/?transport=tobi`);
  assert.equal(res.status, 400);
  assert.deepEqual(json(res), { code: 0, message: 'Transport unknown' });
});

it('should disallow `constructor` as transports', async () => {
  const res = await request(`${base}/engine.io/?transport=constructor`, { headers: { Origin: 'http://engine.io' } });
  assert.equal(res.status, 400);
  assert.deepEqual(json(res), { code: 0, message: 'Transport unknown' });
});

it('should disallow non-existent sids', async () => {
  const res = await request(`${base}/engine.io/?transport=polling&sid=test`, { headers: { Origin: 'http://engine.io' } });
  assert.equal(res.status, 400);
  assert.deepEqual(json(res), { code: 1, message: 'Session ID unknown' });
});

it('should disallow requests that are rejected by `allowRequest`', async () => {
  const res = await request(`${url('deny')}/engine.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://engine.io' } });
  assert.equal(res.status, 403);
  assert.deepEqual(json(res), { code: 4, message: 'Thou shall not pass' });
});

it('should disallow connection that are rejected by `allowRequest` (ws)', async () => {
  const s = mk(url('deny'), { transports: ['websocket'] });
  await withTimeout(once(s, 'error'), 3000, 'client error');
  s.close();
}, { modes: ['websocket'] });

it('should not throw when the client sends invalid data during the handshake (ws only)', async () => {
  await rawBytes(base, `GET /engine.io/?transport=websocket&EIO=4 HTTP/1.1\r\nHost: localhost\r\n${upgradeHeaders}`
    + 'Content-Length: 4\r\n\r\ntest');
  await stillServing();
});

it('should not throw when the client sends invalid data during the handshake (upgrade)', async () => {
  const { sid } = await pollingHandshake();
  await rawBytes(base, `GET /engine.io/?transport=websocket&EIO=4&sid=${sid} HTTP/1.1\r\nHost: localhost\r\n`
    + `${upgradeHeaders}Content-Length: 4\r\n\r\ntest`);
  await stillServing();
});

it('should disallow `__proto__` as transport (polling)', async () => {
  const res = await request(`${base}/engine.io/?transport=__proto__&EIO=4`);
  assert.equal(res.status, 400);
  assert.deepEqual(json(res), { code: 0, message: 'Transport unknown' });
}, { modes: ['polling'] });

it('should disallow `__proto__` as transport (websocket)', async () => {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/engine.io/?EIO=4&transport=__proto__`);
  const [, res] = await withTimeout(once(ws, 'unexpected-response'), 3000, 'refusal');
  assert.equal(res.statusCode, 400);
  const parts = [];
  res.on('data', (d) => parts.push(d));
  await once(res, 'end');
  // engine.io's abortUpgrade: the bare message as text/html.
  assert.equal(res.headers['content-type'], 'text/html');
  assert.equal(Buffer.concat(parts).toString(), 'Transport unknown');
  ws.on('error', () => {});
  ws.terminate();
}, { modes: ['websocket'] });

// ---------------------------------------------------------------- handshake

it('should send the io cookie', async () => {
  const { res, sid } = await pollingHandshake(url('cookie'));
  assert.equal(res.headers['set-cookie'][0], `io=${sid}; Path=/; HttpOnly; SameSite=Lax`);
});

it('should send the io cookie custom name', async () => {
  const { res, sid } = await pollingHandshake(url('woot'), '&b64=1');
  assert.equal(res.headers['set-cookie'][0], `woot=${sid}; Path=/; HttpOnly; SameSite=Lax`);
});

it('should send the cookie with custom path', async () => {
  const { res, sid } = await pollingHandshake(url('cookie-path'), '&b64=1');
  assert.equal(res.headers['set-cookie'][0], `io=${sid}; Path=/custom; HttpOnly; SameSite=Lax`);
});

it('should send the cookie with path=false', async () => {
  const { res, sid } = await pollingHandshake(url('cookie-no-path'), '&b64=1');
  assert.equal(res.headers['set-cookie'][0], `io=${sid}; SameSite=Lax`);
});

it('should send the io cookie with httpOnly=true', async () => {
  const { res, sid } = await pollingHandshake(url('cookie-http-only'), '&b64=1');
  assert.equal(res.headers['set-cookie'][0], `io=${sid}; Path=/; HttpOnly; SameSite=Lax`);
});

it('should send the io cookie with sameSite=strict', async () => {
  const { res, sid } = await pollingHandshake(url('cookie-strict'), '&b64=1');
  assert.equal(res.headers['set-cookie'][0], `io=${sid}; Path=/; HttpOnly; SameSite=Strict`);
});

it('should send the io cookie with httpOnly=false', async () => {
  const { res, sid } = await pollingHandshake(url('cookie-not-http-only'), '&b64=1');
  assert.equal(res.headers['set-cookie'][0], `io=${sid}; Path=/; SameSite=Lax`);
});

it('should not send the io cookie', async () => {
  const { res } = await pollingHandshake();
  assert.equal(res.headers['set-cookie'], undefined);
});

/** Engine.IO sessions open on the metrics server, summed over its workers. */
async function sessionsOpen(server = url('count')) {
  const res = await request(`${server}/metrics`);
  return [...res.text.matchAll(/^volley_sessions\{[^}]*\} (-?\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

it('should register a new client', async () => {
  // Sessions of an earlier run may still be ending.
  for (let i = 0; i < 100 && await sessionsOpen() !== 0; i++) await sleep(20);
  assert.equal(await sessionsOpen(), 0);
  const s = await opened(eio(url('count')));
  assert.equal(await sessionsOpen(), 1);
  s.close();
});

it('should register a new client with custom id', async () => {
  const server = url('custom-id');
  for (let i = 0; i < 100 && await sessionsOpen(server) !== 0; i++) await sleep(20);
  assert.equal(await sessionsOpen(server), 0);
  const s = await opened(eio(server));
  assert.equal(await sessionsOpen(server), 1);
  assert.match(s.id, /^CustomId\d+$/);
  // The server's session is known by that id.
  const r = await record(s.id);
  assert.equal(r && r.opened, true, `session ${s.id} on the server`);
  // And the session works under it.
  const echo = nextMessage(s);
  s.send('custom');
  assert.equal(await echo, 'custom');
  s.close();
});

async function refusedByGenerateId(opts) {
  const res = await request(`${url('custom-id-deny')}/engine.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 400);
  assert.deepEqual(json(res), { code: 3, message: 'Bad request' });
  const s = mk(url('custom-id-deny'), opts);
  await withTimeout(once(s, 'error'), 3000, 'client error');
  s.close();
}

it('should disallow connection that are rejected by `generateId`', async () => {
  await refusedByGenerateId({});
}, { modes: ['polling', 'upgrade'] });

it('should disallow connection that are rejected by `generateId` (websocket only)', async () => {
  await refusedByGenerateId({ transports: ['websocket'] });
}, { modes: ['websocket'] });

it('should exchange handshake data', async () => {
  const s = eio();
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(typeof obj.sid, 'string');
  assert.equal(typeof obj.pingTimeout, 'number');
  assert.ok(Array.isArray(obj.upgrades));
  assert.equal(obj.maxPayload, 1000000);
  s.close();
});

it('should allow custom ping timeouts', async () => {
  const s = eio(url('ping300'));
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(obj.pingTimeout, 123);
  s.close();
});

it('should trigger a connection event with a Socket', async () => {
  const s = await opened(eio());
  const r = await record(s.sid);
  assert.equal(r.opened, true, 'on_open ran for the session');
  s.close();
});

it('should open with polling by default', async () => {
  const s = await opened(eio());
  assert.equal((await record(s.sid)).transport, 'polling');
  s.close();
}, { modes: ['polling', 'upgrade'] });

it('should be able to open with ws directly', async () => {
  const s = await opened(mk(url('websocket'), { transports: ['websocket'] }));
  assert.equal((await record(s.sid)).transport, 'websocket');
  s.close();
}, { modes: ['websocket'] });

it('should not suggest any upgrades for websocket', async () => {
  const s = mk(url('websocket'), { transports: ['websocket'] });
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(obj.upgrades.length, 0);
  s.close();
}, { modes: ['websocket'] });

it('should not suggest upgrades when none are availble', async () => {
  const s = eio(url('polling'));
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(obj.upgrades.length, 0);
  s.close();
}, { modes: ['polling', 'upgrade'] });

it('should only suggest available upgrades', async () => {
  const s = eio(url('polling'));
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(obj.upgrades.length, 0);
  s.close();
}, { modes: ['polling', 'upgrade'] });

it('should suggest all upgrades when no transports are disabled', async () => {
  const s = eio();
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(obj.upgrades.length, 1);
  assert.ok(obj.upgrades.includes('websocket'));
  s.close();
}, { modes: ['polling', 'upgrade'] });

it('default to polling when proxy doesn\'t support websocket', async () => {
  const s = await opened(eio());
  const res = await request(`${base}/engine.io/?EIO=4&transport=websocket&sid=${s.sid}`, { headers: { connection: 'close' } });
  assert.equal(res.status, 400);
  assert.equal(json(res).code, 3);
  const echo = nextMessage(s);
  s.send('echo');
  assert.equal(await echo, 'echo');
  s.close();
}, { modes: ['polling'] });

it('should allow arbitrary data through query string', async () => {
  const t = tag();
  const s = await opened(eio(base, { query: { a: 'b', tag: t } }));
  const req = await ask(`req ${t}`);
  const query = new URLSearchParams(req.query);
  assert.ok(query.has('transport'));
  assert.equal(query.get('a'), 'b');
  s.close();
});

it('should allow data through query string in uri', async () => {
  const t = tag();
  const s = await opened(eio(`${base}?a=b&c=d&tag=${t}`));
  const query = new URLSearchParams((await ask(`req ${t}`)).query);
  assert.equal(typeof query.get('EIO'), 'string');
  assert.equal(query.get('a'), 'b');
  assert.equal(query.get('c'), 'd');
  s.close();
});

it('should disallow bad requests (handshake error)', async () => {
  const res = await request(`${url('cors')}/engine.io/?EIO=4&transport=websocket`, { headers: { Origin: 'http://engine.io' } });
  assert.equal(res.status, 400);
  assert.deepEqual(json(res), { code: 3, message: 'Bad request' });
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  assert.equal(res.headers['access-control-allow-origin'], 'http://engine.io');
});

it('should disallow invalid handshake method', async () => {
  const res = await request(`${base}/engine.io/?EIO=4&transport=polling`, { method: 'OPTIONS' });
  assert.equal(res.status, 400);
  assert.deepEqual(json(res), { code: 2, message: 'Bad handshake method' });
});

it('should disallow unsupported protocol versions', async () => {
  const res = await request(`${base}/engine.io/?transport=polling&EIO=3`);
  assert.equal(res.status, 400);
  assert.deepEqual(json(res), { code: 5, message: 'Unsupported protocol version' });
});

it('should send a packet along with the handshake', async () => {
  const s = eio(url('initial'));
  const first = withTimeout(new Promise((resolve) => {
    s.on('open', () => s.once('message', resolve));
  }), 3000, 'first message');
  assert.equal(await first, 'faster!');
  s.close();
});

// ---------------------------------------------------------------- close

it('should trigger on server if the client does not pong', async () => {
  const s = eio(url('ping50'));
  s._sendPacket = () => {};
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(await serverClose(obj.sid), 'ping timeout');
  s.close();
});

it('should trigger on server even when there is no outstanding polling request (GH-198)', async () => {
  // The server closes the session in its `connection` handler, while the client, which has
  // just taken the open packet, disappears without another request: the session stays closing
  // (its close packet waits for a GET) until the heartbeat gives up on the client.
  const { sid } = await pollingHandshake(url('gh198'));
  assert.equal(await serverClose(sid, 5000), 'ping timeout');
}, { modes: ['polling'] });

it('should trigger on client if server does not meet ping timeout', async () => {
  const s = await opened(eio(url('ping50')));
  // The client stops hearing the server.
  s.transport.off('packet');
  s.transport.off('close');
  const [reason] = await closeOf(s);
  assert.equal(reason, 'ping timeout');
}, { modes: ['websocket', 'polling'] });

it('should trigger on both ends upon ping timeout', async () => {
  const s = await opened(eio(url('ping50')));
  // An inactive client: it sends nothing from now on, and hears nothing after the server's
  // first ping (which the server's own timeout then ends before the client's, as in the
  // reference, where both timers run in one event loop and the server's is armed first).
  s._sendPacket = () => {};
  s.transport.off('close');
  s.once('ping', () => s.transport.off('packet'));
  const [reason] = await closeOf(s);
  assert.equal(reason, 'ping timeout');
  assert.equal(await serverClose(s.sid), 'ping timeout');
}, { modes: ['websocket', 'polling'] });

async function serverClosesClient() {
  const s = await opened(eio());
  const closing = closeOf(s);
  await sleep(10);
  command(s, { close: true });
  const [reason] = await closing;
  assert.equal(reason, 'transport close');
  assert.equal(await serverClose(s.sid), 'forced close');
}

it('should trigger when server closes a client', async () => {
  await serverClosesClient();
}, { modes: ['polling'] });

it('should trigger when server closes a client (ws)', async () => {
  await serverClosesClient();
}, { modes: ['websocket'] });

it('should allow client reconnect after restarting (ws)', async () => {
  // `{ transports: ["websocket"] }`: the server stops listening and listens again on the same
  // port (an aux server shut down and a new one started on its port), then a client connects
  // over WebSocket and the server closes it 10 ms after the connection.
  const { port, error } = await ask('aux start');
  assert.equal(error, undefined, 'the aux server started');
  assert.deepEqual(await ask(`aux restart ${port}`), { port }, 'listening again on the same port');
  const s = await opened(mk(`http://127.0.0.1:${port}`, { transports: ['websocket'] }));
  const closing = closeOf(s);
  await sleep(10);
  command(s, { close: true });
  const [reason] = await closing;
  assert.equal(reason, 'transport close');
  assert.equal(await serverClose(s.sid), 'forced close');
  assert.equal(await ask(`aux close ${port}`), true);
}, { modes: ['websocket'] });

async function clientCloses() {
  const s = await opened(eio());
  const closing = closeOf(s);
  await sleep(10);
  s.close();
  const [reason] = await closing;
  assert.equal(reason, 'forced close');
  assert.equal(await serverClose(s.sid), 'transport close');
}

it('should trigger when client closes', async () => {
  await clientCloses();
}, { modes: ['polling'] });

it('should trigger when client closes (ws)', async () => {
  await clientCloses();
}, { modes: ['websocket'] });

it('should trigger when calling socket.close() in payload', async () => {
  // The reference's client and server share one process: the server's send callback runs
  // when the payload is written and closes the client before it reads that payload. Here
  // the client holds the messages of that payload until the server's record says the
  // callback ran, then closes and hands them on: it must handle none of them.
  const s = await opened(eio());
  const got = [];
  s.on('message', (m) => got.push(m));
  const transport = s.transport;
  const onPacket = transport.onPacket.bind(transport);
  const held = [];
  let payload;
  const arrived = new Promise((resolve) => { payload = resolve; });
  transport.onPacket = (p) => {
    if (p.type !== 'message') return onPacket(p);
    held.push(p);
    return payload();
  };
  const closing = closeOf(s);
  closing.catch(() => {});
  command(s, { send: [{ text: '', cb: true }, 'this should not be handled'] });
  await withTimeout(arrived, 3000, 'payload');
  await recordWhen(s.sid, (r) => (r.sent ?? []).length === 1, 'send callback');
  // The client closes at once only with nothing left to write (else it is `closing` and still
  // handles packets): the POST of the command must have been answered.
  if (s.writeBuffer.length > 0) await withTimeout(once(s, 'drain'), 3000, 'drain');
  s.close();
  for (const p of held) onPacket(p);
  assert.equal(held.length, 2);
  assert.equal((await closing)[0], 'forced close');
  assert.equal(await serverClose(s.sid), 'transport close');
  assert.deepEqual(got, []);
}, { modes: ['polling'] });

it('should abort upgrade if socket is closed (GH-35)', async () => {
  const s = await opened(eio());
  s.close();
  await sleep(100);
  await stillServing();
}, { modes: ['upgrade'] });

it('should abort connection when upgrade fails', async () => {
  const res = await request(`${base}/engine.io/`, { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
  assert.equal(res.status, 400);
});

it('should trigger if a poll request is ongoing and the underlying socket closes, as in a browser tab close', async () => {
  // The sockets of the client's requests (engine.io-client polls through node:http).
  const sockets = [];
  const original = http.request;
  http.request = function request(...args) {
    const req = original.apply(this, args);
    req.on('socket', (sock) => sockets.push(sock));
    return req;
  };
  try {
    const s = mk(base, { transports: ['polling'] });
    s.on('error', () => {});
    const polling = withTimeout(once(s.transport, 'poll'), 3000, 'poll');
    await polling;
    // Time for the poll request to reach the server and park there.
    await sleep(50);
    const r = await record(s.sid);
    assert.equal(r.opened, true);
    assert.equal(r.closed, null, 'the session is open while polling');
    assert.equal(sockets.length, 2, 'the handshake and the poll');
    // Kill the poll's connection: the server ends the session at once.
    sockets[1].end();
    assert.equal(await serverClose(s.sid, 2000), 'transport error');
    s.close();
  } finally {
    http.request = original;
  }
}, { modes: ['polling'] });

it('should not trigger with connection: close header', async () => {
  const s = await opened(eio(base, { extraHeaders: { Connection: 'close' } }));
  const reply = nextMessage(s);
  s.send('test');
  assert.equal(await reply, 'woot');
  assert.deepEqual((await record(s.sid)).received, ['test']);
  s.close();
}, { modes: ['polling'] });

it('should not trigger early with connection `ping timeout`after post handshake timeout', async () => {
  const s = eio(url('ping300'));
  let clientCloseReason = null;
  s.on('handshake', () => s.transport.off('packet'));
  s.on('open', () => s.on('close', (reason) => { clientCloseReason = reason; }));
  await sleep(200);
  assert.equal(clientCloseReason, null);
  s.close();
}, { modes: ['websocket', 'polling'] });

it('should not trigger early with connection `ping timeout` after post ping timeout', async () => {
  // pingInterval 80, pingTimeout 50; from its first heartbeat on, the server ignores every
  // packet (the reference replaces `conn.onPacket` in its `heartbeat` handler).
  const s = eio(url('heartbeat-ignore'));
  let clientCloseReason = null;
  s.on('open', () => s.on('close', (reason) => { clientCloseReason = reason; }));
  await sleep(100);
  assert.equal(clientCloseReason, null);
  s.close();
}, { modes: ['websocket', 'polling'] });

it('should trigger early with connection `transport close` after missing pong', async () => {
  // pingInterval 80, pingTimeout 50; the server closes the session on its first heartbeat
  // (the reference waits 20 ms first, which a handler on a worker cannot: it must not
  // sleep), and the client must see `transport close` within 100 ms of that heartbeat, long
  // before its own ping timeout.
  const s = eio(url('heartbeat-close'));
  let clientCloseReason = null;
  await opened(s);
  s.on('close', (reason) => { clientCloseReason = reason; });
  await recordWhen(s.sid, (r) => r.heartbeats >= 1, 'heartbeat', 3000);
  await sleep(100);
  assert.equal(clientCloseReason, 'transport close');
}, { modes: ['websocket', 'polling'] });

it('should trigger with connection `ping timeout` after `pingInterval + pingTimeout`', async () => {
  // The reference's `{ pingInterval: 300, pingTimeout: 100 }` scaled up (`ping-long`), so that
  // its checks (no close 50 ms before pingInterval + pingTimeout, `ping timeout` 100 ms after)
  // are hundreds of ms apart. From the first heartbeat on, the client hears nothing (the
  // reference replaces the client's `onPacket` in the server's `heartbeat` handler; here the
  // client stops listening as soon as it has answered its first ping): its own ping timeout,
  // pingInterval + pingTimeout after that ping, must end it before the server's closes it.
  const s = eio(url('ping-long'));
  let window = null;
  s.on('handshake', (obj) => { window = obj.pingInterval + obj.pingTimeout; });
  let pingedAt = null;
  s.once('ping', () => {
    pingedAt = Date.now();
    s.transport.off('packet');
  });
  let clientCloseReason = null;
  let closedAfter = null;
  s.on('open', () => s.on('close', (reason) => {
    clientCloseReason = reason;
    closedAfter = Date.now() - pingedAt;
  }));
  await opened(s);
  assert.ok(window >= 800, `pingInterval + pingTimeout is ${window}`);
  await withTimeout(once(s, 'ping'), 3000, 'first ping');
  await sleep(window - 100);
  assert.equal(clientCloseReason, null, 'no close before pingInterval + pingTimeout');
  await sleep(400);
  assert.equal(clientCloseReason, 'ping timeout', `closed ${closedAfter} ms after the heartbeat`);
  assert.ok(closedAfter >= window - 50, `closed ${closedAfter} ms after the heartbeat`);
}, { modes: ['websocket', 'polling'] });

it('should trigger transport close before open for ws', async () => {
  const s = eio(url('websocket'));
  let open = false;
  s.on('open', () => { open = true; });
  const [reason] = await closeOf(s);
  assert.equal(reason, 'transport error');
  assert.equal(open, false);
}, { modes: ['polling', 'upgrade'] });

it('should close transport upon ping timeout (ws)', async () => {
  const s = mk(url('ping50'), { transports: ['websocket'] });
  s._sendPacket = () => {};
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(await serverClose(obj.sid), 'ping timeout');
  s.close();
}, { modes: ['websocket'] });

it('should close transport upon ping timeout (polling)', async () => {
  const s = mk(url('ping50'), { transports: ['polling'] });
  s._sendPacket = () => {};
  const [obj] = await withTimeout(once(s, 'handshake'), 3000, 'handshake');
  assert.equal(await serverClose(obj.sid), 'ping timeout');
  s.close();
}, { modes: ['polling'] });

it('should close transport upon parse error (ws)', async () => {
  const s = await opened(mk(base, { transports: ['websocket'] }));
  const closing = closeOf(s);
  s.transport.ws.send('invalid');
  assert.equal(await serverClose(s.sid), 'parse error');
  await closing;
}, { modes: ['websocket'] });

it('should close transport upon parse error (polling)', async () => {
  const s = await opened(mk(base, { transports: ['polling'] }));
  const closing = closeOf(s);
  s.transport.doWrite('invalid', () => {});
  assert.equal(await serverClose(s.sid), 'parse error');
  await closing;
}, { modes: ['polling'] });

it('should close upgrading transport upon socket close', async () => {
  // The server closes the session in its `upgrading` event: the probing WebSocket closes.
  const s = eio(url('upgrading-close'));
  s.on('error', () => {});
  const probeClosed = withTimeout(new Promise((resolve) => {
    s.on('upgrading', (t) => t.once('close', resolve));
  }), 5000, 'upgrading transport close');
  await opened(s);
  await probeClosed;
  const r = await recordWhen(s.sid, (e) => e.closed !== null, 'server close');
  assert.equal(r.upgrading, true);
  assert.equal(r.closed, 'forced close');
  s.close();
}, { modes: ['upgrade'] });

it('should close upgrading transport upon upgrade timeout', async () => {
  const s = eio(url('upgrade100'));
  const [transport] = await withTimeout(once(s, 'upgrading'), 3000, 'upgrading');
  // The client never completes the upgrade.
  transport.send = () => {};
  const started = Date.now();
  await withTimeout(once(transport, 'close'), 3000, 'upgrading transport closed');
  assert.ok(Date.now() - started < 2000);
  s.close();
}, { modes: ['upgrade'] });

it('should not timeout after an upgrade', async () => {
  const s = eio(url('ping200'));
  let closed = null;
  s.on('close', (reason) => { closed = reason; });
  await opened(s);
  await sleep(500);
  assert.equal(closed, null);
  s.close();
}, { modes: ['upgrade'] });

// ---------------------------------------------------------------- messages

it('should arrive from server to client', async () => {
  const s = await opened(eio());
  const msg = nextMessage(s);
  command(s, { send: ['a'] });
  assert.equal(await msg, 'a');
  s.close();
});

async function multiple() {
  const s = await opened(eio());
  const got = [];
  s.on('message', (m) => got.push(m));
  command(s, { send: ['a'] });
  await sleep(50);
  command(s, { send: ['b'] });
  await sleep(50);
  // Both a regular packet and the close packet are buffered.
  const closing = closeOf(s);
  command(s, { send: ['c'], close: true });
  await serverClose(s.sid);
  await closing;
  await sleep(50);
  assert.deepEqual(got, ['a', 'b', 'c']);
}

it('should arrive from server to client (multiple)', async () => {
  await multiple();
}, { modes: ['polling'] });

it('should not be receiving data when getting a message longer than maxHttpBufferSize when polling', async () => {
  const s = await opened(mk(url('small'), { transports: ['polling'] }));
  const closing = closeOf(s);
  s.send('aasdasdakjhasdkjhasdkjhasdkjhasdkjhasdkjhasdkjha');
  await closing;
  assert.deepEqual((await record(s.sid)).received, []);
}, { modes: ['polling'] });

it('should not be receiving data when getting a message longer than maxHttpBufferSize (websocket)', async () => {
  const s = await opened(mk(url('small'), { transports: ['websocket'] }));
  const closing = closeOf(s);
  s.send('aasdasdakjhasdkjhasdkjhasdkjhasdkjhasdkjhasdkjha');
  await closing;
  assert.deepEqual((await record(s.sid)).received, []);
}, { modes: ['websocket'] });

it('should receive data when getting a message shorter than maxHttpBufferSize when polling', async () => {
  const s = await opened(mk(url('small'), { transports: ['polling'] }));
  s.send('a');
  const r = await recordWhen(s.sid, (e) => e.received.length > 0, 'message received');
  assert.deepEqual(r.received, ['a']);
  s.close();
}, { modes: ['polling'] });

it('should arrive from server to client (ws)', async () => {
  const s = await opened(eio());
  const msg = nextMessage(s);
  command(s, { send: ['a'] });
  assert.equal(await msg, 'a');
  s.close();
}, { modes: ['websocket'] });

it('should arrive from server to client (multiple, ws)', async () => {
  await multiple();
}, { modes: ['websocket'] });

it('should arrive from server to client (multiple, no delay, ws)', async () => {
  const s = await opened(eio());
  const got = [];
  s.on('message', (m) => got.push(m));
  const closing = closeOf(s);
  command(s, { send: ['a', 'b', 'c'], close: true });
  await serverClose(s.sid);
  await closing;
  await sleep(50);
  assert.deepEqual(got, ['a', 'b', 'c']);
}, { modes: ['websocket'] });

const bytes = (view) => [...new Uint8Array(view.buffer, view.byteOffset, view.byteLength)];
const int8 = Int8Array.from([0, 1, 2, 3, 4]);
const int32 = Int32Array.from([0, 1, 2, 3, 4], (i) => (i + 100) * 9823);

async function binaryArrives(view, check, opts = {}) {
  const s = await opened(eio(base, opts));
  if (opts.binaryType) s.binaryType = opts.binaryType;
  const msg = nextMessage(s);
  command(s, { send: [{ bin: bytes(view) }] });
  check(await msg);
  s.close();
}
const int8Check = (msg) => {
  assert.ok(Buffer.isBuffer(msg), `a Buffer, got ${typeof msg}`);
  for (let i = 0; i < int8.length; i++) assert.equal(msg.readInt8(i), i);
};
const int32Check = (msg) => {
  for (let i = 0, ii = 0; ii < int32.length; i += 4, ii++) assert.equal(msg.readInt32LE(i), (ii + 100) * 9823);
};
const arrayBufferCheck = (msg) => {
  assert.ok(msg instanceof ArrayBuffer, 'an ArrayBuffer');
  const view = new Int8Array(msg);
  assert.equal(view.length, 5);
  for (let i = 0; i < 5; i++) assert.equal(view[i], i);
};

it('should arrive when binary data is sent as Int8Array (ws)', async () => {
  await binaryArrives(int8, int8Check);
}, { modes: ['websocket'] });

it('should arrive when binary data is sent as Int32Array (ws)', async () => {
  await binaryArrives(int32, int32Check);
}, { modes: ['websocket'] });

it('should arrive when binary data is sent as Int32Array, given as ArrayBuffer(ws)', async () => {
  await binaryArrives(new Int32Array(int32.buffer), int32Check);
}, { modes: ['websocket'] });

it('should arrive when binary data is sent as Buffer (ws)', async () => {
  await binaryArrives(Buffer.from(int8.buffer), int8Check);
}, { modes: ['websocket'] });

it('should arrive when binary data sent as Buffer (polling)', async () => {
  await binaryArrives(Buffer.from(int8.buffer), int8Check);
}, { modes: ['polling'] });

it('should arrive as ArrayBuffer if requested when binary data sent as Buffer (ws)', async () => {
  await binaryArrives(Buffer.from(int8.buffer), arrayBufferCheck, { binaryType: 'arraybuffer' });
}, { modes: ['websocket'] });

it('should arrive when content is split in multiple chunks (polling)', async () => {
  const s = await opened(mk(url('big'), { transports: ['polling'] }));
  s.send('a'.repeat(1e6));
  const r = await recordWhen(s.sid, (e) => e.received.length > 0, 'message received', 5000);
  assert.deepEqual(r.received, [{ len: 1e6 }]);
  s.close();
}, { modes: ['polling'] });

it('should arrive when content is sent with chunked transfer-encoding (polling)', async () => {
  const s = await opened(mk(base, { transports: ['polling'] }));
  const res = await request(`${base}/engine.io/?EIO=4&transport=polling&sid=${s.sid}`, { method: 'POST', chunks: ['41', '2', '3'] });
  assert.equal(res.status, 200);
  const r = await recordWhen(s.sid, (e) => e.received.length > 0, 'message received');
  assert.deepEqual(r.received, ['123']);
  s.close();
}, { modes: ['polling'] });

it('should arrive as ArrayBuffer if requested when binary data sent as Buffer (polling)', async () => {
  await binaryArrives(Buffer.from(int8.buffer), arrayBufferCheck, { binaryType: 'arraybuffer' });
}, { modes: ['polling'] });

it('should trigger a flush/drain event', async () => {
  const s = await opened(eio(url('events')));
  const msg = nextMessage(s);
  command(s, { send: ['aaaa'] });
  assert.equal(await msg, 'aaaa');
  const r = await recordWhen(s.sid, (e) => (e.drains ?? []).length > 0
    && (e.flushes ?? []).some((f) => f.some((p) => p.type === 'message' && p.data === 'aaaa')), 'flush and drain');
  // Each flush hands packets to the transport; once drained, nothing is left queued.
  for (const f of r.flushes) assert.ok(Array.isArray(f) && f.length > 0, JSON.stringify(f));
  for (const queued of r.drains) assert.equal(queued, 0);
  s.close();
});

it('should interleave with pongs if many messages buffered after connection open', async () => {
  const s = await opened(mk(url('burst'), { transports: ['websocket'] }));
  let closed = null;
  s.on('close', (reason) => { closed = reason; });
  const all = messages(s, 100, 8000);
  command(s, { repeat: { n: 100, len: 256 * 256 - 1 } });
  const got = await all;
  assert.equal(closed, null);
  assert.equal(got[99], `${'a'.repeat(65535)}|message: 99`);
  s.close();
}, { modes: ['websocket'] });

it('should support chinese', async () => {
  const shi = '石室詩士施氏，嗜獅，誓食十獅。';
  const shi2 = '氏時時適市視獅。';
  const s = await opened(eio());
  const three = messages(s, 3);
  command(s, { send: ['.', shi, shi2] });
  assert.deepEqual(await three, ['.', shi, shi2]);
  s.send('.');
  s.send(shi);
  s.send(shi2);
  const r = await recordWhen(s.sid, (e) => e.received.length >= 3, 'three messages received');
  assert.deepEqual(r.received, ['.', shi, shi2]);
  s.close();
});

// ---------------------------------------------------------------- send callback

async function inOrderWhenSent() {
  const s = await opened(eio());
  let i = 0;
  let j = 0;
  const echoes = [];
  await withTimeout(new Promise((resolve, reject) => {
    const sendFn = () => s.send(j, ((value) => { j++; })(j));
    s.on('message', (msg) => {
      echoes.push(msg);
      try {
        if (++i < 3) {
          assert.equal(i, j);
          sendFn();
        } else resolve();
      } catch (e) { reject(e); }
    });
    sendFn();
  }), 3000, 'three echoes');
  assert.equal(echoes.length, 3);
  s.close();
}

it('should execute in order when message sent (client) (polling)', async () => {
  await inOrderWhenSent();
}, { modes: ['polling'] });

it('should execute in order when message sent (client) (websocket)', async () => {
  await inOrderWhenSent();
}, { modes: ['websocket'] });

async function inOrderWithPayloads() {
  const s = await opened(eio());
  let i = 0;
  let lastCbFired = 0;
  await withTimeout(new Promise((resolve, reject) => {
    const check = (f) => { try { f(); } catch (e) { reject(e); } };
    s.on('message', (msg) => check(() => { assert.equal(Number(msg), i + 1); i++; }));
    const cb = (value) => check(() => {
      assert.equal(value, lastCbFired + 1);
      lastCbFired = value;
      if (value === 3) resolve();
    });
    // 2 and 3 go in the same payload.
    s.once('flush', () => {
      s.send(2, () => cb(2));
      s.send(3, () => cb(3));
    });
    s.send(1, () => cb(1));
  }), 3000, 'three callbacks');
  await withTimeout((async () => { while (i < 3) await sleep(10); })(), 3000, 'three echoes');
  s.close();
}

it('should execute in order with payloads (client) (polling)', async () => {
  await inOrderWithPayloads();
}, { modes: ['polling'] });

it('should execute in order with payloads (client) (websocket)', async () => {
  await inOrderWithPayloads();
}, { modes: ['websocket'] });

/** The server sends `texts`, each with a callback recording it once written. */
async function sendCallbacks(texts) {
  const s = await opened(eio());
  const all = messages(s, texts.length);
  command(s, { send: texts.map((text) => ({ text, cb: true })) });
  const got = await all;
  const r = await recordWhen(s.sid, (e) => (e.sent ?? []).length >= texts.length, 'send callbacks');
  await sleep(50);
  // As many callbacks as messages the client got, for the same packets.
  assert.deepEqual((await record(s.sid)).sent, got);
  assert.deepEqual(r.sent, texts);
  s.close();
}

it('should execute when message sent (polling)', async () => {
  await sendCallbacks(['a']);
}, { modes: ['polling'] });

it('should execute when message sent during polling upgrade window', async () => {
  // The server sends `a` with a callback in its `upgrading` event.
  const s = eio(url('upgrading-send'));
  const msg = withTimeout(once(s, 'message'), 5000, 'message');
  await opened(s);
  assert.deepEqual(await msg, ['a']);
  const r = await recordWhen(s.sid, (e) => (e.sent ?? []).length > 0, 'send callback', 5000);
  assert.deepEqual(r.sent, ['a']);
  assert.equal(r.upgrading, true);
  s.close();
}, { modes: ['upgrade'] });

it('should execute when message sent (websocket)', async () => {
  await sendCallbacks(['a']);
}, { modes: ['websocket'] });

it('should execute in multipart packet (websocket)', async () => {
  await sendCallbacks(['d', 'c', 'b', 'a']);
}, { modes: ['websocket'] });

it('should execute in multipart packet (polling)', async () => {
  await sendCallbacks(['d', 'c', 'b', 'a']);
}, { modes: ['polling'] });

it('should not execute when it is not actually sent (polling)', async () => {
  // No GET takes the packets: the client asks for them by POST, then closes by POST.
  const { sid } = await pollingHandshake();
  const post = (body) => request(`${base}/engine.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body });
  assert.equal((await post(`4!${JSON.stringify({ send: ['a', { text: 'b', cb: true }] })}`)).status, 200);
  assert.equal((await post('1')).status, 200);
  const r = await recordWhen(sid, (e) => e.closed !== null, 'server close');
  assert.equal(r.closed, 'transport close');
  assert.equal(r.sent, undefined, 'no send callback ran');
}, { modes: ['polling'] });

it('should execute once for each send', async () => {
  const s = await opened(eio());
  const counts = { a: 0, b: 0, c: 0 };
  let all = 0;
  const three = withTimeout(new Promise((resolve) => {
    s.on('message', (msg) => {
      counts[msg] = (counts[msg] ?? 0) + 1;
      if (++all === 3) resolve();
    });
  }), 3000, 'three messages');
  command(s, { send: ['a', 'b', 'c'] });
  await three;
  assert.deepEqual(counts, { a: 1, b: 1, c: 1 });
  s.close();
});

// ---------------------------------------------------------------- packet, packetCreate
// The reference listens with `allowUpgrades: false`: no upgrade mode here.

it('should emit when socket receives packet', async () => {
  const s = await opened(eio(url('events')));
  s.send('a');
  const r = await recordWhen(s.sid, (e) => (e.packets ?? []).length > 0, 'packet event');
  assert.deepEqual(r.packets[0], { type: 'message', data: 'a' });
  s.close();
}, { modes: ['websocket', 'polling'] });

it('should emit when receives pong', async () => {
  // pingInterval 4; the first packet event closes the session.
  const s = await opened(eio(url('ping4-packet')));
  const r = await recordWhen(s.sid, (e) => e.closed !== null, 'server close');
  assert.equal(r.packets[0].type, 'pong');
  assert.equal(r.closed, 'forced close');
  s.close();
}, { modes: ['websocket', 'polling'] });

it('should emit before socket send message', async () => {
  const s = await opened(eio(url('events')));
  const msg = nextMessage(s);
  command(s, { send: ['a'] });
  await msg;
  const r = await record(s.sid);
  assert.deepEqual(r.created[0], { type: 'message', data: 'a' });
  s.close();
}, { modes: ['websocket', 'polling'] });

it('should emit before send pong', async () => {
  // pingInterval 4; the first packetCreate event closes the session.
  const s = await opened(eio(url('ping4-create')));
  const r = await recordWhen(s.sid, (e) => e.closed !== null, 'server close');
  assert.equal(r.created[0].type, 'ping');
  s.close();
}, { modes: ['websocket', 'polling'] });

// ---------------------------------------------------------------- upgrade

it('should upgrade', async () => {
  const s = await opened(eio());
  assert.equal(s.transport.name, 'polling');
  let lastSent = 0;
  let lastReceived = 0;
  let upgrades = 0;
  let afterUpgrade = 0;
  const failures = [];
  s.on('upgrading', (to) => {
    if (to.name !== 'websocket') failures.push(`upgrading to ${to.name}`);
    upgrades++;
    // A few packets wait in the buffer while the transports change.
    lastSent++;
    s.send(lastSent);
    lastSent++;
    s.send(lastSent);
    if (s.writeBuffer.length === 0) failures.push('empty write buffer while upgrading');
  });
  s.on('upgrade', (to) => {
    if (to.name !== 'websocket') failures.push(`upgrade to ${to.name}`);
    upgrades++;
  });
  s.on('message', (msg) => {
    lastReceived++;
    if (Number(msg) !== lastReceived) failures.push(`received ${msg} for ${lastReceived}`);
    if (upgrades === 2) afterUpgrade++;
  });
  await withTimeout(new Promise((resolve) => {
    const interval = setInterval(() => {
      lastSent++;
      s.send(lastSent);
      if (lastSent >= 50) {
        clearInterval(interval);
        resolve();
      }
    }, 2);
  }), 5000, '50 sent');
  // The server echoes: every message comes back, in order.
  await withTimeout((async () => { while (lastReceived < lastSent) await sleep(5); })(), 5000, 'all echoes');
  assert.deepEqual(failures, []);
  assert.equal(lastSent, 50);
  assert.equal(upgrades, 2);
  assert.equal(s.transport.name, 'websocket');
  assert.ok(afterUpgrade > 0, 'the server sent over the WebSocket after the upgrade');
  const r = await record(s.sid);
  assert.deepEqual(r.received, Array.from({ length: 50 }, (_, k) => String(k + 1)));
  await sleep(10);
  const closing = closeOf(s);
  s.close();
  assert.equal((await closing)[0], 'forced close');
  assert.equal(await serverClose(s.sid), 'transport close');
}, { modes: ['upgrade'] });

// ---------------------------------------------------------------- extraHeaders

const extraHeaders = {
  'x-custom-header-for-my-project': 'my-secret-access-token',
  cookie: 'user_session=NI2JlCKF90aE0sJZD9ZzujtdsUqNYSBYxzlTsvdSUe35ZzdtVRGqYFr0kdGxbfc5gUOkR9RGp20GVKza; path=/; expires=Tue, 07-Apr-2015 18:18:08 GMT; secure; HttpOnly',
};

async function headersArrive(transport) {
  const t = tag();
  const s = await opened(mk(base, { extraHeaders, transports: [transport], query: { tag: t } }));
  const { headers } = await ask(`req ${t}`);
  for (const h of Object.keys(extraHeaders)) {
    assert.deepEqual(headers.filter(([k]) => k === h).map(([, v]) => v), [extraHeaders[h]], h);
  }
  s.close();
}

it('should arrive from client to server via WebSockets', async () => {
  await headersArrive('websocket');
}, { modes: ['websocket'] });

it('should arrive from client to server via XMLHttpRequest', async () => {
  await headersArrive('polling');
}, { modes: ['polling'] });

// ---------------------------------------------------------------- cors

it('should support requests without trailing slash', async () => {
  for (const path of ['/engine.io', '/engine.io/foo/bar/']) {
    const res = await request(`${base}${path}?EIO=4&transport=polling`);
    assert.equal(res.status, 200, path);
  }
}, { modes: ['polling'] });

it('should contain X-XSS-Protection: 0 for IE8', async () => {
  const ua = 'Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; SLCC2; .NET CLR 2.0.50727)';
  const res = await request(`${base}/engine.io/?EIO=4&transport=polling`, { headers: { 'User-Agent': ua } });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-xss-protection'], '0');
}, { modes: ['polling'] });

it('should contain X-XSS-Protection: 0 for IE11', async () => {
  const ua = 'Mozilla/5.0 (Windows NT 6.3; Trident/7.0; rv:11.0) like Gecko';
  const res = await request(`${base}/engine.io/?EIO=4&transport=polling`, { headers: { 'User-Agent': ua } });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-xss-protection'], '0');
}, { modes: ['polling'] });

it('should include a \'cache-control\' header', async () => {
  const res = await request(`${base}/engine.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['cache-control'], 'no-store');
}, { modes: ['polling'] });

/** The calls of the headers hook for requests tagged `t`. */
const headerCalls = async (t) => (await ask(`req hdr ${t}`)) ?? [];

async function headersHandshake(add) {
  const t = tag();
  const server = url('headers');
  const res = await request(`${server}/engine.io/?EIO=4&transport=polling&tag=${t}&add=${add}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.test, '123');
  assert.equal(res.headers['set-cookie'].length, 2);
  assert.equal(res.headers['set-cookie'][1], 'mycookie=456');
  const sid = JSON.parse(res.text.slice(1)).sid;
  const post = await request(`${server}/engine.io/?EIO=4&transport=polling&sid=${sid}&tag=${t}&add=${add}`, { method: 'POST', body: '1:6' });
  assert.equal(post.status, 200);
  return { t, post };
}

it('should emit a \'initial_headers\' event (polling)', async () => {
  const { t, post } = await headersHandshake('initial');
  assert.equal(post.headers.test, undefined);
  assert.equal(post.headers['set-cookie'], undefined);
  const calls = await headerCalls(t);
  assert.deepEqual(calls.filter((c) => c.initial).map((c) => c.method), ['GET']);
}, { modes: ['polling'] });

it('should emit a \'headers\' event (polling)', async () => {
  const { t, post } = await headersHandshake('all');
  assert.equal(post.headers['set-cookie'].length, 1);
  assert.equal(post.headers['set-cookie'][0], 'mycookie=456');
  assert.equal((await headerCalls(t)).length, 2);
}, { modes: ['polling'] });

it('should emit a \'initial_headers\' event (websocket)', async () => {
  const t = tag();
  const s = mk(url('headers'), { transports: ['websocket'], query: { tag: t, add: 'initial' } });
  const open = opened(s);
  const [res] = await withTimeout(once(s.transport.ws, 'upgrade'), 3000, 'upgrade response');
  assert.equal(res.headers.test, '123');
  assert.equal(res.headers['set-cookie'].length, 1);
  assert.equal(res.headers['set-cookie'][0], 'mycookie=456');
  await open;
  const calls = await headerCalls(t);
  assert.deepEqual(calls.filter((c) => c.initial).map((c) => c.method), ['GET']);
  s.close();
}, { modes: ['websocket'] });

it('should emit a single \'initial_headers\' event per connection', async () => {
  const t = tag();
  const s = mk(url('headers'), { query: { tag: t } });
  await withTimeout(once(s, 'upgrade'), 5000, 'upgrade');
  assert.equal((await headerCalls(t)).filter((c) => c.initial).length, 1);
  s.close();
}, { modes: ['upgrade'] });

it('should emit several \'headers\' events per connection', async () => {
  // The handshake, the poll the probe ends, the WebSocket's 101.
  const t = tag();
  const s = mk(url('headers'), { query: { tag: t } });
  await withTimeout(once(s, 'upgrade'), 5000, 'upgrade');
  const calls = await headerCalls(t);
  assert.equal(calls.length, 3, JSON.stringify(calls));
  s.close();
}, { modes: ['upgrade'] });

it('should disallow CORS from a bad origin', async () => {
  const res = await request(`${url('cors-strict')}/engine.io/?EIO=4&transport=polling`, { method: 'OPTIONS', headers: { Origin: 'http://bad-domain.com' } });
  assert.equal(res.status, 204);
  assert.equal(res.text, '');
  assert.equal(res.headers['access-control-allow-origin'], undefined);
  assert.equal(res.headers['access-control-allow-credentials'], undefined);
}, { modes: ['polling'] });

it('should allow CORS from the current origin (preflight request)', async () => {
  const res = await request(`${url('cors')}/engine.io/?EIO=4&transport=polling`, { method: 'OPTIONS', headers: { Origin: 'http://engine.io' } });
  assert.equal(res.status, 204);
  assert.equal(res.text, '');
  assert.equal(res.headers['access-control-allow-origin'], 'http://engine.io');
  assert.equal(res.headers['access-control-allow-methods'], 'GET,HEAD,PUT,PATCH,POST,DELETE');
  assert.equal(res.headers['access-control-allow-headers'], 'my-header');
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
});

it('should allow CORS from the current origin (actual request)', async () => {
  const res = await request(`${url('cors')}/engine.io/?EIO=4&transport=polling`, { headers: { Origin: 'http://engine.io' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers['access-control-allow-origin'], 'http://engine.io');
  assert.equal(res.headers['access-control-allow-methods'], undefined);
  assert.equal(res.headers['access-control-allow-headers'], undefined);
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
});

it('should forward the configuration to the cors module', async () => {
  const res = await request(`${url('cors-full')}/engine.io/default/?EIO=4&transport=polling`, { method: 'OPTIONS', headers: { Origin: 'http://good-domain.com' } });
  assert.equal(res.status, 200);
  assert.equal(res.text, '');
  assert.equal(res.headers['access-control-allow-origin'], 'http://good-domain.com');
  assert.equal(res.headers['access-control-allow-methods'], 'GET,PUT,POST');
  assert.equal(res.headers['access-control-allow-headers'], 'my-header');
  assert.equal(res.headers['access-control-expose-headers'], 'my-exposed-header');
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  assert.equal(res.headers['access-control-max-age'], '123');
}, { modes: ['polling'] });

it('should work with CORS enabled', async () => {
  const s = await opened(mk(url('cors'), { transports: ['polling'], extraHeaders: { Origin: 'http://engine.io' } }));
  const reply = nextMessage(s);
  s.send('hey');
  assert.equal(await reply, 'holà');
  assert.deepEqual((await record(s.sid)).received, ['hey']);
  s.close();
}, { modes: ['polling'] });

// ---------------------------------------------------------------- http compression

/** The session id in the handshake's cookie (the reference's `getSidFromResponse`). */
const sidFromCookie = (res) => res.headers['set-cookie'][0].split(';')[0].split('=')[1];

/** The reference's two GETs: a handshake on `server`, then a poll of that session sent with
 * `Accept-Encoding: acceptEncoding`, which takes what the `connection` handler sent. */
async function pollWithEncoding(server, acceptEncoding) {
  const target = `${url(server)}/engine.io/default/?EIO=4&transport=polling`;
  const hs = await request(target);
  assert.equal(hs.status, 200, hs.text);
  const res = await request(`${target}&sid=${sidFromCookie(hs)}`, { headers: { 'Accept-Encoding': acceptEncoding } });
  assert.equal(res.status, 200, res.text);
  return res;
}

/** The payload of the buffer the `connection` handler sends: `len` bytes `i % 0xff`, base64. */
const bufferPayload = (len) => `b${Buffer.from(Array.from({ length: len }, (_, i) => i % 0xff)).toString('base64')}`;

it('should compress by default', async () => {
  const res = await pollWithEncoding('compress', 'gzip, deflate');
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.equal(zlib.gunzipSync(res.body).toString(), bufferPayload(1024));
}, { modes: ['polling'] });

it('should compress using deflate', async () => {
  const res = await pollWithEncoding('compress', 'deflate');
  assert.equal(res.headers['content-encoding'], 'deflate');
  assert.equal(zlib.inflateSync(res.body).toString(), bufferPayload(1024));
}, { modes: ['polling'] });

it('should set threshold', async () => {
  const res = await pollWithEncoding('compress-threshold0', 'gzip, deflate');
  assert.equal(res.headers['content-encoding'], 'gzip');
  assert.equal(zlib.gunzipSync(res.body).toString(), bufferPayload(10));
}, { modes: ['polling'] });

it('should disable compression', async () => {
  const res = await pollWithEncoding('compress-off', 'gzip, deflate');
  assert.equal(res.headers['content-encoding'], undefined);
  assert.equal(res.text, bufferPayload(1024));
}, { modes: ['polling'] });

it('should disable compression per message', async () => {
  const res = await pollWithEncoding('compress-per-message', 'gzip, deflate');
  assert.equal(res.headers['content-encoding'], undefined);
  assert.equal(res.text, bufferPayload(1024));
}, { modes: ['polling'] });

it('should not compress when the byte size is below threshold', async () => {
  const res = await pollWithEncoding('compress-small', 'gzip, deflate');
  assert.equal(res.headers['content-encoding'], undefined);
  assert.equal(res.text, bufferPayload(100));
}, { modes: ['polling'] });

// ---------------------------------------------------------------- remoteAddress

// The reference listens on `::`, where an IPv4 client shows as `::ffff:127.0.0.1`; the parity
// servers listen on 127.0.0.1, where the same client is `127.0.0.1`.
it('should be defined (polling)', async () => {
  const s = await opened(mk(url('polling'), { transports: ['polling'] }));
  assert.equal((await record(s.sid)).remote, '127.0.0.1');
  s.close();
}, { modes: ['polling'] });

it('should be defined (ws)', async () => {
  const s = await opened(mk(url('websocket'), { transports: ['websocket'] }));
  assert.equal((await record(s.sid)).remote, '127.0.0.1');
  s.close();
}, { modes: ['websocket'] });

await run();
