//! `packages/socket.io/test/socket-middleware.ts`: event middleware (`socket.use`) runs in order
//! before the handlers, and a refusal reaches the socket's error handlers instead.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use volley::server::{Ack, Server};

fn server() -> Server {
    super::harness::builder()
        .namespace("/calls", |ns| {
            // The handler must see both middleware ran for this very event.
            let seen = Arc::new(AtomicUsize::new(0));
            let (a, b, c) = (seen.clone(), seen.clone(), seen);
            ns.use_events(move |_, event, args| {
                let woot: Option<String> = args.deserialize(0).ok();
                if (event, woot.as_deref()) != ("join", Some("woot")) {
                    return Err(format!("first middleware saw {event} {woot:?}"));
                }
                a.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
            ns.use_events(move |_, event, _| {
                if event != "join" {
                    return Err(format!("second middleware saw {event}"));
                }
                b.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
            ns.on("join", move |_, args| {
                let runs = c.swap(0, Ordering::SeqCst);
                let data: Option<String> = args.deserialize(0).ok();
                Ack::new(&(data, runs)).ok()
            });
            ns.on_error(|s, message| {
                let _ = s.emit("middleware-error", message);
            });
        })
        .namespace("/errors", |ns| {
            ns.use_events(|_, _, _| Err("Authentication error".into()));
            ns.use_events(|_, _, _| panic!("the middleware after a refusal ran"));
            ns.on("join", |s, _| {
                let _ = s.emit("handled", &());
                None
            });
            ns.on_error(|s, message| {
                let _ = s.emit("error", message);
            });
        })
        .listen()
        .unwrap()
}

#[test]
fn socket_middleware() {
    super::harness::check("socket-middleware", server());
}
