//! `packages/socket.io/test/utility-methods.ts`: `fetchSockets`, `socketsJoin`, `socketsLeave`
//! and `disconnectSockets` through the server handle, on a whole namespace or one room. Each
//! scenario uses a namespace of its own (`/util-<name>`), so runs never see each other.

use std::time::Duration;

use volley::server::{Ack, Server};

const WAIT: Duration = Duration::from_secs(2);

fn server() -> Server {
    super::harness::builder()
        .namespace("/util-{id}", |ns| {
            ns.on("join", |s, args| {
                let rooms: Vec<String> = args.deserialize(0).ok()?;
                for r in &rooms {
                    s.join(r);
                }
                Some(Ack::empty())
            });
            // ["op", room or null, argument]: runs the operation on the handle from another
            // thread (handle calls block), then answers with every socket of the namespace and
            // its rooms (a fetch after the operation sees it: each worker's mailbox is in order).
            ns.on("op", |s, args| {
                let op: String = args.deserialize(0).ok()?;
                let room: Option<String> = args.deserialize(1).ok()?;
                let arg: Option<String> = args.deserialize(2).ok()?;
                let handle = s.server();
                let nsp = s.nsp().to_string();
                let ack = s.ack_later()?;
                std::thread::spawn(move || {
                    let mut target = handle.of(&nsp);
                    if let Some(r) = &room {
                        target = target.to(r);
                    }
                    let arg = arg.unwrap_or_default();
                    let fetched = match op.as_str() {
                        "fetch" => target.fetch_sockets(WAIT).unwrap(),
                        "join" => {
                            target.sockets_join(&arg);
                            handle.of(&nsp).fetch_sockets(WAIT).unwrap()
                        }
                        "leave" => {
                            target.sockets_leave(&arg);
                            handle.of(&nsp).fetch_sockets(WAIT).unwrap()
                        }
                        "disconnect" => {
                            // The asker is left out of the room it asks about, so it gets this.
                            target.disconnect_sockets(true);
                            Vec::new()
                        }
                        _ => Vec::new(),
                    };
                    let mut sockets: Vec<(String, Vec<String>)> = fetched
                        .into_iter()
                        .map(|s| {
                            let mut rooms = s.rooms;
                            rooms.retain(|r| *r != s.id);
                            rooms.sort();
                            (s.id, rooms)
                        })
                        .collect();
                    sockets.sort();
                    ack.send(Ack::one(&sockets).unwrap());
                });
                None
            });
        })
        .listen()
        .unwrap()
}

#[test]
fn utility_methods() {
    super::harness::check("utility-methods", server());
}
