//! Proof of the broadcast accounting: a test-double Socket.IO server (built on `volley::server`,
//! in this process) drops every 10th broadcast and delivers every 7th one twice, and
//! `volley-loadgen broadcast` must report exactly those losses and duplicates.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use volley::server::{Ack, Server};

/// What the faulty server did, counted as it did it.
#[derive(Default)]
struct Faults {
    received: AtomicU64,
    dropped: AtomicU64,
    doubled: AtomicU64,
}

const MEMBERS: u64 = 6;

#[test]
fn broadcast_reports_exactly_the_losses_and_duplicates_the_server_caused() {
    let faults = Arc::new(Faults::default());
    let f = Arc::clone(&faults);
    let server = Server::builder()
        .configure(|c| {
            c.listen = "127.0.0.1:0".parse().unwrap();
            c.workers = 1;
        })
        .namespace("/", move |ns| {
            ns.on("join", |socket, args| {
                if let Some(room) = args.get(0).and_then(|r| r.as_str()) {
                    socket.join(&room);
                }
                Some(Ack::empty())
            });
            ns.on("broadcast", move |socket, args| {
                let n = f.received.fetch_add(1, Ordering::SeqCst) + 1;
                let room = args.get(0).and_then(|r| r.as_str())?;
                let payload = args.get(1).and_then(|p| p.as_str())?;
                if n % 10 == 0 {
                    f.dropped.fetch_add(1, Ordering::SeqCst);
                    return None;
                }
                let copies = if n % 7 == 0 {
                    f.doubled.fetch_add(1, Ordering::SeqCst);
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let _ = socket.within(&room).emit("broadcast", &payload);
                }
                None
            });
        })
        .listen()
        .unwrap();
    let url = format!("http://{}", server.local_addr());
    let members = MEMBERS.to_string();
    let (out, doc) = common::run_loadgen(
        &[
            "broadcast",
            "--url",
            &url,
            "-c",
            &members,
            "--senders",
            "1",
            "--rate",
            "60",
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--drain",
            "1",
            "--threads",
            "1",
            "-q",
        ],
        Duration::from_secs(60),
    );
    server.shutdown();

    let received = faults.received.load(Ordering::SeqCst);
    let dropped = faults.dropped.load(Ordering::SeqCst);
    let doubled = faults.doubled.load(Ordering::SeqCst);
    // 60/s for 1.2 s: enough broadcasts that both faults happen several times.
    assert!(
        received >= 40,
        "only {received} broadcasts reached the server"
    );
    assert!(
        dropped >= 3 && doubled >= 3,
        "{dropped} dropped, {doubled} doubled"
    );

    let s = &doc["summary"];
    let b = &s["broadcast"];
    assert_eq!(b["members"], MEMBERS, "{s}");
    assert_eq!(
        b["broadcasts"], received,
        "every broadcast sent reached the server: {s}"
    );
    assert_eq!(b["expected"], MEMBERS * received, "{s}");
    assert_eq!(b["lost"], MEMBERS * dropped, "{s}");
    assert_eq!(b["incomplete"], dropped, "{s}");
    assert_eq!(b["delivered"], MEMBERS * (received - dropped), "{s}");
    let c = &s["counters"];
    assert_eq!(c["lost"], MEMBERS * dropped, "{s}");
    assert_eq!(c["duplicated"], MEMBERS * doubled, "{s}");
    assert_eq!(
        (c["dropped"].as_u64(), c["protocol_errors"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    assert_eq!(s["errors_total"], MEMBERS * (dropped + doubled), "{s}");
    assert_eq!(
        out.status.code(),
        Some(2),
        "counted errors make the exit status 2"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "lost {}, duplicated {}",
            MEMBERS * dropped,
            MEMBERS * doubled
        )),
        "{stdout}"
    );
}
