//! Registration as the reference's `EventEmitter` has it: a reserved event name given to `ns.on`
//! is an error from `listen()` (never a handler that silently never runs); a namespace
//! registered twice is one namespace with every handler; several handlers for one event all
//! run, in order; and what a socket keeps with `set_data` (and its auth) is what
//! `fetch_sockets` reports.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::RawWs;
use volley::server::{Ack, Error, Server};

fn builder() -> volley::server::ServerBuilder {
    Server::builder().configure(|c| {
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.workers = 2;
    })
}

#[test]
fn reserved_event_names_are_refused_at_registration() {
    for name in ["disconnect", "connect", "disconnecting", "newListener"] {
        let result = builder()
            .namespace("/chat", |ns| {
                ns.on(name, |_, _| None);
            })
            .listen();
        match result {
            Err(Error::Registration(message)) => {
                assert!(
                    message.contains("/chat") && message.contains(name),
                    "{message}"
                );
            }
            Err(e) => panic!("{name}: {e}"),
            Ok(server) => {
                server.shutdown();
                panic!("ns.on({name:?}) was accepted");
            }
        }
    }
}

#[test]
fn a_namespace_registered_twice_keeps_every_handler_in_order() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (order.clone(), order.clone());
    let server = builder()
        .namespace("/twice", move |ns| {
            ns.on("hit", move |_, _| {
                a.lock().unwrap().push("first");
                None
            });
        })
        .namespace("twice", move |ns| {
            ns.on("hit", move |_, _| {
                b.lock().unwrap().push("second");
                Ack::new(&"answered").ok()
            });
        })
        .listen()
        .unwrap();
    let (mut ws, _) = RawWs::sio_connect(server.local_addr(), "/twice");
    ws.send_text(r#"42/twice,1["hit"]"#);
    assert_eq!(ws.next_text(), r#"43/twice,1["answered"]"#);
    assert_eq!(*order.lock().unwrap(), ["first", "second"]);
    server.shutdown();
}

#[test]
fn fetch_sockets_reports_data_and_auth() {
    #[derive(serde::Serialize)]
    struct User {
        name: String,
        visits: u32,
    }
    let server = builder()
        .namespace("/", |ns| {
            ns.middleware(|s, auth| {
                let name = auth
                    .and_then(|a| a.deserialize::<serde_json::Value>().ok())
                    .and_then(|a| a["name"].as_str().map(String::from))
                    .unwrap_or_default();
                s.set_data(User { name, visits: 0 });
                Ok(())
            });
            ns.on("visit", |s, _| {
                let user = s.data_mut::<User>()?;
                user.visits += 1;
                Ack::new(&user.visits).ok()
            });
        })
        .listen()
        .unwrap();
    let (mut ws, _) = RawWs::eio_connect(server.local_addr(), "/socket.io/");
    ws.send_text(r#"40{"name":"ann"}"#);
    let reply = ws.next_text();
    assert!(reply.starts_with("40{\"sid\":"), "{reply}");
    ws.send_text(r#"421["visit"]"#);
    assert_eq!(ws.next_text(), "431[1]");
    let sockets = server
        .handle()
        .of("/")
        .fetch_sockets(Duration::from_secs(2))
        .unwrap();
    assert_eq!(sockets.len(), 1);
    assert_eq!(
        sockets[0].data,
        serde_json::json!({"name": "ann", "visits": 1})
    );
    assert_eq!(sockets[0].auth, serde_json::json!({"name": "ann"}));
    server.shutdown();
}
