//! Acknowledgements on virtual time: a server emit with an ack gets `operation has timed out`
//! exactly at its deadline when the client stays silent, and the client's answer when it comes
//! 1 ms before; a late answer, a second answer and an answer for an id never asked are ignored,
//! as the reference's `onack` ignores them; a hang-up fails what is pending with
//! `Disconnected` at once; and the client's own ack requests are answered with what the
//! handler returns.

use std::sync::{Arc, Mutex};

use super::{ms, WsPeer};
use crate::server::{Ack, AckError, Server};

/// A server whose `ask` handler emits `q` with an ack and the timeout (ms) it was given,
/// recording each callback's outcome (the client's arguments as JSON, or the error's text);
/// `echo` acknowledges with its own arguments, `silent` returns no ack.
fn server() -> (crate::runtime::Sim<super::Router>, Arc<Mutex<Vec<String>>>) {
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = outcomes.clone();
    let (sim, _handle) = Server::builder()
        .namespace("/", move |ns| {
            let seen = seen.clone();
            ns.on("ask", move |s, args| {
                let timeout: u64 = args.deserialize(0).unwrap();
                let seen = seen.clone();
                s.emit_with_ack("q", &("hi",), ms(timeout), move |_, reply| {
                    let outcome = match reply {
                        Ok(args) => {
                            let mut json = Vec::new();
                            args.write_json(&mut json);
                            String::from_utf8(json).unwrap()
                        }
                        Err(e) => e.to_string(),
                    };
                    seen.lock().unwrap().push(outcome);
                })
                .unwrap();
                None
            });
            ns.on("echo", |_, args| Some(Ack::from_args(args)));
            ns.on("silent", |_, _| None);
        })
        .simulate();
    (sim, outcomes)
}

