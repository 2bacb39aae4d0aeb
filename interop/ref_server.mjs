// Reference Socket.IO 4.x server for the Rust client's interop tests (engine/tests/client_*.rs).
// Usage: node ref_server.mjs PORT [deflate]  -> prints "listening PORT" once ready. With
// `deflate`, WebSockets offer permessage-deflate (`perMessageDeflate: true`).
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? 3000);
const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: 300, pingTimeout: 200, perMessageDeflate: process.argv[3] === "deflate",
});

function setup(nsp) {
  nsp.on("connection", (socket) => {
    // Echo what the client sent in its handshake, plus the Engine.IO session id so the client
    // can tell that several namespaces share one connection.
    socket.emit("auth", socket.handshake.auth, {
      nsp: nsp.name,
      engine: socket.conn.id,
      query: socket.handshake.query.token ?? null,
      header: socket.handshake.headers["x-test"] ?? null,
    });
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("message-with-ack", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });
    socket.on("ask", (...args) => {
      const waitMs = typeof args[0] === "number" ? args[0] : 500;
      socket.timeout(waitMs).emit("question", "what?", (err, ...answer) => {
        if (err) socket.emit("ack-timeout");
        else socket.emit("ack-result", ...answer);
      });
    });
    socket.on("disconnect-me", () => socket.disconnect());
    // The extensions negotiated on this socket's WebSocket ("" over polling).
    socket.on("extensions", (ack) => ack(socket.conn.transport.socket?.extensions ?? ""));
  });
}

setup(io.of("/"));
setup(io.of("/custom"));

httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
