//! A worker in a test, on virtual time: the connection logic and the service above it run as
//! in a real worker, but input comes from the test, output goes to a buffer per connection, the
//! peer takes only as many bytes as the test lets it, and time moves only when the test says,
//! straight from one timer to the next. Nothing sleeps, so heartbeats, timeouts and slow
//! consumers are tested exactly and fast.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Io, Worker, WorkerCtx};
use crate::config::RuntimeConfig;
use crate::runtime::conn::Conn;
use crate::runtime::mailbox::{Peers, Waker};
use crate::runtime::outq::Flush;
use crate::runtime::service::Service;
use crate::runtime::sock::Sock;
use crate::runtime::Counters;

/// What the simulated peer of one connection has received and how much more it takes.
#[derive(Default)]
struct Peer {
    /// Bytes written to the connection and not yet taken by the test.
    received: Vec<u8>,
    /// Bytes the peer accepts before its window is full (`None`: any amount).
    window: Option<usize>,
    /// The server closed the connection.
    closed: bool,
}

impl Write for Peer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.window {
            Some(0) => return Err(io::ErrorKind::WouldBlock.into()),
            Some(w) => w.min(buf.len()),
            None => buf.len(),
        };
        self.received.extend_from_slice(&buf[..n]);
        if let Some(w) = &mut self.window {
            *w -= n;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The backend of a simulated worker.
pub(crate) struct SimIo {
    now: Instant,
    peers: HashMap<usize, Peer>,
}

impl SimIo {
    fn peer(&mut self, slot: usize) -> &mut Peer {
        self.peers.entry(slot).or_default()
    }
}

impl Io for SimIo {
    // Writes happen when the worker flushes, as on io_uring, so a test sees one turn's output
    // together.
    const INLINE_WRITES: bool = false;

    fn open(&mut self, slot: usize, _conn: &mut Conn) -> io::Result<()> {
        self.peers.insert(slot, Peer::default());
        Ok(())
    }

    fn flush(&mut self, slot: usize, conn: &mut Conn) -> io::Result<Flush> {
        conn.seal();
        let flushed = conn.wire().flush_to(self.peer(slot));
        if let Ok(Flush::Blocked) = flushed {
            // The peer's window refused bytes, as a full socket buffer would.
            conn.refused = true;
        }
        flushed
    }

    fn close(&mut self, slot: usize, _conn: Conn) {
        self.peer(slot).closed = true;
    }

    fn hand_off<M: Send>(
        &mut self,
        slot: usize,
        _conn: Conn,
        _input: Vec<u8>,
        _to: usize,
        _detach: bool,
        _peers: &Peers<M>,
    ) -> bool {
        // One simulated worker owns every session: nothing is handed over; the connection
        // leaves as if the peer were gone.
        self.peer(slot).closed = true;
        true
    }

    fn reject(&mut self, _sock: Sock, _answer: &'static [u8]) {}

    fn shutdown_write(&mut self, _conn: &mut Conn) {}

    fn stop_accepting(&mut self) {}

    fn resume_accepting(&mut self) {}

    fn now(&self) -> Instant {
        self.now
    }
}

/// A connection of a [`Sim`], by slot.
pub(crate) type SimConn = usize;

/// One worker of `service`, driven by the test.
pub(crate) struct Sim<S: Service> {
    worker: Worker<S, SimIo>,
    peers: Peers<S::Message>,
    /// Gives each connection a real (idle) socket: the logic asks for peer addresses.
    listener: TcpListener,
    /// The client ends of those sockets, kept open.
    clients: Vec<TcpStream>,
    start: Instant,
}

impl<S: Service> Sim<S> {
    /// Worker 0 of one, serving `service` with `config`.
    pub fn new(service: Arc<S>, config: RuntimeConfig) -> Self {
        let waker = Arc::new(Waker::eventfd().expect("eventfd"));
        let (peers, mut mailboxes) = Peers::new(vec![waker], config.mailbox_capacity);
        let start = Instant::now();
        let io = SimIo {
            now: start,
            peers: HashMap::new(),
        };
        let ctx = WorkerCtx {
            index: 0,
            service,
            config: Arc::new(config),
            tls: None,
            mailbox: mailboxes.remove(0),
            peers: peers.clone(),
            counters: Arc::new(Counters::default()),
        };
        Sim {
            worker: Worker::new(ctx, io),
            peers,
            listener: TcpListener::bind("127.0.0.1:0").expect("bind"),
            clients: Vec::new(),
            start,
        }
    }

    /// The mailboxes: what a handle posts reaches the worker at the next step.
    pub fn peers(&self) -> &Peers<S::Message> {
        &self.peers
    }

    /// Virtual time since the simulation began.
    pub fn elapsed(&self) -> Duration {
        self.worker.io.now - self.start
    }

    /// A new connection, as if accepted.
    pub fn connect(&mut self) -> SimConn {
        let client =
            TcpStream::connect(self.listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = self.listener.accept().expect("accept");
        self.clients.push(client);
        self.worker.counters.open.fetch_add(1, Ordering::Relaxed);
        self.worker
            .insert_conn(Sock::Os(server), None)
            .expect("a slot")
    }

    /// The peer of `conn` sends `bytes`; the worker handles them and ends its turn.
    pub fn send(&mut self, conn: SimConn, bytes: &[u8]) {
        let mut data = bytes.to_vec();
        self.worker.now = self.worker.io.now;
        self.worker.ingest(conn, &mut data);
        self.settle();
    }

    /// The peer of `conn` hangs up.
    pub fn hang_up(&mut self, conn: SimConn) {
        self.worker.on_eof(conn);
        self.settle();
    }

    /// Bytes the peer of `conn` received since the last call.
    pub fn take(&mut self, conn: SimConn) -> Vec<u8> {
        std::mem::take(&mut self.worker.io.peer(conn).received)
    }

    /// Whether the server closed `conn`.
    pub fn is_closed(&mut self, conn: SimConn) -> bool {
        self.worker.io.peer(conn).closed
    }

    /// Whether the server shut the write side of `conn` (FIN) or closed it.
    pub fn write_shut(&mut self, conn: SimConn) -> bool {
        self.worker.conns.get(conn).is_none_or(|c| c.write_shut)
    }

    /// Whether `conn` is still open on the server.
    pub fn is_open(&self, conn: SimConn) -> bool {
        self.worker.conns.contains(conn)
    }

    /// Limits what the peer of `conn` takes from now on to `bytes` more (`None`: no limit);
    /// a larger window lets a blocked connection write again, as a writable event would.
    pub fn window(&mut self, conn: SimConn, bytes: Option<usize>) {
        self.worker.io.peer(conn).window = bytes;
        if let Some(c) = self.worker.conns.get_mut(conn) {
            c.blocked = false;
        }
        self.worker.flush(conn);
        self.settle();
    }

    /// Moves virtual time forward by `d`, firing every timer due on the way at its own time
    /// (so what a timer arms fires on time too), and handling the mailbox.
    pub fn advance(&mut self, d: Duration) {
        let until = self.worker.io.now + d;
        loop {
            self.settle();
            match self.worker.timers.next_expiry() {
                Some(t) if t <= until => {
                    self.worker.io.now = t.max(self.worker.io.now);
                    self.worker.now = self.worker.io.now;
                    self.worker.end_turn();
                }
                _ => break,
            }
        }
        self.worker.io.now = until;
        self.worker.now = until;
        self.worker.end_turn();
        self.settle();
    }

    /// Handles the mailbox and flushes, until nothing more is queued.
    pub fn settle(&mut self) {
        for _ in 0..1000 {
            self.worker.drain_mailbox();
            self.worker.end_turn();
            if self.worker.mailbox.is_empty() {
                return;
            }
        }
        panic!("the worker keeps posting to itself");
    }

    /// Begins a graceful shutdown, as `Server::shutdown` does.
    pub fn shutdown(&mut self) {
        self.worker.begin_shutdown();
        self.settle();
    }

    /// The worker's connection counters.
    pub fn counters(&self) -> Arc<Counters> {
        self.worker.counters.clone()
    }

    /// Bytes queued over the worker's connections, as its budget counts them.
    pub fn queued_total(&self) -> usize {
        self.worker.budget.queued()
    }

    /// The most memory the worker's queues held at any moment, as its budget counts it.
    pub fn peak_queued(&self) -> usize {
        self.worker.budget.peak()
    }

    /// Connections the worker holds.
    pub fn open_connections(&self) -> usize {
        self.worker.conns.len()
    }
}
