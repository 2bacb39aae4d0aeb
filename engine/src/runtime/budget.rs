//! A worker's share of `max_buffered_total`: the memory its connections' write queues hold
//! (bytes and entries, [`Conn::footprint`]), and the rules that keep it within the share. The
//! total is kept exact without a walk over connections: each connection remembers what it last
//! contributed, and whatever queues to it or writes from it folds the difference in
//! (`account`); a connection that leaves takes its part out (`release`).
//!
//! The share is the ceiling; the worker keeps an eighth under it. Past that level volatile
//! emits are dropped (`over`, asked by the service), the worker's input waits unparsed until the
//! end of the turn (so a flood of broadcasts waits for the writes instead of queueing
//! thousands of copies at once), and at the end of the turn, after its writes, the readers
//! behind are cut as slow consumers until the rest fit under it (`shed`), largest queue first,
//! of equals the newest connection. A reader is behind when its socket refused bytes since its
//! queue last drained, or (io_uring) a send of it still waits for room from an earlier turn: a
//! client is judged by what it did not read, never by what the server produced for it in one
//! turn. Within a turn, readers behind are cut at once at the ceiling, and anyone at
//! [`BURST_CEILING`] times it (a handler's burst to readers that keep up).

use slab::Slab;

use super::conn::Conn;
use super::service::CloseReason;

/// How many times its share a worker's queues may hold within one turn when the excess is
/// queued for readers that are keeping up (a handler's burst), before connections are cut
/// whoever they are.
pub(crate) const BURST_CEILING: usize = 2;

/// Which connections a cut may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Readers behind first, then any (the end of a turn, or a burst past [`BURST_CEILING`]).
    Any,
    /// Only readers behind: refused bytes, or (io_uring) a send that waits for room since an
    /// earlier turn.
    Behind,
}

/// Queue memory of one worker against its share.
#[derive(Debug)]
pub(crate) struct Budget {
    /// This worker's share of `max_buffered_total`: the ceiling.
    limit: usize,
    /// The level cuts bring the worker back to: an eighth under the ceiling, so that one cut
    /// leaves room for a while instead of one cut per broadcast at the ceiling.
    keep: usize,
    /// Memory queued over every connection of the worker, as last accounted.
    queued: usize,
    /// The worker's loop turns so far: a send still in flight from an earlier turn found no
    /// room in its socket (a send with room completes at once).
    turn: u64,
    /// The most `queued` reached, for tests.
    #[cfg(test)]
    peak: usize,
    /// Connections cut to get back under the limit, not yet added to the shared counters.
    cuts: u64,
}

impl Budget {
    /// A budget of `total` bytes shared evenly by `workers` workers, each share at least
    /// `floor` (`max_buffered`: one client may always fill its own allowance).
    pub fn new(total: usize, workers: usize, floor: usize) -> Self {
        let limit = (total / workers.max(1)).max(floor);
        Budget {
            limit,
            keep: limit - limit / 8,
            queued: 0,
            turn: 0,
            #[cfg(test)]
            peak: 0,
            cuts: 0,
        }
    }

    /// Folds what `conn` queues now into the total.
    pub fn account(&mut self, conn: &mut Conn) {
        let now = conn.footprint();
        self.queued = self
            .queued
            .saturating_sub(conn.accounted)
            .saturating_add(now);
        conn.accounted = now;
        #[cfg(test)]
        {
            self.peak = self.peak.max(self.queued);
        }
    }

    /// Begins a loop turn.
    pub fn next_turn(&mut self) {
        self.turn += 1;
    }

    /// The current loop turn, stamped on a send as it starts ([`Conn::send_turn`]).
    pub fn turn(&self) -> u64 {
        self.turn
    }

    /// Whether `conn`'s reader is behind: its socket refused bytes since its queue last
    /// drained, or a send of it has waited for room since an earlier turn.
    fn behind(&self, conn: &Conn) -> bool {
        conn.refused || (conn.send_live && conn.send_turn < self.turn)
    }

    /// Takes out the part of `conn`, which leaves this worker.
    pub fn release(&mut self, conn: &Conn) {
        self.queued = self.queued.saturating_sub(conn.accounted);
    }

    /// Whether the worker queues more than it keeps to (an eighth under its share).
    pub fn over(&self) -> bool {
        self.queued > self.keep
    }

    /// Who must be cut at once, within the turn: readers behind past the share, anyone past
    /// [`BURST_CEILING`] times it; `None` while the end of the turn may judge.
    pub fn ceiling(&self) -> Option<Cut> {
        if self.queued > self.limit.saturating_mul(BURST_CEILING) {
            Some(Cut::Any)
        } else if self.queued > self.limit {
            Some(Cut::Behind)
        } else {
            None
        }
    }

    /// Memory queued over the worker's connections.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// The most memory queued at any moment so far.
    #[cfg(test)]
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// The cuts made since the last call.
    pub fn take_cuts(&mut self) -> u64 {
        std::mem::take(&mut self.cuts)
    }

    /// Cuts open connections until the rest fit under the level the worker keeps to: readers
    /// behind first, then, for [`Cut::Any`], any; most queued memory first within each. Their
    /// queues are dropped and each is closed as a slow consumer (pushed on `closing`, and on
    /// `dirty` so its write side is shut). Connections already closing are left to drain.
    pub fn shed(
        &mut self,
        who: Cut,
        conns: &mut Slab<Conn>,
        closing: &mut Vec<(usize, CloseReason)>,
        dirty: &mut Vec<usize>,
    ) {
        let passes: &[bool] = match who {
            Cut::Behind => &[true],
            Cut::Any => &[true, false],
        };
        for &behind_only in passes {
            if !self.over() {
                return;
            }
            let mut held: Vec<Held> = conns
                .iter()
                .filter(|(_, c)| c.is_open() && c.accounted > 0 && (!behind_only || self.behind(c)))
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
        for slot in victims(held, self.queued, self.keep) {
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
        let b = Budget::new(800, 1, 0);
        assert_eq!(b.keep, 700, "an eighth under the share");
        assert!(!b.over() && b.ceiling().is_none());
    }

    #[test]
    fn readers_behind_go_at_the_share_and_anyone_at_the_burst_ceiling() {
        let mut b = Budget::new(800, 1, 0);
        b.queued = 800;
        assert!(b.over(), "past the level kept to");
        assert_eq!(b.ceiling(), None, "the end of the turn judges");
        b.queued = 801;
        assert_eq!(b.ceiling(), Some(Cut::Behind));
        b.queued = 1600;
        assert_eq!(b.ceiling(), Some(Cut::Behind));
        b.queued = 1601;
        assert_eq!(b.ceiling(), Some(Cut::Any));
    }
}