/// A joined peer that asked for an emit with an ack within `timeout_ms`; returns the peer and
/// the ack id of the server's `q`.
fn asked(sim: &mut crate::runtime::Sim<super::Router>, timeout_ms: u64) -> (WsPeer, u64) {
    let mut peer = WsPeer::open(sim, "");
    peer.connect_sio(sim);
    peer.send(sim, &format!(r#"42["ask",{timeout_ms}]"#));
    let got = peer.texts(sim);
    let [q] = got.as_slice() else {
        panic!("{got:?}")
    };
    let rest = q.strip_prefix("42").unwrap();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    assert_eq!(&rest[digits..], r#"["q","hi"]"#);
    (peer, rest[..digits].parse().unwrap())
}

/// No answer: the callback gets `AckError::Timeout` (`operation has timed out`) exactly at the
/// deadline, counted from the emit (here at 1 s, with a 5 s timeout: 6 s), not a millisecond
/// before, and only once; the session lives on.
#[test]
fn a_silent_client_times_out_exactly_at_the_deadline() {
    let (mut sim, outcomes) = server();
    sim.advance(ms(1_000));
    let (mut peer, _) = asked(&mut sim, 5_000);

    sim.advance(ms(4_999));
    assert!(
        outcomes.lock().unwrap().is_empty(),
        "not before the deadline"
    );
    sim.advance(ms(1));
    assert_eq!(sim.elapsed(), ms(6_000));
    assert_eq!(
        *outcomes.lock().unwrap(),
        [AckError::Timeout.to_string()],
        "at the deadline"
    );
    assert_eq!(AckError::Timeout.to_string(), "operation has timed out");

    sim.advance(ms(10_000));
    assert_eq!(outcomes.lock().unwrap().len(), 1, "once");
    peer.send(&mut sim, r#"421["echo","alive"]"#);
    assert_eq!(peer.texts(&mut sim), [r#"431["alive"]"#]);
}

/// An answer 1 ms before the deadline reaches the callback with the client's arguments; the
/// timer is cancelled (no timeout later), and a second answer for the same id runs nothing.
#[test]
fn an_answer_1ms_before_the_deadline_reaches_the_callback() {
    let (mut sim, outcomes) = server();
    let (peer, id) = asked(&mut sim, 5_000);

    sim.advance(ms(4_999));
    peer.send(&mut sim, &format!(r#"43{id}["yes",{{"n":1}}]"#));
    assert_eq!(*outcomes.lock().unwrap(), [r#"["yes",{"n":1}]"#]);

    peer.send(&mut sim, &format!(r#"43{id}["again"]"#));
    sim.advance(ms(10_000));
    assert_eq!(
        outcomes.lock().unwrap().len(),
        1,
        "one callback, no timeout"
    );
    assert!(!sim.write_shut(peer.conn));
}

/// An answer after the deadline is dropped, as the reference drops it (its ack was deleted
/// when the timer fired): no second callback, no panic, and the session goes on.
#[test]
fn a_late_answer_is_ignored() {
    let (mut sim, outcomes) = server();
    let (mut peer, id) = asked(&mut sim, 2_000);

    sim.advance(ms(2_000));
    assert_eq!(*outcomes.lock().unwrap(), ["operation has timed out"]);
    peer.send(&mut sim, &format!(r#"43{id}["too late"]"#));
    sim.advance(ms(1));
    peer.send(&mut sim, &format!(r#"43{id}["later still"]"#));
    assert_eq!(*outcomes.lock().unwrap(), ["operation has timed out"]);

    peer.send(&mut sim, r#"422["echo",1]"#);
    assert_eq!(peer.texts(&mut sim), ["432[1]"], "the session goes on");
    assert!(!sim.write_shut(peer.conn));
}

/// An ack for an id the server never asked (or already settled) is ignored, as the
/// reference's `onack` ignores a "bad ack": no callback runs and the session goes on; the
/// emit still pending keeps waiting for its own id.
#[test]
fn an_ack_for_an_unknown_id_is_ignored() {
    let (mut sim, outcomes) = server();
    let (mut peer, id) = asked(&mut sim, 5_000);

    peer.send(&mut sim, &format!(r#"43{}["stranger"]"#, id + 99));
    assert!(outcomes.lock().unwrap().is_empty());
    peer.send(&mut sim, r#"423["echo","alive"]"#);
    assert_eq!(peer.texts(&mut sim), [r#"433["alive"]"#]);

    peer.send(&mut sim, &format!(r#"43{id}["mine"]"#));
    assert_eq!(*outcomes.lock().unwrap(), [r#"["mine"]"#]);
}

/// The client hangs up with an ack pending: the callback gets `Disconnected` at once (`socket
/// has been disconnected`), and the timer that would have timed it out runs nothing later.
#[test]
fn a_hang_up_fails_the_pending_ack_at_once() {
    let (mut sim, outcomes) = server();
    let (peer, _) = asked(&mut sim, 5_000);

    sim.advance(ms(1_000));
    sim.hang_up(peer.conn);
    assert_eq!(
        *outcomes.lock().unwrap(),
        [AckError::Disconnected.to_string()]
    );
    sim.advance(ms(10_000));
    assert_eq!(outcomes.lock().unwrap().len(), 1);
}

/// The client's own ack request: `421["echo",...]` is answered with what the handler returns,
/// as `431[...]` with the same id, at once; an event without an id gets no answer, and a
/// handler that returns no ack sends none.
#[test]
fn a_client_ack_request_is_answered_with_the_handler_return() {
    let (mut sim, _) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);

    peer.send(&mut sim, r#"421["echo",{"a":1},"b"]"#);
    assert_eq!(peer.texts(&mut sim), [r#"431[{"a":1},"b"]"#]);
    peer.send(&mut sim, r#"4212345["echo"]"#);
    assert_eq!(peer.texts(&mut sim), ["4312345[]"]);

    peer.send(&mut sim, r#"42["echo","no id"]"#);
    peer.send(&mut sim, r#"427["silent"]"#);
    assert_eq!(peer.texts(&mut sim), Vec::<String>::new());
    assert!(!sim.write_shut(peer.conn));
}
