//! Helpers for the Redis adapter tests: a real `redis-server` on a free loopback port (stopped
//! by PID), a Volley node joined to it, and raw Socket.IO clients.

#![allow(dead_code)]

pub mod cluster;

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use volley::config::RedisAdapterKind;
use volley::server::{Ack, Server};

use crate::common::{self, Board, RawWs};

/// A `redis-server` process of this test; killed when dropped.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    /// Starts `redis-server` on a free port (no persistence) and waits until it answers.
    pub fn start() -> Redis {
        let mut r = Redis {
            child: None,
            port: common::free_port(),
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run redis-server ({e}); the Redis adapter tests need it: \
                     apt-get install -y redis-server"
                )
            });
        self.child = Some(child);
        let up = common::wait_until(Duration::from_secs(10), || {
            self.query(&["PING"])
                .is_some_and(|r| r.starts_with(b"+PONG"))
        });
        assert!(up, "redis-server on port {port} never answered PING");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (by PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Sends one command and returns the raw reply (enough for the small replies used here).
    pub fn query(&self, args: &[&str]) -> Option<Vec<u8>> {
        query(self.port, args)
    }

    /// How many clients subscribe to exactly `channel`.
    pub fn numsub(&self, channel: &str) -> usize {
        let Some(reply) = self.query(&["PUBSUB", "NUMSUB", channel]) else {
            return 0;
        };
        let text = String::from_utf8_lossy(&reply);
        text.lines()
            .rev()
            .find_map(|l| l.strip_prefix(':'))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits until `n` servers listen on the request channel of `/` (each subscribes to its
    /// patterns first, so they are listening to broadcasts too).
    pub fn wait_servers(&self, n: usize) {
        self.wait_servers_of(RedisAdapterKind::PubSub, n);
    }

    /// Waits until `n` servers of adapter `kind` listen to `/`: on the channel the adapter
    /// counts servers with, and for the streams adapter also blocked reading the stream (an
    /// entry appended before a server's first XREAD never reaches it, as with Node's).
    pub fn wait_servers_of(&self, kind: RedisAdapterKind, n: usize) {
        let channel = match kind {
            RedisAdapterKind::Streams => "socket.io#/#",
            _ => "socket.io-request#/#",
        };
        let ok = common::wait_until(Duration::from_secs(15), || {
            self.numsub(channel) == n
                && (kind != RedisAdapterKind::Streams || self.stream_readers() == n)
        });
        assert!(
            ok,
            "{n} servers never subscribed on redis port {}",
            self.port
        );
    }

    /// How many clients are blocked in XREAD.
    pub fn stream_readers(&self) -> usize {
        self.query(&["CLIENT", "LIST"]).map_or(0, |r| {
            String::from_utf8_lossy(&r).matches("cmd=xread").count()
        })
    }
}

/// Sends one command to the Redis on `port` and returns the raw reply (enough for the small
/// replies used here).
pub fn query(port: u16, args: &[&str]) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(cmd.as_bytes()).ok()?;
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Node server, killed by PID when dropped.
pub struct NodeServer {
    child: Child,
    pub addr: SocketAddr,
}

impl NodeServer {
    /// Runs `interop/<script> PORT <args>` and waits for its `listening PORT` line.
    pub fn start(script: &str, args: &[&str]) -> NodeServer {
        let dir = common::interop_dir();
        assert!(
            dir.join("node_modules/@socket.io/redis-adapter").exists(),
            "interop/node_modules lacks @socket.io/redis-adapter: run npm ci in interop/"
        );
        let port = common::free_port();
        let mut child = Command::new("node")
            .arg(dir.join(script))
            .arg(port.to_string())
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed to run interop tests");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            format!("listening {port}"),
            "node server did not start"
        );
        NodeServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NodeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Volley node on `redis` whose namespace `/` has: `join(room)` (ack true), `to(room,
/// payload)` (everyone in the room gets `news`), `shout(payload)` (everyone but the sender).
/// Server-side emits are recorded on `board` under `sse:<event>` and answered with
/// `"<name> got <event>"`.
pub fn volley_node(redis_url: &str, name: &'static str, board: Board) -> Server {
    volley_node_with(redis_url, name, board, |_| {})
}

/// [`volley_node`] with the Redis adapter `kind`.
pub fn volley_node_of(
    kind: RedisAdapterKind,
    redis_url: &str,
    name: &'static str,
    board: Board,
) -> Server {
    volley_node_with(redis_url, name, board, |c| c.redis_adapter = kind)
}

/// [`volley_node`] with more settings (`tweak` runs on its configuration last).
pub fn volley_node_with(
    redis_url: &str,
    name: &'static str,
    board: Board,
    tweak: impl FnOnce(&mut volley::config::Config),
) -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            tweak(c);
        })
        .redis(redis_url)
        .on_server_side_emit(move |nsp, event, args| {
            board.set(
                format!("sse:{event}"),
                format!("{nsp} {}", serde_json::json!(args)),
            );
            Some(serde_json::json!(format!("{name} got {event}")))
        })
        .namespace("/", |ns| {
            ns.on("join", |s, args| {
                let room: String = args.deserialize(0).ok()?;
                s.join(&room);
                Ack::one(&true).ok()
            });
            ns.on("to", |s, args| {
                let room: String = args.deserialize(0).ok()?;
                let payload: serde_json::Value = args.deserialize(1).ok()?;
                s.within(&room).emit("news", &[payload]).ok()?;
                None
            });
            ns.on("shout", |s, args| {
                let payload: serde_json::Value = args.deserialize(0).ok()?;
                s.broadcast().emit("news", &[payload]).ok()?;
                None
            });
        })
        .listen()
        .unwrap()
}

/// A client of `/` on `addr` (any Socket.IO server) that joined `room`; returns it and its id.
pub fn client_in(addr: std::net::SocketAddr, room: &str) -> (RawWs, String) {
    let (mut ws, sid) = RawWs::sio_connect(addr, "/");
    ws.send_text(&format!(r#"420["join","{room}"]"#));
    assert_eq!(ws.next_text(), "430[true]");
    (ws, sid)
}

/// Reads until a text message starting with `prefix` arrives (within 10 s); returns it.
pub fn expect_prefix(ws: &mut RawWs, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "no message starting with {prefix:?}"
        );
        let t = ws.next_text();
        if t.starts_with(prefix) {
            return t;
        }
    }
}

/// Asserts nothing but pings arrives within `wait`.
pub fn expect_silence(ws: &mut RawWs, wait: Duration) {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.read_within(left) {
            None => return,
            Some(common::Got::Text(t)) if t == "2" => ws.send_text("3"),
            Some(other) => panic!("expected nothing, got {other:?}"),
        }
    }
}

/// Emits `text` to room `r` from `from` until `to` gets it (within 15 s): the adapter's
/// reconnect is a matter of time, so the test waits for it rather than guessing how long.
pub fn until_delivered(from: &Server, to: &mut RawWs, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < deadline, "{text:?} never crossed nodes");
        from.handle().of("/").to("r").emit("news", &[text]).unwrap();
        match to.read_within(Duration::from_millis(300)) {
            // Under connection state recovery an offset follows the text.
            Some(common::Got::Text(t)) if t.starts_with(&format!(r#"42["news","{text}""#)) => {
                return
            }
            Some(common::Got::Text(t)) if t == "2" => to.send_text("3"),
            _ => {}
        }
    }
}
