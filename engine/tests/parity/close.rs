//! `packages/socket.io/test/close.ts`: closing the server disconnects its clients and frees the
//! port; protocol violations end the session cleanly (a close packet over polling).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use volley::server::{Ack, Server};

type Closer = Arc<Mutex<Option<mpsc::Sender<()>>>>;

fn listen(closer: Option<Closer>) -> Server {
    super::harness::builder()
        .namespace("/", move |ns| {
            if let Some(closer) = closer.clone() {
                // Asks the test to shut down the server started for this run.
                ns.on("close-other", move |_, _| {
                    let sent = closer.lock().unwrap().take().map(|tx| tx.send(()));
                    Ack::new(&sent.is_some_and(|r| r.is_ok())).ok()
                });
            }
        })
        .listen()
        .unwrap()
}

#[test]
fn close() {
    let closer: Closer = Arc::default();
    let server = listen(Some(closer.clone()));
    let url = format!("http://{}", server.local_addr());
    let mut closing = Vec::new();
    super::harness::run_each("close", |_| {
        let other = listen(None);
        let other_url = format!("http://{}", other.local_addr());
        let (tx, rx) = mpsc::channel();
        *closer.lock().unwrap() = Some(tx);
        closing.push(std::thread::spawn(move || {
            let _ = rx.recv_timeout(Duration::from_secs(30));
            other.shutdown();
        }));
        vec![url.clone(), other_url]
    });
    for t in closing {
        t.join().unwrap();
    }
    server.shutdown();
}
