//! How long the oldest byte queued for a connection has waited (`max_queue_age`), without a
//! timestamp per queued frame: a connection keeps a few stamps "everything before byte offset
//! `end` of the stream was queued by time `t`", at most one per grain (an eighth of the age
//! limit), and drops those the socket has taken. The age it reports for the oldest byte is an
//! upper bound off by less than a grain, so the sweep cuts only at the limit plus a grain: a
//! reader is never cut before its oldest byte waited the whole limit, and at most a grain and
//! a sweep later.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The stamps' grain for an age limit of `max_age`: an eighth of it (at least 1 ms), which
/// bounds a queue's stamps to about nine however far behind its reader is.
pub(crate) fn grain(max_age: Duration) -> Duration {
    (max_age / 8).max(Duration::from_millis(1))
}

/// The age stamps of one connection's queue.
#[derive(Debug, Default)]
pub(crate) struct QueueAge {
    /// `(end, t)`: bytes of the stream before offset `end` (and after the previous stamp's)
    /// were queued at `t` or within a grain after it; oldest first.
    stamps: VecDeque<(u64, Instant)>,
}

impl QueueAge {
    /// Notes that the stream's bytes before `end` are queued at `now`, of which those before
    /// `left` have left the queue. Bytes noted within `grain` of the newest stamp join it.
    pub fn note(&mut self, left: u64, end: u64, now: Instant, grain: Duration) {
        self.forget(left);
        if end <= left {
            return;
        }
        match self.stamps.back_mut() {
            Some((e, _)) if end <= *e => {}
            Some((e, t)) if now.saturating_duration_since(*t) < grain => *e = end,
            _ => self.stamps.push_back((end, now)),
        }
    }

    /// How long, at most, the oldest byte still queued (none before `left`) has waited by
    /// `now`; `None` when nothing noted is queued.
    pub fn oldest(&mut self, left: u64, now: Instant) -> Option<Duration> {
        self.forget(left);
        self.stamps
            .front()
            .map(|&(_, t)| now.saturating_duration_since(t))
    }

    fn forget(&mut self, left: u64) {
        while self.stamps.front().is_some_and(|&(end, _)| end <= left) {
            self.stamps.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRAIN: Duration = Duration::from_millis(100);

    #[test]
    fn the_oldest_byte_ages_until_it_is_written() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut age = QueueAge::default();
        assert_eq!(age.oldest(0, t0), None);
        age.note(0, 10, t0, GRAIN);
        // Within the grain: the same stamp, which reports the earlier time.
        age.note(0, 20, ms(50), GRAIN);
        age.note(0, 30, ms(300), GRAIN);
        assert_eq!(age.oldest(0, ms(400)), Some(Duration::from_millis(400)));
        // Bytes 0..19 written: the oldest left was queued at 300 ms.
        assert_eq!(age.oldest(20, ms(400)), Some(Duration::from_millis(100)));
        // Part of the newer stamp written: still that stamp's time.
        assert_eq!(age.oldest(25, ms(400)), Some(Duration::from_millis(100)));
        assert_eq!(age.oldest(30, ms(400)), None);
    }

    #[test]
    fn an_empty_queue_keeps_no_stamp() {
        let t0 = Instant::now();
        let mut age = QueueAge::default();
        age.note(40, 40, t0, GRAIN);
        assert_eq!(age.oldest(40, t0 + GRAIN), None);
        // Nothing new queued since the last note: no new stamp, the old time stands.
        age.note(40, 50, t0, GRAIN);
        age.note(40, 50, t0 + 5 * GRAIN, GRAIN);
        assert_eq!(age.oldest(40, t0 + 6 * GRAIN), Some(6 * GRAIN));
    }

    #[test]
    fn a_reader_keeping_up_with_a_backlog_is_young() {
        // 1 KiB queued and 1 KiB written every 10 ms, with 5 KiB always behind: the oldest
        // byte waited 60 ms, however long this goes on (reported up to a grain more).
        let t0 = Instant::now();
        let mut age = QueueAge::default();
        let step = Duration::from_millis(10);
        for i in 0..1000u64 {
            let now = t0 + step * i as u32;
            age.note(
                (i * 1024).saturating_sub(5 * 1024),
                i * 1024 + 1024,
                now,
                GRAIN,
            );
        }
        let now = t0 + step * 999;
        let oldest = age.oldest(994 * 1024, now).unwrap();
        assert!(oldest >= Duration::from_millis(60), "{oldest:?}");
        assert!(oldest < Duration::from_millis(60) + GRAIN, "{oldest:?}");
        assert!(age.stamps.len() <= 2, "{} stamps", age.stamps.len());
    }
}
