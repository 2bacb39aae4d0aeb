//! Connection state recovery on virtual time, on the wire as the stock client sees it: the
//! CONNECT reply carries a `pid`, the packets the reference keeps (events without an ack, not
//! volatile) carry an offset as their last argument, and a CONNECT with that `pid` and the
//! last offset read (or no offset, before it read any), within the window, brings back the
//! socket's id, rooms and data with the packets it missed, in order, before the CONNECT reply;
//! after the window, or with a forged `pid` or a bad offset, the client gets a fresh socket.

use std::sync::{Arc, Mutex};

use super::{ms, WsPeer};
use crate::runtime::Sim;
use crate::server::{Ack, Server, ServerHandle};

type Log = Arc<Mutex<Vec<String>>>;

/// A server with recovery within `window_ms` (0: off). Middleware and `on_connect` log what
/// they see; `join` joins a room, `tell [room, n]` broadcasts `news n` to the room,
/// `plain`/`acked`/`volatile` emit `hi` to the sender in each way, `rooms` answers the
/// sender's rooms.
fn server(window_ms: u64, skip_middlewares: bool) -> (Sim<super::Router>, Log) {
    let (sim, _, log) = server_with_handle(window_ms, skip_middlewares);
    (sim, log)
}

/// [`server`], with its handle.
fn server_with_handle(
    window_ms: u64,
    skip_middlewares: bool,
) -> (Sim<super::Router>, ServerHandle, Log) {
    let log = Log::default();
    let (mw, cn) = (log.clone(), log.clone());
    let (sim, handle) = Server::builder()
        .recovery(ms(window_ms))
        .recovery_skip_middlewares(skip_middlewares)
        .namespace("/", move |ns| {
            let mw = mw.clone();
            ns.middleware(move |s, _| {
                mw.lock()
                    .unwrap()
                    .push(format!("middleware recovered={}", s.recovered()));
                Ok(())
            });
            let cn = cn.clone();
            ns.on_connect(move |s, _| {
                cn.lock().unwrap().push(format!(
                    "connect recovered={} data={:?}",
                    s.recovered(),
                    s.data::<u32>()
                ));
                if !s.recovered() {
                    s.set_data(7u32);
                }
                Ok(())
            });
            ns.on("join", |s, args| {
                let room: String = args.deserialize(0).unwrap();
                s.join(room);
                None
            });
            ns.on("tell", |s, args| {
                let (room, n): (String, u32) =
                    (args.deserialize(0).unwrap(), args.deserialize(1).unwrap());
                s.within(&room).emit("news", &(n,)).unwrap();
                None
            });
            ns.on("all", |s, args| {
                let n: u32 = args.deserialize(0).unwrap();
                s.everyone().emit("news", &(n,)).unwrap();
                None
            });
            ns.on("plain", |s, _| {
                s.emit("hi", &("plain",)).unwrap();
                None
            });
            ns.on("acked", |s, _| {
                s.emit_with_ack("hi", &("acked",), ms(60_000), |_, _| {})
                    .unwrap();
                None
            });
            ns.on("volatile", |s, _| {
                s.volatile_emit("hi", &("volatile",)).unwrap();
                s.broadcast().volatile().emit("hi", &("volatile",)).unwrap();
                None
            });
            ns.on("rooms", |s, _| {
                let mut rooms = s.rooms();
                rooms.sort();
                Some(Ack::one(&rooms).unwrap())
            });
        })
        .simulate();
    (sim, handle, log)
}

/// The CONNECT reply's `(sid, pid)`.
fn reply_ids(text: &str) -> (String, Option<String>) {
    let v: serde_json::Value = serde_json::from_str(text.strip_prefix("40").unwrap()).unwrap();
    (
        v["sid"].as_str().unwrap().to_string(),
        v["pid"].as_str().map(str::to_string),
    )
}

/// Opens a peer and joins `/` with `auth`; returns it and every text read after the open
/// packet (the CONNECT reply last).
fn join(sim: &mut Sim<super::Router>, auth: &str) -> (WsPeer, Vec<String>) {
    let mut peer = WsPeer::open(sim, "");
    let open = peer.texts(sim);
    assert!(open[0].starts_with("0{"), "{open:?}");
    peer.send(sim, &format!("40{auth}"));
    let got = peer.texts(sim);
    (peer, got)
}

