// A Node socket.io server on a Redis Cluster through createShardedAdapter of
// @socket.io/redis-adapter and the `redis` v4 cluster client, for the mixed sharded cluster test
// (engine/tests/redis_sharded.rs). Usage:
//   node redis_sharded_node_server.mjs PORT MODE redis://HOST:PORT[,redis://HOST:PORT...]
// MODE is the subscriptionMode (static, dynamic, dynamic-private). Prints "listening PORT".
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createShardedAdapter } from "@socket.io/redis-adapter";
import { createCluster } from "redis";

const port = Number(process.argv[2]);
const subscriptionMode = process.argv[3];
const rootNodes = process.argv[4].split(",").map((url) => ({ url }));

const pubClient = createCluster({ rootNodes });
const subClient = pubClient.duplicate();
for (const c of [pubClient, subClient]) c.on("error", () => {});
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter: createShardedAdapter(pubClient, subClient, { subscriptionMode }),
});

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack(true);
  });
  socket.on("to", (room, payload) => io.to(room).emit("news", payload));
  socket.on("except", (room, payload) => io.except(room).emit("news", payload));
  socket.on("shout", (payload) => socket.broadcast.emit("news", payload));
  socket.on("bin", (room) => io.to(room).emit("bin", Buffer.from([1, 2, 3]), "tail"));
  socket.on("fetch", async (room, ack) => {
    const sockets = await io.in(room).fetchSockets();
    ack(sockets.map((s) => s.id).sort());
  });
  socket.on("sse", async (ack) => {
    ack(await io.serverSideEmitWithAck("hello", 1, "two"));
  });
});

// Answers server-side emits from the other servers.
io.on("hello", (a, b, cb) => cb(`node got hello ${a} ${b}`));

httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
