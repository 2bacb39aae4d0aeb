// Reference Node socket.io 4.x server with `allowEIO3: true`, behaving as the parts of Volley's
// conformance example that interop/sio_v2.mjs drives (engine/tests/eio3.rs runs that script
// against both). Usage: node eio3_ref_server.mjs PORT -> prints "listening PORT" once ready.
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? 3000);
const httpServer = createServer();
const io = new Server(httpServer, { allowEIO3: true, pingInterval: 300, pingTimeout: 200 });

function setup(nsp) {
  nsp.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("message-with-ack", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });
    socket.on("ask", (question) => {
      socket.timeout(500).emit("question", question, (err, ...answer) => {
        if (err) socket.emit("ack-timeout", question);
        else socket.emit("ack-result", ...answer);
      });
    });
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack(true);
    });
    socket.on("within", (room, payload, ack) => {
      nsp.in(room).emit("msg", payload);
      ack(nsp.adapter.rooms.get(room)?.size ?? 0);
    });
    socket.on("disconnect-me", () => socket.disconnect());
  });
}

setup(io.of("/"));
setup(io.of("/custom"));
const priv = io.of("/private");
priv.use((socket, next) => {
  if (socket.handshake.auth?.token === "secret") return next();
  const err = new Error("not authorized");
  err.data = { code: 401 };
  next(err);
});
setup(priv);

httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
