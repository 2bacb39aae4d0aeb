//! Helpers shared by the integration tests: running the real npm clients from `interop/`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The repository's `interop/` folder (npm packages installed by `scripts/test.sh`).
pub fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../interop")
}

/// Runs `node interop/<script> args...`, returns its stdout, and fails the test with the whole
/// output if it exits non-zero. Missing `node_modules` is a failure, never a skip.
pub fn run_node(script: &str, args: &[&str]) -> String {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/ws").exists(),
        "interop/node_modules missing: run ./scripts/test.sh (it runs npm ci in interop/)"
    );
    let out = Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("node must be installed to run interop tests");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

/// The scenarios of `interop/sio_client.mjs` (the stock client against a conformance server).
pub const SIO_CLIENT_CASES: &[&str] = &[
    "connect with auth",
    "connect without auth gets {}",
    "connect_error with data",
    "unknown namespace is refused",
    "events both ways",
    "ack from the server",
    "ack from the client, and its timeout on the server",
    "binary both ways",
    "several namespaces on one connection",
    "server disconnect reason",
    "client disconnect reason",
    "heartbeats keep the connection alive",
];

/// Asserts that every case name was reported as passing by a node script.
pub fn assert_cases(stdout: &str, cases: &[&str]) {
    for case in cases {
        assert!(
            stdout.lines().any(|l| l == format!("ok {case}")),
            "case {case:?} did not pass; output:\n{stdout}"
        );
    }
}

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use volley::proto::{http, ws};

/// A blocking WebSocket client on our own codec, for tests that need exact bytes on the wire.
pub struct RawWs {
    pub sock: TcpStream,
    buf: Vec<u8>,
    dec: ws::Decoder,
}

/// An owned message read by [`RawWs::read`].
#[derive(Debug, PartialEq, Eq)]
pub enum Got {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
    /// The server closed the TCP connection.
    Eof,
}

impl RawWs {
    /// Connects and completes the upgrade on `path`; panics unless the answer is 101.
    pub fn connect(addr: SocketAddr, path: &str) -> RawWs {
        let mut sock = TcpStream::connect(addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut req = Vec::new();
        http::write_upgrade_request(
            &mut req,
            &addr.to_string(),
            path,
            &http::new_websocket_key([7; 16]),
            &[],
        );
        sock.write_all(&req).unwrap();
        let (status, rest) = read_head(&mut sock);
        assert_eq!(status, 101, "upgrade refused");
        RawWs {
            sock,
            buf: rest,
            dec: ws::Decoder::new(ws::Role::Client, usize::MAX / 2),
        }
    }

    /// Sends one masked frame.
    pub fn send(&mut self, opcode: ws::OpCode, payload: &[u8]) {
        let mut out = Vec::new();
        ws::encode_masked_frame(&mut out, opcode, payload, [1, 2, 3, 4]);
        self.sock.write_all(&out).unwrap();
    }

    /// Reads the next message (or EOF; a read that waits 10 s also counts as EOF).
    pub fn read(&mut self) -> Got {
        self.read_until(None).unwrap_or(Got::Eof)
    }

    /// Reads the next message, waiting at most `wait`; `None` if nothing came in time.
    pub fn read_within(&mut self, wait: Duration) -> Option<Got> {
        let got = self.read_until(Some(Instant::now() + wait));
        self.sock
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        got
    }

    fn read_until(&mut self, deadline: Option<Instant>) -> Option<Got> {
        loop {
            let mut tmp = std::mem::take(&mut self.buf);
            let decoded = self
                .dec
                .decode(&mut tmp)
                .expect("server sent an invalid frame");
            let consumed = decoded.consumed;
            let got = decoded.message.map(|m| match m {
                ws::Message::Text(t) => Got::Text(String::from_utf8(t.to_vec()).unwrap()),
                ws::Message::Binary(b) => Got::Binary(b.to_vec()),
                ws::Message::Ping(p) => Got::Ping(p.to_vec()),
                ws::Message::Pong(p) => Got::Pong(p.to_vec()),
                ws::Message::Close(c) => Got::Close(c.map(|c| c.code.0)),
            });
            tmp.drain(..consumed);
            self.buf = tmp;
            if let Some(got) = got {
                return Some(got);
            }
            if consumed > 0 {
                continue;
            }
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                self.sock.set_read_timeout(Some(left)).unwrap();
            }
            let mut chunk = [0u8; 65536];
            match self.sock.read(&mut chunk) {
                Ok(0) => return Some(Got::Eof),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if deadline.is_some()
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                {
                    return None
                }
                Err(_) => return Some(Got::Eof),
            }
        }
    }

