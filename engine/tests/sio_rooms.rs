//! Rooms, broadcast fan-out across workers, broadcast with acks, the server handle (from other
//! threads) and statistics, driven by the official socket.io-client (interop/sio_rooms.mjs).

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use volley::server::{Ack, Counter, Placeholder, Server, ServerHandle};

fn start(handle_slot: Arc<OnceLock<ServerHandle>>) -> Server {
    let h = handle_slot.clone();
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 4;
            c.metrics_path = Some("/metrics".into());
        })
        .namespace("/", move |ns| {
            ns.on("join", |s, args| {
                let room: String = args.deserialize(0).ok()?;
                s.join(&room);
                Ack::one(&true).ok()
            });
            ns.on("leave", |s, args| {
                let room: String = args.deserialize(0).ok()?;
                s.leave(&room);
                Ack::one(&true).ok()
            });
            ns.on("rooms", |s, _| Ack::one(&s.rooms()).ok());
            ns.on("to", |s, args| {
                let rooms: Vec<String> = args.deserialize(0).ok()?;
                let except: Vec<String> = args.deserialize(1).ok()?;
                let payload: serde_json::Value = args.deserialize(2).ok()?;
                let mut b = s.broadcast();
                for r in &rooms {
                    b = b.to(r);
                }
                for r in &except {
                    b = b.except(r);
                }
                Ack::one(&b.emit("msg", &[payload]).ok()?).ok()
            });
            ns.on("within", |s, args| {
                let room: String = args.deserialize(0).ok()?;
                let payload: serde_json::Value = args.deserialize(1).ok()?;
                Ack::one(&s.within(&room).emit("msg", &[payload]).ok()?).ok()
            });
            ns.on("bin-within", |s, args| {
                // A binary broadcast: header then attachment, never split by other emits.
                let room: String = args.deserialize(0).ok()?;
                let n: u8 = args.deserialize(1).ok()?;
                let data = bytes::Bytes::from(vec![n; 1000 + n as usize]);
                s.within(&room).emit_binary("bin", &(Placeholder::new(0), n), &[data]).ok()?;
                None
            });
            ns.on("everyone", |s, args| {
                let payload: serde_json::Value = args.deserialize(0).ok()?;
                s.everyone().emit("msg", &[payload]).ok()?;
                None
            });
            let h2 = h.clone();
            ns.on("ask-room", move |s, args| {
                let room: String = args.deserialize(0).ok()?;
                let asker = s.id().to_string();
                let handle = h2.get()?.clone();
                s.within(&room)
                    .emit_with_ack("question", &["ping"], Duration::from_millis(800), move |acks| {
                        let mut replies: Vec<serde_json::Value> = acks
                            .replies
                            .iter()
                            .map(|(_, json)| serde_json::from_slice(json).unwrap_or_default())
                            .collect();
                        replies.sort_by_key(|v| v.to_string());
                        let _ = handle.emit_to("/", &asker, "acks", &[serde_json::json!({"replies": replies, "noReply": acks.no_reply})]);
                    })
                    .ok()?;
                None
            });
            let h3 = h.clone();
            ns.on("handle-ops", move |s, args| {
                // Runs the handle from another thread, as an application's own code would.
                let (from, to): (String, String) = (args.deserialize(0).ok()?, args.deserialize(1).ok()?);
                let handle = h3.get()?.clone();
                let ack = s.ack_later()?;
                std::thread::spawn(move || {
                    let ns = handle.of("/");
                    let before = ns.clone().to(&from).count(Duration::from_secs(2));
                    ns.clone().to(&from).sockets_join(&to);
                    let fetched = ns
                        .clone()
                        .to(&to)
                        .fetch_sockets(Duration::from_secs(2))
                        .unwrap();
                    let _ = ns.clone().to(&to).emit("msg", &["from the handle"]);
                    let mut ids: Vec<String> = fetched.iter().map(|s| s.id.clone()).collect();
                    ids.sort();
                    let rooms_ok = fetched.iter().all(|s| s.rooms.contains(&to) && s.rooms[0] == s.id);
                    ns.clone().to(&to).sockets_leave(&to);
                    let after = ns.clone().to(&to).count(Duration::from_secs(2));
                    ack.send(Ack::one(&serde_json::json!({"before": before, "ids": ids, "roomsOk": rooms_ok, "after": after})).unwrap());
                });
                None
            });
            let h4 = h.clone();
            ns.on("kick-room", move |_, args| {
                let room: String = args.deserialize(0).ok()?;
                h4.get()?.of("/").to(&room).disconnect_sockets(false);
                None
            });
        })
        .listen()
        .unwrap();
    let _ = handle_slot.set(server.handle());
    server
}

