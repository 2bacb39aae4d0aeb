// The reference servers the official compliance suites are written against, configured as their
// READMEs say, so engine/tests/protocol_suites.rs can check that our scenarios pass against the
// reference too (a scenario that only Volley passes would be asserting Volley, not the protocol).
// Usage: node protocol/reference-server.mjs engine.io|socket.io [deflate]  -> prints "listening on
// ADDR". With `deflate`, WebSockets offer permessage-deflate (`perMessageDeflate: true`).
import { createServer } from 'node:http';
import { attach } from 'engine.io';
import { Server } from 'socket.io';

const kind = process.argv[2];
const options = {
  pingInterval: 300, pingTimeout: 200, maxHttpBufferSize: 1e6,
  perMessageDeflate: process.argv[3] === 'deflate',
};
const httpServer = createServer();

if (kind === 'engine.io') {
  // An Engine.IO echo server on /engine.io/.
  const engine = attach(httpServer, { ...options, path: '/engine.io/' });
  engine.on('connection', (socket) => {
    socket.on('message', (data) => socket.send(data));
  });
} else if (kind === 'socket.io') {
  const io = new Server(httpServer, { ...options, cors: { origin: '*' } });
  io.on('connection', (socket) => {
    socket.emit('auth', socket.handshake.auth);
    socket.on('message', (...args) => socket.emit('message-back', ...args));
    socket.on('message-with-ack', (...args) => {
      const ack = args.pop();
      ack(...args);
    });
  });
  io.of('/custom').on('connection', (socket) => {
    socket.emit('auth', socket.handshake.auth);
  });
} else {
  console.error('usage: node protocol/reference-server.mjs engine.io|socket.io');
  process.exit(2);
}

httpServer.listen(0, '127.0.0.1', () => {
  const { address, port } = httpServer.address();
  console.log(`${kind} reference listening on ${address}:${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
