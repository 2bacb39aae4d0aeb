//! Connection state recovery with a store that answers later (as the streams adapter's does,
//! from its own thread), on virtual time: a CONNECT with a `pid` and an `offset` waits without
//! a reply until the store answers; a session found comes back with its missed packets before
//! the CONNECT reply, with its id and pid; none found is a fresh socket; a second CONNECT to
//! the namespace while it waits is refused as the first's duplicate; an answer for a client
//! that went away meanwhile is dropped.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{ms, Got, WsPeer};
use crate::config::Parser;
use crate::runtime::Sim;
use crate::server::broadcast_msg::{encode_event_at, Shared};
use crate::server::sio::{
    EmitError, EncodeMaybeAt, Keeping, RestoreAnswer, Restored, Restoring, Session, SessionStore,
    ToKeep,
};
use crate::server::Server;

/// What the store saw: sessions kept, and restores waiting for the test to answer them.
#[derive(Default)]
struct Seen {
    sessions: Vec<Session>,
    waiting: Vec<(String, String, RestoreAnswer)>,
}

/// Gives every kept packet the offset `7-0` and answers restores when the test says.
#[derive(Clone, Default)]
struct LaterStore(Arc<Mutex<Seen>>);

impl SessionStore for LaterStore {
    fn keep(
        &self,
        _: ToKeep<'_>,
        _: Instant,
        encode: &mut EncodeMaybeAt<'_>,
    ) -> Result<Keeping, EmitError> {
        encode(Some("7-0")).map(Keeping::Send)
    }

    fn persist(&self, session: Session, _: Instant) {
        self.0.lock().unwrap().sessions.push(session);
    }

    fn restore(
        &self,
        _: &str,
        pid: &str,
        offset: Option<&str>,
        _: Instant,
        later: RestoreAnswer,
    ) -> Restoring {
        let waiting = (
            pid.to_string(),
            offset.unwrap_or_default().to_string(),
            later,
        );
        self.0.lock().unwrap().waiting.push(waiting);
        Restoring::Later
    }
}

impl LaterStore {
    /// Answers the oldest waiting restore.
    fn answer(&self, restored: Option<Restored>) -> (String, String) {
        let (pid, offset, answer) = self.0.lock().unwrap().waiting.remove(0);
        answer(restored);
        (pid, offset)
    }
}

fn server(store: &LaterStore) -> Sim<super::Router> {
    let (sim, _) = Server::builder()
        .recovery(ms(60_000))
        .recovery_store(Box::new(store.clone()))
        .namespace("/", |ns| {
            ns.on("join", |s, args| {
                s.join(args.deserialize::<String>(0).ok()?);
                None
            });
        })
        .simulate();
    sim
}

/// The CONNECT reply's `(sid, pid)`.
fn reply_ids(text: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(text.strip_prefix("40").unwrap()).unwrap();
    (
        v["sid"].as_str().unwrap().into(),
        v["pid"].as_str().unwrap().into(),
    )
}

/// A peer that opened its session and sent CONNECT with `auth`.
fn connect(sim: &mut Sim<super::Router>, auth: &str) -> WsPeer {
    let mut peer = WsPeer::open(sim, "");
    peer.texts(sim);
    peer.send(sim, &format!("40{auth}"));
    peer
}

fn missed(n: u32) -> Vec<Shared> {
    encode_event_at(Parser::Json, "/", None, "news", &(n,), &[], Some("7-1")).unwrap()
}

#[test]
fn a_connect_waits_for_the_store_then_gets_its_socket_back_or_a_fresh_one() {
    let store = LaterStore::default();
    let mut sim = server(&store);
    let mut a = connect(&mut sim, "");
    let (sid, pid) = reply_ids(&a.texts(&mut sim)[0]);
    a.send(&mut sim, r#"42["join","r"]"#);
    sim.hang_up(a.conn);
    sim.advance(ms(10));
    let session = store.0.lock().unwrap().sessions.pop().expect("kept");
    assert_eq!(
        (session.sid.as_str(), &*session.pid),
        (sid.as_str(), pid.as_str())
    );
    assert!(
        session.rooms.contains(&"r".to_string()),
        "{:?}",
        session.rooms
    );

    let auth = format!(r#"{{"pid":"{pid}","offset":"7-0"}}"#);
    let mut back = connect(&mut sim, &auth);
    assert!(
        back.texts(&mut sim).is_empty(),
        "no reply before the store answers"
    );
    let asked = store.answer(Some(Restored {
        sid: session.sid,
        rooms: session.rooms,
        data: None,
        missed: vec![missed(1), missed(2)],
    }));
    assert_eq!(asked, (pid.clone(), "7-0".to_string()));
    sim.advance(ms(1));
    let got = back.texts(&mut sim);
    assert_eq!(got[0], r#"42["news",1,"7-1"]"#);
    assert_eq!(got[1], r#"42["news",2,"7-1"]"#);
    assert_eq!(reply_ids(&got[2]), (sid.clone(), pid.clone()), "{got:?}");

    // None found: a fresh socket.
    let mut fresh = connect(&mut sim, &auth);
    store.answer(None);
    sim.advance(ms(1));
    let got = fresh.texts(&mut sim);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_ne!(reply_ids(&got[0]).0, sid);

    // A second CONNECT to `/` while the first waits is the first's duplicate: closed.
    let mut twice = connect(&mut sim, &auth);
    twice.send(&mut sim, "40");
    sim.advance(ms(1));
    let got = twice.read(&mut sim);
    assert!(matches!(got[..], [Got::Close(_)]), "{got:?}");
    store.answer(None);

    // Gone before the answer: the answer is dropped.
    let gone = connect(&mut sim, &auth);
    sim.hang_up(gone.conn);
    sim.advance(ms(1));
    store.answer(None);
    sim.advance(ms(1));
}