#[test]
fn rooms_broadcast_and_handle_with_socket_io_client() {
    let slot = Arc::new(OnceLock::new());
    let server = start(slot.clone());
    let url = format!("http://{}", server.local_addr());
    let out = common::run_node("sio_rooms.mjs", &[&url]);
    common::assert_cases(
        &out,
        &[
            "members of a room get one copy, others none",
            "socket.to leaves the sender out",
            "several rooms: union without duplicates",
            "except leaves out a room",
            "broadcast from a socket reaches all but itself",
            "leaving stops delivery at once",
            "broadcast with acks collects replies and counts the silent",
            "handle from another thread: count, join, fetch, emit, leave",
            "disconnect_sockets through the handle",
            "rooms over polling and websocket together",
            "binary broadcasts keep their attachments with their header",
        ],
    );
    let stats = server.handle().stats();
    assert!(stats.get(Counter::Broadcasts) > 5, "{stats:?}");
    assert!(stats.get(Counter::Deliveries) > 10, "{stats:?}");
    assert!(stats.get(Counter::DisconnectServer) >= 1, "{stats:?}");
    let (status, _, body) = common::http_exchange(
        server.local_addr(),
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("volley_broadcasts_total{worker=\"0\"}"));
    server.shutdown();
}

#[test]
fn two_thousand_clients_concurrent_emitters_exact_counts_and_order() {
    let slot = Arc::new(OnceLock::new());
    let server = start(slot.clone());
    let handle = slot.get().unwrap().clone();
    let url = format!("http://{}", server.local_addr());
    // The node script connects 2000 clients, then starts two in-handler emitters; this thread
    // emits a third numbered stream through the handle once it sees the clients are in.
    let emitter = std::thread::spawn(move || {
        let ns = handle.of("/");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while ns.clone().to("all").count(Duration::from_secs(2)) < 2000 {
            assert!(
                std::time::Instant::now() < deadline,
                "clients never all joined"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        for i in 0..100 {
            ns.clone().to("all").emit("seq", &("handle", i)).unwrap();
        }
    });
    let out = common::run_node("sio_fanout.mjs", &[&url, "2000", "100"]);
    emitter.join().unwrap();
    common::assert_cases(
        &out,
        &["2000 clients got every message of every sender exactly once, in order"],
    );
    server.shutdown();
}

#[test]
fn a_join_in_on_connect_sticks_and_rooms_has_the_own_id() {
    // The README's first example: `socket.join("lobby")` inside `on_connect`.
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
        })
        .namespace("/", |ns| {
            ns.on_connect(|socket, _| {
                socket.join("lobby");
                let rooms = socket.rooms();
                socket.emit("rooms", &[rooms]).unwrap();
                Ok(())
            });
        })
        .listen()
        .unwrap();
    let (mut ws, sid) = common::RawWs::sio_connect(server.local_addr(), "/");
    assert_eq!(
        ws.next_text(),
        format!("42[\"rooms\",[\"{sid}\",\"lobby\"]]"),
        "rooms() inside on_connect"
    );
    let handle = server.handle();
    let lobby = handle.of("/").to("lobby");
    assert_eq!(lobby.count(Duration::from_secs(2)), 1);
    lobby.emit("news", &["hello"]).unwrap();
    assert_eq!(ws.next_text(), "42[\"news\",\"hello\"]");
    server.shutdown();
}
