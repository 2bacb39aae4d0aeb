//! The runtime: worker threads with per-core event loops that own their connections, their
//! timers and their write queues. Protocol stacks plug in through [`Service`].
//!
//! - `worker`: the event loop (accept, read/parse, flush, timers, mailbox);
//! - `conn`: one connection's state; `outq`: its write queue (writev);
//! - `timer`: the hashed timer wheel; `handle`: cross-thread mailboxes;
//! - `listener`: SO_REUSEPORT listeners; `signal`: SIGTERM/SIGINT for servers.

mod conn;
mod handle;
pub mod listener;
pub mod outq;
mod service;
pub mod signal;
pub mod timer;
mod worker;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use conn::ConnId;
pub use handle::Peers;
pub use service::{Action, CloseReason, Cx, Service};

use crate::config::Config;
use handle::Envelope;

/// Connection counters shared by every worker of a runtime.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections refused because `max_connections` were open.
    pub rejected: AtomicU64,
}

/// A running set of workers serving one [`Service`].
pub struct Runtime<S: Service> {
    peers: Peers<S::Message>,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
}

impl<S: Service> Runtime<S> {
    /// Binds `config.listen` (one SO_REUSEPORT listener per worker) and starts
    /// `config.workers` threads, pinned to cores from `config.first_core` when
    /// `config.pin_cores` is set.
    pub fn start(config: Config, service: Arc<S>) -> io::Result<Self> {
        let workers = config.workers.max(1);
        if workers > u16::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many workers",
            ));
        }
        let listeners = listener::bind_reuseport(config.listen, workers)?;
        let local_addr = listeners[0].local_addr()?;
        let mut polls = Vec::with_capacity(workers);
        let mut wakers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let poll = mio::Poll::new()?;
            wakers.push(Arc::new(mio::Waker::new(poll.registry(), mio::Token(1))?));
            polls.push(poll);
        }
        let (peers, mailboxes) = Peers::new(wakers);
        let cores = if config.pin_cores {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let config = Arc::new(config);
        let counters = Arc::new(Counters::default());
        let mut threads = Vec::with_capacity(workers);
        for (i, ((poll, mut listener), mailbox)) in
            polls.into_iter().zip(listeners).zip(mailboxes).enumerate()
        {
            poll.registry()
                .register(&mut listener, worker::LISTENER, mio::Interest::READABLE)?;
            let core = (!cores.is_empty()).then(|| cores[(config.first_core + i) % cores.len()]);
            let (service, config, peers, counters) = (
                service.clone(),
                config.clone(),
                peers.clone(),
                counters.clone(),
            );
            // The worker is built on its own thread: sessions and worker state never cross threads.
            let t = std::thread::Builder::new()
                .name(format!("volley-worker-{i}"))
                .spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    worker::Worker::new(
                        i as u16, service, config, poll, listener, mailbox, peers, counters,
                    )
                    .run();
                })?;
            threads.push(t);
        }
        Ok(Runtime {
            peers,
            counters,
            threads,
            local_addr,
        })
    }

    /// The address the listeners are bound to (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Connections open and refused, across workers.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Mailboxes of the workers, for sending them service messages from any thread.
    pub fn peers(&self) -> &Peers<S::Message> {
        &self.peers
    }

    /// Starts a graceful shutdown without waiting: workers stop accepting, close their
    /// WebSockets with 1001, flush what is queued (up to `shutdown_timeout`) and exit.
    pub fn begin_shutdown(&self) {
        for w in 0..self.peers.len() {
            self.peers.send(w, Envelope::Shutdown);
        }
    }

    /// Graceful shutdown; returns when every worker has exited.
    pub fn shutdown(self) {
        self.begin_shutdown();
        self.join();
    }

    /// Waits for the workers to exit (after a shutdown started elsewhere).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}