    /// Sends one text frame.
    pub fn send_text(&mut self, text: &str) {
        self.send(ws::OpCode::Text, text.as_bytes());
    }

    /// Sends one binary frame.
    pub fn send_binary(&mut self, data: &[u8]) {
        self.send(ws::OpCode::Binary, data);
    }

    /// Reads the next text message, answering Engine.IO pings (`2`) on the way; panics on
    /// anything else (binary, close, EOF).
    pub fn next_text(&mut self) -> String {
        loop {
            match self.read() {
                Got::Text(t) if t == "2" => self.send_text("3"),
                Got::Text(t) => return t,
                other => panic!("expected a text message, got {other:?}"),
            }
        }
    }

    /// Waits for the server to end the connection (a close frame, then EOF); returns what
    /// came before. Panics if it takes longer than `wait`.
    pub fn expect_closed(&mut self, wait: Duration) -> Vec<Got> {
        let deadline = Instant::now() + wait;
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_within(left) {
                Some(Got::Close(_)) | Some(Got::Eof) => return before,
                Some(other) => before.push(other),
                None => panic!("still open after {wait:?}; got {before:?}"),
            }
        }
    }

    /// Opens an Engine.IO v4 session over WebSocket on `path` (e.g. `/socket.io/`): returns
    /// the client and the JSON of the open packet.
    pub fn eio_connect(addr: SocketAddr, path: &str) -> (RawWs, serde_json::Value) {
        let mut ws = RawWs::connect(addr, &format!("{path}?EIO=4&transport=websocket"));
        let open = match ws.read() {
            Got::Text(t) => t,
            other => panic!("expected the open packet, got {other:?}"),
        };
        let json = open
            .strip_prefix('0')
            .unwrap_or_else(|| panic!("not an open packet: {open:?}"));
        (ws, serde_json::from_str(json).unwrap())
    }

    /// A Socket.IO connection on `/socket.io/` that joined `nsp`: returns the client and the
    /// socket id from the server's CONNECT reply.
    pub fn sio_connect(addr: SocketAddr, nsp: &str) -> (RawWs, String) {
        let (mut ws, _) = RawWs::eio_connect(addr, "/socket.io/");
        let sid = ws.sio_join(nsp);
        (ws, sid)
    }

    /// Sends CONNECT for `nsp` and returns the socket id of the reply; panics on a refusal.
    pub fn sio_join(&mut self, nsp: &str) -> String {
        let prefix = if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        };
        self.send_text(&format!("40{prefix}"));
        let reply = self.next_text();
        let json = reply
            .strip_prefix(&format!("40{prefix}"))
            .unwrap_or_else(|| panic!("CONNECT to {nsp} refused: {reply:?}"));
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["sid"].as_str().unwrap().to_string()
    }
}

