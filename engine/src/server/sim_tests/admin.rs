//! The admin UI's reports on the simulated worker: what an admin socket reads, in order, as a
//! client connects, sends an event, has its rooms changed by the handle and is disconnected.
//! `all_sockets` comes from a fetch on a thread of its own, so it is left out here
//! (engine/tests/admin_ui.rs checks it against the reference).

use serde_json::{json, Value};

use super::{Router, WsPeer};
use crate::runtime::Sim;
use crate::server::{AdminAuth, AdminUi, Server};

/// The admin's events since the last read, `all_sockets` aside, each without its trailing
/// date (which must be one).
fn reports(sim: &mut Sim<Router>, admin: &mut WsPeer) -> Vec<Value> {
    parse(&admin.texts(sim))
}

fn parse(texts: &[String]) -> Vec<Value> {
    texts
        .iter()
        .filter_map(|t| t.strip_prefix("42/admin,"))
        .map(|t| serde_json::from_str::<Value>(t).unwrap())
        .filter(|v| v[0] != "all_sockets")
        .map(|mut v| {
            let list = v.as_array_mut().unwrap();
            if list[0] != "config" && list[0] != "socket_updated" {
                let date = list.pop().unwrap();
                assert!(date.as_str().is_some_and(|d| d.ends_with('Z')), "{date}");
            }
            v
        })
        .collect()
}

#[test]
fn an_admin_reads_each_change_of_a_socket_in_order() {
    let (mut sim, handle) = Server::builder()
        .namespace("/", |ns| {
            ns.on("go", |s, _| {
                s.join("r1");
                None
            });
        })
        .admin_ui(AdminUi::new(AdminAuth::Off))
        .simulate();
    let mut admin = WsPeer::open(&mut sim, "");
    admin.texts(&mut sim);
    admin.send(&mut sim, "40/admin,");
    let got = admin.texts(&mut sim);
    assert!(got[0].starts_with(r#"40/admin,{"sid":"#), "{got:?}");
    let features = [
        "EMIT",
        "JOIN",
        "LEAVE",
        "DISCONNECT",
        "MJOIN",
        "MLEAVE",
        "MDISCONNECT",
    ];
    let mut features = features.to_vec();
    features.extend(["AGGREGATED_EVENTS", "ALL_EVENTS"]);
    assert_eq!(
        got[1],
        format!(
            r#"42/admin,["config",{}]"#,
            json!({ "supportedFeatures": features })
        )
    );
    sim.settle();
    let mut own = parse(&got);
    own.extend(reports(&mut sim, &mut admin));
    // After `config`: the admin's own socket, as every socket's.
    assert_eq!(own[0][0], "config");
    own.remove(0);
    assert_eq!(own[0][0], "room_joined");
    assert_eq!(own[1][0], "socket_connected");
    assert_eq!(own[1][1]["nsp"], "/admin");

    let mut client = WsPeer::open(&mut sim, "");
    let id = client.connect_sio(&mut sim);
    sim.settle();
    let got = reports(&mut sim, &mut admin);
    assert_eq!(got[0], json!(["room_joined", "/", id, id]));
    assert_eq!(got[1][0], "socket_connected");
    let socket = &got[1][1];
    assert_eq!(socket["id"], id);
    assert_eq!(socket["nsp"], "/");
    assert_eq!(socket["transport"], "websocket");
    assert_eq!(socket["rooms"], json!([id]));
    assert_eq!(socket["data"], json!({}));
    assert_eq!(got.len(), 2);

    client.send(&mut sim, r#"42["go",1]"#);
    sim.settle();
    assert_eq!(
        reports(&mut sim, &mut admin),
        [
            json!(["event_received", "/", id, ["go", 1]]),
            json!(["room_joined", "/", "r1", id]),
        ]
    );

    handle.of("/").to("r1").sockets_leave("r1");
    sim.settle();
    assert_eq!(
        reports(&mut sim, &mut admin),
        [json!(["room_left", "/", "r1", id])]
    );

    handle.of("/").emit("news", &("x",)).unwrap();
    sim.settle();
    assert_eq!(
        reports(&mut sim, &mut admin),
        [json!(["event_sent", "/", id, ["news", "x"]])]
    );

    handle.of("/").disconnect_sockets(false);
    sim.settle();
    assert_eq!(
        reports(&mut sim, &mut admin),
        [
            json!(["room_left", "/", id, id]),
            json!([
                "socket_disconnected",
                "/",
                id,
                "server namespace disconnect"
            ]),
        ]
    );

    // Operations without the names they need do nothing (and are logged).
    for op in [
        r#"["join",5]"#,
        r#"["leave"]"#,
        r#"["_disconnect",null]"#,
        r#"["emit","/"]"#,
    ] {
        admin.send(&mut sim, &format!("42/admin,{op}"));
    }
    sim.settle();
    assert!(reports(&mut sim, &mut admin).is_empty());
}

#[test]
fn production_mode_reports_no_socket() {
    let mut ui = AdminUi::new(AdminAuth::Off);
    ui.mode = crate::server::AdminMode::Production;
    ui.readonly = true;
    let (mut sim, _handle) = Server::builder()
        .namespace("/", |_| {})
        .admin_ui(ui)
        .simulate();
    let mut admin = WsPeer::open(&mut sim, "");
    admin.texts(&mut sim);
    admin.send(&mut sim, "40/admin,");
    let got = admin.texts(&mut sim);
    assert_eq!(
        got[1],
        r#"42/admin,["config",{"supportedFeatures":["AGGREGATED_EVENTS"]}]"#
    );
    let mut client = WsPeer::open(&mut sim, "");
    client.connect_sio(&mut sim);
    sim.settle();
    assert!(reports(&mut sim, &mut admin).is_empty());
}
