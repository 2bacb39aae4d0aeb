// The reference for engine/tests/admin_ui.rs: a Socket.IO 4.x server with @socket.io/admin-ui's
// `instrument`, and the same small app as the Volley server of that test. Usage:
// node admin_ref_server.mjs PORT rw|readonly  -> prints "listening PORT" once ready.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { instrument } from "@socket.io/admin-ui";

const port = Number(process.argv[2]);
const readonly = process.argv[3] === "readonly";
const httpServer = createServer();
const io = new Server(httpServer);

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
  serverId: "ref",
});

httpServer.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
