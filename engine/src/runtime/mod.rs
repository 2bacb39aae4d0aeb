//! The runtime: worker threads with per-core event loops that own their connections, their
//! timers and their write queues. Protocol stacks plug in through [`Service`].
//!
//! - `worker`: the connection logic (parse/dispatch, closes, timers, mailbox, hand-offs) and
//!   its two I/O backends, epoll (mio) and io_uring;
//! - `uring`: io_uring setup (probing, rings, provided buffers, `user_data` encoding);
//! - `conn`: one connection's state; `sock`: its socket (a descriptor or a direct one); `outq`:
//!   its write queue (send / writev on epoll, send / sendmsg on io_uring);
//! - `tls`: TLS on a connection's byte stream (the `tls` feature);
//! - `timer`: the hashed timer wheel; `mailbox`: cross-thread mailboxes;
//! - `listener`: each worker's listening sockets; `signal`: SIGTERM/SIGINT for servers.
//!
//! `outq` and `timer` are the runtime's own: services see a [`TimerKey`] and [`Cx`]'s methods.

pub(crate) mod budget;
mod conn;
mod deflate;
pub mod listener;
mod mailbox;
pub(crate) mod outq;
mod queue_age;
mod service;
pub mod signal;
mod sock;
pub(crate) mod timer;
mod tls;
mod uring;
mod worker;

#[cfg(test)]
mod tests;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

pub use conn::ConnId;
pub use mailbox::Peers;
pub use service::{Action, CloseReason, Cx, Detached, Service};
pub use timer::TimerKey;

use crate::config::{AcceptMode, Backend, RuntimeConfig};
use mailbox::{Envelope, Waker};
#[cfg(test)]
pub(crate) use worker::sim::{Sim, SimConn};
use worker::{EpollIo, UringIo, Worker, WorkerCtx};

/// Connection counters shared by every worker of a runtime.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections refused because `max_connections` were open.
    pub rejected: AtomicU64,
    /// Times a worker paused accepting because the process ran out of descriptors (or
    /// memory), one per back-off.
    pub accept_pauses: AtomicU64,
    /// Connections cut as slow consumers because their worker's queues passed its share of
    /// `max_buffered_total`.
    pub budget_cuts: AtomicU64,
    /// Connections moving to another worker that waited for a descriptor (io_uring direct
    /// descriptors: the move needs a plain one), one per wait.
    pub handoff_waits: AtomicU64,
    /// Connections lost moving to another worker: no descriptor came free in time, or the
    /// receiving worker had stopped.
    pub handoff_failures: AtomicU64,
    /// Connections cut as slow consumers because their oldest queued byte waited past
    /// `max_queue_age`.
    pub queue_age_cuts: AtomicU64,
}

/// A running set of workers serving one [`Service`].
pub struct Runtime<S: Service> {
    peers: Peers<S::Message>,
    counters: Arc<Counters>,
    threads: Vec<JoinHandle<()>>,
    local_addrs: Vec<SocketAddr>,
    backend: Backend,
}

/// The value environment variable `var` gives (read by `parse`, which `expected` describes),
/// when it is set; otherwise `configured`.
fn env_override<T>(
    var: &str,
    configured: T,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> io::Result<T> {
    match std::env::var(var) {
        Err(_) => Ok(configured),
        Ok(v) => parse(&v).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{var}={v:?}: expected {expected}"),
            )
        }),
    }
}

/// io_uring rings for `workers` workers, or `None` (with a warning) when the kernel refuses
/// them and the runtime falls back to epoll.
fn uring_or_fallback(workers: usize) -> Option<Vec<uring::Parts>> {
    match uring::setup(workers) {
        Ok(parts) => Some(parts),
        Err(e) => {
            tracing::warn!(error = %e, "io_uring unavailable; falling back to epoll");
            None
        }
    }
}

