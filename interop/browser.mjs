// The stock browser client in headless Chromium, against two browser_chat example servers
// (engine/tests/browser.rs starts them): A allows no other origin, B allows A's
// (VOLLEY_CORS_ORIGINS). Usage: node browser.mjs CHROMIUM http://A http://B
//
// Loads A's page (its HTML and socket.io.min.js come from Volley's HTTP fallback) and runs the
// cases inside it with the bundle it loaded: against A (same origin, "same:"), against B from
// A's page (cross-origin, "cors:"), and B's page polling A, which the browser must refuse
// ("cors:refused"). Prints "ok <case>" or "not ok <case>: why" per case; exits 1 on a failure.
import puppeteer from 'puppeteer-core';

const [chrome, urlA, urlB] = process.argv.slice(2);
if (!chrome || !urlA || !urlB) {
  console.error('usage: node browser.mjs CHROMIUM http://A http://B');
  process.exit(2);
}

// Runs in the page, with its global `io` (the stock bundle): every case against `url`.
async function suite(url, prefix) {
  const results = [];
  const within = (p, ms, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))]);
  const once = (em, ev) => new Promise((res) => em.once(ev, (...args) => res(args)));
  const assert = (cond, what) => { if (!cond) throw new Error(what); };
  const call = (s, ev, ...args) => s.timeout(5000).emitWithAck(ev, ...args);
  const connect = () => {
    const s = io(url, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 300 });
    s.messages = [];
    s.on('message', (m) => s.messages.push(m.text));
    return s;
  };
  const connected = (s) => within(new Promise((res, rej) => {
    if (s.connected) res();
    s.once('connect', res);
    s.once('connect_error', rej);
  }), 10000, 'connect');
  const check = async (name, fn) => {
    try {
      await within(fn(), 15000, name);
      results.push(`ok ${prefix}${name}`);
    } catch (e) {
      results.push(`not ok ${prefix}${name}: ${e && e.message || e}`);
    }
  };

  const a = connect();
  // The engine exists as soon as io() returns: nothing has been sent yet.
  const first = a.io.engine.transport.name;
  const upgraded = once(a.io.engine, 'upgrade');
  let b, c;
  await check('connect', async () => {
    await connected(a);
    assert(a.id, 'no socket id');
  });
  await check('upgrade', async () => {
    const [transport] = await upgraded;
    assert(first === 'polling', `started on ${first}`);
    assert(transport.name === 'websocket' && a.io.engine.transport.name === 'websocket', 'not on websocket');
  });
  await check('ack', async () => {
    const joined = await call(a, 'join', { name: 'ann', room: 'r1' });
    assert(joined.room === 'r1', JSON.stringify(joined));
    const said = await call(a, 'say', 'hello');
    assert(said.from === 'ann' && said.text === 'hello', JSON.stringify(said));
    const refused = await call(a, 'say', 'x'.repeat(1001));
    assert(refused.error, JSON.stringify(refused));
  });
  await check('rooms', async () => {
    b = connect();
    c = connect();
    await Promise.all([connected(b), connected(c)]);
    const bobJoined = once(a, 'joined');
    await call(b, 'join', { name: 'bob', room: 'r1' });
    assert((await bobJoined)[0] === 'bob', 'ann did not see bob join');
    await call(c, 'join', { name: 'cy', room: 'r2' });
    const toB = once(b, 'message');
    await call(a, 'say', 'one');
    assert((await toB)[0].text === 'one', 'bob missed "one"');
    const annJoined = once(c, 'joined');
    await call(a, 'join', { name: 'ann', room: 'r2' });
    assert((await annJoined)[0] === 'ann', 'cy did not see ann join');
    const toC = once(c, 'message');
    await call(a, 'say', 'two');
    assert((await toC)[0].from === 'ann', 'cy missed "two"');
    // Cy's first message is "two": "one" went to r1 only. Bob, in r1, gets Cy's "three" and
    // never "two", which was said in r2 before it.
    assert(JSON.stringify(c.messages) === '["two"]', `cy got ${JSON.stringify(c.messages)}`);
    await call(c, 'join', { name: 'cy', room: 'r1' });
    const three = once(b, 'message');
    await call(c, 'say', 'three');
    await three;
    assert(JSON.stringify(b.messages) === '["one","three"]', `bob got ${JSON.stringify(b.messages)}`);
  });
  await check('binary', async () => {
    // Ann and Bob share r2 now; Ann sends 300 bytes, Bob receives them as an ArrayBuffer.
    await call(b, 'join', { name: 'bob', room: 'r2' });
    const bytes = new Uint8Array(300).map((_, i) => (i * 7) % 256);
    const got = once(b, 'file');
    const ack = await call(a, 'file', 'blob.bin', bytes.buffer);
    assert(ack.bytes === 300, JSON.stringify(ack));
    const [meta, data] = await got;
    assert(meta.from === 'ann' && meta.name === 'blob.bin', JSON.stringify(meta));
    assert(data instanceof ArrayBuffer, `received ${Object.prototype.toString.call(data)}`);
    const back = new Uint8Array(data);
    assert(back.length === 300 && back.every((v, i) => v === bytes[i]), 'bytes differ');
  });
  await check('reconnect', async () => {
    const before = a.id;
    const gone = once(a, 'disconnect');
    const back = once(a, 'connect');
    a.io.engine.close(); // the transport closes; the manager reconnects by itself
    await gone;
    await back;
    assert(a.connected && a.id !== before, 'not a new socket');
    // A new socket on the server: it joins again and is heard.
    await call(a, 'join', { name: 'ann', room: 'r2' });
    const heard = once(b, 'message');
    await call(a, 'say', 'back');
    assert((await heard)[0].text === 'back', 'bob did not hear ann after the reconnect');
  });
  for (const s of [a, b, c]) s && s.disconnect();
  return results;
}

