// Drives the admin namespace of a server with the stock socket.io-client, as the admin UI
// does, and prints what the admin saw after each action, normalized (socket ids as names,
// dates and connection ids as placeholders, events of one step sorted), as one JSON document.
// engine/tests/admin_ui.rs runs it against Volley and against the reference
// (admin_ref_server.mjs) and compares. Usage: node admin_ui.mjs http://127.0.0.1:PORT
import { io } from "socket.io-client";
import assert from "node:assert/strict";

const base = process.argv[2];
const STEP_MS = 250;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const opts = (extra) => ({ transports: ["websocket"], forceNew: true, reconnection: false, ...extra });

function connected(s) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timeout")), 5000);
    s.once("connect", () => { clearTimeout(timer); resolve(s); });
    s.once("connect_error", (e) => { clearTimeout(timer); reject(e); });
  });
}

const names = new Map();
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
function norm(v) {
  if (typeof v === "string") return names.get(v) ?? (ISO.test(v) ? "<date>" : v);
  if (Array.isArray(v)) return v.map(norm);
  if (v && typeof v === "object") {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = norm(v[k]);
    if ("handshake" in v) {
      const h = v.handshake;
      out.clientId = typeof v.clientId === "string" && v.clientId.length > 0 ? "<cid>" : v.clientId;
      out.handshake = {
        keys: Object.keys(h).sort(),
        address: h.address,
        path: h.url.split("?")[0],
        query: { EIO: h.query.EIO, transport: h.query.transport },
        headers: { host: typeof h.headers.host },
        issued: typeof h.issued,
        secure: h.secure,
      };
    }
    return out;
  }
  return v;
}

let seen = [];
let firstStats = null;
const steps = [];
function flush(name) {
  const events = seen.map((e) => JSON.stringify(norm(e))).sort();
  steps.push({ name, events });
  seen = [];
}
function watch(admin) {
  admin.onAny((ev, ...args) => {
    if (ev === "server_stats") {
      firstStats ??= args[0];
      return;
    }
    if (ev === "all_sockets") args = [args[0].slice().sort((a, b) => (names.get(a.id) ?? a.id).localeCompare(names.get(b.id) ?? b.id))];
    seen.push([ev, ...args]);
  });
}

// A wrong password is refused by the admin's middleware.
const refused = await connected(io(`${base}/admin`, opts({ auth: { username: "admin", password: "wrong" } })))
  .then(() => "connected", (e) => e.message);
assert.equal(refused, "invalid credentials");

const admin = io(`${base}/admin`, opts({ auth: { username: "admin", password: "changeit" } }));
let session = null;
admin.on("session", (id) => { session = id; });
watch(admin);
await connected(admin);
names.set(admin.id, "ADMIN");
await sleep(STEP_MS);
assert.match(session ?? "", /^[0-9a-f]{16}$/);
names.set(session, "<session>");
flush("admin connects");

const a = io(base, opts());
const got = [];
a.onAny((ev, ...args) => got.push([ev, ...args]));
await connected(a);
names.set(a.id, "A");
await sleep(STEP_MS);
flush("A connects to /");

const b = io(`${base}/chat`, opts());
let bReason = null;
b.on("disconnect", (r) => { bReason = r; });
await connected(b);
names.set(b.id, "B");
await sleep(STEP_MS);
flush("B connects to /chat");

assert.equal(await a.timeout(5000).emitWithAck("hello", { x: 1 }), "hi");
await sleep(STEP_MS);
flush("A emits hello");

admin.emit("join", "/", "r1", a.id);
await sleep(STEP_MS);
flush("admin: A joins r1");

admin.emit("join", "/chat", "r2");
await sleep(STEP_MS);
flush("admin: all of /chat join r2");

admin.emit("leave", "/", "r1", a.id);
await sleep(STEP_MS);
flush("admin: A leaves r1");

admin.emit("emit", "/", "lobby", "news", 1, "two");
await sleep(STEP_MS);
flush("admin: emit news to lobby");

admin.emit("_disconnect", "/chat", false, b.id);
await sleep(STEP_MS);
flush("admin: disconnect B");

const admin2 = io(`${base}/admin`, opts({ auth: { sessionId: session } }));
let session2 = null;
admin2.on("session", (id) => { session2 = id; });
await connected(admin2);
names.set(admin2.id, "ADMIN2");
await sleep(STEP_MS);
flush("second admin logs in with the session id");
admin2.disconnect();

a.disconnect();
await sleep(STEP_MS);
flush("A disconnects");

// The stock client's default: polling first, then the upgrade (socket_updated).
const c = io(base, { forceNew: true, reconnection: false });
await connected(c);
names.set(c.id, "C");
const upgradeBy = Date.now() + 5000;
while (c.io.engine.transport.name !== "websocket" && Date.now() < upgradeBy) await sleep(20);
assert.equal(c.io.engine.transport.name, "websocket");
await sleep(STEP_MS);
flush("C connects over polling and upgrades");

c.disconnect();
await sleep(STEP_MS);
flush("C disconnects");

const stats = firstStats && {
  keys: Object.keys(firstStats).sort(),
  serverId: firstStats.serverId,
  namespaces: firstStats.namespaces.map((n) => n.name).sort(),
  aggregatedEvents: Array.isArray(firstStats.aggregatedEvents),
};
admin.disconnect();
console.log(JSON.stringify({
  steps,
  stats,
  clientA: norm(got),
  bReason,
  session2: session2 === null ? null : "sent",
}, null, 1));
process.exit(0);
