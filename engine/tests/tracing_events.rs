//! The engine reports through `tracing`: a subscriber sees connects, disconnects with their
//! reason and a refused handshake with why, each with its worker, sid and namespace fields.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{http_status, wait_until, RawWs};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use volley::server::Server;

/// One event: its level and fields (`message` included), values as text.
#[derive(Debug, Clone)]
struct Seen {
    level: Level,
    fields: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Seen>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: Subscriber> Layer<S> for Collect {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let level = *event.metadata().level();
        self.0.lock().unwrap().push(Seen { level, fields });
    }
}

impl Collect {
    /// The first event whose message is `message` and whose fields include `with`.
    fn find(&self, message: &str, with: &[(&str, &str)]) -> Option<Seen> {
        self.0.lock().unwrap().iter().find_map(|e| {
            let matches = e.fields.get("message").map(String::as_str) == Some(message)
                && with
                    .iter()
                    .all(|(k, v)| e.fields.get(*k).map(String::as_str) == Some(*v));
            matches.then(|| e.clone())
        })
    }

    fn wait(&self, message: &str, with: &[(&str, &str)]) -> Seen {
        let mut found = None;
        wait_until(Duration::from_secs(10), || {
            found = self.find(message, with);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            let all = self.0.lock().unwrap().clone();
            panic!("no {message:?} event with {with:?}; saw {all:#?}")
        })
    }
}

#[test]
fn a_subscriber_sees_connects_disconnects_and_refusals() {
    let collect = Collect::default();
    let subscriber = tracing_subscriber::registry().with(collect.clone());
    // Global: the events come from the server's worker threads.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 2;
        })
        .namespace("/chat", |_| {})
        .listen()
        .unwrap();
    let addr = server.local_addr();

    let (mut ws, _) = RawWs::eio_connect(addr, "/socket.io/");
    let sid = ws.sio_join("/chat");
    let connected = collect.wait("socket connected", &[("sid", &sid), ("namespace", "/chat")]);
    assert_eq!(connected.level, Level::DEBUG);
    assert!(connected.fields.contains_key("worker"));
    ws.send_text("41/chat,");
    let gone = collect.wait(
        "socket disconnected",
        &[
            ("sid", &sid),
            ("namespace", "/chat"),
            ("reason", "client namespace disconnect"),
        ],
    );
    assert_eq!(gone.level, Level::DEBUG);

    let status = http_status(
        addr,
        b"GET /socket.io/?EIO=4&transport=carrier-pigeon HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(status, 400);
    collect.wait(
        "request refused",
        &[("reason", "Transport unknown"), ("status", "400")],
    );
    server.shutdown();
}
