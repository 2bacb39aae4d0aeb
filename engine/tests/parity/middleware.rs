//! `packages/socket.io/test/middleware.ts`: connect middleware run in order before the
//! connection, refusals with a message and data, state set in middleware seen afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use volley::server::{Ack, ConnectError, Server};

fn server() -> Server {
    let main_runs = Arc::new(AtomicUsize::new(0));
    let runs = main_runs.clone();
    super::harness::builder()
        .namespace("/", move |ns| {
            ns.middleware(move |_, _| {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
        })
        .namespace("/stats", move |ns| {
            let runs = main_runs.clone();
            ns.on("main-runs", move |_, _| {
                Ack::new(&runs.load(Ordering::SeqCst)).ok()
            });
        })
        .namespace("/count", |ns| {
            ns.middleware(|s, _| {
                s.set_data(1u32);
                Ok(())
            });
            ns.middleware(|s, _| {
                if let Some(n) = s.data_mut::<u32>() {
                    *n += 1;
                }
                Ok(())
            });
            ns.on_connect(|s, _| {
                let ran = s.data::<u32>().copied();
                s.emit("ran", &ran)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/error", |ns| {
            ns.middleware(|_, _| Err(ConnectError::new("Authentication error")));
            ns.middleware(|_, _| panic!("a middleware after a refusal ran"));
        })
        .namespace("/object", |ns| {
            ns.middleware(|_, _| {
                Err(ConnectError::new("Authentication error").with_data(&json!({"a": "b", "c": 3})))
            });
        })
        .namespace("/data", |ns| {
            ns.middleware(|s, _| {
                s.set_data(json!({"name": "guest"}));
                Ok(())
            });
            ns.on_connect(|s, _| {
                let name = s.data::<serde_json::Value>().map(|d| d["name"].clone());
                s.emit("name", &name)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/order", |ns| {
            for i in 1..=3u32 {
                ns.middleware(move |s, _| {
                    match s.data_mut::<Vec<u32>>() {
                        Some(order) => order.push(i),
                        None => s.set_data(vec![i]),
                    }
                    Ok(())
                });
            }
            ns.on("order", |s, _| Ack::new(&s.data::<Vec<u32>>()).ok());
        })
        .namespace("/connected", |ns| {
            ns.middleware(|s, _| {
                s.set_data(s.connected());
                Ok(())
            });
            ns.on("states", |s, _| {
                Ack::new(&(s.data::<bool>().copied(), s.connected())).ok()
            });
        })
        .listen()
        .unwrap()
}

#[test]
fn middleware() {
    super::harness::check("middleware", server());
}
