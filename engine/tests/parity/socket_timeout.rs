//! `packages/socket.io/test/socket-timeout.ts`: `socket.timeout(ms).emit` with the error-first
//! acknowledgement: an error when no ack comes in time (exactly once), the reply otherwise.

use std::time::Duration;

use futures::executor::block_on;
use volley::server::{AckError, AckFuture, Server, Socket};

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

/// Awaits `future` off the worker (as an `async` connection handler awaits `emitWithAck`) and
/// reports its outcome to socket `s` like [`report`].
fn await_and_report(s: &mut Socket<'_, '_>, future: AckFuture) {
    let (handle, nsp, id) = (s.server(), s.nsp().to_string(), s.id().to_string());
    std::thread::spawn(move || {
        let to = handle.of(&nsp).to(&id);
        let _ = match block_on(future) {
            Ok(reply) => to.emit(
                "result",
                &(serde_json::Value::Null, reply.arg::<i64>(0).ok()),
            ),
            Err(AckError::Timeout) => to.emit("result", "timeout"),
            Err(e) => to.emit("result", &e.to_string()),
        };
    });
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
        .namespace("/unknown-promise", |ns| {
            ns.on_connect(|s, _| {
                let future = s
                    .timeout(Duration::from_millis(50))
                    .emit_with_ack("unknown", &())
                    .map_err(|e| volley::server::ConnectError::new(e.to_string()))?;
                await_and_report(s, future);
                Ok(())
            });
        })
        .namespace("/acked-promise", |ns| {
            ns.on("start", |s, _| {
                let future = s
                    .timeout(Duration::from_millis(50))
                    .emit_with_ack("echo", &42)
                    .ok()?;
                await_and_report(s, future);
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
