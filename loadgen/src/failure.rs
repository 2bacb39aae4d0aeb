//! Why a connection ended early, and which counter that lands in.

use std::fmt;

use crate::stats::Stats;

/// A connection failure. The text says what happened and ends up, tallied, in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connect or the HTTP upgrade failed, or the server refused the namespace.
    Connect(String),
    /// The peer broke a protocol rule.
    Protocol(String),
    /// The peer closed or reset the connection.
    Closed(String),
    /// A handshake or heartbeat deadline passed.
    Timeout(String),
}

impl Failure {
    /// Counts this failure of a connection that had (`established`) or had not yet completed its
    /// handshake, and tallies its message.
    pub fn record(&self, established: bool, stats: &mut Stats) {
        let c = &mut stats.counters;
        match self {
            Failure::Protocol(_) => c.protocol_errors += 1,
            _ if !established => c.connect_failed += 1,
            _ => c.dropped += 1,
        }
        stats.note_error(&self.to_string());
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(why) => write!(f, "connect: {why}"),
            Failure::Protocol(why) => write!(f, "protocol: {why}"),
            Failure::Closed(why) => write!(f, "closed: {why}"),
            Failure::Timeout(why) => write!(f, "timeout: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_lands_in_one_counter() {
        let mut s = Stats::default();
        Failure::Connect("refused".into()).record(false, &mut s);
        Failure::Timeout("handshake".into()).record(false, &mut s);
        Failure::Closed("reset".into()).record(true, &mut s);
        Failure::Timeout("ping timeout".into()).record(true, &mut s);
        Failure::Protocol("bad frame".into()).record(true, &mut s);
        Failure::Protocol("bad 101".into()).record(false, &mut s);
        assert_eq!(s.counters.connect_failed, 2);
        assert_eq!(s.counters.dropped, 2);
        assert_eq!(s.counters.protocol_errors, 2);
        assert_eq!(s.counters.errors(), 6);
        assert_eq!(s.errors["timeout: ping timeout"], 1);
        assert_eq!(s.errors["connect: refused"], 1);
    }
}
