//! The Redis adapter's faults as the metrics and the log see them: errors counted by kind,
//! whether each connection is up, and reconnects. Logging happens on a change of state (the
//! first failure of an outage, the reconnect), so an outage writes two lines, not one per
//! message or retry.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// What went wrong, the `kind` label of `volley_adapter_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A connection to Redis could not be made (refused, unreachable, AUTH refused).
    Connect,
    /// An open connection failed (closed by Redis, reset, timed out).
    ConnectionLost,
    /// A PUBLISH (or the NUMSUB that counts servers) was not written or answered.
    Publish,
    /// A SUBSCRIBE or PSUBSCRIBE could not be sent.
    Subscribe,
    /// Redis sent bytes that are not RESP.
    MalformedReply,
    /// Another server sent a message that does not decode.
    MalformedMessage,
    /// The command queue was full: a command was dropped.
    QueueFull,
    /// A cluster request ended without every server's answer.
    RequestTimeout,
    /// Connection state recovery in Redis failed: a session not kept, or not restored (the
    /// client got a fresh one), or a packet delivered without its offset.
    Recovery,
}

const FAULTS: [(Fault, &str); 9] = [
    (Fault::Connect, "connect"),
    (Fault::ConnectionLost, "connection_lost"),
    (Fault::Publish, "publish"),
    (Fault::Subscribe, "subscribe"),
    (Fault::MalformedReply, "malformed_reply"),
    (Fault::MalformedMessage, "malformed_message"),
    (Fault::QueueFull, "queue_full"),
    (Fault::RequestTimeout, "request_timeout"),
    (Fault::Recovery, "recovery"),
];

/// One of the adapter's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    Publisher,
    Subscriber,
    /// The streams adapter's `XREAD` connection.
    Reader,
}

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Publisher => "publisher",
            Link::Subscriber => "subscriber",
            Link::Reader => "reader",
        }
    }
}

const UP: u8 = 1;
const DOWN: u8 = 2;

/// The adapter's counters, shared by its threads, the handle and the metrics.
#[derive(Default)]
pub(crate) struct Health {
    errors: [AtomicU64; FAULTS.len()],
    /// Per [`Link`]: 0 before its first connect, then `UP` or `DOWN`.
    links: [AtomicU8; 3],
    reconnects: AtomicU64,
    /// Whether the command queue dropped a command since it last took one.
    overflowing: AtomicU8,
}

