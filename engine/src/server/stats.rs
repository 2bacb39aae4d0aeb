//! Server statistics: per-worker counters (plain relaxed atomics on the worker's own cache line,
//! so counting costs no contention), summed on read, and written in Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::runtime::Counters;
use crate::server::adapter::Health;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Engine.IO sessions opened.
    SessionsOpened,
    /// Socket.IO namespace connections accepted.
    SocketsConnected,
    /// Socket.IO packets received.
    PacketsIn,
    /// Socket.IO events and acks sent to single sockets.
    PacketsOut,
    /// Socket.IO packets dropped because their JSON nests deeper than `max_json_depth`.
    PacketsTooDeep,
    /// Broadcasts started on this server.
    Broadcasts,
    /// Broadcast deliveries (one per receiving socket).
    Deliveries,
    /// Volatile packets dropped because the receiver was behind.
    VolatileDrops,
    /// Connections cut as slow consumers.
    SlowConsumers,
    /// Disconnects: client namespace disconnect.
    DisconnectClient,
    /// Disconnects: server namespace disconnect.
    DisconnectServer,
    /// Disconnects: ping timeout.
    DisconnectPingTimeout,
    /// Disconnects: transport close.
    DisconnectTransportClose,
    /// Disconnects: transport error.
    DisconnectTransportError,
    /// Disconnects: parse error.
    DisconnectParseError,
    /// Disconnects: forced close (protocol violations, server-side closes, connect timeout).
    DisconnectForced,
    /// Disconnects: server shutting down.
    DisconnectShutdown,
    /// Sessions ended because a handler panicked.
    HandlerPanics,
}

impl Counter {
    /// The disconnect counter for `reason`.
    pub(crate) fn for_reason(reason: super::DisconnectReason) -> Counter {
        use super::DisconnectReason as R;
        match reason {
            R::ClientNamespaceDisconnect => Counter::DisconnectClient,
            R::ServerNamespaceDisconnect => Counter::DisconnectServer,
            R::PingTimeout => Counter::DisconnectPingTimeout,
            R::TransportClose => Counter::DisconnectTransportClose,
            R::TransportError => Counter::DisconnectTransportError,
            R::ParseError => Counter::DisconnectParseError,
            R::ForcedClose | R::ForcedServerClose => Counter::DisconnectForced,
            R::ServerShuttingDown => Counter::DisconnectShutdown,
            R::SlowConsumer => Counter::SlowConsumers,
            R::HandlerPanic => Counter::HandlerPanics,
        }
    }
}

const COUNTERS: [(Counter, &str, &str); 18] = [
    (
        Counter::SessionsOpened,
        "volley_sessions_opened_total",
        "Engine.IO sessions opened",
    ),
    (
        Counter::SocketsConnected,
        "volley_sockets_connected_total",
        "Socket.IO namespace connections",
    ),
    (
        Counter::PacketsIn,
        "volley_packets_in_total",
        "Socket.IO packets received",
    ),
    (
        Counter::PacketsTooDeep,
        "volley_packets_too_deep_total",
        "Socket.IO packets dropped for JSON nested deeper than max_json_depth",
    ),
    (
        Counter::PacketsOut,
        "volley_packets_out_total",
        "Socket.IO packets sent to one socket",
    ),
    (
        Counter::Broadcasts,
        "volley_broadcasts_total",
        "broadcasts started",
    ),
    (
        Counter::Deliveries,
        "volley_broadcast_deliveries_total",
        "broadcast deliveries",
    ),
    (
        Counter::VolatileDrops,
        "volley_volatile_drops_total",
        "volatile packets dropped",
    ),
    (
        Counter::SlowConsumers,
        "volley_slow_consumers_total",
        "connections cut as slow consumers",
    ),
    (
        Counter::HandlerPanics,
        "volley_handler_panics_total",
        "sessions ended by a panicking handler",
    ),
    (Counter::DisconnectClient, "client namespace disconnect", ""),
    (Counter::DisconnectServer, "server namespace disconnect", ""),
    (Counter::DisconnectPingTimeout, "ping timeout", ""),
    (Counter::DisconnectTransportClose, "transport close", ""),
    (Counter::DisconnectTransportError, "transport error", ""),
    (Counter::DisconnectParseError, "parse error", ""),
    (Counter::DisconnectForced, "forced close", ""),
    (Counter::DisconnectShutdown, "server shutting down", ""),
];

