// The admin UI's own page (ui/dist of @socket.io/admin-ui, served here by a tiny static
// server) in headless Chromium against the Volley server of engine/tests/admin_ui.rs: it must
// connect to the admin namespace and list the sockets connected to `/`. The page logs in with a
// session id that the stock client got with the password first, as the page keeps one after a
// login. Usage: node admin_ui_page.mjs CHROMIUM http://127.0.0.1:PORT
// Prints "ok <case>" per passing case; exits 1 at the first failure.
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import puppeteer from "puppeteer-core";

const [chrome, server] = process.argv.slice(2);
const root = fileURLToPath(new URL("./node_modules/@socket.io/admin-ui/ui/dist/", import.meta.url));
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml", ".map": "application/json" };
const files = createServer(async (req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^(\.\.[/\\])+/, "");
  try {
    const body = await readFile(join(root, path.endsWith("/") ? `${path}index.html` : path));
    res.writeHead(200, { "content-type": types[extname(path) || ".html"] ?? "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => files.listen(0, "127.0.0.1", r));
const page_url = `http://127.0.0.1:${files.address().port}/`;

const opts = (extra) => ({ transports: ["websocket"], forceNew: true, reconnection: false, ...extra });
const connected = (s) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("connect timeout")), 5000);
  s.once("connect", () => { clearTimeout(timer); resolve(s); });
  s.once("connect_error", (e) => { clearTimeout(timer); reject(e); });
});

const login = io(`${server}/admin`, opts({ auth: { username: "admin", password: "changeit" } }));
const session = new Promise((r) => login.once("session", r));
await connected(login);
const sessionId = await session;
login.disconnect();
const a = await connected(io(server, opts()));

const args = ["--disable-dev-shm-usage", "--disable-gpu", "--no-first-run", "--no-default-browser-check"];
// Chromium's sandbox refuses to run as root.
if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
const browser = await puppeteer.launch({ executablePath: chrome, headless: true, args });
let failed = false;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  // The page links web fonts and icons from CDNs; the test machine has no network.
  await page.setRequestInterception(true);
  page.on("request", (r) => (r.url().startsWith("http://127.0.0.1") ? r.continue() : r.abort()));
  // What the page keeps in localStorage after a login, there before its scripts run.
  await page.evaluateOnNewDocument((url, id) => {
    localStorage.setItem("server_url", url);
    localStorage.setItem("namespace", "/admin");
    localStorage.setItem("ws_only", "true");
    localStorage.setItem("path", "/socket.io");
    localStorage.setItem("session_id", id);
  }, server, sessionId);
  await page.goto(`${page_url}#/sockets/`, { waitUntil: "load" });
  try {
    // The page shows one namespace at a time, `/` first.
    await page.waitForFunction((id) => document.body.innerText.includes(id), { timeout: 15000 }, a.id);
    console.log("ok the page lists the connected sockets");
  } catch (e) {
    failed = true;
    const text = await page.evaluate(() => document.body.innerText);
    console.log(`not ok the page lists the connected sockets: ${e.message}\n${text}`);
  }
} finally {
  await browser.close();
  a.disconnect();
  files.close();
}
process.exit(failed ? 1 : 0);
