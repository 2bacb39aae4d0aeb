//! Connection state recovery across a mixed Redis Streams cluster (issue 21): two Volley nodes
//! (engine/examples/recovery.rs with `VOLLEY_REDIS_ADAPTER=streams`) and two Node `socket.io`
//! servers with `@socket.io/redis-streams-adapter` and `connectionStateRecovery`
//! (interop/redis_node_server.mjs) on one real `redis-server`. The stock socket.io-client
//! (interop/redis_recovery.mjs) reaches them through a TCP proxy: it loses its node (dropped,
//! or the node stops), misses broadcasts, and comes back on another node with its id, rooms,
//! data and the missed broadcasts in order, Volley to Volley, Node to Volley and Volley to Node.

mod common;
mod redis_common;

use redis_common::{NodeServer, Redis};
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
