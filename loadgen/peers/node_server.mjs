// Reference Socket.IO 4.x server for volley-loadgen, from the npm packages in interop/.
// Usage: node loadgen/peers/node_server.mjs [PORT] [PING_INTERVAL_MS]
// PORT 0 or absent: any free port; PING_INTERVAL_MS absent: socket.io's 25000 (timeout 20000,
// else half the interval). Prints "listening PORT" once ready.
//   echo      -> acks with the same arguments
//   join      -> joins the room named by the first argument, acks
//   broadcast -> [room, payload]: emits "broadcast" with payload to everyone in the room
import { createRequire } from 'node:module';
import { createServer } from 'node:http';

const require = createRequire(new URL('../../interop/package.json', import.meta.url));
const { Server } = require('socket.io');

const httpServer = createServer();
const pingInterval = Number(process.argv[3] ?? 25000);
const io = new Server(httpServer, {
  transports: ['websocket'],
  maxHttpBufferSize: 16e6,
  pingInterval,
  pingTimeout: process.argv[3] ? Math.ceil(pingInterval / 2) : 20000,
});

const handlers = (socket) => {
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
  socket.on('join', (room, ack) => {
    socket.join(String(room));
    if (typeof ack === 'function') ack();
  });
  socket.on('broadcast', (room, payload) => {
    io.of(socket.nsp.name).to(String(room)).emit('broadcast', payload);
  });
};
io.on('connection', handlers);
io.of(/^\/.+$/).on('connection', handlers);

const stop = () => io.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

httpServer.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  console.log(`listening ${httpServer.address().port}`);
});
