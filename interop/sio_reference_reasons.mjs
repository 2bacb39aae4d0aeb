// Feeds the bad inputs of engine/tests/sio_bad_input.rs to the reference Node server (the npm
// `socket.io` package) over raw WebSocket frames and prints what the reference does with each,
// so our disconnect reasons can be compared with it.
// Usage: node sio_reference_reasons.mjs
// Prints one line per case: "case <name>: <outcome>", where the outcome is the reason given to
// the server's disconnect handler, "closed" (connection closed, no namespace joined), or "open"
// (the connection was still open after the wait).
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import WebSocket from 'ws';

const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  pingInterval: 60000,
  pingTimeout: 60000,
  connectTimeout: 500,
});
const reasons = new Map();
io.on('connection', (socket) => {
  socket.on('error', () => {});
  socket.on('disconnect', (reason) => { reasons.set(socket.id, reason); });
});
await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
const { port } = httpServer.address();

const deep = (n) => `42["x",${'['.repeat(n)}${']'.repeat(n)}]`;
// Each case: join "/" first unless join is false, then send the frames (strings are text frames,
// Buffers binary frames).
const cases = [
  { name: 'abc', frames: ['abc'] },
  { name: '4abc', frames: ['4abc'] },
  { name: '42{}', frames: ['42{}'] },
  { name: '42abc["x"]', frames: ['42abc["x"]'] },
  { name: 'event for a namespace not joined', frames: ['42/other,["x"]'] },
  { name: 'second CONNECT for the same namespace', frames: ['40'] },
  { name: 'huge attachment count', frames: ['451999999999-["x",{"_placeholder":true,"num":0}]'] },
  {
    name: 'placeholder num out of range',
    frames: ['451-["x",{"_placeholder":true,"num":9}]', Buffer.from([1])],
  },
  {
    name: 'placeholder num a string',
    frames: ['451-["x",{"_placeholder":true,"num":"0"}]', Buffer.from([1])],
  },
  { name: 'JSON nested 100000 deep', frames: [deep(100000)] },
  { name: 'attachment that never arrives', frames: ['451-["x",{"_placeholder":true,"num":0}]'] },
  { name: 'binary frame with no pending packet', frames: [Buffer.from([1, 2, 3])] },
  { name: 'CONNECT_ERROR from the client', frames: ['44{"message":"x"}'] },
  { name: 'reserved event name', frames: ['42["disconnect"]'] },
  { name: 'client ping', frames: ['2'] },
  { name: 'no CONNECT (connect timeout)', join: false, frames: [] },
];

function runCase(c) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
    let sid = null;
    let closed = false;
    const finish = () => {
      const outcome = reasons.get(sid) ?? (closed ? 'closed' : 'open');
      ws.terminate();
      resolve(outcome);
    };
    const send = () => {
      for (const f of c.frames) ws.send(f);
      setTimeout(finish, 700);
    };
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      if (text.startsWith('0')) {
        if (c.join === false) send();
        else ws.send('40');
      } else if (text.startsWith('40{') && sid === null) {
        sid = JSON.parse(text.slice(2)).sid;
        send();
      }
    });
    ws.on('close', () => { closed = true; });
    ws.on('error', () => { closed = true; });
  });
}

for (const c of cases) {
  console.log(`case ${c.name}: ${await runCase(c)}`);
}
io.close();
process.exit(0);
