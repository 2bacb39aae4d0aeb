//! `packages/socket.io/test/socket-timeout.ts`: `socket.timeout(ms).emit` with the error-first
//! acknowledgement: an error when no ack comes in time (exactly once), the reply otherwise.

use std::time::Duration;

use volley::server::{AckError, Server};

/// What a timed emit's callback got, as the client is told: `["timeout"]`, or `[null, ...args]`.
fn report(
    s: &mut volley::server::Socket<'_, '_>,
    reply: Result<&volley::server::Args<'_>, AckError>,
) {
    let _ = match reply {
        Ok(args) => s.emit("result", &(serde_json::Value::Null, args.get(0))),
        Err(AckError::Timeout) => s.emit("result", "timeout"),
        Err(e) => s.emit("result", &e.to_string()),
    };
}

fn server() -> Server {
    super::harness::builder()
        .namespace("/unknown", |ns| {
            ns.on_connect(|s, _| {
                s.timeout(Duration::from_millis(50))
                    .emit("unknown", &(), report)
                    .map(|_| ())
                    .map_err(|e| volley::server::ConnectError::new(e.to_string()))
            });
        })
        .namespace("/in-time", |ns| {
            ns.on("start", |s, _| {
                s.timeout(Duration::ZERO).emit("echo", &42, report).ok();
                None
            });
        })
        .namespace("/acked", |ns| {
            ns.on("start", |s, _| {
                s.timeout(Duration::from_millis(50))
                    .emit("echo", &40, report)
                    .ok();
                None
            });
        })
        .listen()
        .unwrap()
}

#[test]
fn socket_timeout() {
    super::harness::check("socket-timeout", server());
}
