//! A worker's share of `max_buffered_total`: the bytes queued for all its connections, and the
//! rule that keeps them within it. The total is kept exact without a walk over connections:
//! each connection remembers what it last contributed, and whatever queues to it or writes
//! from it folds the difference in (`account`); a connection that leaves takes its part out
//! (`release`). Over the limit, volatile emits are dropped (`over`, asked by the service) and,
//! at the end of the turn (after its writes), connections are cut as slow consumers until the
//! rest fit (`shed`): first the readers known to be behind, whose sockets refused bytes since
//! their queues last drained (as for `max_buffered`), largest queue first; then, if that is not
//! enough, the largest queues, whoever holds them (an io_uring send waits for room instead of
//! being refused, so a reader behind is not always seen as one). Equal queues go newest
//! connection first. Past twice the limit within a turn this runs at once, so a turn's burst
//! cannot grow memory without bound either.

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

    /// Cuts open connections until the rest fit the limit: readers whose sockets refused
    /// bytes first, then any; most queued bytes first within each. Their queues are dropped and
    /// each is closed as a slow consumer (pushed on `closing`, and on `dirty` so its write side
    /// is shut). Connections already closing are left to drain.
    pub fn shed(
        &mut self,
        conns: &mut Slab<Conn>,
        closing: &mut Vec<(usize, CloseReason)>,
        dirty: &mut Vec<usize>,
    ) {
        for refused_only in [true, false] {
            if !self.over() {
                return;
            }
            let mut held: Vec<Held> = conns
                .iter()
                .filter(|(_, c)| c.is_open() && c.accounted > 0 && (c.refused || !refused_only))
                .map(|(slot, c)| Held {
                    bytes: c.accounted,
                    gen: c.gen,
                    slot,
                })
                .collect();
            self.cut(&mut held, conns, closing, dirty);
        }
    }

    fn cut(
        &mut self,
        held: &mut [Held],
        conns: &mut Slab<Conn>,
        closing: &mut Vec<(usize, CloseReason)>,
        dirty: &mut Vec<usize>,
    ) {
        for slot in victims(held, self.queued, self.limit) {
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

/// A connection that may be cut.
#[derive(Clone, Copy, Debug)]
struct Held {
    /// Bytes it queues.
    bytes: usize,
    /// Its generation: a later connection has a higher one (until the counter wraps).
    gen: u32,
    slot: usize,
}

/// The slots to cut from `held` so that `queued` falls to `limit` or below: largest queue
/// first, and of equal queues the newest connection (last in, first out: sessions that have
/// lasted are kept). Sorts `held`.
fn victims(held: &mut [Held], mut queued: usize, limit: usize) -> impl Iterator<Item = usize> + '_ {
    held.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then(b.gen.cmp(&a.gen)));
    held.iter()
        .take_while(move |h| {
            let cut = queued > limit;
            queued = queued.saturating_sub(h.bytes);
            cut
        })
        .map(|h| h.slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `held` as (bytes, generation); each one's slot is its generation times ten.
    fn cut(held: &[(usize, u32)], queued: usize, limit: usize) -> Vec<usize> {
        let mut held: Vec<Held> = held
            .iter()
            .map(|&(bytes, gen)| Held {
                bytes,
                gen,
                slot: gen as usize * 10,
            })
            .collect();
        victims(&mut held, queued, limit).collect()
    }

    #[test]
    fn the_largest_queues_go_first_until_the_rest_fit() {
        // 100 + 40 + 30 + 10 = 180 queued against 100: cutting 100 leaves 80.
        let held = [(30, 1), (100, 2), (10, 3), (40, 4)];
        assert_eq!(cut(&held, 180, 100), [20]);
        // Against 50: 100 then 40 (40 left).
        assert_eq!(cut(&held, 180, 50), [20, 40]);
        // Against 0: everything.
        assert_eq!(cut(&held, 180, 0), [20, 40, 10, 30]);
    }

    #[test]
    fn nothing_is_cut_within_the_limit() {
        assert!(cut(&[(100, 1), (50, 2)], 150, 150).is_empty());
        assert!(cut(&[], 0, 0).is_empty());
    }

    #[test]
    fn equal_queues_are_cut_newest_first() {
        assert_eq!(cut(&[(10, 7), (10, 3), (10, 5)], 30, 15), [70, 50]);
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
