//! Hashed timing wheel: one per worker thread, driven by the caller's clock.
//!
//! Time is counted in ticks since the wheel's `start`. A deadline is rounded *up* to a tick, so a
//! timer never fires early, and it fires as soon as the caller passes a `now` in that tick, so it
//! is at most one tick late.
//!
//! # Layout
//! - A ring of `slots` intrusive doubly linked lists (indices into one entry slab with a free
//!   list), plus a bitmap of non-empty slots so idle stretches are skipped a word at a time.
//! - The ring only holds timers due before the *horizon*: the cursor rounded down to a multiple
//!   of `slots / 2`, plus `slots`. Every ring timer therefore lives in the unique slot of its own
//!   tick, so a slot is popped from its head with no per-entry "rounds" check.
//! - Timers due at or after the horizon wait in one overflow list. Whenever the cursor moves the
//!   horizon (every `slots / 2` ticks at most), the overflow list is scanned once and the timers
//!   now inside the horizon move to their slot. Each long timer is thus visited once per half
//!   revolution, the same cost as the classic per-slot "rounds" scheme, but without rescanning
//!   not-yet-due entries whenever the cursor crosses their slot.
//!
//! Deadline order is tick order; timers that share a tick fire in arming order.

use std::fmt;
use std::time::{Duration, Instant};

/// Marks the end of a list; also the one index the slab never hands out.
const NIL: u32 = u32::MAX;
/// One bitmap word; smaller rings would only save a few bytes.
const MIN_SLOTS: usize = 64;
/// Keeps the ring (16 bytes per slot) within a sane size whatever the configuration says.
const MAX_SLOTS: usize = 1 << 24;
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Identifies an armed timer; stale keys (fired or cancelled) are detected by a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    idx: u32,
    gen: u32,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

struct Entry<T> {
    /// `None` while the entry sits in the free list.
    value: Option<T>,
    /// Tick the timer fires in; decides which list holds it.
    tick: u64,
    prev: u32,
    /// Next in the slot or overflow list, or next free entry.
    next: u32,
    gen: u32,
}

#[derive(Clone, Copy)]
enum Loc {
    Slot(usize),
    Overflow,
}

/// A hashed timing wheel holding values of type `T`, for one worker thread.
///
/// Arm and cancel are O(1) and reuse freed entries, so a wheel whose population is stable stops
/// allocating. Nothing reads a clock: every method that needs the time takes `now` from the
/// caller. See the module docs for how far-away deadlines are kept.
pub struct TimerWheel<T> {
    start: Instant,
    tick_nanos: u64,
    /// `slots - 1`; slots is a power of two.
    mask: u64,
    /// Tick of the earliest timer that may still be pending: every tick before it has fired.
    cur: u64,
    slots: Vec<List>,
    /// Bit `s` is set while slot `s` is non-empty.
    occupied: Vec<u64>,
    overflow: List,
    /// Lower bound on the ticks in the overflow list (exact after each migration).
    overflow_min: u64,
    entries: Vec<Entry<T>>,
    free: u32,
    len: usize,
}

