//! The msgpack parser on virtual time, on the paths the Node interop tests do not reach: an ack
//! sent later from another thread (`ack_later`), an emit to one socket and a broadcast through
//! the server handle, binary values in each. Every packet must arrive as one binary message
//! that decodes under the msgpack parser's rules, its binary values inline; a text message
//! from the server would be unreadable to a msgpack client.

use bytes::Bytes;

use super::{Got, WsPeer};
use crate::config::Parser;
use crate::proto::msgpack;
use crate::proto::sio::{decode_msgpack, Limits, OwnedPacket, PacketType};
use crate::runtime::Sim;
use crate::server::{Ack, Router, Server, ServerHandle};

fn server() -> (Sim<Router>, ServerHandle) {
    Server::builder()
        .parser(Parser::Msgpack)
        .namespace("/", |ns| {
            ns.on("later", |s, args| {
                let deferred = s.ack_later().expect("the event asked for an ack");
                let ack = Ack::from_args(args);
                std::thread::spawn(move || assert!(deferred.send(ack)))
                    .join()
                    .unwrap();
                None
            });
        })
        .simulate()
}

/// Every message since the last read, each a msgpack packet.
fn packets(peer: &mut WsPeer, sim: &mut Sim<Router>) -> Vec<OwnedPacket> {
    sim.settle();
    peer.read(sim)
        .into_iter()
        .map(|g| match g {
            Got::Binary(b) => decode_msgpack(&b, &Limits::default()).expect("a msgpack packet"),
            other => panic!("expected a binary msgpack message, got {other:?}"),
        })
        .collect()
}

/// A peer joined to `/` with the msgpack parser; returns it and its socket id.
fn joined(sim: &mut Sim<Router>) -> (WsPeer, String) {
    let mut peer = WsPeer::open(sim, "");
    let open = peer.texts(sim);
    assert!(
        matches!(open.first(), Some(t) if t.starts_with("0{")),
        "{open:?}"
    );
    let mut connect = Vec::new();
    msgpack::write_map_len(&mut connect, 2);
    msgpack::write_str(&mut connect, "type");
    msgpack::write_uint(&mut connect, 0);
    msgpack::write_str(&mut connect, "nsp");
    msgpack::write_str(&mut connect, "/");
    peer.send_binary(sim, &connect);
    let got = packets(&mut peer, sim);
    let [reply] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(reply.ty, PacketType::Connect);
    let data: serde_json::Value = serde_json::from_str(reply.data.as_deref().unwrap()).unwrap();
    (peer, data["sid"].as_str().unwrap().to_string())
}

/// The event name, the JSON of the arguments (placeholders as sent) and the attachments.
fn event(p: &OwnedPacket) -> (&str, &str, &[Bytes]) {
    (
        p.event_name().unwrap_or_default(),
        p.data.as_deref().unwrap_or_default(),
        &p.attachments,
    )
}

#[test]
fn an_ack_sent_later_from_another_thread_is_msgpack() {
    let (mut sim, _handle) = server();
    let (mut peer, _) = joined(&mut sim);
    // {type: 2, nsp: "/", data: ["later", "x", <bin 1 2>], id: 5}
    let mut e = Vec::new();
    msgpack::write_map_len(&mut e, 4);
    msgpack::write_str(&mut e, "type");
    msgpack::write_uint(&mut e, 2);
    msgpack::write_str(&mut e, "nsp");
    msgpack::write_str(&mut e, "/");
    msgpack::write_str(&mut e, "data");
    msgpack::write_array_len(&mut e, 3);
    msgpack::write_str(&mut e, "later");
    msgpack::write_str(&mut e, "x");
    msgpack::write_bin(&mut e, &[1, 2]);
    msgpack::write_str(&mut e, "id");
    msgpack::write_uint(&mut e, 5);
    peer.send_binary(&mut sim, &e);
    let got = packets(&mut peer, &mut sim);
    let [ack] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!((ack.ty, ack.id), (PacketType::BinaryAck, Some(5)));
    assert_eq!(
        ack.data.as_deref(),
        Some(r#"["x",{"_placeholder":true,"num":0}]"#)
    );
    assert_eq!(ack.attachments, [Bytes::from_static(&[1, 2])]);
}

#[test]
fn handle_emits_and_broadcasts_are_msgpack_with_inline_binary() {
    let (mut sim, handle) = server();
    let (mut a, sid_a) = joined(&mut sim);
    let (mut b, _) = joined(&mut sim);
    let bin = Bytes::from_static(b"ab");
    handle.of("/").emit("news", &(1, &bin)).unwrap();
    for peer in [&mut a, &mut b] {
        let got = packets(peer, &mut sim);
        let [news] = got.as_slice() else {
            panic!("{got:?}")
        };
        assert_eq!(news.ty, PacketType::BinaryEvent);
        let want = r#"["news",1,{"_placeholder":true,"num":0}]"#;
        assert_eq!(event(news), ("news", want, &[bin.clone()][..]));
    }
    assert_eq!(
        handle.emit_to("/", &sid_a, "direct", &("only a",)),
        Ok(true)
    );
    let got = packets(&mut a, &mut sim);
    let [direct] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(event(direct), ("direct", r#"["direct","only a"]"#, &[][..]));
    assert!(packets(&mut b, &mut sim).is_empty());
}
