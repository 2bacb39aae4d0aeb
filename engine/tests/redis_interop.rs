//! A mixed cluster on one real `redis-server`: a Volley node and a Node `socket.io` server with
//! `@socket.io/redis-adapter`, then with `@socket.io/redis-streams-adapter`
//! (interop/redis_node_server.mjs). Broadcasts, binary arguments, fetchSockets, socketsJoin,
//! broadcasts with acks and server-side emits cross both ways.

mod common;
mod redis_common;

use std::time::Duration;

use common::{Board, Got};
use redis_common::{client_in, expect_prefix, expect_silence, volley_node_of, NodeServer, Redis};
use volley::config::RedisAdapterKind;

fn ack_id(packet: &str) -> String {
    packet
        .strip_prefix("42")
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

#[test]
fn volley_and_node_servers_share_one_redis_cluster() {
    mixed_cluster(RedisAdapterKind::PubSub);
}

#[test]
fn volley_and_node_servers_share_one_redis_streams_cluster() {
    mixed_cluster(RedisAdapterKind::Streams);
}

fn mixed_cluster(kind: RedisAdapterKind) {
    let redis = Redis::start();
    let board = Board::default();
    let v = volley_node_of(kind, &redis.url(), "volley", board.clone());
    let adapter = match kind {
        RedisAdapterKind::Streams => "streams",
        _ => "pubsub",
    };
    let n = NodeServer::start("redis_node_server.mjs", &[&redis.url(), adapter]);
    redis.wait_servers_of(kind, 2);
    let (mut cv, cv_id) = client_in(v.local_addr(), "r");
    let (mut cn, cn_id) = client_in(n.addr, "r");
    let (mut cn2, _) = client_in(n.addr, "other");

    // Volley -> Node: a room broadcast from a Volley handler.
    cv.send_text(r#"42["to","r","from volley"]"#);
    assert_eq!(expect_prefix(&mut cv, "42"), r#"42["news","from volley"]"#);
    assert_eq!(expect_prefix(&mut cn, "42"), r#"42["news","from volley"]"#);
    expect_silence(&mut cn2, Duration::from_millis(300));

    // Node -> Volley: io.to(room) and socket.broadcast.
    cn.send_text(r#"42["to","r","from node"]"#);
    assert_eq!(expect_prefix(&mut cn, "42"), r#"42["news","from node"]"#);
    assert_eq!(expect_prefix(&mut cv, "42"), r#"42["news","from node"]"#);
    cn.send_text(r#"42["shout","node shout"]"#);
    assert_eq!(expect_prefix(&mut cv, "42"), r#"42["news","node shout"]"#);
    assert_eq!(expect_prefix(&mut cn2, "42"), r#"42["news","node shout"]"#);
    expect_silence(&mut cn, Duration::from_millis(300));

    // Volley's handle -> Node, and a binary argument from Node -> Volley.
    v.handle()
        .of("/")
        .except("r")
        .emit("news", &["not r"])
        .unwrap();
    assert_eq!(expect_prefix(&mut cn2, "42"), r#"42["news","not r"]"#);
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
    let listed: serde_json::Value = serde_json::from_str(&got[3..]).unwrap();
    let entries = listed[0].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{got}");
    let ours = entries.iter().find(|e| e[0] == cv_id.as_str()).expect(&got);
    // Rooms are a set: their order is not part of the protocol.
    let mut rooms: Vec<String> = serde_json::from_value(ours[1].clone()).unwrap();
    rooms.sort();
    let mut want_rooms = vec![cv_id.clone(), "r".to_string()];
    want_rooms.sort();
    assert_eq!(rooms, want_rooms);
    assert!(
        ours[2].as_str().unwrap().starts_with("/socket.io/?EIO=4"),
        "{got}"
    );

    // socketsJoin from Node applies on Volley.
    cn.send_text(r#"422["join-all","r","vip"]"#);
    assert_eq!(expect_prefix(&mut cn, "432"), "432[true]");
    let joined = common::wait_until(Duration::from_secs(5), || {
        v.handle()
            .of("/")
            .to("vip")
            .local()
            .count(Duration::from_secs(1))
            == 1
    });
    assert!(joined, "the Volley socket never joined vip");

    // A broadcast with acks from Volley is acknowledged by the Node server's client.
    let (tx, rx) = crossbeam_channel::bounded(1);
    v.handle()
        .of("/")
        .to("vip")
        .emit_with_ack("question", &["?"], Duration::from_secs(3), move |acks| {
            let _ = tx.send(acks);
        })
        .unwrap();
    for (c, answer) in [(&mut cv, "cv"), (&mut cn, "cn")] {
        let q = expect_prefix(c, "42");
        assert!(q.ends_with(r#"["question","?"]"#), "{q}");
        c.send_text(&format!(r#"43{}["{answer}"]"#, ack_id(&q)));
    }
    let mut acks = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("no ack callback");
    acks.replies.sort();
    assert_eq!(
        acks.replies,
        vec![
            (String::new(), br#"["cn"]"#.to_vec()),
            (cv_id.clone(), br#"["cv"]"#.to_vec()),
        ]
    );
    assert_eq!(acks.no_reply, 0);

    // A broadcast with acks from Node is acknowledged by Volley's client.
    cn.send_text(r#"423["ask","r"]"#);
    for (c, answer) in [(&mut cv, "cv"), (&mut cn, "cn")] {
        let q = expect_prefix(c, "42");
        assert!(q.ends_with(r#"["question","?"]"#), "{q}");
        c.send_text(&format!(r#"43{}["{answer}"]"#, ack_id(&q)));
    }
    assert_eq!(expect_prefix(&mut cn, "433"), r#"433[["cn","cv"]]"#);

    // Server-side emits both ways.
    let answers = v
        .handle()
        .server_side_emit_with_ack("/", "hello", &(1, "two"), Duration::from_secs(3))
        .unwrap();
    assert_eq!(answers, vec![serde_json::json!("node got hello 1 two")]);
    cn.send_text(r#"424["sse"]"#);
    assert_eq!(
        expect_prefix(&mut cn, "434"),
        r#"434[["volley got hello"]]"#
    );
    assert_eq!(board.get("sse:hello").as_deref(), Some(r#"/ [1,"two"]"#));
    assert_eq!(
        board
            .wait("sse:plain-from-node", Duration::from_secs(5))
            .as_deref(),
        Some(r#"/ ["x"]"#)
    );
    if kind == RedisAdapterKind::Streams {
        // The broadcasts and the socketsJoin went through the stream: both servers' entries.
        let len = redis.query(&["XLEN", "socket.io"]).unwrap();
        let len: usize = String::from_utf8_lossy(&len[1..]).trim().parse().unwrap();
        assert!(len >= 6, "{len} entries in the stream");
    }

    v.shutdown();
}
