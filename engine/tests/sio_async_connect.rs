//! Asynchronous connect middleware over a raw WebSocket client: a refusal reaches the client
//! as `connect_error`, a future that panics refuses the connect instead of leaving it waiting,
//! middleware of both kinds run in the order added with the data a future kept, and a server
//! with asynchronous middleware but no runtime to run it on does not start.

mod common;

use std::sync::{Arc, Mutex};

use common::RawWs;
use volley::server::{ConnectError, Server, ServerBuilder};

fn builder() -> ServerBuilder {
    common::async_builder()
}

/// Sends CONNECT for `nsp` on a fresh session and returns the server's answer packet.
fn connect_answer(server: &Server, nsp: &str) -> String {
    let (mut ws, _) = RawWs::eio_connect(server.local_addr(), "/socket.io/");
    ws.send_text(&format!("40{nsp},"));
    ws.next_text()
}

#[test]
fn a_refusal_from_a_future_is_a_connect_error() {
    let server = builder()
        .namespace("/no", |ns| {
            ns.middleware_async(|req| async move {
                Err(ConnectError::new(format!("no entry to {}", req.nsp())))
            });
        })
        .listen()
        .unwrap();
    assert_eq!(
        connect_answer(&server, "/no"),
        r#"44/no,{"message":"no entry to /no"}"#
    );
    server.shutdown();
}

#[test]
fn a_future_that_panics_refuses_the_connect() {
    let server = builder()
        .namespace("/boom", |ns| {
            ns.middleware_async(|_| async move {
                if true {
                    panic!("middleware bug");
                }
                Ok(())
            });
        })
        .listen()
        .unwrap();
    assert_eq!(
        connect_answer(&server, "/boom"),
        r#"44/boom,{"message":"connect middleware failed"}"#
    );
    server.shutdown();
}

#[test]
fn middleware_of_both_kinds_run_in_order_with_the_data_a_future_kept() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let (a, b, c) = (order.clone(), order.clone(), order.clone());
    let server = builder()
        .namespace("/mixed", move |ns| {
            ns.middleware(move |_, _| {
                a.lock().unwrap().push("sync 1".to_string());
                Ok(())
            });
            ns.middleware_async(move |req| {
                let b = b.clone();
                async move {
                    b.lock()
                        .unwrap()
                        .push(format!("async, auth {:?}", req.auth_json()));
                    req.set_data(String::from("kept"));
                    Ok(())
                }
            });
            ns.on_connect(move |s, _| {
                let kept = s.data::<String>().cloned().unwrap_or_default();
                c.lock().unwrap().push(format!("on_connect sees {kept}"));
                Ok(())
            });
        })
        .listen()
        .unwrap();
    let (mut ws, _) = RawWs::eio_connect(server.local_addr(), "/socket.io/");
    ws.send_text(r#"40/mixed,{"token":1}"#);
    let reply = ws.next_text();
    assert!(reply.starts_with("40/mixed,{\"sid\":"), "{reply}");
    assert_eq!(
        *order.lock().unwrap(),
        [
            "sync 1",
            r#"async, auth Some("{\"token\":1}")"#,
            "on_connect sees kept"
        ]
    );
    server.shutdown();
}

#[cfg(not(feature = "tokio"))]
#[test]
fn asynchronous_middleware_without_a_runtime_is_refused_at_listen() {
    let result = Server::builder()
        .configure(|c| c.listen = "127.0.0.1:0".parse().unwrap())
        .namespace("/", |ns| {
            ns.middleware_async(|_| async { Ok(()) });
        })
        .listen();
    match result {
        Err(volley::server::Error::Registration(message)) => {
            assert!(message.contains("spawner"), "{message}")
        }
        Err(e) => panic!("{e}"),
        Ok(server) => {
            server.shutdown();
            panic!("a server with async middleware and no spawner started");
        }
    }
}
