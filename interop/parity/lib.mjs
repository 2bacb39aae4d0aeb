// The harness of the parity scenarios (engine/tests/parity/): each interop/parity/<file>.mjs ports
// the `it(...)` cases of one test file of the reference server (socketio/socket.io,
// packages/socket.io/test/<file>.ts or packages/engine.io/test/server.js) to the stock clients
// against a Volley server built by engine/tests/parity/<file>.rs.
// Usage: node parity/<file>.mjs http://127.0.0.1:PORT <mode> [extra...], mode: websocket | polling |
// upgrade (polling first, then the upgrade to WebSocket). Prints "case <name>" for every scenario, then
// "ok <name>", "skip <name>" (not meant for this mode) or "fail <name>: <why>"; exits 1 on a failure.
import { io } from 'socket.io-client';

export const base = process.argv[2];
export const mode = process.argv[3] ?? 'websocket';
/** Arguments after the mode: URLs of servers started for this run alone. */
export const extra = process.argv.slice(4);
const transportOpts = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'] },
  upgrade: {},
}[mode];
if (!base || !transportOpts) {
  console.error('usage: node parity/<file>.mjs <base url> websocket|polling|upgrade');
  process.exit(2);
}

const cases = [];
/** A scenario; `modes` limits it to some transports (the reference's "(polling)"/"(ws)" twins). */
export const it = (name, fn, { modes } = {}) => cases.push({ name, fn, modes });

/** A stock socket.io-client for `nsp` in this run's transport mode, without reconnection. */
export const client = (nsp = '/', opts = {}) => clientAt(base, nsp, opts);

/** [`client`] for the server at `url`. */
export const clientAt = (url, nsp = '/', opts = {}) =>
  io(`${url}${nsp}`, { ...transportOpts, forceNew: true, reconnection: false, ...opts });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const once = (emitter, ev) => new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
export const withTimeout = (p, ms, what) => Promise.race([
  p, new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms)),
]);

/** Resolves once `socket` connected; rejects with its connect_error. */
export async function connected(socket) {
  const [err] = await withTimeout(Promise.race([
    once(socket, 'connect').then(() => [null]),
    once(socket, 'connect_error'),
  ]), 5000, 'connect');
  if (err) throw new Error(`connect_error: ${err.message}`);
  return socket;
}

/** Resolves once `socket`'s transport is final: in the upgrade mode, once it is on WebSocket (a
 * scenario of the reference that uses WebSocket-only clients must not act mid-upgrade). */
export async function settled(socket) {
  if (mode !== 'upgrade') return socket;
  const engine = socket.io.engine;
  if (engine.transport.name !== 'websocket') {
    await withTimeout(new Promise((r) => engine.once('upgrade', r)), 5000, 'upgrade');
  }
  return socket;
}

/** The next `ev` on `socket` (its arguments), within `ms`. */
export const next = (socket, ev, ms = 3000) => withTimeout(once(socket, ev), ms, ev);

/** Emits and waits for the acknowledgement's arguments. */
export const ask = (socket, ev, ...args) => withTimeout(
  new Promise((resolve) => socket.emit(ev, ...args, (...reply) => resolve(reply))), 3000, `ack of ${ev}`);

/**
 * Over raw long-polling (`fetch`, which accepts gzip): joins `nsp`, emits `event` and returns
 * the `Content-Encoding` of the GET response that carries the server's `woot` ('' when plain),
 * so whether the server let a packet be compressed shows on the wire.
 */
export async function pollingEncodingOf(nsp, event) {
  const poll = `${base}/socket.io/?EIO=4&transport=polling`;
  const { sid } = JSON.parse((await (await fetch(poll)).text()).slice(1));
  const url = `${poll}&sid=${sid}`;
  const prefix = nsp === '/' ? '' : `${nsp},`;
  const post = async (body) => {
    const res = await fetch(url, { method: 'POST', body });
    if (res.status !== 200) throw new Error(`POST ${body}: ${res.status}`);
  };
  await post(`40${prefix}`);
  // The CONNECT reply first, alone: a response is compressed when any packet in it allows it.
  const reply = await (await fetch(url)).text();
  if (!reply.startsWith(`40${prefix}`)) throw new Error(`CONNECT reply ${reply}`);
  await post(`42${prefix}["${event}"]`);
  for (let i = 0; i < 10; i++) {
    const res = await fetch(url, { headers: { 'accept-encoding': 'gzip' } });
    if ((await res.text()).includes('"woot"')) {
      await post('1');
      return res.headers.get('content-encoding') ?? '';
    }
  }
  throw new Error(`no woot for ${event}`);
}

/** Collects every `ev` on `socket` for `ms`. */
export async function collect(socket, ev, ms) {
  const got = [];
  const f = (...args) => got.push(args);
  socket.on(ev, f);
  await sleep(ms);
  socket.off(ev, f);
  return got;
}

export async function run() {
  for (const c of cases) console.log(`case ${c.name}`);
  let failed = false;
  for (const c of cases) {
    if (c.modes && !c.modes.includes(mode)) {
      console.log(`skip ${c.name}`);
      continue;
    }
    try {
      await withTimeout(c.fn(), 15000, c.name);
      console.log(`ok ${c.name}`);
    } catch (e) {
      failed = true;
      console.log(`fail ${c.name}: ${e && e.stack ? e.stack : e}`);
    }
  }
  process.exit(failed ? 1 : 0);
}
