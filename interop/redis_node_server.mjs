// A Node socket.io server in a Redis cluster, for the mixed cluster tests
// (engine/tests/redis_interop.rs). Usage: node redis_node_server.mjs PORT REDIS_URL [ADAPTER]
// with ADAPTER `pubsub` (@socket.io/redis-adapter, the default) or `streams`
// (@socket.io/redis-streams-adapter) -> prints "listening PORT" once the server listens (the
// test waits for its adapter's subscriptions in Redis).
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";

const port = Number(process.argv[2]);
const redisUrl = process.argv[3];
const streams = process.argv[4] === "streams";
const recovery = process.argv[5] === "recovery";

const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
for (const c of [pubClient, subClient]) c.on("error", () => {});
await Promise.all([pubClient.connect(), streams ? null : subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter: streams ? createStreamsAdapter(pubClient) : createAdapter(pubClient, subClient),
  ...(recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 60000 } } : {}),
});

io.on("connection", (socket) => {
  if (recovery && !socket.recovered) socket.data = "set at first connect";
  socket.on("tell", (room, n, ack) => {
    io.to(room).emit("news", n);
    ack(true);
  });
  socket.on("whoami", (ack) =>
    ack({ recovered: socket.recovered, data: socket.data, rooms: socket.rooms.size > 1 }),
  );
  socket.on("poke", (id, ack) => {
    io.to(id).emit("poked", "poke");
    ack(true);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(true);
  });
  socket.on("to", (room, payload) => io.to(room).emit("news", payload));
  socket.on("shout", (payload) => socket.broadcast.emit("news", payload));
  socket.on("bin", (room) => io.to(room).emit("bin", Buffer.from([1, 2, 3]), "tail"));
  socket.on("fetch", async (room, ack) => {
    const sockets = await io.in(room).fetchSockets();
    ack(sockets.map((s) => [s.id, [...s.rooms].sort(), s.handshake.url ?? null]).sort());
  });
  socket.on("join-all", (room, newRoom, ack) => {
    io.in(room).socketsJoin(newRoom);
    ack(true);
  });
  socket.on("ask", (room, ack) => {
    io.to(room)
      .timeout(3000)
      .emit("question", "?", (err, responses) => ack(err ? "timeout" : responses.sort()));
  });
  socket.on("sse", async (ack) => {
    io.serverSideEmit("plain-from-node", "x");
    ack(await io.serverSideEmitWithAck("hello", 1, "two"));
  });
});

// Answers server-side emits from the other servers.
io.on("hello", (a, b, cb) => cb(`node got hello ${a} ${b}`));

httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    if (!recovery) process.exit(0);
    // The sessions are SET by the sockets' close: quit once Redis has answered them.
    io.close(() => pubClient.quit().finally(() => process.exit(0)));
  });
}