// Runs in B's page: A lists no origin in VOLLEY_CORS_ORIGINS, so polling it must fail.
async function refused(url) {
  const s = io(url, { forceNew: true, transports: ['polling'], reconnection: false });
  try {
    await Promise.race([
      new Promise((res, rej) => {
        s.once('connect', () => rej(new Error('connected across origins without CORS')));
        s.once('connect_error', res);
      }),
      new Promise((_, rej) => setTimeout(() => rej(new Error('timeout: connect_error')), 10000)),
    ]);
    return ['ok cors:refused'];
  } catch (e) {
    return [`not ok cors:refused: ${e.message}`];
  } finally {
    s.close();
  }
}

const args = ['--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check'];
// Chromium's sandbox refuses to run as root.
if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');
const browser = await puppeteer.launch({ executablePath: chrome, headless: true, args });
const lines = [];
try {
  const open = async (url) => {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error (${url}): ${e.message}`));
    await page.goto(url, { waitUntil: 'load' });
    return page;
  };

  // The page itself: the bundle loaded, its socket upgraded, its form joins a room.
  const pageA = await open(`${urlA}/`);
  try {
    await pageA.waitForFunction(() => document.getElementById('status').textContent === 'connected over websocket', { timeout: 10000 });
    await pageA.type('#name', 'pat');
    await pageA.click('#join button');
    await pageA.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => li.textContent === 'you are in lobby'), { timeout: 10000 });
    lines.push('ok page');
  } catch (e) {
    lines.push(`not ok page: ${e.message}`);
  }
  lines.push(...await pageA.evaluate(suite, undefined, 'same:'));

  const cross = await open(`${urlA}/?server=${encodeURIComponent(urlB)}`);
  lines.push(...await cross.evaluate(suite, urlB, 'cors:'));

  const pageB = await open(`${urlB}/`);
  lines.push(...await pageB.evaluate(refused, urlA));
} finally {
  await browser.close();
}
for (const line of lines) console.log(line);
process.exit(lines.every((l) => l.startsWith('ok ')) ? 0 : 1);