/// Reads an HTTP response head; returns the status and any bytes after the head.
pub fn read_head(sock: &mut TcpStream) -> (u16, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(resp) = http::parse_response(&buf, &http::Limits::default()).unwrap() {
            let rest = buf[resp.head_len..].to_vec();
            return (resp.status, rest);
        }
        let n = sock.read(&mut chunk).unwrap();
        assert!(
            n > 0,
            "EOF before a response head; got {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends raw bytes and returns the response status.
pub fn http_status(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(request).unwrap();
    read_head(&mut sock).0
}

use std::io::BufRead;
use std::process::{Child, Stdio};

/// The server's Prometheus text from `GET /metrics` (servers started with
/// `VOLLEY_METRICS_PATH=/metrics`).
pub fn metrics(addr: SocketAddr) -> String {
    let (status, _, body) = http_exchange(
        addr,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    String::from_utf8(body).unwrap()
}

/// The value of the metric line that starts with `series` (name and labels).
pub fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Chromium: `CHROME_PATH`, else `chromium` or `chromium-browser` on `PATH`. Missing is a
/// failure, never a skip.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROME_PATH") {
        return PathBuf::from(path);
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no Chromium: install the Debian package `chromium` (./scripts/test.sh does) \
                 or set CHROME_PATH"
            )
        })
}

/// A free loopback port (bound once, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Node server from `interop/` (`node SCRIPT PORT args...`) that prints `listening PORT` once
/// ready; killed by PID when dropped.
pub struct NodeServer {
    child: Child,
    pub port: u16,
}

impl NodeServer {
    pub fn start(script: &str, args: &[&str]) -> NodeServer {
        assert!(
            interop_dir().join("node_modules/socket.io").exists(),
            "interop/node_modules missing: run npm ci in interop/"
        );
        let port = free_port();
        let mut child = Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .args(args)
            .current_dir(interop_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed");
        let stdout = child.stdout.take().expect("piped stdout");
        let server = NodeServer { child, port };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{script} did not start"));
        assert_eq!(line, format!("listening {port}"));
        server
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An example server run as its own process, stopped by PID when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub binary: PathBuf,
}

impl ServerProcess {
    /// Starts `engine/examples/<name>` on a free port with extra env vars and waits for its
    /// "listening on ADDR" line.
    pub fn start(name: &str, env: &[(&str, &str)]) -> ServerProcess {
        let mut all: Vec<(&str, String)> = vec![("VOLLEY_LISTEN", "127.0.0.1:0".to_string())];
        all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        Self::start_with(name, &all)
    }

    /// Like [`ServerProcess::start`] with owned values (the last value of a name wins).
    pub fn start_with(name: &str, env: &[(&str, String)]) -> ServerProcess {
        let binary = example_binary(name);
        Self::spawn(name, Command::new(&binary), binary, env)
    }

    /// Like [`ServerProcess::start_with`], under an open-file limit of `nofile` (set by
    /// `ulimit -n` in a shell that then execs the server, so the pid is the server's).
    pub fn start_limited(name: &str, env: &[(&str, String)], nofile: usize) -> ServerProcess {
        let binary = example_binary(name);
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\""))
            .arg(&binary);
        let mut all: Vec<(&str, String)> = vec![("VOLLEY_LISTEN", "127.0.0.1:0".to_string())];
        all.extend(env.iter().cloned());
        Self::spawn(name, cmd, binary, &all)
    }

    /// Starts the program `binary`, which prints nothing, on `addr` (`VOLLEY_LISTEN`) with the
    /// settings of [`ServerProcess::start`], and waits until `addr` accepts connections.
    pub fn start_program(binary: PathBuf, addr: SocketAddr) -> ServerProcess {
        let mut cmd = Command::new(&binary);
        Self::test_settings(&mut cmd)
            .env("VOLLEY_LISTEN", addr.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut server = ServerProcess {
            child,
            addr,
            binary,
        };
        let up = wait_until(Duration::from_secs(10), || {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{} exited ({status})", server.binary.display());
            }
            TcpStream::connect(addr).is_ok()
        });
        assert!(up, "{} not listening on {addr}", server.binary.display());
        server
    }

    fn test_settings(cmd: &mut Command) -> &mut Command {
        cmd.env("VOLLEY_PING_INTERVAL_MS", "300")
            .env("VOLLEY_PING_TIMEOUT_MS", "200")
            .env("VOLLEY_CONNECT_TIMEOUT_MS", "1000")
            .env("VOLLEY_WORKERS", "2")
    }