#[repr(align(128))]
#[derive(Default)]
struct WorkerCounters {
    counts: [AtomicU64; COUNTERS.len()],
    /// Sockets connected now (up and down).
    sockets_now: AtomicI64,
    /// Engine.IO sessions open now.
    sessions_now: AtomicI64,
}

/// Counters of every worker.
pub struct Stats {
    workers: Vec<WorkerCounters>,
    /// The runtime's connection counters, known once it has started.
    conns: OnceLock<Arc<Counters>>,
    /// The cluster adapter's faults, with a Redis adapter.
    adapter: OnceLock<Arc<Health>>,
}

/// A snapshot of the counters summed over workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Engine.IO sessions open now.
    pub sessions: i64,
    /// Socket.IO sockets connected now (all namespaces).
    pub sockets: i64,
    /// TCP connections open now.
    pub connections: usize,
    /// Connections refused because `max_connections` were open.
    pub rejected: u64,
    /// Times a worker paused accepting for lack of descriptors (one per back-off).
    pub accept_pauses: u64,
    /// Connections cut as slow consumers to keep queued bytes within `max_buffered_total`.
    pub budget_cuts: u64,
    /// Connections moving between workers that waited for a descriptor (one per wait).
    pub handoff_waits: u64,
    /// Connections lost moving between workers (no descriptor in time, or shutdown).
    pub handoff_failures: u64,
    /// Connections cut because their oldest queued byte waited past `max_queue_age`.
    pub queue_age_cuts: u64,
    /// Whether the Redis adapter's connections are both up; `None` without a Redis adapter.
    /// Its errors by kind are in the Prometheus text (`volley_adapter_errors_total`).
    pub adapter_connected: Option<bool>,
    counts: Vec<(Counter, u64)>,
}

impl StatsSnapshot {
    /// A snapshot holding `counts` and nothing else.
    #[cfg(test)]
    pub(crate) fn with_counts(counts: &[(Counter, u64)]) -> Self {
        StatsSnapshot {
            counts: counts.to_vec(),
            ..StatsSnapshot::default()
        }
    }

    /// The total of one counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.counts
            .iter()
            .find(|(k, _)| *k == c)
            .map_or(0, |(_, v)| *v)
    }
}

impl Stats {
    pub(crate) fn new(workers: usize) -> Self {
        Stats {
            workers: (0..workers.max(1))
                .map(|_| WorkerCounters::default())
                .collect(),
            conns: OnceLock::new(),
            adapter: OnceLock::new(),
        }
    }

    fn slot(c: Counter) -> usize {
        COUNTERS.iter().position(|(k, _, _)| *k == c).unwrap_or(0)
    }

    pub(crate) fn set_connection_counters(&self, c: Arc<Counters>) {
        let _ = self.conns.set(c);
    }

    pub(crate) fn set_adapter_health(&self, h: Arc<Health>) {
        let _ = self.adapter.set(h);
    }

    /// Open connections, and the runtime's counters: rejected, accept pauses, budget cuts,
    /// hand-off waits and failures, queue age cuts.
    fn connections(&self) -> (usize, [u64; 6]) {
        self.conns.get().map_or((0, [0; 6]), |c| {
            (
                c.open.load(Ordering::Relaxed),
                [
                    c.rejected.load(Ordering::Relaxed),
                    c.accept_pauses.load(Ordering::Relaxed),
                    c.budget_cuts.load(Ordering::Relaxed),
                    c.handoff_waits.load(Ordering::Relaxed),
                    c.handoff_failures.load(Ordering::Relaxed),
                    c.queue_age_cuts.load(Ordering::Relaxed),
                ],
            )
        })
    }

