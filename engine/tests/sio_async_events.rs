//! Asynchronous event handlers over raw WebSocket clients, one worker: the future's value is
//! the acknowledgement, what it emits arrives before it, the worker serves other sockets while
//! it waits, a `SocketRef` joins rooms and reads what the server knows of its socket, and a
//! server with asynchronous handlers but no runtime does not start.

mod common;

use std::time::Duration;

use common::RawWs;
use volley::server::{Ack, Server, ServerBuilder};

fn builder() -> ServerBuilder {
    common::async_builder()
}

fn server() -> Server {
    builder()
        .namespace("/", |ns| {
            // `lookup n`: after a 300 ms "query", reports progress, then acknowledges 2n.
            ns.on_async("lookup", |socket, args| async move {
                let n: i64 = args.arg(0).ok()?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                socket.emit("progress", &n).ok()?;
                Ack::one(&(2 * n)).ok()
            });
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            // `enter room`: joins it from the future, then acknowledges the rooms the
            // server now knows for the socket.
            ns.on_async("enter", |socket, args| async move {
                let room: String = args.arg(0).ok()?;
                socket.join(room.as_str());
                let info = socket.info(Duration::from_secs(2)).await?;
                let mut rooms = info.rooms;
                rooms.sort();
                Ack::one(&rooms).ok()
            });
        })
        .listen()
        .unwrap()
}

#[test]
fn the_future_acknowledges_after_what_it_emitted() {
    let server = server();
    let (mut ws, _) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text(r#"421["lookup",21]"#);
    assert_eq!(ws.next_text(), r#"42["progress",21]"#);
    assert_eq!(ws.next_text(), "431[42]");
    server.shutdown();
}

#[test]
fn the_worker_serves_others_while_a_future_waits() {
    let server = server();
    let (mut slow, _) = RawWs::sio_connect(server.local_addr(), "/");
    let (mut quick, _) = RawWs::sio_connect(server.local_addr(), "/");
    slow.send_text(r#"421["lookup",1]"#);
    // One worker: a handler blocking it would hold this echo back until the lookup is done.
    quick.send_text(r#"427["echo","now"]"#);
    assert_eq!(quick.next_text(), r#"437["now"]"#);
    assert!(
        slow.read_within(Duration::from_millis(50)).is_none(),
        "the slow reply came before the quick one"
    );
    assert_eq!(slow.next_text(), r#"42["progress",1]"#);
    assert_eq!(slow.next_text(), "431[2]");
    server.shutdown();
}

#[test]
fn a_socket_ref_joins_rooms_and_reads_its_socket() {
    let server = server();
    let (mut ws, sid) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text(r#"423["enter","lobby"]"#);
    let mut expected = vec![sid.clone(), "lobby".to_string()];
    expected.sort();
    assert_eq!(
        ws.next_text(),
        format!("433{}", serde_json::to_string(&[expected]).unwrap())
    );
    server
        .handle()
        .of("/")
        .to("lobby")
        .emit("news", "hi")
        .unwrap();
    assert_eq!(ws.next_text(), r#"42["news","hi"]"#);
    server.shutdown();
}

#[cfg(not(feature = "tokio"))]
#[test]
fn asynchronous_handlers_without_a_runtime_are_refused_at_listen() {
    let result = Server::builder()
        .configure(|c| c.listen = "127.0.0.1:0".parse().unwrap())
        .namespace("/", |ns| {
            ns.on_async("ev", |_, _| async { None });
        })
        .listen();
    match result {
        Err(volley::server::Error::Registration(message)) => {
            assert!(message.contains("spawner"), "{message}")
        }
        Err(e) => panic!("{e}"),
        Ok(server) => {
            server.shutdown();
            panic!("a server with async handlers and no spawner started");
        }
    }
}

#[cfg(feature = "tokio")]
#[test]
fn without_a_spawner_the_engine_starts_a_runtime() {
    let server = Server::builder()
        .configure(|c| c.listen = "127.0.0.1:0".parse().unwrap())
        .namespace("/", |ns| {
            ns.on_async("later", |_, _| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ack::one("done").ok()
            });
        })
        .listen()
        .unwrap();
    let (mut ws, _) = RawWs::sio_connect(server.local_addr(), "/");
    ws.send_text(r#"425["later"]"#);
    assert_eq!(ws.next_text(), r#"435["done"]"#);
    server.shutdown();
}