    fn spawn(name: &str, mut cmd: Command, binary: PathBuf, env: &[(&str, String)]) -> Self {
        Self::test_settings(&mut cmd)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name} did not print its address: {line:?}"));
        ServerProcess {
            child,
            addr,
            binary,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of a compiled example, brought up to date once per test process: `cargo test` builds
/// examples as test targets under other names, so a binary left by an earlier build may be
/// stale.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let path = profile_dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // With the features this test was built with (an example may need one).
        let features: Vec<&str> = [
            ("tokio", cfg!(feature = "tokio")),
            ("tls", cfg!(feature = "tls")),
        ]
        .into_iter()
        .filter_map(|(feature, on)| on.then_some(feature))
        .collect();
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "volley", "--example", name])
            .args(["--features", &features.join(",")])
            .status()
            .unwrap();
        assert!(status.success(), "building example {name} failed");
        built.push(name.to_string());
    }
    path
}

/// Sends raw bytes and reads the whole response (the server closes after it): status, head
/// and body.
pub fn http_exchange(addr: SocketAddr, request: &[u8]) -> (u16, http::Response, Vec<u8>) {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    sock.write_all(request).unwrap();
    let mut all = Vec::new();
    sock.read_to_end(&mut all).unwrap();
    let resp = http::parse_response(&all, &http::Limits::default())
        .unwrap()
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&all)));
    let body = all[resp.head_len..].to_vec();
    (resp.status, resp, body)
}