/// The last argument of an event, as a string (the offset).
fn offset(text: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(text.strip_prefix("42").unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

/// A joined socket in room `r` that read one `news` broadcast; returns the peer, its id, its
/// pid and the offset it reached, and a second socket to broadcast from.
fn in_room(sim: &mut Sim<super::Router>) -> (WsPeer, String, String, String, WsPeer) {
    let (mut a, got) = join(sim, "");
    let (sid, pid) = reply_ids(&got[0]);
    a.send(sim, r#"42["join","r"]"#);
    let (mut b, _) = join(sim, "");
    b.send(sim, r#"42["tell","r",1]"#);
    let news = a.texts(sim);
    assert_eq!(news.len(), 1, "{news:?}");
    assert!(news[0].starts_with(r#"42["news",1,""#), "{news:?}");
    let off = offset(&news[0]);
    b.texts(sim);
    (a, sid, pid.expect("a pid"), off, b)
}

/// Recovery off (the default): no `pid`, no offsets.
#[test]
fn off_by_default_the_wire_is_unchanged() {
    let (mut sim, _) = server(0, true);
    let (mut peer, got) = join(&mut sim, "");
    assert_eq!(reply_ids(&got[0]).1, None, "{got:?}");
    peer.send(&mut sim, r#"42["plain"]"#);
    assert_eq!(peer.texts(&mut sim), [r#"42["hi","plain"]"#]);
}

/// The CONNECT reply has a `pid` apart from the `sid`; an emit and a broadcast carry an
/// offset, later ones a later one; an emit with an ack and volatile ones carry none.
#[test]
fn the_reply_has_a_pid_and_kept_packets_an_offset() {
    let (mut sim, _) = server(60_000, true);
    let (mut peer, got) = join(&mut sim, "");
    let (sid, pid) = reply_ids(&got[0]);
    let pid = pid.expect("a pid");
    assert_ne!(pid, sid);
    peer.send(&mut sim, r#"42["plain"]"#);
    peer.send(&mut sim, r#"42["join","r"]"#);
    peer.send(&mut sim, r#"42["tell","r",1]"#);
    let got = peer.texts(&mut sim);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with(r#"42["hi","plain",""#), "{got:?}");
    assert!(got[1].starts_with(r#"42["news",1,""#), "{got:?}");
    let (o1, o2): (u64, u64) = (
        offset(&got[0]).parse().unwrap(),
        offset(&got[1]).parse().unwrap(),
    );
    assert!(o1 < o2);
    peer.send(&mut sim, r#"42["acked"]"#);
    peer.send(&mut sim, r#"42["volatile"]"#);
    let got = peer.texts(&mut sim);
    assert!(
        got[0].starts_with("42") && got[0].ends_with(r#"["hi","acked"]"#),
        "{got:?}"
    );
    assert_eq!(got[1..], [r#"42["hi","volatile"]"#]);
}

/// Lost, then back within the window with its pid and offset: the missed packets for its
/// rooms (a room broadcast, an emit to its id through the handle, a broadcast to everyone)
/// come first, in order, then the CONNECT reply with the same id and pid; the socket is in its
/// rooms again with its data, `recovered()` is true, middleware was skipped.
#[test]
fn back_within_the_window_the_socket_is_restored_and_missed_packets_replayed() {
    let (mut sim, handle, log) = server_with_handle(60_000, true);
    let (a, sid, pid, off, b) = in_room(&mut sim);
    sim.hang_up(a.conn);
    sim.advance(ms(1_000));
    b.send(&mut sim, r#"42["tell","r",2]"#);
    handle.emit_to("/", &sid, "news", &(5,)).unwrap();
    sim.advance(ms(1));
    b.send(&mut sim, r#"42["join","s"]"#);
    b.send(&mut sim, r#"42["tell","s",99]"#);
    b.send(&mut sim, r#"42["tell","r",3]"#);
    b.send(&mut sim, r#"42["all",6]"#);
    sim.advance(ms(1_000));
    log.lock().unwrap().clear();

    let (mut a, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#));
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(
        got[..4].iter().all(|t| t.starts_with(r#"42["news","#)),
        "{got:?}"
    );
    let ns: Vec<&str> = got[..4].iter().map(|t| &t[10..11]).collect();
    assert_eq!(ns, ["2", "5", "3", "6"], "{got:?}");
    assert_eq!(reply_ids(&got[4]), (sid.clone(), Some(pid)));
    assert_eq!(
        *log.lock().unwrap(),
        ["connect recovered=true data=Some(7)"]
    );
    a.send(&mut sim, r#"421["rooms"]"#);
    let rooms = a.texts(&mut sim);
    let mut want = vec![sid, "r".to_string()];
    want.sort();
    assert_eq!(rooms, [format!("431[{}]", serde_json::json!(want))]);
    // In its room again: the next broadcast reaches it.
    b.send(&mut sim, r#"42["tell","r",4]"#);
    assert!(a.texts(&mut sim)[0].starts_with(r#"42["news",4,""#));
}

/// Back one millisecond past the window: a fresh socket (new id, new pid, nothing replayed,
/// `recovered()` false, middleware run).
#[test]
fn after_the_window_the_client_gets_a_fresh_socket() {
    let (mut sim, log) = server(5_000, true);
    let (a, sid, pid, off, b) = in_room(&mut sim);
    sim.hang_up(a.conn);
    b.send(&mut sim, r#"42["tell","r",2]"#);
    sim.advance(ms(5_001));
    log.lock().unwrap().clear();
    let (_, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#));
    assert_eq!(got.len(), 1, "nothing replayed: {got:?}");
    let (new_sid, new_pid) = reply_ids(&got[0]);
    assert_ne!(new_sid, sid);
    assert_ne!(new_pid, Some(pid));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "middleware recovered=false",
            "connect recovered=false data=None"
        ]
    );
}

/// The same, exactly at the window's end: still recovered (the reference expires a session
/// once `disconnectedAt + maxDisconnectionDuration < now`).
#[test]
fn at_the_window_s_end_it_is_still_recovered() {
    let (mut sim, _) = server(5_000, true);
    let (a, sid, pid, off, _b) = in_room(&mut sim);
    sim.hang_up(a.conn);
    sim.advance(ms(5_000));
    let (_, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#));
    assert_eq!(reply_ids(&got[0]), (sid, Some(pid)));
}

/// With `recovery_skip_middlewares(false)` the middleware runs for a recovered socket too,
/// and sees it recovered.
#[test]
fn middleware_runs_for_a_recovered_socket_unless_skipped() {
    let (mut sim, log) = server(60_000, false);
    let (a, sid, pid, off, _b) = in_room(&mut sim);
    sim.hang_up(a.conn);
    log.lock().unwrap().clear();
    let (_, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#));
    assert_eq!(reply_ids(&got[0]), (sid, Some(pid)));
    assert_eq!(
        *log.lock().unwrap(),
        [
            "middleware recovered=true",
            "connect recovered=true data=Some(7)"
        ]
    );
}

/// A forged pid, an offset the server never gave, values that are not strings, a pid shown
/// twice: a fresh socket each time, never a panic.
#[test]
fn bad_pids_and_offsets_get_a_fresh_socket() {
    let (mut sim, _) = server(60_000, true);
    let (a, sid, pid, off, _b) = in_room(&mut sim);
    sim.hang_up(a.conn);
    for auth in [
        format!(r#"{{"pid":"forged","offset":"{off}"}}"#),
        r#"{"pid":1,"offset":2}"#.to_string(),
        r#"{"pid":null}"#.to_string(),
    ] {
        let (_, got) = join(&mut sim, &auth);
        assert_eq!(got.len(), 1, "{auth}: {got:?}");
        assert_ne!(reply_ids(&got[0]).0, sid, "{auth}");
    }
    let (_, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":"nope"}}"#));
    assert_ne!(reply_ids(&got[0]).0, sid, "a bad offset");
    // The session went with that try: shown again, even with its offset, it is unknown.
    let (_, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#));
    assert_ne!(reply_ids(&got[0]).0, sid, "taken once");
}

/// A client that never got a kept packet shows its pid without an offset (the stock client
/// sends none then): its socket comes back with its id, rooms and data, and the packets sent
/// for it while it was away are replayed before the CONNECT reply.
#[test]
fn a_pid_without_an_offset_restores_the_socket() {
    let (mut sim, handle, log) = server_with_handle(60_000, true);
    let (a, got) = join(&mut sim, "");
    let (sid, pid) = reply_ids(&got[0]);
    let pid = pid.expect("a pid");
    a.send(&mut sim, r#"42["join","r"]"#);
    sim.hang_up(a.conn);
    sim.advance(ms(1_000));
    let (b, _) = join(&mut sim, "");
    b.send(&mut sim, r#"42["tell","r",2]"#);
    handle.emit_to("/", &sid, "news", &(5,)).unwrap();
    sim.advance(ms(1));
    log.lock().unwrap().clear();

    let (mut a, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}"}}"#));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got[0].starts_with(r#"42["news",2,""#), "{got:?}");
    assert!(got[1].starts_with(r#"42["news",5,""#), "{got:?}");
    assert_eq!(got[2], format!(r#"40{{"sid":"{sid}","pid":"{pid}"}}"#));
    assert_eq!(
        *log.lock().unwrap(),
        ["connect recovered=true data=Some(7)"]
    );
    a.send(&mut sim, r#"421["rooms"]"#);
    let mut want = vec![sid, "r".to_string()];
    want.sort();
    assert_eq!(
        a.texts(&mut sim),
        [format!("431[{}]", serde_json::json!(want))]
    );
}

/// An offset that is there but not a string (`123`, `null`) fails closed: a fresh socket, and
/// the session is still there for a well-formed CONNECT.
#[test]
fn an_offset_that_is_not_a_string_gets_a_fresh_socket() {
    let (mut sim, _) = server(60_000, true);
    let (a, sid, pid, off, _b) = in_room(&mut sim);
    sim.hang_up(a.conn);
    for offset in ["123", "null"] {
        let (_, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":{offset}}}"#));
        assert_eq!(got.len(), 1, "{offset}: {got:?}");
        assert_ne!(reply_ids(&got[0]).0, sid, "{offset}");
    }
    let (_, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#));
    assert_eq!(reply_ids(&got[0]), (sid, Some(pid)));
}

/// A client that leaves the namespace on purpose (`client namespace disconnect`) keeps
/// nothing: back with its pid and offset, it gets a fresh socket.
#[test]
fn a_deliberate_leave_keeps_nothing() {
    let (mut sim, _) = server(60_000, true);
    let (a, sid, pid, off, _b) = in_room(&mut sim);
    a.send(&mut sim, "41");
    sim.hang_up(a.conn);
    let (_, got) = join(&mut sim, &format!(r#"{{"pid":"{pid}","offset":"{off}"}}"#));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_ne!(reply_ids(&got[0]).0, sid);
}
