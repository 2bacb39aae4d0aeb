// The reference for engine/tests/admin_ui.rs: a Socket.IO 4.x server with @socket.io/admin-ui's
// `instrument`, and the same small app as the Volley server of that test; with REDIS_URL, in a
// cluster with Volley through @socket.io/redis-adapter. Usage:
// node admin_ref_server.mjs PORT rw|readonly [REDIS_URL]  -> prints "listening PORT" once ready.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { instrument } from "@socket.io/admin-ui";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const port = Number(process.argv[2]);
const readonly = process.argv[3] === "readonly";
const redisUrl = process.argv[4];
let adapter;
if (redisUrl) {
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  for (const c of [pubClient, subClient]) c.on("error", () => {});
  await Promise.all([pubClient.connect(), subClient.connect()]);
  adapter = createAdapter(pubClient, subClient);
}
const httpServer = createServer();
const io = new Server(httpServer, adapter ? { adapter } : {});

io.on("connection", (socket) => {
  socket.join("lobby");
  socket.emit("welcome");
  socket.on("hello", (arg, ack) => {
    socket.emit("echo", arg);
    if (typeof ack === "function") ack("hi");
  });
});
io.of("/chat");

instrument(io, {
  // bcrypt of "changeit", as engine/tests/admin_ui.rs gives Volley.
  auth: { type: "basic", username: "admin", password: "$2a$10$IAUsjVkrDY8eLjZ3ClRb2egwS3Fe3Vb8t2wpNfUOy.CpnKb1cjbVe" },
  readonly,
  mode: "development",
  serverId: redisUrl ? "node" : "ref",
});

httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
