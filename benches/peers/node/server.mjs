// Reference servers for scripts/bench-peers.sh, from the packages in this folder (npm ci).
// Usage: node server.mjs [PORT] [MODE]
//   PORT 0 or absent: any free port. Prints "listening PORT" once ready.
//   MODE sio (default): socket.io 4.x on /socket.io/, WebSocket transport only, with the events
//     of Volley's bench_server example:
//       echo      -> acks with the same arguments
//       join      -> joins the room named by the first argument, acks
//       broadcast -> [room, payload]: emits "broadcast" with payload to every member of the room,
//                    the sender included
//   MODE ws: a plain WebSocket echo server (the ws package) on /.
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 0);
const mode = process.argv[3] ?? 'sio';
const httpServer = createServer();
let close;

if (mode === 'ws') {
  const wss = new WebSocketServer({ server: httpServer, maxPayload: 16e6 });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  close = (done) => wss.close(() => httpServer.close(done));
} else if (mode === 'sio') {
  const io = new Server(httpServer, { transports: ['websocket'], maxHttpBufferSize: 16e6 });
  io.on('connection', (socket) => {
    socket.on('echo', (...args) => {
      const ack = args.pop();
      if (typeof ack === 'function') ack(...args);
    });
    socket.on('join', (room, ack) => {
      socket.join(String(room));
      if (typeof ack === 'function') ack();
    });
    socket.on('broadcast', (room, payload) => {
      io.to(String(room)).emit('broadcast', payload);
    });
  });
  close = (done) => io.close(done);
} else {
  console.error(`unknown mode ${mode}: expected sio or ws`);
  process.exit(1);
}

const stop = () => close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

httpServer.listen(port, '127.0.0.1', () => {
  console.log(`listening ${httpServer.address().port}`);
});
