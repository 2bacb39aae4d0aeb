//! Broadcast accounting: which broadcasts were sent, how many members got each and when the last
//! one did, so every expected delivery is either counted, lost or duplicated.
//!
//! A broadcast is identified by `(sender, seq)`: the sender's global connection index and its
//! 0-based sequence number. Each process keeps a ledger; the parent merges them, because a
//! broadcast sent in one process is delivered to members in all of them.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::stats::Latency;

/// Deliveries of one broadcast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Members that received it (first copies only).
    pub count: u64,
    /// Latency of the latest of those deliveries, µs from the send time.
    pub last_us: u64,
    /// Whether it was sent inside the measurement window.
    pub measured: bool,
}

/// Sent and delivered broadcasts of one loop, process or run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    /// Room members that joined; each expects every broadcast.
    pub members: u64,
    /// Broadcasts sent, per sender: sequence numbers `0..n`.
    pub sent: HashMap<u64, u64>,
    /// Deliveries per broadcast `(sender, seq)`.
    pub delivered: HashMap<(u64, u64), Delivery>,
}

/// What the merged ledger says about the whole run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Deliveries the run should have seen: members × broadcasts sent.
    pub expected: u64,
    /// First-copy deliveries of broadcasts that were sent.
    pub delivered: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Deliveries of broadcasts nobody sent, or more copies than there are members.
    pub unexpected: u64,
    /// For each broadcast sent inside the window that every member got: µs until the last
    /// member had it.
    pub completion: Latency,
    /// Broadcasts that at least one member never got.
    pub incomplete: u64,
}

impl Ledger {
    /// Records that `sender` sent broadcast `seq`; sequence numbers must start at 0 and rise by
    /// one per broadcast.
    pub fn note_sent(&mut self, sender: u64, seq: u64) {
        let n = self.sent.entry(sender).or_insert(0);
        *n = (*n).max(seq.saturating_add(1));
    }

    /// Records a member's first copy of `(sender, seq)`, `us` after it was sent.
    pub fn note_delivered(&mut self, sender: u64, seq: u64, us: u64, measured: bool) {
        let d = self.delivered.entry((sender, seq)).or_default();
        d.count += 1;
        d.last_us = d.last_us.max(us);
        d.measured |= measured;
    }

    /// Adds another ledger's members, sends and deliveries.
    pub fn merge(&mut self, other: &Ledger) {
        self.members += other.members;
        for (sender, n) in &other.sent {
            let mine = self.sent.entry(*sender).or_insert(0);
            *mine = (*mine).max(*n);
        }
        for (key, d) in &other.delivered {
            let mine = self.delivered.entry(*key).or_default();
            mine.count += d.count;
            mine.last_us = mine.last_us.max(d.last_us);
            mine.measured |= d.measured;
        }
    }

    /// Settles the account; only meaningful on the ledger merged over every process.
    pub fn outcome(&self) -> Outcome {
        let mut out = Outcome::default();
        for (sender, n) in &self.sent {
            for seq in 0..*n {
                out.expected += self.members;
                let d = self
                    .delivered
                    .get(&(*sender, seq))
                    .copied()
                    .unwrap_or_default();
                let got = d.count.min(self.members);
                out.delivered += got;
                out.lost += self.members - got;
                out.unexpected += d.count - got;
                if got < self.members {
                    out.incomplete += 1;
                } else if d.measured {
                    out.completion.record(d.last_us);
                }
            }
        }
        for ((sender, seq), d) in &self.delivered {
            if *seq >= self.sent.get(sender).copied().unwrap_or(0) {
                out.unexpected += d.count;
            }
        }
        out
    }
}

/// Ledger on the wire: `{"members":M,"sent":[[sender,n],...],"delivered":[[sender,seq,count,
/// last_us,measured],...]}`, sorted so output is reproducible.
#[derive(Serialize, Deserialize)]
struct LedgerWire {
    members: u64,
    sent: Vec<(u64, u64)>,
    delivered: Vec<(u64, u64, u64, u64, bool)>,
}

