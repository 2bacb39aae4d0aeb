//! Connection state recovery across a mixed Redis Streams cluster (issue 21): two Volley nodes
//! (engine/examples/recovery.rs with `VOLLEY_REDIS_ADAPTER=streams`) and two Node `socket.io`
//! servers with `@socket.io/redis-streams-adapter` and `connectionStateRecovery`
//! (interop/redis_node_server.mjs) on one real `redis-server`. The stock socket.io-client
//! (interop/redis_recovery.mjs) reaches them through a TCP proxy: it loses its node (dropped,
//! or the node stops), misses broadcasts, and comes back on another node with its id, rooms,
//! data and the missed broadcasts in order, Volley to Volley, Node to Volley and Volley to Node.
//! With Redis gone, a returning client gets a fresh session at once, and the failure is counted.

mod common;
mod redis_common;

use std::time::{Duration, Instant};

use common::{metric, metrics, Board, RawWs};
use redis_common::{volley_node_with, NodeServer, Redis};
use volley::config::RedisAdapterKind;

fn volley(redis: &Redis) -> common::ServerProcess {
    common::ServerProcess::start(
        "recovery",
        &[
            ("VOLLEY_RECOVERY_MS", "60000"),
            ("VOLLEY_REDIS_URL", &redis.url()),
            ("VOLLEY_REDIS_ADAPTER", "streams"),
            ("VOLLEY_WORKERS", "2"),
        ],
    )
}

#[test]
fn the_stock_client_recovers_on_another_node_volley_or_node() {
    let redis = Redis::start();
    let v1 = volley(&redis);
    let v2 = volley(&redis);
    let node = || {
        NodeServer::start(
            "redis_node_server.mjs",
            &[&redis.url(), "streams", "recovery"],
        )
    };
    let (n1, n2) = (node(), node());
    redis.wait_servers_of(RedisAdapterKind::Streams, 4);
    let ports = [
        v1.addr.port(),
        v2.addr.port(),
        n1.addr.port(),
        n2.addr.port(),
    ];
    let [v1_port, v2_port, n1_port, n2_port] = ports.map(|p| p.to_string());
    let out = common::run_node(
        "redis_recovery.mjs",
        &[
            &v1_port,
            &v1.pid().to_string(),
            &v2_port,
            &n1_port,
            &n1.pid().to_string(),
            &n2_port,
        ],
    );
    common::assert_cases(
        &out,
        &[
            "a client of a Volley node recovers on another Volley node",
            "a client of a Node node that stops recovers on a Volley node",
            "a client of a Volley node that stops recovers on a Node node",
        ],
    );
}

/// The `(sid, pid)` of a CONNECT reply.
fn ids(reply: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(reply.strip_prefix("40").unwrap()).unwrap();
    (
        v["sid"].as_str().unwrap().into(),
        v["pid"].as_str().unwrap().into(),
    )
}

#[test]
fn without_redis_a_returning_client_gets_a_fresh_session_at_once() {
    let mut redis = Redis::start();
    let server = volley_node_with(&redis.url(), "v", Board::default(), |c| {
        c.redis_adapter = RedisAdapterKind::Streams;
        c.recovery = Duration::from_secs(60);
        c.metrics_path = Some("/metrics".into());
    });
    redis.wait_servers_of(RedisAdapterKind::Streams, 1);
    let (mut ws, _) = RawWs::eio_connect(server.local_addr(), "/socket.io/");
    ws.send_text("40");
    let (sid, pid) = ids(&ws.next_text());
    drop(ws);
    // Lost with "transport close": kept in Redis as Node keeps it, for the window.
    let key = format!("sio:session:{pid}");
    let kept = || redis.query(&["PTTL", &key]).unwrap_or_default();
    assert!(
        common::wait_until(Duration::from_secs(5), || kept().starts_with(b":5")),
        "session {key} not SET with PX 60000: {:?}",
        String::from_utf8_lossy(&kept())
    );

    redis.stop();
    let started = Instant::now();
    let (mut ws, _) = RawWs::eio_connect(server.local_addr(), "/socket.io/");
    ws.send_text(&format!(r#"40{{"pid":"{pid}","offset":"1-0"}}"#));
    let (sid2, pid2) = ids(&ws.next_text());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_ne!((sid2.as_str(), pid2.as_str()), (sid.as_str(), pid.as_str()));
    let text = metrics(server.local_addr());
    assert!(
        metric(&text, "volley_adapter_errors_total{kind=\"recovery\"}") >= 1,
        "the failed restore is counted:\n{text}"
    );
}