impl<T> TimerWheel<T> {
    /// Creates an empty wheel whose tick 0 is `start`.
    ///
    /// `tick` is the resolution (the runtime uses 1 ms); a zero tick is treated as 1 ns.
    /// `slots` is the ring size (the runtime uses 4096); it is rounded up to a power of two and
    /// clamped to `64..=2^24`. Deadlines at least `slots / 2` ticks ahead go straight into the ring; later
    /// ones wait in the overflow list (see the module docs).
    pub fn new(start: Instant, tick: Duration, slots: usize) -> Self {
        let tick_nanos = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX).max(1);
        let slots = slots
            .clamp(MIN_SLOTS, MAX_SLOTS)
            .checked_next_power_of_two()
            .unwrap_or(MAX_SLOTS);
        Self {
            start,
            tick_nanos,
            mask: slots as u64 - 1,
            cur: 0,
            slots: vec![List::EMPTY; slots],
            occupied: vec![0; slots / 64],
            overflow: List::EMPTY,
            overflow_min: u64::MAX,
            entries: Vec::new(),
            free: NIL,
            len: 0,
        }
    }

    /// Arms a timer that fires `value` at `deadline`, rounded up to a tick.
    ///
    /// A deadline at or before the wheel's cursor (at most the tick of the last `now` given to
    /// `expire`) fires on the next `expire`, after the timers already due in that tick. A
    /// deadline more than `u64::MAX` ticks after `start` never fires.
    ///
    /// # Panics
    /// Panics if `u32::MAX - 1` timers are already armed (far beyond any memory budget).
    pub fn arm(&mut self, deadline: Instant, value: T) -> TimerKey {
        let tick = self.ceil_tick(deadline).max(self.cur);
        let idx = self.alloc(value, tick);
        let loc = self.loc_of(tick);
        if let Loc::Overflow = loc {
            // A bound left over from a list emptied by cancels may sit behind the cursor.
            self.overflow_min = if self.overflow.head == NIL {
                tick
            } else {
                self.overflow_min.min(tick)
            };
        }
        self.push_back(loc, idx);
        self.len += 1;
        TimerKey {
            idx,
            gen: self.entries[idx as usize].gen,
        }
    }

    /// Disarms the timer and returns its value; `None` if the key already fired or was cancelled.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        if !self.is_armed(key) {
            return None;
        }
        let loc = self.loc_of(self.entries[key.idx as usize].tick);
        self.unlink(loc, key.idx);
        self.release(key.idx)
    }

    /// Whether `key` names a timer that has neither fired nor been cancelled.
    pub fn is_armed(&self, key: TimerKey) -> bool {
        self.entries
            .get(key.idx as usize)
            .is_some_and(|e| e.gen == key.gen && e.value.is_some())
    }

    /// Earliest instant at which [`expire`](Self::expire) may return something; `None` when
    /// the wheel is empty.
    ///
    /// Never later than the earliest deadline rounded up to a tick, but may be earlier (for a
    /// timer in the overflow list after the earliest one was cancelled). Costs one scan of the
    /// occupancy bitmap (`slots / 64` words).
    pub fn next_expiry(&self) -> Option<Instant> {
        let tick = match self.first_ring_tick() {
            Some(tick) => tick,
            None if self.overflow.head != NIL => self.overflow_min,
            None => return None,
        };
        // Only a deadline within one tick of the end of `Instant`'s range can overflow here;
        // the cursor's instant is earlier than any deadline, which the contract allows.
        self.tick_instant(tick)
            .or_else(|| self.tick_instant(self.cur))
    }

    /// Pops one timer whose deadline tick is at or before `now`, earliest tick first and in
    /// arming order within a tick; `None` when nothing is due.
    ///
    /// Call it in a loop until `None`. The cursor jumps straight to the next occupied slot (or
    /// the next overflow migration), so a `now` far ahead costs bitmap scans, not one step per
    /// tick. A `now` earlier than a previous one fires nothing.
    pub fn expire(&mut self, now: Instant) -> Option<(TimerKey, T)> {
        let now_tick = self.floor_tick(now);
        loop {
            if self.cur > now_tick {
                return None;
            }
            let slot = (self.cur & self.mask) as usize;
            let head = self.slots[slot].head;
            if head != NIL {
                self.unlink(Loc::Slot(slot), head);
                let gen = self.entries[head as usize].gen;
                let value = self.release(head)?;
                return Some((TimerKey { idx: head, gen }, value));
            }
            if self.cur == now_tick {
                return None;
            }
            // Each candidate is past the cursor: the cursor's slot is empty and the overflow
            // list only holds ticks at or beyond the horizon.
            let mut next = now_tick;
            if let Some(tick) = self.first_ring_tick() {
                next = next.min(tick);
            }
            if self.overflow.head != NIL {
                next = next.min(self.overflow_min);
            }
            self.advance_to(next);
        }
    }

    /// Number of armed timers.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is armed.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn floor_tick(&self, t: Instant) -> u64 {
        let nanos = t.saturating_duration_since(self.start).as_nanos();
        u64::try_from(nanos / u128::from(self.tick_nanos)).unwrap_or(u64::MAX)
    }

    fn ceil_tick(&self, t: Instant) -> u64 {
        let nanos = t.saturating_duration_since(self.start).as_nanos();
        u64::try_from(nanos.div_ceil(u128::from(self.tick_nanos))).unwrap_or(u64::MAX)
    }

    fn tick_instant(&self, tick: u64) -> Option<Instant> {
        let nanos = u128::from(tick) * u128::from(self.tick_nanos);
        let secs = u64::try_from(nanos / NANOS_PER_SEC).ok()?;
        // The remainder is below 10^9, so it fits.
        let sub = (nanos % NANOS_PER_SEC) as u32;
        self.start.checked_add(Duration::new(secs, sub))
    }

    /// First tick past the ring's window; ticks at or beyond it wait in the overflow list.
    fn horizon(&self) -> u64 {
        let half = (self.mask >> 1) + 1;
        (self.cur & !(half - 1)).saturating_add(self.mask + 1)
    }

    fn loc_of(&self, tick: u64) -> Loc {
        if tick < self.horizon() {
            Loc::Slot((tick & self.mask) as usize)
        } else {
            Loc::Overflow
        }
    }

    fn advance_to(&mut self, tick: u64) {
        let old_horizon = self.horizon();
        self.cur = tick;
        let horizon = self.horizon();
        if horizon != old_horizon && self.overflow.head != NIL && self.overflow_min < horizon {
            self.migrate(horizon);
        }
    }

    /// Moves overflow timers due before `horizon` into the ring, keeping their relative order so
    /// that same-tick timers still fire in arming order (they all migrate in the same pass, and
    /// any same-tick timer armed later goes to the ring after them).
    fn migrate(&mut self, horizon: u64) {
        let mut min = u64::MAX;
        let mut idx = self.overflow.head;
        while idx != NIL {
            let entry = &self.entries[idx as usize];
            let (next, tick) = (entry.next, entry.tick);
            if tick < horizon {
                self.unlink(Loc::Overflow, idx);
                self.push_back(Loc::Slot((tick & self.mask) as usize), idx);
            } else {
                min = min.min(tick);
            }
            idx = next;
        }
        self.overflow_min = min;
    }

    /// Tick of the first occupied slot at or after the cursor's, or `None` if the ring is empty.
    fn first_ring_tick(&self) -> Option<u64> {
        let from = (self.cur & self.mask) as usize;
        let slot = self.first_occupied_from(from)?;
        let distance = (slot as u64).wrapping_sub(from as u64) & self.mask;
        Some(self.cur + distance)
    }

    /// Circular bitmap scan starting at slot `from`.
    fn first_occupied_from(&self, from: usize) -> Option<usize> {
        let words = self.occupied.len();
        let first_word = from / 64;
        let bit = from % 64;
        let above = self.occupied.get(first_word)? & (u64::MAX << bit);
        if above != 0 {
            return Some(first_word * 64 + above.trailing_zeros() as usize);
        }
        for step in 1..=words {
            let word = (first_word + step) % words;
            let mut bits = self.occupied.get(word).copied().unwrap_or(0);
            if step == words {
                // Back at the starting word: only the bits below `from` are left.
                bits &= !(u64::MAX << bit);
            }
            if bits != 0 {
                return Some(word * 64 + bits.trailing_zeros() as usize);
            }
        }
        None
    }

    fn alloc(&mut self, value: T, tick: u64) -> u32 {
        if self.free != NIL {
            let idx = self.free;
            let entry = &mut self.entries[idx as usize];
            self.free = entry.next;
            entry.value = Some(value);
            entry.tick = tick;
            return idx;
        }
        let idx = u32::try_from(self.entries.len())
            .ok()
            .filter(|&idx| idx != NIL)
            .expect("timer wheel holds at most u32::MAX - 1 timers");
        self.entries.push(Entry {
            value: Some(value),
            tick,
            prev: NIL,
            next: NIL,
            gen: 0,
        });
        idx
    }

    /// Frees an unlinked entry; bumping the generation invalidates every key issued for it.
    fn release(&mut self, idx: u32) -> Option<T> {
        let entry = &mut self.entries[idx as usize];
        let value = entry.value.take()?;
        entry.gen = entry.gen.wrapping_add(1);
        entry.prev = NIL;
        entry.next = self.free;
        self.free = idx;
        self.len -= 1;
        Some(value)
    }

    fn list_mut(&mut self, loc: Loc) -> &mut List {
        match loc {
            Loc::Slot(slot) => &mut self.slots[slot],
            Loc::Overflow => &mut self.overflow,
        }
    }

    fn push_back(&mut self, loc: Loc, idx: u32) {
        let tail = self.list_mut(loc).tail;
        let entry = &mut self.entries[idx as usize];
        entry.prev = tail;
        entry.next = NIL;
        if tail == NIL {
            self.list_mut(loc).head = idx;
        } else {
            self.entries[tail as usize].next = idx;
        }
        self.list_mut(loc).tail = idx;
        if let Loc::Slot(slot) = loc {
            self.occupied[slot / 64] |= 1 << (slot % 64);
        }
    }

    fn unlink(&mut self, loc: Loc, idx: u32) {
        let entry = &self.entries[idx as usize];
        let (prev, next) = (entry.prev, entry.next);
        if prev == NIL {
            self.list_mut(loc).head = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.list_mut(loc).tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        if let Loc::Slot(slot) = loc {
            if self.slots[slot].head == NIL {
                self.occupied[slot / 64] &= !(1 << (slot % 64));
            }
        }
    }
}

