//! A worker's share of `max_buffered_total`: the bytes queued for all its connections, and the
//! rule that keeps them within it. The total is kept exact without a walk over connections:
//! each connection remembers what it last contributed, and whatever queues to it or writes
//! from it folds the difference in (`account`); a connection that leaves takes its part out
//! (`release`). Over the limit, volatile emits are dropped (`over`, asked by the service) and,
//! at the end of the turn, the slow readers holding the most bytes are cut as slow consumers
//! until the rest fit (`shed`). A slow reader is one whose socket refused bytes since its
//! queue last drained, as for `max_buffered`: a reader taking a burst (in flight on io_uring
//! until its send completes) is not judged by it. Past twice the limit within a turn any
//! connection may be cut, so memory stays bounded whatever the readers do.

use slab::Slab;

use super::conn::Conn;
use super::service::CloseReason;

/// Past this many times the limit within one turn, connections are cut at once instead of at
/// the end of the turn: a turn's burst may pass the limit briefly, but not without bound.
pub(crate) const TURN_CEILING: usize = 2;

/// Queued bytes of one worker against its limit.
#[derive(Debug)]
pub(crate) struct Budget {
    /// This worker's share of `max_buffered_total`.
    limit: usize,
    /// Bytes queued over every connection of the worker, as last accounted.
    queued: usize,
    /// Connections cut to get back under the limit, not yet added to the shared counters.
    cuts: u64,
}

impl Budget {
    /// A budget of `total` bytes shared evenly by `workers` workers, each share at least
    /// `floor` (`max_buffered`: one client may always fill its own allowance).
    pub fn new(total: usize, workers: usize, floor: usize) -> Self {
        Budget {
            limit: (total / workers.max(1)).max(floor),
            queued: 0,
            cuts: 0,
        }
    }

    /// Folds what `conn` queues now into the total.
    pub fn account(&mut self, conn: &mut Conn) {
        let now = conn.queued_bytes();
        self.queued = self
            .queued
            .saturating_sub(conn.accounted)
            .saturating_add(now);
        conn.accounted = now;
    }

    /// Takes out the part of `conn`, which leaves this worker.
    pub fn release(&mut self, conn: &Conn) {
        self.queued = self.queued.saturating_sub(conn.accounted);
    }

    /// Whether the worker queues more than its share.
    pub fn over(&self) -> bool {
        self.queued > self.limit
    }

    /// Whether the worker queues so much more than its share that it cannot wait for the end
    /// of the turn.
    pub fn over_ceiling(&self) -> bool {
        self.queued > self.limit.saturating_mul(TURN_CEILING)
    }

    /// Bytes queued over the worker's connections.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The cuts made since the last call.
    pub fn take_cuts(&mut self) -> u64 {
        std::mem::take(&mut self.cuts)
    }

    /// Cuts open connections whose sockets refused bytes (any open connection with `any`),
    /// most queued bytes first, until the rest fit the limit: their queues are dropped and
    /// each is closed as a slow consumer (pushed on `closing`, and on `dirty` so its write
    /// side is shut). Connections already closing are left to drain.
    pub fn shed(
        &mut self,
        conns: &mut Slab<Conn>,
        closing: &mut Vec<(usize, CloseReason)>,
        dirty: &mut Vec<usize>,
        any: bool,
    ) {
        let mut held: Vec<(usize, usize)> = conns
            .iter()
            .filter(|(_, c)| c.is_open() && c.accounted > 0 && (any || c.refused))
            .map(|(slot, c)| (c.accounted, slot))
            .collect();
        for slot in victims(&mut held, self.queued, self.limit) {
            let Some(c) = conns.get_mut(slot) else {
                continue;
            };
            c.clear_output();
            c.close_after_flush = true;
            self.account(c);
            self.cuts += 1;
            closing.push((slot, CloseReason::SlowConsumer));
            if !c.dirty {
                c.dirty = true;
                dirty.push(slot);
            }
        }
    }
}

/// The slots to cut from `held` (bytes, slot) so that `queued` falls to `limit` or below,
/// largest first; ties go to the lower slot. Sorts `held`.
fn victims(
    held: &mut [(usize, usize)],
    mut queued: usize,
    limit: usize,
) -> impl Iterator<Item = usize> + '_ {
    held.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    held.iter()
        .take_while(move |(bytes, _)| {
            let cut = queued > limit;
            queued = queued.saturating_sub(*bytes);
            cut
        })
        .map(|(_, slot)| *slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(held: &[(usize, usize)], queued: usize, limit: usize) -> Vec<usize> {
        let mut held = held.to_vec();
        victims(&mut held, queued, limit).collect()
    }

    #[test]
    fn the_largest_queues_go_first_until_the_rest_fit() {
        // 100 + 40 + 30 + 10 = 180 queued against 100: cutting 100 leaves 80.
        let held = [(30, 1), (100, 2), (10, 3), (40, 4)];
        assert_eq!(cut(&held, 180, 100), [2]);
        // Against 50: 100 then 40 (40 left).
        assert_eq!(cut(&held, 180, 50), [2, 4]);
        // Against 0: everything.
        assert_eq!(cut(&held, 180, 0), [2, 4, 1, 3]);
    }

    #[test]
    fn nothing_is_cut_within_the_limit() {
        assert!(cut(&[(100, 1), (50, 2)], 150, 150).is_empty());
        assert!(cut(&[], 0, 0).is_empty());
    }

    #[test]
    fn equal_queues_are_cut_in_slot_order() {
        assert_eq!(cut(&[(10, 7), (10, 3), (10, 5)], 30, 15), [3, 5]);
    }

    #[test]
    fn the_limit_is_shared_by_workers() {
        assert_eq!(Budget::new(1000, 4, 10).limit, 250);
        assert_eq!(Budget::new(1000, 0, 10).limit, 1000);
        assert_eq!(
            Budget::new(1000, 4, 400).limit,
            400,
            "never under max_buffered"
        );
        assert_eq!(Budget::new(0, 1, 0).limit, 0);
        let b = Budget::new(100, 1, 0);
        assert!(!b.over() && !b.over_ceiling());
    }
}
