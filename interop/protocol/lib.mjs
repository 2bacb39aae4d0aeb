// The harness of the protocol scenarios: interop/protocol/engine-io.mjs and socket-io.mjs check, one
// scenario per `it(...)`, what the official compliance suites check (socketio/engine.io-protocol and
// socketio/socket.io-protocol, test-suite/test-suite.js), with plain `fetch` and raw WebSockets (the
// `ws` package), against the server whose base URL is the first argument.
//
// Every scenario is printed as "case <title>" before any runs, then "ok <title>" or "fail <title>:
// <why>"; the process exits 1 on a failure. A title is the scenario's `describe` path and its `it`
// title joined by " > ", as the official suites nest them (their titles repeat across transports).
import assert from 'node:assert/strict';
import WebSocket from 'ws';

export const base = process.argv[2];
if (!base) {
  console.error('usage: node protocol/<suite>.mjs http://127.0.0.1:PORT [volley|reference] [deflate]');
  process.exit(2);
}
export const wsBase = base.replace(/^http/, 'ws');
/** `reference` when the server is the reference Node one (interop/protocol/reference-server.mjs):
 * the few places where the reference itself misses what its suite expects say so. */
export const against = process.argv[3] ?? 'volley';
/** Whether the server offers permessage-deflate (`deflate` as the third argument): every raw
 * WebSocket (the `ws` client offers the extension) then checks it was negotiated, and otherwise
 * that it was not. */
export const deflate = process.argv[4] === 'deflate';

/** The heartbeat every scenario assumes the server runs with (the suites' PING_INTERVAL/TIMEOUT). */
export const PING_INTERVAL = 300;
export const PING_TIMEOUT = 200;
/** Added to the suites' "sleep(PING_INTERVAL + PING_TIMEOUT), then the session must be gone": a
 * server's timers fire a millisecond or two late (the reference's too), so the original races
 * with any server that answers its handshake faster than that; the reference wins it only by
 * answering more slowly (measured: Volley answers in ~1 ms, the session ends ~501.5 ms after).
 * 100 ms, not a few: the test suite runs these beside other tests on two cores, where a timer
 * or a request can be that late. */
export const TIMER_SLACK = 100;
/** How long a scenario lets a request reach the server before sending the one that must come
 * after it (the suites send both at once, or 5 ms apart, and rely on their order); generous for
 * the same reason. */
export const PARK_MS = 60;
/** The longest one scenario may take: the suites' heartbeat scenarios get 5 s from mocha. */
const SCENARIO_MS = 5000;
/** The longest one awaited thing (a message, a close, an open) may take. */
const WAIT_MS = 3000;

const cases = [];
const path = [];
export function describe(name, fn) {
  path.push(name);
  fn();
  path.pop();
}
export const it = (name, fn) => cases.push({ name: [...path, name].join(' > '), fn });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout (${ms} ms): ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A raw WebSocket whose messages queue up, so none is lost between two awaits: text frames as
 * strings, binary frames as ArrayBuffers.
 */
export class RawSocket {
  constructor(url) {
    this.url = url;
    this.queue = [];
    this.waiters = [];
    this.closeCode = undefined;
    this.error = undefined;
    this.everOpened = false;
    this.ws = new WebSocket(url);
    this.ws.binaryType = 'arraybuffer';
    this.openP = new Promise((resolve) => this.ws.once('open', () => {
      this.everOpened = true;
      const negotiated = this.ws.extensions.includes('permessage-deflate');
      if (negotiated !== deflate) {
        this.wrongExtension = `permessage-deflate ${negotiated ? '' : 'not '}negotiated on ${url}`;
      }
      resolve();
    }));
    this.closeP = new Promise((resolve) => this.ws.once('close', (code) => {
      this.closeCode = code;
      resolve(code);
      this.wake();
    }));
    this.ws.on('error', (e) => { this.error = e; });
    this.ws.on('message', (data, isBinary) => {
      this.queue.push(isBinary ? data : data.toString());
      this.wake();
    });
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once the WebSocket handshake completed. */
  async opened(ms = WAIT_MS) {
    await withTimeout(this.openP, ms, `open of ${this.url}`);
    this.checkExtension();
  }

  /** Fails if the handshake's permessage-deflate is not what the run expects (see `deflate`). */
  checkExtension() {
    if (this.wrongExtension) throw new Error(this.wrongExtension);
  }

  /** The next message (string or ArrayBuffer); fails if the socket closes first. */
  async next(ms = WAIT_MS) {
    const deadline = Date.now() + ms;
    for (;;) {
      this.checkExtension();
      if (this.queue.length) return this.queue.shift();
      if (this.closeCode !== undefined) {
        throw new Error(`closed (${this.closeCode}) while waiting for a message on ${this.url}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout (${ms} ms): no message on ${this.url}`);
      await withTimeout(new Promise((r) => this.waiters.push(r)), left, `message on ${this.url}`)
        .catch(() => {});
    }
  }

  /** The next `count` messages, skipping Engine.IO pings ("2") as the suites' waitForPackets does. */
  async packets(count, ms = WAIT_MS) {
    const got = [];
    while (got.length < count) {
      const m = await this.next(ms);
      if (m !== '2') got.push(m);
    }
    return got;
  }

  /** Resolves with the close code once the connection is closed (by either side). */
  closed(ms = WAIT_MS) {
    return withTimeout(this.closeP, ms, `close of ${this.url}`);
  }

  /** Sends `data`; resolves once it is written to the socket (with the error, if the socket
   * could not take it: callers that ignore the promise must not crash the script). With
   * permessage-deflate, `ws` compresses in the background, so a message goes out later than
   * `send` returns. */
  send(data) {
    return new Promise((resolve) => this.ws.send(data, resolve));
  }

  close() {
    this.ws.close();
  }
}

/** Asserts that a WebSocket to `url` opens no session: the connection ends without a single
 * Engine.IO packet. (Volley refuses the upgrade with 400; the reference completes it, then
 * closes.) */
export async function assertRefused(url) {
  const s = new RawSocket(url);
  await s.closed();
  assert.deepEqual(s.queue, [], `${url} opened a session`);
}

/** Asserts that an ArrayBuffer holds exactly `bytes`. */
export function assertBytes(got, bytes) {
  assert.ok(got instanceof ArrayBuffer, `expected binary, got ${JSON.stringify(got)}`);
  assert.deepEqual(Buffer.from(got), Buffer.from(bytes));
}

/** Asserts that an open packet ("0{...}") has exactly the keys and values the suites expect. */
export function assertOpenPacket(text, upgrades) {
  assert.equal(typeof text, 'string');
  assert.equal(text[0], '0', `not an open packet: ${text}`);
  const value = JSON.parse(text.substring(1));
  assert.deepEqual(Object.keys(value).sort(),
    ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.equal(typeof value.sid, 'string');
  assert.deepEqual(value.upgrades, upgrades);
  assert.equal(value.pingInterval, PING_INTERVAL);
  assert.equal(value.pingTimeout, PING_TIMEOUT);
  assert.equal(value.maxPayload, 1000000);
  return value;
}

export async function run() {
  for (const c of cases) console.log(`case ${c.name}`);
  let failed = 0;
  for (const c of cases) {
    try {
      await withTimeout(c.fn(), SCENARIO_MS, c.name);
      console.log(`ok ${c.name}`);
    } catch (e) {
      failed += 1;
      console.log(`fail ${c.name}: ${e && e.stack ? e.stack : e}`);
    }
  }
  console.log(`${cases.length - failed}/${cases.length} passed`);
  process.exit(failed ? 1 : 0);
}