impl<T> fmt::Debug for TimerWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("len", &self.len)
            .field("cursor_tick", &self.cur)
            .field("tick", &Duration::from_nanos(self.tick_nanos))
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const MS: Duration = Duration::from_millis(1);

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    fn drain<T>(wheel: &mut TimerWheel<T>, now: Instant) -> Vec<T> {
        std::iter::from_fn(|| wheel.expire(now).map(|(_, v)| v)).collect()
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 64);
        let key = wheel.arm(at(start, 5), "ping");
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.next_expiry(), Some(at(start, 5)));
        assert_eq!(wheel.expire(start + Duration::from_micros(4_999)), None);
        assert!(wheel.is_armed(key));
        assert_eq!(wheel.expire(at(start, 5)), Some((key, "ping")));
        assert!(!wheel.is_armed(key));
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_expiry(), None);
        assert_eq!(wheel.expire(at(start, 100)), None);
    }

    #[test]
    fn sub_tick_deadline_rounds_up() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 64);
        wheel.arm(start + Duration::from_micros(5_500), 1);
        assert_eq!(wheel.next_expiry(), Some(at(start, 6)));
        assert_eq!(wheel.expire(start + Duration::from_micros(5_900)), None);
        assert_eq!(drain(&mut wheel, at(start, 6)), [1]);
    }

    #[test]
    fn cancel_before_fire_and_stale_keys() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 64);
        let a = wheel.arm(at(start, 10), 'a');
        let far = wheel.arm(at(start, 10_000), 'f');
        assert_eq!(wheel.cancel(a), Some('a'));
        assert_eq!(wheel.cancel(a), None);
        assert_eq!(wheel.cancel(far), Some('f'));
        assert_eq!(drain(&mut wheel, at(start, 20_000)), Vec::<char>::new());

        let b = wheel.arm(at(start, 20_001), 'b');
        assert_eq!(wheel.expire(at(start, 20_001)), Some((b, 'b')));
        assert_eq!(wheel.cancel(b), None, "fired key is stale");
        // The freed entry is reused; the old key must not reach the new timer.
        let c = wheel.arm(at(start, 20_005), 'c');
        assert_eq!(c.idx, b.idx);
        assert!(!wheel.is_armed(b));
        assert_eq!(wheel.cancel(b), None);
        assert!(wheel.is_armed(c));
        assert_eq!(wheel.cancel(TimerKey { idx: 999, gen: 0 }), None);
    }

    #[test]
    fn many_timers_fire_in_deadline_order() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 64);
        // 37 is coprime with 500: a scrambled arming order over deadlines 1..=500 ms, spanning
        // several revolutions of the 64-slot ring.
        for i in 0..500u64 {
            let ms = (i * 37) % 500 + 1;
            wheel.arm(at(start, ms), ms);
        }
        assert_eq!(wheel.next_expiry(), Some(at(start, 1)));
        assert_eq!(
            drain(&mut wheel, at(start, 250)),
            (1..=250).collect::<Vec<_>>()
        );
        assert_eq!(wheel.next_expiry(), Some(at(start, 251)));
        assert_eq!(
            drain(&mut wheel, at(start, 10_000)),
            (251..=500).collect::<Vec<_>>()
        );
    }

    #[test]
    fn same_tick_fires_in_arming_order() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 64);
        // All three round up to tick 7.
        wheel.arm(start + Duration::from_micros(6_900), 0);
        wheel.arm(at(start, 7), 1);
        wheel.arm(start + Duration::from_micros(6_001), 2);
        wheel.arm(at(start, 3), 9);
        assert_eq!(drain(&mut wheel, at(start, 100)), [9, 0, 1, 2]);

        // The first two wait in the overflow list; the third is armed after they migrated.
        let mut wheel = TimerWheel::new(start, MS, 64);
        wheel.arm(at(start, 500), 0);
        wheel.arm(at(start, 500), 1);
        assert_eq!(drain(&mut wheel, at(start, 480)), Vec::<i32>::new());
        wheel.arm(at(start, 500), 2);
        assert_eq!(drain(&mut wheel, at(start, 600)), [0, 1, 2]);
    }

    #[test]
    fn wraps_the_wheel_several_times() {
        let start = Instant::now();
        let slots = 4096u64;
        let mut wheel = TimerWheel::new(start, MS, slots as usize);
        let deadline = at(start, 10 * slots);
        let key = wheel.arm(deadline, ());
        let near = wheel.arm(at(start, 3 * slots + 1), ());
        let mut now = 0;
        while now < 10 * slots - 1 {
            now = (now + 999).min(10 * slots - 1);
            if let Some((k, ())) = wheel.expire(at(start, now)) {
                assert!(k == near && now > 3 * slots);
            }
            assert!(wheel.next_expiry().is_some_and(|t| t <= deadline));
        }
        assert!(!wheel.is_armed(near));
        assert!(wheel.is_armed(key));
        assert_eq!(wheel.next_expiry(), Some(deadline));
        assert_eq!(wheel.expire(deadline), Some((key, ())));
    }

    #[test]
    fn jumps_far_ahead_in_one_call() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 4096);
        wheel.arm(at(start, 3_600_000), 2);
        wheel.arm(at(start, 25_000), 1);
        assert_eq!(wheel.next_expiry(), Some(at(start, 25_000)));
        assert_eq!(drain(&mut wheel, at(start, 7_200_000)), [1, 2]);
    }

    #[test]
    fn past_deadline_fires_on_next_expire() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 64);
        wheel.arm(at(start, 100), 0);
        assert_eq!(drain(&mut wheel, at(start, 100)), [0]);
        wheel.arm(at(start, 10), 1);
        wheel.arm(
            start.checked_sub(Duration::from_secs(1)).unwrap_or(start),
            2,
        );
        assert_eq!(wheel.next_expiry(), Some(at(start, 100)));
        assert_eq!(drain(&mut wheel, at(start, 100)), [1, 2]);
        wheel.arm(at(start, 50), 3);
        assert_eq!(
            wheel.expire(at(start, 90)),
            None,
            "time going backwards fires nothing"
        );
    }

    #[test]
    fn rearm_from_inside_fire_loop() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 64);
        let interval = 25u64;
        for conn in 0..100u64 {
            wheel.arm(at(start, interval + conn % 5), (conn, 0u32));
        }
        let mut fired = 0;
        for now in (0..=1_000).map(|ms| at(start, ms)) {
            while let Some((_, (conn, rounds))) = wheel.expire(now) {
                fired += 1;
                assert_eq!(
                    now,
                    at(start, (u64::from(rounds) + 1) * interval + conn % 5)
                );
                wheel.arm(now + Duration::from_millis(interval), (conn, rounds + 1));
            }
        }
        assert_eq!(wheel.len(), 100);
        // Offsets 0..=4 past each 25 ms period, 39 or 40 periods in the first second.
        assert_eq!(fired, 40 * 20 + 39 * 80);
        assert!(wheel.entries.len() <= 200, "entries are reused");
    }

    #[test]
    fn overflow_min_survives_cancel_then_rearm() {
        let start = Instant::now();
        let mut wheel = TimerWheel::new(start, MS, 64);
        let k = wheel.arm(at(start, 200), 0);
        assert_eq!(wheel.cancel(k), Some(0));
        assert_eq!(drain(&mut wheel, at(start, 300)), Vec::<i32>::new());
        wheel.arm(at(start, 1_000), 1);
        assert_eq!(wheel.next_expiry(), Some(at(start, 1_000)));
        assert_eq!(drain(&mut wheel, at(start, 999)), Vec::<i32>::new());
        assert_eq!(drain(&mut wheel, at(start, 1_000)), [1]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Deadline relative to the current time, in microseconds; negative is in the past.
        Arm(i64),
        Cancel(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (-5_000i64..700_000).prop_map(Op::Arm),
            1 => any::<usize>().prop_map(Op::Cancel),
            3 => (0u64..40_000).prop_map(Op::Advance),
            1 => (0u64..3_000_000).prop_map(Op::Advance),
        ]
    }

    struct Model {
        deadline: Instant,
        /// Tick the wheel promises: the deadline rounded up, or the cursor if already past.
        tick: u64,
        armed_at: Instant,
        key: TimerKey,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn matches_btreemap_model(ops in prop::collection::vec(op(), 1..150)) {
            let start = Instant::now();
            let tick = MS;
            let ticks = |t: Instant, up: bool| {
                let n = t.saturating_duration_since(start).as_nanos();
                let d = tick.as_nanos();
                (if up { n.div_ceil(d) } else { n / d }) as u64
            };
            let mut wheel = TimerWheel::new(start, tick, 64);
            let mut model: BTreeMap<u64, Model> = BTreeMap::new();
            let mut keys: Vec<(TimerKey, u64)> = Vec::new();
            let mut now = start;
            let mut seq = 0u64;
            for op in ops {
                match op {
                    Op::Arm(offset) => {
                        let deadline = if offset < 0 {
                            now.checked_sub(Duration::from_micros(offset.unsigned_abs()))
                                .unwrap_or(start)
                        } else {
                            now + Duration::from_micros(offset as u64)
                        };
                        let key = wheel.arm(deadline, seq);
                        let tick = ticks(deadline, true).max(ticks(now, false));
                        model.insert(seq, Model { deadline, tick, armed_at: now, key });
                        keys.push((key, seq));
                        seq += 1;
                    }
                    Op::Cancel(i) if !keys.is_empty() => {
                        let (key, value) = keys[i % keys.len()];
                        let expected = model.remove(&value).map(|_| value);
                        prop_assert_eq!(wheel.is_armed(key), expected.is_some());
                        prop_assert_eq!(wheel.cancel(key), expected);
                    }
                    Op::Cancel(_) => {}
                    Op::Advance(micros) => {
                        let prev = now;
                        now += Duration::from_micros(micros);
                        let mut fired = Vec::new();
                        while let Some((key, value)) = wheel.expire(now) {
                            let m = model.remove(&value);
                            prop_assert!(m.is_some(), "fired unknown or twice: {}", value);
                            let m = m.unwrap();
                            prop_assert_eq!(key, m.key);
                            prop_assert!(m.deadline <= now, "fired early");
                            prop_assert!(
                                m.deadline < m.armed_at || m.deadline + tick > prev,
                                "fired more than one tick late"
                            );
                            fired.push((m.tick, value));
                        }
                        let mut sorted = fired.clone();
                        sorted.sort();
                        prop_assert_eq!(&fired, &sorted, "not in deadline then arming order");
                        let now_tick = ticks(now, false);
                        prop_assert!(model.values().all(|m| m.tick > now_tick), "missed a timer");
                        prop_assert_eq!(wheel.len(), model.len());
                        let earliest = model.values().map(|m| m.tick).min();
                        match (wheel.next_expiry(), earliest) {
                            (None, None) => {}
                            (Some(t), Some(tick)) => {
                                prop_assert!(ticks(t, false) <= tick, "next_expiry too late")
                            }
                            (got, want) => prop_assert!(false, "{:?} vs {:?}", got, want),
                        }
                    }
                }
            }
        }
    }
}
