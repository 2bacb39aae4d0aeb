//! The Redis adapter under faults: redis-server killed and restarted under two Volley nodes
//! (local delivery goes on, the metrics show the outage, requests fail fast with a typed error
//! naming the other node, the cluster heals), and a server that listens but never answers
//! (requests end at the requests timeout, naming it), a Redis that refuses the adapter, and a
//! peer that does not speak RESP.

mod common;
mod redis_common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{metric, metrics, Board};
use redis_common::{client_in, expect_prefix, until_delivered, Redis};
use volley::server::{Ack, RequestError, Server, SocketInfo};

/// The requests timeout of these nodes: short, so a missing server costs the test little.
const REQUESTS_TIMEOUT: Duration = Duration::from_millis(600);
/// What a request may take beyond its timeout (the adapter's sweep, thread hand-offs).
const SLACK: Duration = Duration::from_millis(700);

/// A node with metrics on `/metrics`, `requests_timeout` from the environment's variable (as
/// an operator sets it), `to(room, payload)` and `shout(payload)` events, and server-side
/// emits answered with `"<name> got <event>"` and recorded on `board`.
fn node(redis: &Redis, name: &'static str, board: Board) -> Server {
    let mut config = volley::config::Config::from_lookup(|var| {
        (var == "VOLLEY_REQUESTS_TIMEOUT_MS").then(|| REQUESTS_TIMEOUT.as_millis().to_string())
    })
    .unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.workers = 2;
    config.metrics_path = Some("/metrics".into());
    config.redis_url = Some(redis.url());
    Server::builder()
        .config(config)
        .on_server_side_emit(move |_, event, _| {
            board.set(format!("sse:{event}"), "1");
            Some(serde_json::json!(format!("{name} got {event}")))
        })
        .namespace("/", |ns| {
            ns.on("join", |s, args| {
                let room: String = args.deserialize(0).ok()?;
                s.join(&room);
                Ack::one(&true).ok()
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

/// Waits until the scraped metrics satisfy `ok`; panics with the last scrape otherwise.
fn wait_metrics(server: &Server, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = metrics(server.local_addr());
        if ok(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never {what}:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sorted_ids(sockets: &[SocketInfo]) -> Vec<String> {
    let mut ids: Vec<String> = sockets.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn redis_outage_is_visible_local_delivery_goes_on_and_the_cluster_heals() {
    let mut redis = Redis::start();
    let a = node(&redis, "a", Board::default());
    let b = node(&redis, "b", Board::default());
    redis.wait_servers(2);
    let b_uid = b.handle().cluster_uid().expect("b has a cluster uid");
    let (mut a1, a1_id) = client_in(a.local_addr(), "r");
    let (mut a2, a2_id) = client_in(a.local_addr(), "r");
    let (mut b1, b1_id) = client_in(b.local_addr(), "r");
    // Each node hears from the other, so it can name it later.
    until_delivered(&b, &mut a1, "from b");
    until_delivered(&a, &mut b1, "from a");
    let text = wait_metrics(&a, "connected", |t| {
        t.contains("volley_adapter_connected{link=\"publisher\"} 1")
            && t.contains("volley_adapter_connected{link=\"subscriber\"} 1")
    });
    assert_eq!(metric(&text, "volley_adapter_reconnects_total"), 0);
    assert_eq!(a.handle().stats().adapter_connected, Some(true));

    redis.stop();
    // Local delivery never waits on Redis: each emit arrives on this node's sockets now.
    for i in 0..5 {
        let text = format!("outage {i}");
        let want = format!(r#"42["news","{text}"]"#);
        // Exact prefixes skip the repeats `until_delivered` sent; a lost emit times out.
        a.handle().of("/").to("r").emit("news", &[&text]).unwrap();
        expect_prefix(&mut a1, &want);
        expect_prefix(&mut a2, &want);
        b.handle().of("/").to("r").emit("news", &[&text]).unwrap();
        expect_prefix(&mut b1, &want);
        a1.send_text(&format!(r#"42["shout","{text} from a1"]"#));
        expect_prefix(&mut a2, &format!(r#"42["news","{text} from a1"]"#));
    }
    let text = wait_metrics(&a, "disconnected", |t| {
        t.contains("volley_adapter_connected{link=\"publisher\"} 0")
            && t.contains("volley_adapter_connected{link=\"subscriber\"} 0")
    });
    let lost = metric(
        &text,
        "volley_adapter_errors_total{kind=\"connection_lost\"}",
    ) + metric(&text, "volley_adapter_errors_total{kind=\"connect\"}");
    assert!(lost >= 2, "both links failed:\n{text}");
    assert!(
        metric(&text, "volley_adapter_errors_total{kind=\"publish\"}") >= 1,
        "cross-node copies of the outage emits are dropped, and counted:\n{text}"
    );
    assert_eq!(a.handle().stats().adapter_connected, Some(false));

    // Requests fail at once, with this node's part and the node that was not asked.
    let started = Instant::now();
    match a
        .handle()
        .of("/")
        .to("r")
        .fetch_sockets(Duration::from_secs(5))
    {
        Err(RequestError::Unavailable { got, missing_nodes }) => {
            let mut want = vec![a1_id.clone(), a2_id.clone()];
            want.sort();
            assert_eq!(sorted_ids(&got), want);
            assert_eq!(missing_nodes, std::slice::from_ref(&b_uid));
        }
        other => panic!("expected Unavailable during the outage, got {other:?}"),
    }
    let emitted = a
        .handle()
        .server_side_emit_with_ack("/", "hello", &(), Duration::from_secs(5));
    match emitted {
        Err(e @ RequestError::Unavailable { .. }) => {
            assert_eq!(e.missing_nodes(), std::slice::from_ref(&b_uid));
        }
        other => panic!("expected Unavailable during the outage, got {other:?}"),
    }
    assert!(
        started.elapsed() < REQUESTS_TIMEOUT,
        "requests during an outage fail fast, took {:?}",
        started.elapsed()
    );

    redis.restart();
    redis.wait_servers(2);
    until_delivered(&b, &mut a1, "after restart");
    until_delivered(&a, &mut b1, "and back");
    let text = wait_metrics(&a, "reconnected", |t| {
        t.contains("volley_adapter_connected{link=\"publisher\"} 1")
            && t.contains("volley_adapter_connected{link=\"subscriber\"} 1")
    });
    assert!(
        metric(&text, "volley_adapter_reconnects_total") >= 2,
        "{text}"
    );
    let fetched = a
        .handle()
        .of("/")
        .to("r")
        .fetch_sockets(Duration::from_secs(5))
        .expect("every node answers once healed");
    let mut want = vec![a1_id, a2_id, b1_id];
    want.sort();
    assert_eq!(sorted_ids(&fetched), want);

    a.shutdown();
    b.shutdown();
}

/// A server that subscribes like a node and spoke once, then never answers (a hung process).
struct Ghost {
    _sub: TcpStream,
}

impl Ghost {
    const UID: &'static str = "ghost-node";

    fn join(redis: &Redis) -> Ghost {
        let mut sub = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
        let channel = "socket.io-request#/#";
        sub.write_all(
            format!(
                "*2\r\n$9\r\nSUBSCRIBE\r\n${}\r\n{channel}\r\n",
                channel.len()
            )
            .as_bytes(),
        )
        .unwrap();
        redis.wait_servers(3);
        let hello = format!(
            r#"{{"uid":"{}","type":6,"data":["ghost-hello"]}}"#,
            Ghost::UID
        );
        let reply = redis.query(&["PUBLISH", channel, &hello]).unwrap();
        assert!(reply.starts_with(b":"), "{reply:?}");
        Ghost { _sub: sub }
    }
}

#[test]
fn a_server_that_never_answers_is_named_within_the_requests_timeout() {
    let redis = Redis::start();
    let board_a = Board::default();
    let a = node(&redis, "a", board_a.clone());
    let b = node(&redis, "b", Board::default());
    redis.wait_servers(2);
    let (mut a1, a1_id) = client_in(a.local_addr(), "r");
    let (mut b1, b1_id) = client_in(b.local_addr(), "r");
    until_delivered(&b, &mut a1, "from b");
    until_delivered(&a, &mut b1, "from a");
    let _ghost = Ghost::join(&redis);
    assert!(
        board_a
            .wait("sse:ghost-hello", Duration::from_secs(5))
            .is_some(),
        "node a never heard from the ghost"
    );

    // The call allows 10 s; the requests timeout bounds the wait for the other servers.
    let started = Instant::now();
    match a
        .handle()
        .of("/")
        .to("r")
        .fetch_sockets(Duration::from_secs(10))
    {
        Err(RequestError::Timeout {
            got,
            missing,
            missing_nodes,
        }) => {
            let mut want = vec![a1_id, b1_id];
            want.sort();
            assert_eq!(sorted_ids(&got), want, "what came: a's and b's sockets");
            assert_eq!(missing, 1);
            assert_eq!(missing_nodes, [Ghost::UID]);
        }
        other => panic!("expected a timeout naming the ghost, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= REQUESTS_TIMEOUT && took < REQUESTS_TIMEOUT + SLACK,
        "fetch took {took:?}"
    );

    let started = Instant::now();
    let emitted = a
        .handle()
        .server_side_emit_with_ack("/", "hello", &(), Duration::from_secs(10));
    match emitted {
        Err(RequestError::Timeout {
            got,
            missing,
            missing_nodes,
        }) => {
            assert_eq!(got, [serde_json::json!("b got hello")]);
            assert_eq!(missing, 1);
            assert_eq!(missing_nodes, [Ghost::UID]);
        }
        other => panic!("expected a timeout naming the ghost, got {other:?}"),
    }
    assert!(started.elapsed() < REQUESTS_TIMEOUT + SLACK);

    // A broadcast with acks keeps its own timeout; the silent server is reported, not hidden.
    let (tx, rx) = crossbeam_channel::bounded(1);
    a.handle()
        .of("/")
        .to("r")
        .emit_with_ack("question", &["?"], REQUESTS_TIMEOUT, move |acks| {
            let _ = tx.send(acks);
        })
        .unwrap();
    for c in [&mut a1, &mut b1] {
        // Skips the repeats `until_delivered` sent.
        let q = loop {
            let t = expect_prefix(c, "42");
            if t.ends_with(r#"["question","?"]"#) {
                break t;
            }
        };
        let id: String = q[2..].chars().take_while(char::is_ascii_digit).collect();
        c.send_text(&format!(r#"43{id}["yes"]"#));
    }
    let acks = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("no ack callback");
    assert_eq!(acks.replies.len(), 2, "{acks:?}");
    assert_eq!((acks.no_reply, acks.missing_servers), (0, 1), "{acks:?}");

    // Garbage on the request channel is dropped and counted.
    let reply = redis.query(&["PUBLISH", "socket.io-request#/#", "{not json"]);
    assert!(reply.is_some());
    let text = wait_metrics(&a, "counted the malformed message", |t| {
        metric(t, "volley_adapter_errors_total{kind=\"malformed_message\"}") >= 1
    });
    assert_eq!(
        metric(
            &text,
            "volley_adapter_errors_total{kind=\"request_timeout\"}"
        ),
        3,
        "{text}"
    );
    // Redis never went away.
    assert_eq!(
        metric(
            &text,
            "volley_adapter_errors_total{kind=\"connection_lost\"}"
        ),
        0
    );

    a.shutdown();
    b.shutdown();
}

/// Sets (or, with `""`, clears) the password Redis wants from new connections, as an operator
/// would with `CONFIG SET requirepass`; `current` is the one it wants now.
fn set_password(redis: &Redis, current: Option<&str>, new: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut cmds = String::new();
    let mut cmd = |args: &[&str]| {
        cmds.push_str(&format!("*{}\r\n", args.len()));
        for a in args {
            cmds.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
    };
    if let Some(p) = current {
        cmd(&["AUTH", p]);
    }
    cmd(&["CONFIG", "SET", "requirepass", new]);
    s.write_all(cmds.as_bytes()).unwrap();
    let want = if current.is_some() {
        "+OK\r\n+OK\r\n"
    } else {
        "+OK\r\n"
    };
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < want.len() {
        let n = std::io::Read::read(&mut s, &mut buf).unwrap();
        assert!(n > 0, "redis closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8_lossy(&got), want);
}

#[test]
fn a_redis_that_refuses_the_adapter_is_counted_retried_with_backoff_and_healed() {
    let redis = Redis::start();
    set_password(&redis, None, "secret");
    // The node's URL has no password: Redis takes its connections and refuses its commands.
    let a = node(&redis, "a", Board::default());
    let (mut a1, _) = client_in(a.local_addr(), "r");
    let text = wait_metrics(&a, "counted the refusals", |t| {
        metric(t, "volley_adapter_errors_total{kind=\"subscribe\"}") >= 1
            && metric(t, "volley_adapter_errors_total{kind=\"connect\"}") >= 1
    });
    assert!(
        text.contains("volley_adapter_connected{link=\"subscriber\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("volley_adapter_connected{link=\"publisher\"} 0"),
        "{text}"
    );
    a.handle().of("/").to("r").emit("news", &["local"]).unwrap();
    assert_eq!(expect_prefix(&mut a1, "42"), r#"42["news","local"]"#);

    // Retries back off (to 2 s apart): over two seconds a handful, not a flood.
    let attempts = |t: &str| {
        metric(t, "volley_adapter_errors_total{kind=\"subscribe\"}")
            + metric(t, "volley_adapter_errors_total{kind=\"connect\"}")
    };
    let (before, started) = (attempts(&text), Instant::now());
    let text = wait_metrics(&a, "two seconds passed", |_| {
        started.elapsed() >= Duration::from_secs(2)
    });
    let more = attempts(&text) - before;
    assert!(more <= 12, "{more} attempts in {:?}", started.elapsed());

    set_password(&redis, Some("secret"), "");
    wait_metrics(&a, "reconnected", |t| {
        t.contains("volley_adapter_connected{link=\"publisher\"} 1")
            && t.contains("volley_adapter_connected{link=\"subscriber\"} 1")
    });
    redis.wait_servers(1);
    a.shutdown();
}

#[test]
fn a_peer_that_does_not_speak_resp_is_counted_as_malformed_replies() {
    // Something else listens where Redis should be, and answers every connection with noise.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let noise = std::thread::spawn(move || {
        let mut held = Vec::new();
        // One connection for each of the adapter's links; later ones are refused.
        for conn in listener.incoming().take(2) {
            let mut conn = conn.unwrap();
            let _ = conn.write_all(b"?not resp\r\n");
            held.push(conn);
        }
    });
    let a = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 1;
            c.metrics_path = Some("/metrics".into());
        })
        .redis(&format!("redis://127.0.0.1:{port}"))
        .namespace("/", |_| {})
        .listen()
        .unwrap();
    let text = wait_metrics(&a, "counted the noise", |t| {
        metric(t, "volley_adapter_errors_total{kind=\"malformed_reply\"}") >= 2
    });
    assert!(
        text.contains("volley_adapter_connected{link=\"subscriber\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("volley_adapter_connected{link=\"publisher\"} 0"),
        "{text}"
    );
    noise.join().unwrap();
    a.shutdown();
}
