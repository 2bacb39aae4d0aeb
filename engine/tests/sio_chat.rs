//! Smoke test of the chat example (engine/examples/chat.rs) as its own process, with clients on
//! our own codec spread over its two workers.

mod common;

use common::{RawWs, ServerProcess};

#[test]
fn members_see_each_other_join_talk_and_leave() {
    let server = ServerProcess::start("chat", &[]);
    let (mut alice, _) = RawWs::sio_connect(server.addr, "/");
    let (mut bob, _) = RawWs::sio_connect(server.addr, "/");

    bob.send_text(r#"420["say",{"text":"too early"}]"#);
    assert_eq!(bob.next_text(), r#"430[{"error":"join first"}]"#);
    alice.send_text(r#"421["join",{"name":""}]"#);
    assert!(alice.next_text().starts_with(r#"431[{"error":"#));

    alice.send_text(r#"422["join",{"name":"alice"}]"#);
    assert_eq!(alice.next_text(), r#"432[{"members":["alice"]}]"#);
    bob.send_text(r#"423["join",{"name":"bob"}]"#);
    assert_eq!(bob.next_text(), r#"433[{"members":["alice","bob"]}]"#);
    assert_eq!(alice.next_text(), r#"42["joined",{"name":"bob"}]"#);

    alice.send_text(r#"424["say",{"text":"hi bob \"é\""}]"#);
    assert_eq!(alice.next_text(), r#"434[{"delivered":1}]"#);
    assert_eq!(
        bob.next_text(),
        r#"42["message",{"from":"alice","text":"hi bob \"é\""}]"#
    );
    // A say without an ack request still reaches the others.
    bob.send_text(r#"42["say",{"text":"hello"}]"#);
    assert_eq!(
        alice.next_text(),
        r#"42["message",{"from":"bob","text":"hello"}]"#
    );

    bob.send_text("41");
    // Alice never got her own message: the next thing she sees is bob leaving.
    assert_eq!(alice.next_text(), r#"42["left",{"name":"bob"}]"#);
    alice.send_text(r#"425["say",{"text":"anyone?"}]"#);
    assert_eq!(alice.next_text(), r#"435[{"delivered":0}]"#);
}