    pub(crate) fn add(&self, worker: u16, c: Counter, n: u64) {
        if let Some(w) = self.workers.get(worker as usize) {
            w.counts[Self::slot(c)].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn sockets_delta(&self, worker: u16, d: i64) {
        if let Some(w) = self.workers.get(worker as usize) {
            w.sockets_now.fetch_add(d, Ordering::Relaxed);
        }
    }

    pub(crate) fn sessions_delta(&self, worker: u16, d: i64) {
        if let Some(w) = self.workers.get(worker as usize) {
            w.sessions_now.fetch_add(d, Ordering::Relaxed);
        }
    }

    /// Sums every worker's counters.
    pub fn snapshot(&self) -> StatsSnapshot {
        let counts = COUNTERS
            .iter()
            .enumerate()
            .map(|(i, (c, _, _))| {
                (
                    *c,
                    self.workers
                        .iter()
                        .map(|w| w.counts[i].load(Ordering::Relaxed))
                        .sum(),
                )
            })
            .collect();
        StatsSnapshot {
            sessions: self
                .workers
                .iter()
                .map(|w| w.sessions_now.load(Ordering::Relaxed))
                .sum(),
            sockets: self
                .workers
                .iter()
                .map(|w| w.sockets_now.load(Ordering::Relaxed))
                .sum(),
            connections: self.connections().0,
            rejected: self.connections().1[0],
            accept_pauses: self.connections().1[1],
            budget_cuts: self.connections().1[2],
            handoff_waits: self.connections().1[3],
            handoff_failures: self.connections().1[4],
            queue_age_cuts: self.connections().1[5],
            adapter_connected: self.adapter.get().map(|h| h.connected()),
            counts,
        }
    }

    /// The counters in Prometheus text exposition format, per worker.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let (open, runtime) = self.connections();
        let _ = writeln!(out, "# HELP volley_connections TCP connections open\n# TYPE volley_connections gauge\nvolley_connections {open}");
        let totals = [
            (
                "volley_connections_rejected_total",
                "connections refused over max_connections",
            ),
            (
                "volley_accept_pauses_total",
                "accept back-offs for lack of descriptors",
            ),
            (
                "volley_budget_cuts_total",
                "connections cut as slow consumers to stay within max_buffered_total",
            ),
            (
                "volley_handoff_waits_total",
                "connections moving between workers that waited for a descriptor",
            ),
            (
                "volley_handoff_failures_total",
                "connections lost moving between workers",
            ),
            (
                "volley_queue_age_cuts_total",
                "connections cut as slow consumers for a queued byte older than max_queue_age",
            ),
        ];
        for ((name, help), v) in totals.iter().zip(runtime) {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let gauges = [
            ("volley_sessions", "Engine.IO sessions open"),
            ("volley_sockets", "Socket.IO sockets connected"),
        ];
        for (i, (name, help)) in gauges.iter().enumerate() {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (w, c) in self.workers.iter().enumerate() {
                let v = if i == 0 {
                    &c.sessions_now
                } else {
                    &c.sockets_now
                };
                let _ = writeln!(
                    out,
                    "{name}{{worker=\"{w}\"}} {}",
                    v.load(Ordering::Relaxed)
                );
            }
        }
        for (i, (_, name, help)) in COUNTERS
            .iter()
            .enumerate()
            .filter(|(_, (_, _, h))| !h.is_empty())
        {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (w, c) in self.workers.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{worker=\"{w}\"}} {}",
                    c.counts[i].load(Ordering::Relaxed)
                );
            }
        }
        let name = "volley_disconnects_total";
        let _ = writeln!(
            out,
            "# HELP {name} socket disconnects by reason\n# TYPE {name} counter"
        );
        for (i, (_, reason, _)) in COUNTERS
            .iter()
            .enumerate()
            .filter(|(_, (_, _, h))| h.is_empty())
        {
            for (w, c) in self.workers.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{worker=\"{w}\",reason=\"{reason}\"}} {}",
                    c.counts[i].load(Ordering::Relaxed)
                );
            }
        }
        if let Some(h) = self.adapter.get() {
            h.prometheus(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_over_workers_and_export() {
        let s = Stats::new(2);
        s.add(0, Counter::Broadcasts, 2);
        s.add(1, Counter::Broadcasts, 3);
        s.add(1, Counter::DisconnectPingTimeout, 1);
        s.sockets_delta(0, 5);
        s.sockets_delta(1, 2);
        s.sockets_delta(0, -1);
        let snap = s.snapshot();
        assert_eq!(snap.get(Counter::Broadcasts), 5);
        assert_eq!(snap.sockets, 6);
        let text = s.prometheus();
        assert!(
            text.contains("volley_broadcasts_total{worker=\"1\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("volley_disconnects_total{worker=\"1\",reason=\"ping timeout\"} 1"),
            "{text}"
        );
        assert!(text.contains("volley_sockets{worker=\"0\"} 4"), "{text}");
    }
}
