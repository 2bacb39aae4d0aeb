//! Binary packets on virtual time: a BINARY_EVENT header and its attachment assemble into one
//! event for the handler, with the bytes; attachments that never come end the session exactly
//! at `attachment_timeout` after the header (a deliberate difference: the reference waits
//! forever, see README "Where Volley differs"), not a millisecond before; and a header that
//! announces more than `max_attachments` is refused at once, as the reference's parser does.

use std::sync::{Arc, Mutex};

use super::{ms, Got, WsPeer, NORMAL};
use crate::server::{Ack, Server};

/// What the `/` namespace of [`server`] saw.
#[derive(Default)]
struct Seen {
    /// Each `ev`: its arguments as JSON and its attachments.
    events: Vec<(String, Vec<Vec<u8>>)>,
    /// Messages of the `on_error` handlers.
    errors: Vec<String>,
    /// Disconnect reasons.
    reasons: Vec<String>,
}

/// A server with a 10 s attachment timeout and at most 2 attachments per packet, whose `ev`
/// handler records its arguments and attachments and echoes them as its ack.
fn server() -> (crate::runtime::Sim<super::Router>, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (events, errors, reasons) = (seen.clone(), seen.clone(), seen.clone());
    let (sim, _handle) = Server::builder()
        .configure(|c| {
            c.attachment_timeout = ms(10_000);
            c.max_attachments = 2;
        })
        .namespace("/", move |ns| {
            let events = events.clone();
            ns.on("ev", move |_, args| {
                let mut json = Vec::new();
                args.write_json(&mut json);
                let bins = args.attachments().iter().map(|b| b.to_vec()).collect();
                let json = String::from_utf8(json).unwrap();
                events.lock().unwrap().events.push((json, bins));
                Some(Ack::from_args(args))
            });
            let errors = errors.clone();
            ns.on_error(move |_, message| errors.lock().unwrap().errors.push(message.into()));
            let reasons = reasons.clone();
            ns.on_disconnect(move |_, reason| {
                reasons.lock().unwrap().reasons.push(reason.as_str().into())
            });
        })
        .simulate();
    (sim, seen)
}

/// The header of a binary `ev` with ack id 7 and `n` attachments, one placeholder each.
fn header(n: usize) -> String {
    let placeholders: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#))
        .collect();
    format!(r#"45{n}-7["ev",{}]"#, placeholders.join(","))
}

/// A BINARY_EVENT header waits for its attachment; the attachment completes it and the handler
/// gets the arguments (placeholder in the JSON) with the bytes, exactly once; its echo goes
/// back as a BINARY_ACK header followed by the same bytes as a binary frame.
#[test]
fn a_binary_event_reaches_the_handler_with_its_bytes() {
    let (mut sim, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);

    peer.send(&mut sim, &header(1));
    assert!(
        seen.lock().unwrap().events.is_empty(),
        "the header alone waits"
    );
    assert_eq!(peer.read(&mut sim), []);

    peer.send_binary(&mut sim, &[0, 1, 2, 255]);
    let placeholder = r#"{"_placeholder":true,"num":0}"#;
    assert_eq!(
        seen.lock().unwrap().events,
        [(format!("[{placeholder}]"), vec![vec![0, 1, 2, 255]])]
    );
    assert_eq!(
        peer.read(&mut sim),
        [
            Got::Text(format!("461-7[{placeholder}]")),
            Got::Binary(vec![0, 1, 2, 255]),
        ]
    );

    // Two attachments, in placeholder order; the session goes on with plain events.
    peer.send(&mut sim, &header(2));
    peer.send_binary(&mut sim, b"first");
    assert_eq!(
        seen.lock().unwrap().events.len(),
        1,
        "one of two attachments"
    );
    peer.send_binary(&mut sim, b"second");
    assert_eq!(
        seen.lock().unwrap().events[1].1,
        [b"first".to_vec(), b"second".to_vec()]
    );
    assert_eq!(
        peer.read(&mut sim).len(),
        3,
        "BINARY_ACK header and two attachments"
    );
    peer.send(&mut sim, r#"428["ev","plain"]"#);
    assert_eq!(peer.texts(&mut sim), [r#"438["plain"]"#]);
    assert!(seen.lock().unwrap().reasons.is_empty());
}

/// Attachments that never come: the session ends `attachment_timeout` (10 s) after the
/// header, counted from the header and not from the last attachment, with `forced close` for
/// the application (no `on_error` message: the timer ends it, not the parser) and a close frame
/// 1000 for the client; the handler never runs. One millisecond before, all is still open.
#[test]
fn attachments_that_never_come_end_the_session_at_the_timeout() {
    let (mut sim, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);
    sim.advance(ms(1_000));

    // The header at 1 s announces two attachments; the first comes at 6 s, the second never.
    peer.send(&mut sim, &header(2));
    sim.advance(ms(5_000));
    peer.send_binary(&mut sim, b"first");
    sim.advance(ms(4_999));
    assert_eq!(sim.elapsed(), ms(10_999));
    assert!(seen.lock().unwrap().reasons.is_empty(), "still waiting");
    assert!(!sim.write_shut(peer.conn));
    assert_eq!(peer.read(&mut sim), []);

    sim.advance(ms(1));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.reasons, ["forced close"], "10 s after the header");
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert!(seen.events.is_empty(), "the handler never ran");
    assert_eq!(peer.read(&mut sim), [NORMAL]);
    assert!(sim.write_shut(peer.conn));
}

/// The last attachment 1 ms before the timeout is in time: the event is handled, the timer is
/// cancelled, and the session outlives the deadline.
#[test]
fn an_attachment_just_before_the_timeout_is_in_time() {
    let (mut sim, seen) = server();
    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);

    peer.send(&mut sim, &header(1));
    sim.advance(ms(9_999));
    peer.send_binary(&mut sim, b"late but in time");
    assert_eq!(seen.lock().unwrap().events.len(), 1);
    assert_eq!(peer.read(&mut sim).len(), 2, "the echo and its attachment");

    sim.advance(ms(10_000));
    assert!(seen.lock().unwrap().reasons.is_empty());
    assert!(!sim.write_shut(peer.conn));
    peer.send(&mut sim, r#"421["ev"]"#);
    assert_eq!(peer.texts(&mut sim), ["431[]"]);
}

/// A header announcing more attachments than `max_attachments` (2 here) is refused as the
/// parser refuses it: `on_error` hears `too many attachments` (the reference parser's
/// message), the session ends with `forced close` and the client gets a close frame 1000,
/// before any attachment is buffered. Exactly the limit is accepted.
#[test]
fn more_attachments_than_max_attachments_are_refused() {
    let (mut sim, seen) = server();
    let mut ok = WsPeer::open(&mut sim, "");
    ok.connect_sio(&mut sim);
    ok.send(&mut sim, &header(2));
    ok.send_binary(&mut sim, b"a");
    ok.send_binary(&mut sim, b"b");
    assert_eq!(
        seen.lock().unwrap().events.len(),
        1,
        "two is the limit, allowed"
    );
    assert_eq!(ok.read(&mut sim).len(), 3);

    let mut peer = WsPeer::open(&mut sim, "");
    peer.connect_sio(&mut sim);
    peer.send(&mut sim, &header(3));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.errors, ["too many attachments"]);
        assert_eq!(seen.reasons, ["forced close"]);
        assert_eq!(seen.events.len(), 1, "nothing more reached the handler");
    }
    assert_eq!(peer.read(&mut sim), [NORMAL]);
    assert!(sim.write_shut(peer.conn));
    assert!(!sim.write_shut(ok.conn), "only the offender is closed");
}
