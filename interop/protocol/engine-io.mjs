// The scenarios of the official Engine.IO v4 compliance suite (socketio/engine.io-protocol,
// test-suite/test-suite.js: 24 `it`s, same titles), written for Volley's harness. The server under
// test is the suite's: an Engine.IO echo server on /engine.io/ (every message, text or binary, sent
// back), pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1,000,000 (engine/examples/eio_echo.rs
// in engine/tests/protocol_suites.rs).
// Usage: node protocol/engine-io.mjs http://127.0.0.1:PORT [volley|reference]
import assert from 'node:assert/strict';
import {
  base, wsBase, against, deflate, describe, it, run, sleep, RawSocket, assertRefused, assertBytes,
  assertOpenPacket, PING_INTERVAL, PING_TIMEOUT, TIMER_SLACK, PARK_MS,
} from './lib.mjs';

const POLL = `${base}/engine.io/?EIO=4&transport=polling`;
const WS = `${wsBase}/engine.io/?EIO=4&transport=websocket`;

/** GET/POST on a polling session: [status, body]. */
async function request(url, init) {
  const res = await fetch(url, init);
  return [res.status, await res.text()];
}
const poll = (sid, extra = '') => request(`${POLL}&sid=${sid}${extra}`);
const push = (sid, body) => request(`${POLL}&sid=${sid}`, { method: 'POST', body });

/** Opens a polling session; returns its id. */
async function pollingSession() {
  const [status, body] = await request(POLL);
  assert.equal(status, 200, body);
  return assertOpenPacket(body, ['websocket']).sid;
}

/** A WebSocket on `sid`'s session, past the probe: it answered "2probe" with "3probe". */
async function probed(sid) {
  const socket = new RawSocket(`${WS}&sid=${sid}`);
  await socket.opened();
  socket.send('2probe');
  assert.equal(await socket.next(), '3probe');
  return socket;
}

describe('handshake', () => {
  describe('HTTP long-polling', () => {
    it('successfully opens a session', async () => {
      const [status, body] = await request(POLL);
      assert.equal(status, 200);
      assertOpenPacket(body, ['websocket']);
    });

    it("fails with an invalid 'EIO' query parameter", async () => {
      assert.equal((await request(`${base}/engine.io/?transport=polling`))[0], 400);
      assert.equal((await request(`${base}/engine.io/?EIO=abc&transport=polling`))[0], 400);
    });

    it("fails with an invalid 'transport' query parameter", async () => {
      assert.equal((await request(`${base}/engine.io/?EIO=4`))[0], 400);
      assert.equal((await request(`${base}/engine.io/?EIO=4&transport=abc`))[0], 400);
    });

    it('fails with an invalid request method', async () => {
      assert.equal((await request(POLL, { method: 'POST' }))[0], 400);
      assert.equal((await request(POLL, { method: 'PUT' }))[0], 400);
    });
  });

  describe('WebSocket', () => {
    it('successfully opens a session', async () => {
      const socket = new RawSocket(WS);
      assertOpenPacket(await socket.next(), []);
      socket.close();
    });

    // The official scenario only opens the sockets; here each must also end without a session.
    it("fails with an invalid 'EIO' query parameter", async () => {
      await assertRefused(`${wsBase}/engine.io/?transport=websocket`);
      await assertRefused(`${wsBase}/engine.io/?EIO=abc&transport=websocket`);
    });

    it("fails with an invalid 'transport' query parameter", async () => {
      await assertRefused(`${wsBase}/engine.io/?EIO=4`);
      await assertRefused(`${wsBase}/engine.io/?EIO=4&transport=abc`);
    });
  });
});

describe('message', () => {
  describe('HTTP long-polling', () => {
    it('sends and receives a payload containing one plain text packet', async () => {
      const sid = await pollingSession();
      assert.deepEqual(await push(sid, '4hello'), [200, 'ok']);
      assert.deepEqual(await poll(sid), [200, '4hello']);
    });

    it('sends and receives a payload containing several plain text packets', async () => {
      const sid = await pollingSession();
      assert.deepEqual(await push(sid, '4test1\x1e4test2\x1e4test3'), [200, 'ok']);
      assert.deepEqual(await poll(sid), [200, '4test1\x1e4test2\x1e4test3']);
    });

    it('sends and receives a payload containing plain text and binary packets', async () => {
      const sid = await pollingSession();
      assert.deepEqual(await push(sid, '4hello\x1ebAQIDBA=='), [200, 'ok']);
      assert.deepEqual(await poll(sid), [200, '4hello\x1ebAQIDBA==']);
    });

    it('closes the session upon invalid packet format', async () => {
      const sid = await pollingSession();
      let answer;
      try {
        answer = await push(sid, 'abc');
      } catch (e) {
        // as the official suite allows, the server may end the request abnormally instead
      }
      if (answer) {
        // The suite expects 400 (its assertion sits in a try whose catch swallows it); the
        // reference server, on current Node, answers 200 "ok" and closes the session anyway.
        const expected = against === 'reference' ? [[400], [200, 'ok']] : [[400]];
        assert.ok(expected.some((e) => e.every((v, i) => v === answer[i])),
          `POST of a malformed payload got ${JSON.stringify(answer)}`);
      }
      assert.equal((await poll(sid))[0], 400);
    });

    it('closes the session upon duplicate poll requests', async () => {
      const sid = await pollingSession();
      const [first, second] = await Promise.all([
        poll(sid),
        sleep(PARK_MS).then(() => poll(sid, '&t=burst')),
      ]);
      assert.deepEqual(first, [200, '1']);
      // the reference answers 500, the suite accepts 400 too
      assert.ok([400, 500].includes(second[0]), `second poll got ${second[0]}`);
      assert.equal((await poll(sid))[0], 400);
    });
  });

  describe('WebSocket', () => {
    it('sends and receives a plain text packet', async () => {
      const socket = new RawSocket(WS);
      await socket.opened();
      assertOpenPacket(await socket.next(), []);
      socket.send('4hello');
      assert.equal(await socket.next(), '4hello');
      socket.close();
    });

    it('sends and receives a binary packet', async () => {
      const socket = new RawSocket(WS);
      assertOpenPacket(await socket.next(), []);
      socket.send(Uint8Array.from([1, 2, 3, 4]));
      assertBytes(await socket.next(), [1, 2, 3, 4]);
      socket.close();
    });

    it('closes the session upon invalid packet format', async () => {
      const socket = new RawSocket(WS);
      assertOpenPacket(await socket.next(), []);
      socket.send('abc');
      await socket.closed();
    });
  });
});