/// Polls `done` every few milliseconds until it is true or `wait` passes; returns its last
/// value.
pub fn wait_until(wait: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

/// Values that server handlers record by key (e.g. disconnect reasons by socket id) and a test
/// thread waits for.
#[derive(Clone, Default)]
pub struct Board {
    inner: Arc<(Mutex<HashMap<String, String>>, Condvar)>,
}

impl Board {
    /// Records `value` under `key` (the last value wins) and wakes waiters.
    pub fn set(&self, key: impl Into<String>, value: impl Into<String>) {
        let (map, cv) = &*self.inner;
        map.lock().unwrap().insert(key.into(), value.into());
        cv.notify_all();
    }

    /// The value under `key`, waiting up to `wait` for it to be recorded.
    pub fn wait(&self, key: &str, wait: Duration) -> Option<String> {
        let (map, cv) = &*self.inner;
        let deadline = Instant::now() + wait;
        let mut guard = map.lock().unwrap();
        loop {
            if let Some(v) = guard.get(key) {
                return Some(v.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            guard = cv.wait_timeout(guard, left).unwrap().0;
        }
    }

    /// Waits up to `wait` for the value under `key` to be other than `old`; panics if it
    /// does not change.
    pub fn wait_for_change(&self, key: &str, old: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            match self.get(key) {
                Some(v) if v != old => return v,
                _ if Instant::now() >= deadline => panic!("{key} still {old:?} after {wait:?}"),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// The value under `key` now, if any.
    pub fn get(&self, key: &str) -> Option<String> {
        self.inner.0.lock().unwrap().get(key).cloned()
    }

    /// How many keys hold a value.
    pub fn len(&self) -> usize {
        self.inner.0.lock().unwrap().len()
    }
}

// Helpers of the Socket.IO client tests (`client_*.rs`).

use std::sync::mpsc::{channel, Receiver};

use volley::client::{ClientOptions, Payload, Socket, TransportKind};

/// The longest any client test waits for one thing.
pub const CLIENT_WAIT: Duration = Duration::from_secs(10);

/// What the handlers saw: events by name, lifecycle notes as `#connect` / `#disconnect:<reason>`.
pub type Log = Receiver<(String, Payload)>;

/// Records every event and connect / disconnect of `socket`.
pub fn record(socket: &Socket) -> Log {
    let (tx, rx) = channel();
    let any = tx.clone();
    socket.on_any(move |ev| {
        let _ = any.send((ev.name().to_owned(), ev.args().clone()));
    });
    let connect = tx.clone();
    socket.on_connect(move |s| {
        let _ = connect.send((format!("#connect {}", s.nsp()), Payload::new()));
    });
    socket.on_disconnect(move |_, reason| {
        let _ = tx.send((format!("#disconnect:{reason}"), Payload::new()));
    });
    rx
}

/// Waits for the next entry named `name`, skipping others.
pub fn expect(log: &Log, name: &str) -> Payload {
    let deadline = Instant::now() + CLIENT_WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match log.recv_timeout(left) {
            Ok((got, payload)) if got == name => return payload,
            Ok((got, _)) => seen.push(got),
            Err(_) => break,
        }
    }
    panic!("no {name:?} within {CLIENT_WAIT:?}; saw {seen:?}");
}

/// Asserts nothing named `name` arrives within `wait`.
pub fn expect_none(log: &Log, name: &str, wait: Duration) {
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok((got, _)) = log.recv_timeout(left) {
            assert_ne!(got, name, "unexpected {name}");
        }
    }
}

/// Client options for `127.0.0.1:port` over `transport`, reconnecting after 100 to 400 ms.
pub fn client_options(port: u16, transport: TransportKind) -> ClientOptions {
    let mut o = ClientOptions::new(format!("http://127.0.0.1:{port}"));
    o.reconnection_delay = Duration::from_millis(100);
    o.reconnection_delay_max = Duration::from_millis(400);
    o.transport = transport;
    o
}

/// Waits for the next entry named one of `names`; returns which.
pub fn expect_one_of(log: &Log, names: &[&str]) -> String {
    let deadline = Instant::now() + CLIENT_WAIT;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match log.recv_timeout(left) {
            Ok((got, _)) if names.contains(&got.as_str()) => return got,
            Ok((got, _)) => seen.push(got),
            Err(_) => break,
        }
    }
    panic!("none of {names:?} within {CLIENT_WAIT:?}; saw {seen:?}");
}

/// Engine.IO long-polling by hand: one request per connection (`Connection: close`), exact
/// bodies, on `/socket.io/`.
pub mod polling {
    use std::net::SocketAddr;

    use super::http_exchange;

    /// One request on its own connection (`Connection: close`): status and body.
    pub fn request(
        addr: SocketAddr,
        method: &str,
        query: &str,
        extra: &str,
        body: &[u8],
    ) -> (u16, String) {
        let mut req = format!("{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").into_bytes();
        req.extend_from_slice(body);
        let (status, _, body) = http_exchange(addr, &req);
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    pub fn post(addr: SocketAddr, sid: &str, body: &str) -> (u16, String) {
        request(
            addr,
            "POST",
            &format!("&sid={sid}"),
            &format!("Content-Length: {}\r\n", body.len()),
            body.as_bytes(),
        )
    }

    pub fn get(addr: SocketAddr, sid: &str) -> (u16, String) {
        request(addr, "GET", &format!("&sid={sid}"), "", b"")
    }

    /// A polling session joined to `/`: (engine.io sid, socket id).
    pub fn session(addr: SocketAddr) -> (String, String) {
        let (status, body) = request(addr, "GET", "", "", b"");
        assert_eq!(status, 200, "{body}");
        let open: serde_json::Value =
            serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
        assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
        let sid = open["sid"].as_str().unwrap().to_string();
        assert_eq!(post(addr, &sid, "40"), (200, "ok".to_string()));
        let (status, body) = get(addr, &sid);
        assert_eq!(status, 200);
        let connect: serde_json::Value =
            serde_json::from_str(body.strip_prefix("40").unwrap()).unwrap();
        (sid, connect["sid"].as_str().unwrap().to_string())
    }
}

/// A one-worker server on 127.0.0.1 whose asynchronous hooks run on a shared tokio runtime
/// (two threads, timers on), the application's runtime of the async tests.
pub fn async_builder() -> volley::server::ServerBuilder {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("a tokio runtime")
    });
    volley::server::Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 1;
        })
        .spawner(move |f| {
            rt.spawn(f);
        })
}
