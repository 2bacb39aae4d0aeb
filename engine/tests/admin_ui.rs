//! The Socket.IO admin UI's server side (`ServerBuilder::admin_ui`, `@socket.io/admin-ui`'s
//! `instrument`), driven by the stock socket.io-client as the UI drives it
//! (interop/admin_ui.mjs): a wrong password, a login and a login with the session id it gave,
//! `config`, `all_sockets`, `socket_connected`, `room_joined`, `room_left`, `event_received`,
//! `event_sent`, `socket_updated` (an upgrade from polling), `socket_disconnected`,
//! `server_stats`, and the operations `join`, `leave`, `emit`, `_disconnect`, across two
//! workers. The same script runs against the reference, a
//! Node server with `instrument` and the same app (interop/admin_ref_server.mjs), and what the
//! admin saw must be the same, read-write and read-only (where the operations do nothing).
//! And the UI's own page from the npm package, in headless Chromium, lists Volley's sockets
//! (interop/admin_ui_page.mjs); and an admin on either server of a mixed cluster (Volley and
//! Node through Redis) lists, hears of and drives the sockets of both
//! (interop/admin_cluster.mjs).

mod common;
mod redis_common;

use serde_json::Value;
use volley::server::{Ack, AdminAuth, AdminMode, AdminUi, Server};

use common::{assert_cases, chromium, run_node, NodeServer};

/// bcrypt of "changeit" (bcryptjs, cost 10), as the reference server is given.
const HASH: &str = "$2a$10$IAUsjVkrDY8eLjZ3ClRb2egwS3Fe3Vb8t2wpNfUOy.CpnKb1cjbVe";

/// The app of admin_ref_server.mjs, with the admin UI.
fn volley(readonly: bool) -> Server {
    app(readonly, "ref", None)
}

/// [`volley`] named `server_id`, in the cluster of Redis `redis` if given.
fn app(readonly: bool, server_id: &str, redis: Option<&str>) -> Server {
    let mut b = Server::builder();
    if let Some(url) = redis {
        b = b.redis(url);
    }
    b.configure(|c| {
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.workers = 2;
    })
    .namespace("/", |ns| {
        ns.on_connect(|s, _| {
            s.join("lobby");
            let _ = s.emit("welcome", &());
            Ok(())
        });
        ns.on("hello", |s, args| {
            let arg: Value = args.deserialize(0).ok()?;
            let _ = s.emit("echo", &(arg,));
            Ack::one(&"hi").ok()
        });
    })
    .namespace("/chat", |_| {})
    .admin_ui(AdminUi {
        auth: AdminAuth::Basic {
            username: "admin".into(),
            password_hash: HASH.into(),
        },
        readonly,
        mode: AdminMode::Development,
        namespace: "/admin".into(),
        server_id: Some(server_id.into()),
    })
    .listen()
    .expect("server starts")
}

/// What the admin saw on Volley and on the reference, each as interop/admin_ui.mjs prints it.
fn both(readonly: bool) -> (Value, Value) {
    let mode = if readonly { "readonly" } else { "rw" };
    let server = volley(readonly);
    let url = format!("http://{}", server.local_addr());
    let reference = NodeServer::start("admin_ref_server.mjs", &[mode]);
    let (ours, theirs) = std::thread::scope(|s| {
        let ours = s.spawn(|| run_node("admin_ui.mjs", &[&url]));
        let theirs = s.spawn(|| run_node("admin_ui.mjs", &[&reference.url()]));
        (ours.join().unwrap(), theirs.join().unwrap())
    });
    server.shutdown();
    let parse = |out: &str| serde_json::from_str::<Value>(out).expect("admin_ui.mjs prints JSON");
    (parse(&ours), parse(&theirs))
}

/// Compares step by step, so a difference names the action that caused it.
fn assert_same(ours: &Value, theirs: &Value) {
    let steps = |v: &Value| v["steps"].as_array().cloned().unwrap_or_default();
    let (a, b) = (steps(ours), steps(theirs));
    assert_eq!(
        a.len(),
        b.len(),
        "steps differ:\nvolley {ours:#}\nreference {theirs:#}"
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "step {} differs", y["name"]);
    }
    for key in ["stats", "clientA", "bReason", "session2"] {
        assert_eq!(ours[key], theirs[key], "{key} differs");
    }
}

fn events_of<'a>(v: &'a Value, step: &str) -> Vec<&'a str> {
    let steps = v["steps"].as_array().expect("steps");
    let s = steps.iter().find(|s| s["name"] == step).expect("step");
    let events = s["events"].as_array().expect("events");
    events.iter().filter_map(Value::as_str).collect()
}

#[test]
fn the_admin_sees_and_drives_volley_as_the_reference() {
    let (ours, theirs) = both(false);
    assert_same(&ours, &theirs);
    // Not two empty reports: the operations took effect.
    let joined = events_of(&ours, "admin: A joins r1");
    assert_eq!(joined, [r#"["room_joined","/","r1","A","<date>"]"#]);
    let gone = events_of(&ours, "admin: disconnect B");
    assert!(gone.contains(
        &r#"["socket_disconnected","/chat","B","server namespace disconnect","<date>"]"#
    ));
    assert_eq!(ours["bReason"], "io server disconnect");
    let upgrade = events_of(&ours, "C connects over polling and upgrades");
    assert!(upgrade.contains(&r#"["socket_updated",{"id":"C","nsp":"/","transport":"websocket"}]"#));
    assert_eq!(
        ours["stats"]["namespaces"],
        serde_json::json!(["/", "/admin", "/chat"])
    );
}

#[test]
fn a_readonly_admin_watches_but_cannot_act() {
    let (ours, theirs) = both(true);
    assert_same(&ours, &theirs);
    assert!(events_of(&ours, "admin: A joins r1").is_empty());
    let connect = events_of(&ours, "admin connects");
    assert!(
        connect.contains(&r#"["config",{"supportedFeatures":["AGGREGATED_EVENTS","ALL_EVENTS"]}]"#)
    );
    assert_eq!(ours["bReason"], Value::Null);
}

#[test]
fn the_admin_ui_page_lists_the_sockets() {
    let chrome = chromium();
    let server = volley(false);
    let url = format!("http://{}", server.local_addr());
    let out = run_node("admin_ui_page.mjs", &[&chrome.to_string_lossy(), &url]);
    server.shutdown();
    assert_cases(&out, &["the page lists the connected sockets"]);
}

#[test]
fn an_admin_of_a_mixed_cluster_sees_and_drives_both_servers() {
    let redis = redis_common::Redis::start();
    let server = app(false, "volley", Some(&redis.url()));
    let node = NodeServer::start("admin_ref_server.mjs", &["rw", &redis.url()]);
    redis.wait_servers(2);
    let url = format!("http://{}", server.local_addr());
    let out = run_node("admin_cluster.mjs", &[&url, &node.url()]);
    server.shutdown();
    assert_cases(
        &out,
        &[
            "volley admin lists the sockets of both servers",
            "node admin lists the sockets of both servers",
            "volley admin hears of a socket connecting to the node server",
            "each admin drives the other server's sockets",
            "the stats of both servers reach an admin",
        ],
    );
}