/// Switches the rings to direct descriptors, or warns why connections stay plain descriptors.
fn direct_or_plain(rings: &mut [uring::Parts], accept: AcceptMode) {
    if accept == AcceptMode::Acceptor {
        tracing::warn!("VOLLEY_URING_DIRECT is ignored with the acceptor (direct descriptors cannot leave the accepting ring)");
        return;
    }
    if let Err(e) = uring::enable_direct(rings) {
        tracing::warn!(error = %e, "io_uring direct descriptors unavailable; using plain descriptors");
    }
}

/// What each worker thread builds its backend from.
enum Seed {
    Epoll(mio::Poll),
    Uring(Box<uring::Parts>),
}

impl<S: Service> Runtime<S> {
    /// Binds `config.listen` (one SO_REUSEPORT listener per worker and address, or systemd's
    /// sockets) and starts `config.workers` threads, pinned to cores from `config.first_core`
    /// when `config.pin_cores` is set. Returns once every worker is ready to serve, or the
    /// first error a worker met while starting (the others are stopped).
    ///
    /// The I/O backend is `config.backend`, unless the `VOLLEY_BACKEND` environment variable is
    /// set (`epoll` or `uring`): it overrides the configuration, so a whole test suite or a
    /// deployment can switch backends without code changes. When io_uring cannot be set up
    /// (old kernel, `io_uring_setup` refused, an opcode missing), a `tracing` warning says so and
    /// the runtime uses epoll; [`Runtime::backend`] tells which one runs. `VOLLEY_URING_DIRECT`
    /// overrides `config.uring_direct` the same way.
    pub fn start(config: impl Into<RuntimeConfig>, service: Arc<S>) -> io::Result<Self> {
        Self::start_on(config.into(), Vec::new(), service)
    }

    /// [`Runtime::start`] serving `listeners` (already bound and listening) instead of
    /// `config.listen` when there are any; each worker accepts on its own duplicate of each.
    pub fn start_on(
        mut config: RuntimeConfig,
        listeners: Vec<TcpListener>,
        service: Arc<S>,
    ) -> io::Result<Self> {
        let backend = env_override(
            "VOLLEY_BACKEND",
            config.backend,
            Backend::from_name,
            "epoll or uring",
        )?;
        config.uring_direct = env_override(
            "VOLLEY_URING_DIRECT",
            config.uring_direct,
            crate::config::parse_flag,
            "1 or 0",
        )?;
        Self::launch(config, listeners, service, backend)
    }