impl Serialize for Ledger {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut sent: Vec<(u64, u64)> = self.sent.iter().map(|(k, v)| (*k, *v)).collect();
        sent.sort_unstable();
        let mut delivered: Vec<_> = self
            .delivered
            .iter()
            .map(|((sender, seq), d)| (*sender, *seq, d.count, d.last_us, d.measured))
            .collect();
        delivered.sort_unstable();
        LedgerWire {
            members: self.members,
            sent,
            delivered,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ledger {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = LedgerWire::deserialize(d)?;
        let mut ledger = Ledger {
            members: wire.members,
            ..Ledger::default()
        };
        for (sender, n) in wire.sent {
            let mine = ledger.sent.entry(sender).or_insert(0);
            *mine = (*mine).max(n);
        }
        for (sender, seq, count, last_us, measured) in wire.delivered {
            let mine = ledger.delivered.entry((sender, seq)).or_default();
            mine.count += count;
            mine.last_us = mine.last_us.max(last_us);
            mine.measured |= measured;
        }
        Ok(ledger)
    }
}

/// One member's memory of what it already received, per sender: a sliding window of the last 64
/// sequence numbers, so duplicates are caught in constant memory per sender.
///
/// Anything older than the window counts as a duplicate: the server delivers one sender's
/// broadcasts to one member in order over one TCP connection, so a copy that far behind is
/// never a first delivery.
#[derive(Clone, Debug, Default)]
pub struct SeenWindow {
    /// Per sender: the next sequence number above everything seen, and a bitmap of the 64
    /// numbers below it (bit i set = `next - 1 - i` seen).
    senders: HashMap<u64, (u64, u64)>,
}

impl SeenWindow {
    /// Marks `(sender, seq)` seen; `false` if it was seen before (a duplicate).
    pub fn first_time(&mut self, sender: u64, seq: u64) -> bool {
        let (next, bits) = self.senders.entry(sender).or_insert((0, 0));
        if seq >= *next {
            let shift = seq - *next + 1;
            *bits = if shift >= 64 { 0 } else { *bits << shift };
            *bits |= 1;
            *next = seq + 1;
            return true;
        }
        let back = *next - 1 - seq;
        if back >= 64 {
            return false;
        }
        let mask = 1u64 << back;
        let fresh = *bits & mask == 0;
        *bits |= mask;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_delivery_has_no_losses() {
        let mut l = Ledger {
            members: 3,
            ..Ledger::default()
        };
        for seq in 0..4 {
            l.note_sent(7, seq);
            for us in [10, 20, 30 + seq] {
                l.note_delivered(7, seq, us, seq > 0);
            }
        }
        let o = l.outcome();
        assert_eq!(o.expected, 12);
        assert_eq!(o.delivered, 12);
        assert_eq!((o.lost, o.unexpected, o.incomplete), (0, 0, 0));
        assert_eq!(
            o.completion.count(),
            3,
            "the unmeasured broadcast is left out"
        );
        assert_eq!(o.completion.max(), 33);
    }

    #[test]
    fn missing_and_extra_deliveries_are_counted() {
        let mut l = Ledger {
            members: 2,
            ..Ledger::default()
        };
        l.note_sent(1, 0);
        l.note_sent(1, 1);
        l.note_delivered(1, 0, 5, true);
        l.note_delivered(1, 1, 5, true);
        l.note_delivered(1, 1, 6, true);
        l.note_delivered(1, 1, 7, true);
        l.note_delivered(9, 0, 5, true);
        let o = l.outcome();
        assert_eq!(o.expected, 4);
        assert_eq!(o.delivered, 3);
        assert_eq!(o.lost, 1);
        assert_eq!(o.unexpected, 2);
        assert_eq!(o.incomplete, 1);
        assert_eq!(o.completion.count(), 1);
    }

    #[test]
    fn merged_process_ledgers_settle_across_processes() {
        // Process A holds sender 0 and one member; process B holds the other member.
        let mut a = Ledger {
            members: 1,
            ..Ledger::default()
        };
        a.note_sent(0, 0);
        a.note_delivered(0, 0, 100, true);
        let mut b = Ledger {
            members: 1,
            ..Ledger::default()
        };
        b.note_delivered(0, 0, 250, true);
        assert_eq!(b.outcome().unexpected, 1, "alone, B cannot know the sender");
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(
            json,
            r#"{"members":1,"sent":[],"delivered":[[0,0,1,250,true]]}"#
        );
        a.merge(&serde_json::from_str(&json).unwrap());
        let o = a.outcome();
        assert_eq!(
            (o.expected, o.delivered, o.lost, o.unexpected),
            (2, 2, 0, 0)
        );
        assert_eq!(o.completion.max(), 250);
    }

    #[test]
    fn seen_window_catches_duplicates_in_and_out_of_order() {
        let mut w = SeenWindow::default();
        assert!(w.first_time(1, 0));
        assert!(w.first_time(1, 2));
        assert!(!w.first_time(1, 2));
        assert!(w.first_time(1, 1), "late but new");
        assert!(!w.first_time(1, 1));
        assert!(w.first_time(2, 1), "senders are independent");
        assert!(w.first_time(1, 1000));
        assert!(!w.first_time(1, 3), "older than the window");
        assert!(w.first_time(1, 1000 - 63));
        assert!(!w.first_time(1, 1000 - 63));
    }

    #[test]
    fn seen_window_matches_a_set_within_the_window() {
        let mut rng = crate::ws_client::Masker::new(42);
        for _ in 0..256 {
            let mut w = SeenWindow::default();
            let mut seen = std::collections::HashSet::new();
            let mut high = 0u64;
            for _ in 0..300 {
                let seq = rng.next_u64() % 200;
                let fresh_in_set = seen.insert(seq);
                let got = w.first_time(0, seq);
                if seq + 64 >= high {
                    assert_eq!(got, fresh_in_set, "seq {seq} high {high}");
                } else {
                    assert!(!got);
                }
                high = high.max(seq + 1);
            }
        }
    }
}
