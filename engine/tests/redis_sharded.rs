//! The sharded adapter on a real 3-node Redis Cluster, in a mixed cluster: a Volley node with
//! `VOLLEY_REDIS_ADAPTER=sharded` and a Node `socket.io` server with `createShardedAdapter`
//! and the `redis` v4 cluster client (interop/redis_sharded_node_server.mjs), in each
//! subscription mode. Broadcasts (to all, to rooms, to a socket id, with except), binary
//! arguments, fetchSockets and server-side emits cross both ways.

mod common;
mod redis_common;

use std::time::Duration;

use common::{Board, Got};
use redis_common::cluster::Cluster;
use redis_common::{client_in, expect_prefix, expect_silence, volley_node_with, NodeServer};
use volley::config::{RedisAdapterKind, SubscriptionMode};

fn mixed_cluster(mode: SubscriptionMode, mode_name: &str) {
    let cluster = Cluster::start(3);
    let urls = cluster.urls();
    let board = Board::default();
    let v = volley_node_with(&urls, "volley", board.clone(), |c| {
        c.redis_adapter = RedisAdapterKind::Sharded;
        c.redis_subscription_mode = mode;
    });
    let n = NodeServer::start("redis_sharded_node_server.mjs", &[mode_name, &urls]);
    cluster.wait_subscribers("socket.io#/#", 2);
    let (mut cv, cv_id) = client_in(v.local_addr(), "r");
    let (mut cv2, _) = client_in(v.local_addr(), "other");
    let (mut cn, cn_id) = client_in(n.addr, "r");
    let (mut cn2, _) = client_in(n.addr, "other");
    let room_subscribers = if mode == SubscriptionMode::Static {
        0
    } else {
        2
    };
    cluster.wait_subscribers("socket.io#/#r#", room_subscribers);
    if mode == SubscriptionMode::DynamicPrivate {
        cluster.wait_subscribers(&format!("socket.io#/#{cv_id}#"), 1);
        cluster.wait_subscribers(&format!("socket.io#/#{cn_id}#"), 1);
    }

    // Volley -> Node: a room broadcast from a Volley handler.
    cv.send_text(r#"42["to","r","from volley"]"#);
    assert_eq!(expect_prefix(&mut cv, "42"), r#"42["news","from volley"]"#);
    assert_eq!(expect_prefix(&mut cn, "42"), r#"42["news","from volley"]"#);
    expect_silence(&mut cn2, Duration::from_millis(200));

    // Node -> Volley: io.to(room), and socket.broadcast (everyone but the sender).
    cn.send_text(r#"42["to","r","from node"]"#);
    assert_eq!(expect_prefix(&mut cn, "42"), r#"42["news","from node"]"#);
    assert_eq!(expect_prefix(&mut cv, "42"), r#"42["news","from node"]"#);
    expect_silence(&mut cv2, Duration::from_millis(200));
    cn.send_text(r#"42["shout","node shout"]"#);
    for c in [&mut cv, &mut cv2, &mut cn2] {
        assert_eq!(expect_prefix(c, "42"), r#"42["news","node shout"]"#);
    }
    expect_silence(&mut cn, Duration::from_millis(200));

    // With except, both ways.
    v.handle()
        .of("/")
        .except("r")
        .emit("news", &["not r"])
        .unwrap();
    assert_eq!(expect_prefix(&mut cv2, "42"), r#"42["news","not r"]"#);
    assert_eq!(expect_prefix(&mut cn2, "42"), r#"42["news","not r"]"#);
    cn.send_text(r#"42["except","other","node not other"]"#);
    assert_eq!(
        expect_prefix(&mut cv, "42"),
        r#"42["news","node not other"]"#
    );
    assert_eq!(
        expect_prefix(&mut cn, "42"),
        r#"42["news","node not other"]"#
    );
    expect_silence(&mut cv2, Duration::from_millis(200));
    expect_silence(&mut cn2, Duration::from_millis(200));

    // To one socket by id, both ways (its own channel in dynamic-private).
    v.handle()
        .of("/")
        .to(cn_id.as_str())
        .emit("news", &["to cn"])
        .unwrap();
    assert_eq!(expect_prefix(&mut cn, "42"), r#"42["news","to cn"]"#);
    cn.send_text(&format!(r#"42["to","{cv_id}","to cv"]"#));
    assert_eq!(expect_prefix(&mut cv, "42"), r#"42["news","to cv"]"#);

    // A binary argument from Node: msgpack on the wire.
    cn.send_text(r#"42["bin","r"]"#);
    assert_eq!(
        expect_prefix(&mut cv, "45"),
        r#"451-["bin",{"_placeholder":true,"num":0},"tail"]"#
    );
    assert_eq!(cv.read(), Got::Binary(vec![1, 2, 3]));
    expect_prefix(&mut cn, "45");
    assert_eq!(cn.read(), Got::Binary(vec![1, 2, 3]));

    // fetchSockets both ways.
    let mut ids: Vec<String> = v
        .handle()
        .of("/")
        .to("r")
        .fetch_sockets(Duration::from_secs(3))
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    let mut want = vec![cv_id.clone(), cn_id.clone()];
    want.sort();
    assert_eq!(ids, want);
    cn.send_text(r#"421["fetch","r"]"#);
    let got = expect_prefix(&mut cn, "431");
    assert_eq!(got, format!("431[{}]", serde_json::json!(want)));

    // Server-side emits both ways.
    let answers = v
        .handle()
        .server_side_emit_with_ack("/", "hello", &(1, "two"), Duration::from_secs(3))
        .unwrap();
    assert_eq!(answers, vec![serde_json::json!("node got hello 1 two")]);
    cn.send_text(r#"422["sse"]"#);
    assert_eq!(
        expect_prefix(&mut cn, "432"),
        r#"432[["volley got hello"]]"#
    );
    assert_eq!(board.get("sse:hello").as_deref(), Some(r#"/ [1,"two"]"#));

    // A room's channel is given up with its last member.
    if mode != SubscriptionMode::Static {
        drop((cv, cn));
        cluster.wait_subscribers("socket.io#/#r#", 0);
    }
}

#[test]
fn static_mode_crosses_both_ways() {
    mixed_cluster(SubscriptionMode::Static, "static");
}

#[test]
fn dynamic_mode_crosses_both_ways() {
    mixed_cluster(SubscriptionMode::Dynamic, "dynamic");
}

#[test]
fn dynamic_private_mode_crosses_both_ways() {
    mixed_cluster(SubscriptionMode::DynamicPrivate, "dynamic-private");
}

/// A resharding moves the slot of the namespace channel to another node: the old owner drops
/// the subscriptions (`sunsubscribe`) and answers SPUBLISH with MOVED; both Volley nodes follow
/// to the new owner and broadcasts cross again.
#[test]
fn slot_moves_are_followed() {
    let cluster = Cluster::start(3);
    let urls = cluster.urls();
    let tweak = |c: &mut volley::config::Config| {
        c.redis_adapter = RedisAdapterKind::Sharded;
        c.redis_subscription_mode = SubscriptionMode::Static;
    };
    let a = volley_node_with(&urls, "a", Board::default(), tweak);
    let b = volley_node_with(&urls, "b", Board::default(), tweak);
    cluster.wait_subscribers("socket.io#/#", 2);
    let (mut cb, _) = client_in(b.local_addr(), "r");
    redis_common::until_delivered(&a, &mut cb, "before");
    let channel = "socket.io#/#";
    let from = cluster.owner(channel);
    let to = *cluster.ports.iter().find(|p| **p != from).unwrap();
    cluster.move_slot(channel, to);
    assert_eq!(cluster.owner(channel), to);
    redis_common::until_delivered(&a, &mut cb, "after");
    cluster.wait_subscribers("socket.io#/#", 2);
}

/// Broadcasts per second from one Volley node to a client of another, through the classic
/// adapter on one Redis and through the sharded adapter on a 3-node cluster. A measurement,
/// not part of the suite (benches/RESULTS.md):
/// `cargo test --release -p volley --test redis_sharded -- --ignored --nocapture`.
#[test]
#[ignore]
fn broadcast_throughput() {
    const N: usize = 50_000;
    let measure = |name: &str, url: &str, sharded: bool| {
        let tweak = |c: &mut volley::config::Config| {
            if sharded {
                c.redis_adapter = RedisAdapterKind::Sharded;
            }
        };
        let a = volley_node_with(url, "a", Board::default(), tweak);
        let b = volley_node_with(url, "b", Board::default(), tweak);
        let (mut cb, _) = client_in(b.local_addr(), "r");
        redis_common::until_delivered(&a, &mut cb, "warm");
        let start = std::time::Instant::now();
        let mut last = start;
        let sender = std::thread::spawn(move || {
            for i in 0..N {
                a.handle().of("/").to("r").emit("news", &[i]).unwrap();
            }
            a
        });
        let mut got = 0;
        while got < N {
            match cb.read_within(Duration::from_secs(2)) {
                Some(Got::Text(t)) if t.starts_with(r#"42["news","#) => {
                    got += 1;
                    last = std::time::Instant::now();
                }
                Some(Got::Text(t)) if t == "2" => cb.send_text("3"),
                Some(_) => {}
                None => break,
            }
        }
        drop(sender.join());
        let secs = (last - start).as_secs_f64();
        println!(
            "{name}: {got} of {N} broadcasts crossed in {secs:.2} s: {:.0}/s",
            got as f64 / secs
        );
        assert!(got > 0, "nothing crossed");
    };
    let redis = redis_common::Redis::start();
    measure("pubsub (1 redis)", &redis.url(), false);
    let cluster = Cluster::start(3);
    measure("sharded (3-node cluster)", &cluster.urls(), true);
}
