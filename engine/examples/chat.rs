//! A small chat server: Socket.IO on `/socket.io/`, namespace `/`.
//!
//! - `join` `{"name": "..."}` (1 to 32 characters): enters the chat; everyone else gets
//!   `joined` `{"name"}`; the ack is `{"members": [names in joining order]}`.
//! - `say` `{"text": "..."}` (at most 1000 characters): everyone else gets `message`
//!   `{"from", "text"}`; the ack is `{"delivered": n}`.
//! - leaving, for any reason: everyone else gets `left` `{"name"}`.
//!
//! A refused request is acked with `{"error": "..."}`. There are no rooms or broadcasts yet, so
//! the members live in a shared registry and each delivery is one `ServerHandle::emit_to`, which
//! reaches a socket on any worker.
//!
//! `VOLLEY_LISTEN=127.0.0.1:3000 cargo run --example chat`

#[path = "support/logging.rs"]
mod logging;

use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::json;
use volley::server::{Ack, Args, Server, ServerHandle, Socket};

const MAX_NAME: usize = 32;
const MAX_TEXT: usize = 1000;

#[derive(Deserialize)]
struct Join {
    name: String,
}

#[derive(Deserialize)]
struct Say {
    text: String,
}

#[derive(Serialize)]
struct Message<'a> {
    from: &'a str,
    text: &'a str,
}

/// Members by socket id, in joining order.
#[derive(Default)]
struct Chat {
    members: Mutex<Vec<(String, String)>>,
    /// Set right after `listen`; only handlers, which run once clients connect, read it.
    handle: OnceLock<ServerHandle>,
}

impl Chat {
    fn name_of(&self, sid: &str) -> Option<String> {
        let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        members
            .iter()
            .find(|(s, _)| s == sid)
            .map(|(_, n)| n.clone())
    }

    /// Emits `event` to every member but `except`; returns how many it was sent to.
    fn tell_others<T: Serialize>(&self, except: &str, event: &str, args: &T) -> usize {
        let others: Vec<String> = {
            let members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            members
                .iter()
                .filter(|(s, _)| s != except)
                .map(|(s, _)| s.clone())
                .collect()
        };
        let Some(handle) = self.handle.get() else {
            return 0;
        };
        others
            .iter()
            .filter(|sid| matches!(handle.emit_to("/", sid, event, args), Ok(true)))
            .count()
    }

    fn join(&self, s: &mut Socket<'_, '_>, args: &Args<'_>) -> Ack {
        let name = match args.deserialize::<Join>(0) {
            Ok(j) if !j.name.is_empty() && j.name.chars().count() <= MAX_NAME => j.name,
            _ => return error("join needs {\"name\"} of 1 to 32 characters"),
        };
        let members: Vec<String> = {
            let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            match members.iter_mut().find(|(sid, _)| sid == s.id()) {
                Some(member) => member.1 = name.clone(),
                None => members.push((s.id().to_string(), name.clone())),
            }
            members.iter().map(|(_, n)| n.clone()).collect()
        };
        self.tell_others(s.id(), "joined", &[json!({ "name": name })]);
        Ack::one(&json!({ "members": members })).unwrap_or_else(|_| Ack::empty())
    }

    fn say(&self, s: &mut Socket<'_, '_>, args: &Args<'_>) -> Ack {
        let Some(from) = self.name_of(s.id()) else {
            return error("join first");
        };
        let text = match args.deserialize::<Say>(0) {
            Ok(say) if say.text.chars().count() <= MAX_TEXT => say.text,
            _ => return error("say needs {\"text\"} of at most 1000 characters"),
        };
        let message = Message {
            from: &from,
            text: &text,
        };
        let delivered = self.tell_others(s.id(), "message", &[message]);
        Ack::one(&json!({ "delivered": delivered })).unwrap_or_else(|_| Ack::empty())
    }

    fn leave(&self, sid: &str) {
        let name = {
            let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
            let at = members.iter().position(|(s, _)| s == sid);
            at.map(|i| members.remove(i).1)
        };
        if let Some(name) = name {
            self.tell_others(sid, "left", &[json!({ "name": name })]);
        }
    }
}

fn error(message: &str) -> Ack {
    Ack::one(&json!({ "error": message })).unwrap_or_else(|_| Ack::empty())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    volley::runtime::signal::block_termination_signals()?;
    logging::init(); // RUST_LOG decides what goes to stderr
    let chat = Arc::new(Chat::default());
    let (c1, c2, c3) = (chat.clone(), chat.clone(), chat.clone());
    let server = Server::from_env()?
        .namespace("/", move |ns| {
            ns.on("join", move |s, args| Some(c1.join(s, args)));
            ns.on("say", move |s, args| Some(c2.say(s, args)));
            ns.on_disconnect(move |s, _| c3.leave(s.id()));
        })
        .listen()?;
    // Never already set: this is the only place that sets it.
    let _ = chat.handle.set(server.handle());
    println!("chat listening on {}", server.local_addr());
    server.run_until_signal()?;
    Ok(())
}