describe('heartbeat', () => {
  describe('HTTP long-polling', () => {
    it('sends ping/pong packets', async () => {
      const sid = await pollingSession();
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await poll(sid), [200, '2']);
        assert.deepEqual(await push(sid, '3'), [200, 'ok']);
      }
    });

    it('closes the session upon ping timeout', async () => {
      const sid = await pollingSession();
      await sleep(PING_INTERVAL + PING_TIMEOUT + TIMER_SLACK);
      const [status, body] = await poll(sid);
        assert.equal(status, 400, `got ${status} ${JSON.stringify(body)}`);
    });
  });

  describe('WebSocket', () => {
    it('sends ping/pong packets', async () => {
      const socket = new RawSocket(WS);
      assertOpenPacket(await socket.next(), []);
      for (let i = 0; i < 3; i++) {
        assert.equal(await socket.next(), '2');
        socket.send('3');
      }
      socket.close();
    });

    it('closes the session upon ping timeout', async () => {
      const socket = new RawSocket(WS);
      assertOpenPacket(await socket.next(), []);
      assert.equal(await socket.next(), '2'); // never answered
      await socket.closed();
    });
  });
});

describe('close', () => {
  describe('HTTP long-polling', () => {
    it('forcefully closes the session', async () => {
      const sid = await pollingSession();
      // the GET must be parked when the close packet comes (the official scenario sends both at
      // once and relies on their order)
      const parked = poll(sid);
      await sleep(PARK_MS);
      const [pending] = await Promise.all([parked, push(sid, '1')]);
      assert.deepEqual(pending, [200, '6']);
      assert.equal((await poll(sid))[0], 400);
    });
  });

  describe('WebSocket', () => {
    it('forcefully closes the session', async () => {
      const socket = new RawSocket(WS);
      assertOpenPacket(await socket.next(), []);
      socket.send('1');
      await socket.closed();
    });
  });
});

describe('upgrade', () => {
  it('successfully upgrades from HTTP long-polling to WebSocket', async () => {
    const sid = await pollingSession();
    const socket = await probed(sid);
    // the pending poll is ended with a noop packet
    assert.deepEqual(await poll(sid), [200, '6']);
    socket.send('5');
    socket.send('4hello');
    assert.equal(await socket.next(), '4hello');
    socket.close();
  });

  it('ignores HTTP requests with same sid after upgrade', async () => {
    const sid = await pollingSession();
    const socket = new RawSocket(`${WS}&sid=${sid}`);
    await socket.opened();
    // The official scenario sends and polls at once; awaiting the writes keeps its order when
    // the client compresses (permessage-deflate), which otherwise lets the GET overtake `5`.
    await Promise.all([socket.send('2probe'), socket.send('5')]);
    // The reference inflates WebSocket messages in the background (zlib's asynchronous API in
    // `ws`): with permessage-deflate the GET overtakes the `5` there and gets 200.
    const expected = against === 'reference' && deflate ? [200, 400] : [400];
    assert.ok(expected.includes((await poll(sid))[0]));
    socket.send('4hello');
    assert.equal(await socket.next(), '3probe');
    assert.equal(await socket.next(), '4hello');
    socket.close();
  });

  it('ignores WebSocket connection with same sid after upgrade', async () => {
    const sid = await pollingSession();
    const socket = new RawSocket(`${WS}&sid=${sid}`);
    await socket.opened();
    socket.send('2probe');
    socket.send('5');
    const second = new RawSocket(`${WS}&sid=${sid}`);
    await second.closed();
    socket.send('4hello');
    assert.equal(await socket.next(), '3probe');
    assert.equal(await socket.next(), '4hello');
    socket.close();
  });
});

await run();