impl Health {
    /// Counts `fault`; returns how many of its kind there were so far.
    pub fn count(&self, fault: Fault) -> u64 {
        let slot = FAULTS.iter().position(|(f, _)| *f == fault).unwrap_or(0);
        self.errors[slot].fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A connection failed (or could not be made): counted, and logged when it was up or new.
    pub fn down(&self, link: Link, fault: Fault, error: &dyn std::fmt::Display) {
        self.count(fault);
        if self.links[link as usize].swap(DOWN, Ordering::AcqRel) != DOWN {
            tracing::warn!(link = link.name(), kind = label(fault), error = %error,
                "redis adapter: disconnected from redis; cross-server traffic is dropped until it reconnects");
        }
    }

    /// A connection is up; logged and counted as a reconnect when it was down.
    pub fn up(&self, link: Link) {
        if self.links[link as usize].swap(UP, Ordering::AcqRel) == DOWN {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!(link = link.name(), "redis adapter: reconnected to redis");
        }
    }

    /// Whether the connections are up (the reader, which only the streams adapter has, unless
    /// it never connected).
    pub fn connected(&self) -> bool {
        let state = |l: Link| self.links[l as usize].load(Ordering::Acquire);
        state(Link::Publisher) == UP && state(Link::Subscriber) == UP && state(Link::Reader) != DOWN
    }

    /// A command was dropped for a full queue: counted; logged once per overflow.
    pub fn queue_full(&self) {
        self.count(Fault::QueueFull);
        if self.overflowing.swap(1, Ordering::AcqRel) == 0 {
            tracing::error!(
                "redis adapter: command queue full (redis slow or unreachable); commands dropped"
            );
        }
    }

    /// The queue took a command again.
    pub fn queue_ok(&self) {
        if self.overflowing.load(Ordering::Relaxed) != 0 {
            self.overflowing.store(0, Ordering::Release);
        }
    }

    /// A malformed message from another server: counted; logged at the first and then at each
    /// power of two, so a peer that keeps sending garbage cannot flood the log.
    pub fn malformed(&self, what: &'static str, error: &dyn std::fmt::Display) {
        let n = self.count(Fault::MalformedMessage);
        if n.is_power_of_two() {
            tracing::warn!(what, error = %error, total = n,
                "redis adapter: dropped a malformed message from another server");
        }
    }

    /// Appends the adapter's metrics in Prometheus text format.
    pub fn prometheus(&self, out: &mut String) {
        let name = "volley_adapter_errors_total";
        let _ = writeln!(
            out,
            "# HELP {name} redis adapter errors by kind\n# TYPE {name} counter"
        );
        for ((_, kind), n) in FAULTS.iter().zip(&self.errors) {
            let _ = writeln!(
                out,
                "{name}{{kind=\"{kind}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let name = "volley_adapter_connected";
        let _ = writeln!(
            out,
            "# HELP {name} whether the redis adapter's connection is up (1) or not (0)\n# TYPE {name} gauge"
        );
        for link in [Link::Publisher, Link::Subscriber, Link::Reader] {
            let state = self.links[link as usize].load(Ordering::Acquire);
            // Only the streams adapter has a reader.
            if link == Link::Reader && state == 0 {
                continue;
            }
            let up = u8::from(state == UP);
            let _ = writeln!(out, "{name}{{link=\"{}\"}} {up}", link.name());
        }
        let name = "volley_adapter_reconnects_total";
        let _ = writeln!(
            out,
            "# HELP {name} redis adapter connections made again after a failure\n# TYPE {name} counter\n{name} {}",
            self.reconnects.load(Ordering::Relaxed)
        );
    }
}

/// The `kind` label of `fault`.
fn label(fault: Fault) -> &'static str {
    FAULTS
        .iter()
        .find(|(f, _)| *f == fault)
        .map_or("unknown", |(_, l)| l)
}

/// The fault an error on an open connection is: bytes that are not RESP, or a lost connection.
pub(crate) fn io_fault(e: &std::io::Error) -> Fault {
    if e.kind() == std::io::ErrorKind::InvalidData {
        Fault::MalformedReply
    } else {
        Fault::ConnectionLost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_exports_an_outage() {
        let h = Health::default();
        h.up(Link::Publisher);
        h.up(Link::Subscriber);
        assert!(h.connected());
        h.down(Link::Subscriber, Fault::ConnectionLost, &"reset");
        h.down(Link::Subscriber, Fault::Connect, &"refused");
        h.down(Link::Subscriber, Fault::Connect, &"refused");
        assert!(!h.connected());
        let mut text = String::new();
        h.prometheus(&mut text);
        assert!(
            text.contains("volley_adapter_errors_total{kind=\"connect\"} 2"),
            "{text}"
        );
        assert!(text.contains("volley_adapter_errors_total{kind=\"connection_lost\"} 1"));
        assert!(text.contains("volley_adapter_connected{link=\"subscriber\"} 0"));
        assert!(text.contains("volley_adapter_connected{link=\"publisher\"} 1"));
        assert!(text.contains("volley_adapter_reconnects_total 0"));
        assert!(
            !text.contains("link=\"reader\""),
            "no reader: not the streams adapter"
        );
        h.up(Link::Subscriber);
        let mut text = String::new();
        h.prometheus(&mut text);
        assert!(text.contains("volley_adapter_reconnects_total 1"), "{text}");
        assert!(h.connected());
        assert_eq!(
            io_fault(&std::io::ErrorKind::InvalidData.into()),
            Fault::MalformedReply
        );
    }
}
