//! `packages/socket.io/test/middleware.ts`: connect middleware run in order before the
//! connection, refusals with a message and data, state set in middleware seen afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::json;
use volley::server::{Ack, ConnectError, Server};

/// The application's runtime, where asynchronous middleware runs (one per test process).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .expect("a tokio runtime")
    })
}

fn server() -> Server {
    let main_runs = Arc::new(AtomicUsize::new(0));
    let runs = main_runs.clone();
    // What `/closed-early` did: "started" when its middleware began, "connected" if the
    // connection handler ran; read back by `/stats`'s `closed-early`.
    let closed_early = Arc::new(Mutex::new(Vec::<String>::new()));
    let (log, mw_log, read_log) = (closed_early.clone(), closed_early.clone(), closed_early);
    super::harness::builder()
        .spawner(|future| {
            runtime().spawn(future);
        })
        // `io.use((socket, next) => setTimeout(() => { authenticated = true; next() }, 300))`,
        // waiting 1 s: a quick connect beside it must win the race even on a loaded machine.
        .namespace("/lengthy", |ns| {
            ns.middleware_async(|req| async move {
                tokio::time::sleep(Duration::from_millis(1000)).await;
                req.set_data(true);
                Ok(())
            });
            ns.on_connect(|s, _| {
                let authenticated = s.data::<bool>().copied().unwrap_or(false);
                s.emit("authenticated", &authenticated)
                    .map_err(|e| ConnectError::new(e.to_string()))
            });
        })
        .namespace("/closed-early", move |ns| {
            let log = log.clone();
            ns.middleware_async(move |_| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push("started".into());
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(())
                }
            });
            let log = mw_log.clone();
            ns.on_connect(move |_, _| {
                log.lock().unwrap().push("connected".into());
                Ok(())
            });
        })
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
            let log = read_log.clone();
            // `closed-early`: the log; `closed-early "reset"`: empties it first (a run per mode).
            ns.on("closed-early", move |_, args| {
                let mut log = log.lock().unwrap();
                if args.get(0).and_then(|a| a.as_str()).as_deref() == Some("reset") {
                    log.clear();
                }
                Ack::one(&*log).ok()
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