    /// [`Runtime::start_on`] with the backend already chosen.
    fn launch(
        config: RuntimeConfig,
        given: Vec<TcpListener>,
        service: Arc<S>,
        backend: Backend,
    ) -> io::Result<Self> {
        let workers = config.workers.max(1);
        if workers > u16::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many workers",
            ));
        }
        // A certificate that cannot serve is an error before anything listens.
        let tls = tls::load(&config)?;
        let listener::Listeners {
            per_worker: listeners,
            addrs: local_addrs,
        } = listener::open(&config.listen, given, workers, config.accept)?;
        let mut rings = match backend {
            Backend::Uring => uring_or_fallback(workers),
            Backend::Epoll => None,
        };
        if let (Some(rings), true) = (rings.as_mut(), config.uring_direct) {
            direct_or_plain(rings, config.accept);
        }
        let backend = if rings.is_some() {
            Backend::Uring
        } else {
            Backend::Epoll
        };
        let mut seeds = Vec::with_capacity(workers);
        let mut wakers = Vec::with_capacity(workers);
        match rings {
            Some(rings) => {
                for parts in rings {
                    wakers.push(Arc::new(Waker::eventfd()?));
                    seeds.push(Seed::Uring(Box::new(parts)));
                }
            }
            None => {
                for _ in 0..workers {
                    let poll = mio::Poll::new()?;
                    let waker = mio::Waker::new(poll.registry(), worker::WAKER)?;
                    wakers.push(Arc::new(Waker::Mio(waker)));
                    seeds.push(Seed::Epoll(poll));
                }
            }
        }
        let (peers, mailboxes) = Peers::new(wakers.clone(), config.mailbox_capacity);
        let cores = if config.pin_cores {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let config = Arc::new(config);
        let counters = Arc::new(Counters::default());
        let mut threads = Vec::with_capacity(workers);
        let (ready_tx, ready_rx) = mpsc::channel();
        let per_worker = seeds.into_iter().zip(listeners).zip(mailboxes).zip(wakers);
        for (i, (((seed, listeners), mailbox), waker)) in per_worker.enumerate() {
            let core = (!cores.is_empty()).then(|| cores[(config.first_core + i) % cores.len()]);
            let (service, config, worker_peers) = (service.clone(), config.clone(), peers.clone());
            let (counters, ready, tls) = (counters.clone(), ready_tx.clone(), tls.clone());
            // The worker is built on its own thread: sessions and worker state never cross
            // threads, and a ring's single issuer is the thread that enables it.
            let t = std::thread::Builder::new()
                .name(format!("volley-worker-{i}"))
                .spawn(move || {
                    if let Some(core) = core {
                        if !core_affinity::set_for_current(core) {
                            let e = io::Error::other(format!("cannot pin to core {}", core.id));
                            let _ = ready.send(Err(e));
                            return;
                        }
                    }
                    let ctx = WorkerCtx {
                        index: i as u16,
                        service,
                        config,
                        tls,
                        mailbox,
                        peers: worker_peers,
                        counters,
                    };
                    run_worker(ctx, seed, listeners, waker, ready);
                });
            match t {
                Ok(t) => threads.push(t),
                Err(e) => {
                    stop(&peers, threads);
                    return Err(e);
                }
            }
        }
        drop(ready_tx);
        // Each worker reports once, when it is about to serve or why it cannot; when every
        // sender is gone before all reported, one panicked while starting.
        for _ in 0..threads.len() {
            let failure = match ready_rx.recv() {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(_) => io::Error::other("exited while starting"),
            };
            stop(&peers, threads);
            return Err(io::Error::new(
                failure.kind(),
                format!("a worker could not start: {failure}"),
            ));
        }
        Ok(Runtime {
            peers,
            counters,
            threads,
            local_addrs,
            backend,
        })
    }

    /// The I/O backend the workers run: `config.backend` (or `VOLLEY_BACKEND`), or epoll after
    /// a fallback.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The first address the listeners serve (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0]
    }

    /// Every address the listeners serve, in the order given (with real ports).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
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

/// Stops the workers `threads` of a runtime that failed to start, and waits for them.
fn stop<M: Send>(peers: &Peers<M>, threads: Vec<JoinHandle<()>>) {
    for w in 0..peers.len() {
        peers.send(w, Envelope::Shutdown);
    }
    for t in threads {
        let _ = t.join();
    }
}

/// Builds a worker on its own thread, reports to `ready` whether that worked (dropping it
/// then, so a worker that panics while starting is noticed), and runs its loop until shutdown.
fn run_worker<S: Service>(
    ctx: WorkerCtx<S>,
    seed: Seed,
    listeners: Vec<listener::WorkerListener>,
    waker: Arc<Waker>,
    ready: mpsc::Sender<io::Result<()>>,
) {
    // The same start for either backend (their loops are methods of different types).
    macro_rules! start {
        ($io:expr) => {
            match $io {
                Ok(io) => {
                    let w = Worker::new(ctx, io);
                    let _ = ready.send(Ok(()));
                    drop(ready);
                    w.run();
                }
                Err(e) => drop(ready.send(Err(e))),
            }
        };
    }
    match seed {
        Seed::Epoll(poll) => {
            let listeners = listeners
                .into_iter()
                .map(|l| mio::net::TcpListener::from_std(l.socket))
                .collect();
            start!(EpollIo::new(poll, listeners))
        }
        Seed::Uring(parts) => {
            let batch = ctx.config.uring_batch;
            start!(UringIo::new(*parts, listeners, waker, batch))
        }
    }
}
