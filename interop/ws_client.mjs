// Drives a Volley WebSocket echo endpoint with the `ws` npm client, a WebSocket implementation
// nobody here wrote. Usage: node ws_client.mjs ws://127.0.0.1:PORT/ [maxPayload] [deflate]
// `deflate`: the server offers permessage-deflate, which the client asks for by default.
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import WebSocket from 'ws';
import assert from 'node:assert/strict';

const url = process.argv[2];
const maxPayload = Number(process.argv[3] ?? 1000000);
const deflate = process.argv[4] === 'deflate';

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { maxPayload: 4 * maxPayload });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws) {
  return new Promise((resolve, reject) => {
    ws.once('message', (data, isBinary) => resolve({ data, isBinary }));
    ws.once('close', (code) => reject(new Error(`closed with ${code} while waiting for a message`)));
  });
}

function closed(ws) {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

const cases = [];
const test = (name, fn) => cases.push([name, fn]);

const sizes = [0, 1, 125, 126, 127, 65535, 65536, 100000, maxPayload];

test(deflate ? 'permessage-deflate is negotiated' : 'no extension is negotiated', async () => {
  const ws = await open();
  assert.equal(ws.extensions, deflate ? 'permessage-deflate' : '');
  ws.close();
});

test('echo text 0 B .. max', async () => {
  const ws = await open();
  for (const n of sizes) {
    const text = 'é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2); // n bytes of UTF-8
    const got = nextMessage(ws);
    ws.send(text);
    const { data, isBinary } = await got;
    assert.equal(isBinary, false);
    assert.equal(data.length, n);
    assert.equal(data.toString('utf8'), text);
  }
  ws.close();
});

test('echo binary 0 B .. max', async () => {
  const ws = await open();
  for (const n of sizes) {
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i++) buf[i] = (i * 31 + 7) & 0xff;
    const got = nextMessage(ws);
    ws.send(buf);
    const { data, isBinary } = await got;
    assert.equal(isBinary, true);
    assert.ok(buf.equals(data), `binary of ${n} bytes differs`);
  }
  ws.close();
});

test('fragmented text with a code point split across fragments', async () => {
  const ws = await open();
  const whole = Buffer.from('héllo wörld €uro', 'utf8');
  const got = nextMessage(ws);
  // Cut inside the 3-byte '€' and inside 'ö'.
  const euro = whole.indexOf(Buffer.from('€'));
  const parts = [whole.subarray(0, 8), whole.subarray(8, euro + 1), whole.subarray(euro + 1)];
  ws.send(parts[0], { binary: false, fin: false });
  ws.send(parts[1], { binary: false, fin: false });
  ws.ping('between fragments');
  ws.send(parts[2], { binary: false, fin: true });
  const { data, isBinary } = await got;
  assert.equal(isBinary, false);
  assert.ok(whole.equals(data));
  ws.close();
});

test('fragmented binary', async () => {
  const ws = await open();
  const got = nextMessage(ws);
  ws.send(Buffer.from([1, 2, 3]), { binary: true, fin: false });
  ws.send(Buffer.from([]), { binary: true, fin: false });
  ws.send(Buffer.from([4, 5]), { binary: true, fin: true });
  const { data, isBinary } = await got;
  assert.equal(isBinary, true);
  assert.deepEqual([...data], [1, 2, 3, 4, 5]);
  ws.close();
});

test('ping gets pong with the same payload', async () => {
  const ws = await open();
  const pong = new Promise((resolve) => ws.once('pong', resolve));
  ws.ping(Buffer.from('are you there'));
  assert.equal((await pong).toString(), 'are you there');
  ws.close();
});

test('client close code is echoed', async () => {
  const ws = await open();
  const c = closed(ws);
  ws.close(4000, 'bye');
  assert.equal((await c).code, 4000);
});

test('oversize message closes with 1009', async () => {
  const ws = await open();
  const c = closed(ws);
  ws.send(Buffer.alloc(maxPayload + 1));
  assert.equal((await c).code, 1009);
});

test('invalid UTF-8 closes with 1007', async () => {
  const ws = await open();
  const c = closed(ws);
  ws.send(Buffer.from([0x68, 0x69, 0xff, 0xfe]), { binary: false });
  assert.equal((await c).code, 1007);
});

test('unmasked client frame closes with 1002', async () => {
  const ws = await open();
  const c = closed(ws);
  ws.send('not masked', { mask: false });
  assert.equal((await c).code, 1002);
});

test('200 concurrent clients', async () => {
  const clients = await Promise.all(Array.from({ length: 200 }, () => open()));
  await Promise.all(clients.map(async (ws, i) => {
    for (let k = 0; k < 5; k++) {
      const got = nextMessage(ws);
      ws.send(`client ${i} message ${k}`);
      assert.equal((await got).data.toString(), `client ${i} message ${k}`);
    }
  }));
  await Promise.all(clients.map((ws) => { const c = closed(ws); ws.close(1000); return c; }));
});

for (const [name, fn] of cases) {
  try {
    await fn();
    console.log(`ok ${name}`);
  } catch (e) {
    console.log(`FAILED ${name}: ${e.stack ?? e}`);
    process.exit(1);
  }
}
