//! Dynamic namespaces: a `/tenant-{id}` pattern and a predicate serve every matching name,
//! refuse the others with `Invalid namespace` (the connection stays usable), give each socket
//! its actual namespace name, and lose to an exact namespace of the same name.

mod common;

use std::time::Duration;

use common::RawWs;
use volley::server::{Ack, NamespaceBuilder, Server};

fn whoami(tag: &'static str) -> impl FnOnce(&mut NamespaceBuilder) {
    move |ns| {
        ns.on("whoami", move |s, _| {
            Some(Ack::new(&(tag, s.nsp())).unwrap())
        });
    }
}

fn start() -> Server {
    Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
            c.ping_interval = Duration::from_secs(30);
        })
        .namespace("/tenant-{id}", whoami("pattern"))
        .dynamic_namespace(
            |name| {
                name.strip_prefix("/org/").is_some_and(|rest| {
                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                })
            },
            whoami("predicate"),
        )
        .namespace("/tenant-admin", whoami("exact"))
        .listen()
        .unwrap()
}

/// Joins `nsp` on `ws` and asks the server which handlers serve it.
fn ask(ws: &mut RawWs, nsp: &str) -> String {
    ws.sio_join(nsp);
    ws.send_text(&format!("42{nsp},5[\"whoami\"]"));
    let reply = ws.next_text();
    reply
        .strip_prefix(&format!("43{nsp},5"))
        .unwrap_or_else(|| panic!("unexpected reply {reply:?}"))
        .to_string()
}

#[test]
fn matching_names_are_served_with_their_actual_name() {
    let server = start();
    let (mut ws, _) = RawWs::eio_connect(server.local_addr(), "/socket.io/");
    for (nsp, tag) in [
        ("/tenant-42", "pattern"),
        ("/tenant-acme", "pattern"),
        ("/org/7", "predicate"),
        ("/org/123456", "predicate"),
        ("/tenant-admin", "exact"),
    ] {
        assert_eq!(ask(&mut ws, nsp), format!(r#"["{tag}","{nsp}"]"#));
    }
    server.shutdown();
}

#[test]
fn other_names_are_refused_and_the_connection_stays_usable() {
    let server = start();
    let (mut ws, _) = RawWs::eio_connect(server.local_addr(), "/socket.io/");
    for nsp in [
        "/",
        "/tenant-",
        "/tenant-4/2",
        "/Tenant-4",
        "/org/",
        "/org/x",
        "/nope",
    ] {
        let prefix = if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        };
        ws.send_text(&format!("40{prefix}"));
        assert_eq!(
            ws.next_text(),
            format!(r#"44{prefix}{{"message":"Invalid namespace"}}"#),
            "namespace {nsp}"
        );
    }
    assert_eq!(ask(&mut ws, "/tenant-1"), r#"["pattern","/tenant-1"]"#);
    server.shutdown();
}
