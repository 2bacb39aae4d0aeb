// The admin UI over a mixed cluster (engine/tests/admin_ui.rs): a Volley server and a Node
// server with `instrument`, sharing Redis through @socket.io/redis-adapter. An admin on each
// must list the sockets of both servers with their connection and transport, hear of a socket
// connecting to the other server, and drive a socket of the other server.
// Usage: node admin_cluster.mjs http://VOLLEY http://NODE
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import { io } from "socket.io-client";
import assert from "node:assert/strict";

const [volley, node] = process.argv.slice(2);
const opts = (extra) => ({ transports: ["websocket"], forceNew: true, reconnection: false, ...extra });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const connected = (s) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("connect timeout")), 5000);
  s.once("connect", () => { clearTimeout(timer); resolve(s); });
  s.once("connect_error", (e) => { clearTimeout(timer); reject(e); });
});
const until = async (what, cond) => {
  const by = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > by) throw new Error(`timeout: ${what}`);
    await sleep(20);
  }
};
const admin = async (url) => {
  const s = io(`${url}/admin`, opts({ auth: { username: "admin", password: "changeit" } }));
  s.got = [];
  s.onAny((ev, ...args) => s.got.push([ev, ...args]));
  return connected(s);
};

const a = await connected(io(volley, opts()));
const n = await connected(io(node, opts()));
const admins = { volley: await admin(volley), node: await admin(node) };

for (const [name, s] of Object.entries(admins)) {
  await until(`${name}: all_sockets`, () => s.got.some(([ev]) => ev === "all_sockets"));
  const [, all] = s.got.find(([ev]) => ev === "all_sockets");
  for (const id of [a.id, n.id]) {
    const found = all.find((x) => x.id === id);
    assert.ok(found, `${name} admin lists ${id}`);
    assert.equal(found.transport, "websocket");
    assert.equal(typeof found.clientId, "string");
    assert.deepEqual(found.data, {});
  }
  console.log(`ok ${name} admin lists the sockets of both servers`);
}

const c = await connected(io(node, opts()));
await until("volley admin hears of a socket of the node server",
  () => admins.volley.got.some(([ev, s]) => ev === "socket_connected" && s.id === c.id));
console.log("ok volley admin hears of a socket connecting to the node server");

admins.volley.emit("join", "/", "r9", n.id);
await until("node admin sees the join made from volley",
  () => admins.node.got.some(([ev, nsp, room, id]) => ev === "room_joined" && room === "r9" && id === n.id));
admins.node.emit("join", "/", "r8", a.id);
await until("volley admin sees the join made from node",
  () => admins.volley.got.some(([ev, nsp, room, id]) => ev === "room_joined" && room === "r8" && id === a.id));
console.log("ok each admin drives the other server's sockets");

await until("server_stats of both servers",
  () => ["volley", "node"].every((id) => admins.volley.got.some(([ev, st]) => ev === "server_stats" && st.serverId === id)));
console.log("ok the stats of both servers reach an admin");

for (const s of [a, n, c, admins.volley, admins.node]) s.disconnect();
process.exit(0);
