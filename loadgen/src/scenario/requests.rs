//! Request/answer bookkeeping shared by the echo scenarios: what is in flight, when the next send
//! is due (closed loop or paced), timeouts, and latency recording.
//!
//! In paced mode a request's latency runs from when it was *due*, not when it went out, so a
//! stalled client or server cannot hide latency by sending less (coordinated omission).

use std::collections::VecDeque;

use crate::clock::micros_between;
use crate::event_loop::Cx;
use crate::scenario::earliest;

/// Most overdue paced sends made in one go, so a long stall cannot monopolise the loop.
const MAX_CATCH_UP: u32 = 1000;

/// Sends at a fixed interval, from a per-connection offset so connections do not fire together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pacer {
    interval_ns: u64,
    offset_ns: u64,
    next_ns: Option<u64>,
}

impl Pacer {
    /// One send per `interval_ns`, the first `offset_ns` after sending starts.
    pub fn new(interval_ns: u64, offset_ns: u64) -> Self {
        Self {
            interval_ns: interval_ns.max(1),
            offset_ns,
            next_ns: None,
        }
    }

    /// The pacer for one of `count` connections sharing `rate` messages per second, spread by
    /// `index`.
    pub fn for_share(rate: f64, count: u64, index: u64) -> Self {
        let interval = crate::clock::secs_to_ns(count.max(1) as f64 / rate);
        let interval = interval.max(1);
        // A multiplicative hash spreads consecutive indexes over the interval.
        let offset = index.wrapping_mul(0x9e37_79b9_7f4a_7c15) % interval;
        Self::new(interval, offset)
    }

    /// Send times due at `now_ns` (starting the schedule on first use), at most
    /// [`MAX_CATCH_UP`].
    pub fn due(&mut self, now_ns: u64, mut send: impl FnMut(u64) -> bool) {
        let next = self
            .next_ns
            .get_or_insert_with(|| now_ns.saturating_add(self.offset_ns));
        let mut n = 0;
        while *next <= now_ns && n < MAX_CATCH_UP {
            if !send(*next) {
                return;
            }
            *next = next.saturating_add(self.interval_ns);
            n += 1;
        }
    }

    /// Stops the schedule; the next [`due`](Self::due) starts it afresh.
    pub fn stop(&mut self) {
        self.next_ns = None;
    }

    /// The next send time once started.
    pub fn next_ns(&self) -> Option<u64> {
        self.next_ns
    }
}

/// Requests in flight on one connection.
#[derive(Clone, Debug)]
pub struct Requests {
    /// `(id, due_ns)`, oldest first.
    inflight: VecDeque<(u64, u64)>,
    pacer: Option<Pacer>,
    window: usize,
    timeout_ns: u64,
}

impl Requests {
    /// Closed loop with `window` requests in flight when `pacer` is `None`, else paced.
    pub fn new(window: u32, pacer: Option<Pacer>, timeout_ns: u64) -> Self {
        Self {
            inflight: VecDeque::new(),
            pacer,
            window: window.max(1) as usize,
            timeout_ns,
        }
    }

    /// Sends what is due while the run is sending: `send(due_ns)` queues one request and
    /// returns its id (`None` if it could not be sent).
    pub fn send_due(&mut self, cx: &mut Cx<'_>, mut send: impl FnMut(u64) -> Option<u64>) {
        if !cx.sending() {
            // A stopped schedule has no deadline, so an idle connection does not keep waking.
            if let Some(p) = &mut self.pacer {
                p.stop();
            }
            return;
        }
        let now = cx.now.ns;
        let sent = &mut cx.stats.counters.sent;
        let Self {
            inflight,
            pacer,
            window,
            ..
        } = self;
        match pacer {
            Some(p) => p.due(now, |due| match send(due) {
                Some(id) => {
                    inflight.push_back((id, due));
                    *sent += 1;
                    true
                }
                None => false,
            }),
            None => {
                while inflight.len() < *window {
                    let Some(id) = send(now) else { break };
                    inflight.push_back((id, now));
                    *sent += 1;
                }
            }
        }
    }

    /// Matches an answer to request `id`: records its latency (inside the window) or, when
    /// nothing with that id is in flight, a duplicate.
    pub fn complete(&mut self, id: u64, cx: &mut Cx<'_>) {
        let found = if self.inflight.front().map(|r| r.0) == Some(id) {
            self.inflight.pop_front()
        } else {
            let at = self.inflight.iter().position(|r| r.0 == id);
            at.and_then(|i| self.inflight.remove(i))
        };
        match found {
            Some((_, due)) => {
                if cx.measuring() {
                    cx.stats.latency.record(micros_between(due, cx.now.ns));
                    cx.stats.counters.completed += 1;
                }
            }
            None => {
                cx.stats.counters.duplicated += 1;
                cx.stats
                    .note_error("answer matches no request in flight (duplicate or late)");
            }
        }
    }

    /// Counts and forgets requests older than the timeout.
    pub fn expire(&mut self, cx: &mut Cx<'_>) {
        while let Some((_, due)) = self.inflight.front().copied() {
            if due.saturating_add(self.timeout_ns) > cx.now.ns {
                break;
            }
            self.inflight.pop_front();
            cx.stats.counters.timeouts += 1;
            cx.stats.note_error(&format!(
                "no answer within {} ms",
                self.timeout_ns / 1_000_000
            ));
        }
    }

    /// When something is due next: the oldest request's timeout or the next paced send.
    pub fn deadline_ns(&self) -> Option<u64> {
        let timeout = self
            .inflight
            .front()
            .map(|r| r.1.saturating_add(self.timeout_ns));
        earliest(timeout, self.pacer.as_ref().and_then(Pacer::next_ns))
    }

    /// Requests in flight.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.inflight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Now;
    use crate::run_state::{Phase, RunState};
    use crate::stats::Stats;

    fn at(base: Now, ms: u64) -> Now {
        Now {
            ns: base.ns + ms * 1_000_000,
            at: base.at + std::time::Duration::from_millis(ms),
        }
    }

    fn running() -> RunState {
        let run = RunState::new();
        run.set_window(0, u64::MAX);
        run.set_phase(Phase::Run);
        run
    }

    #[test]
    fn pacer_keeps_its_schedule_and_catches_up() {
        let mut p = Pacer::new(10, 5);
        let mut times = Vec::new();
        p.due(100, |t| {
            times.push(t);
            true
        });
        assert!(times.is_empty(), "first send is one offset after the start");
        assert_eq!(p.next_ns(), Some(105));
        p.due(131, |t| {
            times.push(t);
            true
        });
        assert_eq!(times, [105, 115, 125]);
        p.due(140, |_| false);
        assert_eq!(p.next_ns(), Some(135), "a refused send is retried");
        let share = Pacer::for_share(100.0, 10, 3);
        assert_eq!(share.interval_ns, 100_000_000);
        assert!(share.offset_ns < share.interval_ns);
    }

    #[test]
    fn closed_loop_keeps_the_window_full_and_records_inside_it() {
        let run = running();
        let mut stats = Stats::default();
        let base = Now::read();
        let mut r = Requests::new(3, None, 1_000_000_000);
        let mut next_id = 0;
        let mut send = |_due| {
            next_id += 1;
            Some(next_id)
        };
        let mut cx = Cx {
            now: base,
            stats: &mut stats,
            run: &run,
        };
        r.send_due(&mut cx, &mut send);
        assert_eq!(r.in_flight(), 3);
        let mut cx = Cx {
            now: at(base, 2),
            stats: &mut stats,
            run: &run,
        };
        r.complete(2, &mut cx);
        r.complete(2, &mut cx);
        r.send_due(&mut cx, &mut send);
        assert_eq!(r.in_flight(), 3);
        assert_eq!(stats.counters.sent, 4);
        assert_eq!(stats.counters.completed, 1);
        assert_eq!(stats.counters.duplicated, 1);
        assert_eq!(stats.latency.max(), 2000);
    }

    #[test]
    fn nothing_is_sent_outside_the_run_phase_and_stale_requests_time_out() {
        let run = RunState::new();
        let mut stats = Stats::default();
        let base = Now::read();
        let mut r = Requests::new(2, None, 5_000_000);
        let mut cx = Cx {
            now: base,
            stats: &mut stats,
            run: &run,
        };
        r.send_due(&mut cx, |_| Some(1));
        assert_eq!(r.in_flight(), 0);
        run.set_phase(Phase::Run);
        let mut ids = 0..;
        r.send_due(&mut cx, |_| ids.next());
        assert_eq!(r.deadline_ns(), Some(base.ns + 5_000_000));
        let mut cx = Cx {
            now: at(base, 5),
            stats: &mut stats,
            run: &run,
        };
        r.expire(&mut cx);
        assert_eq!(r.in_flight(), 0);
        assert_eq!(stats.counters.timeouts, 2);
        assert_eq!(stats.errors["no answer within 5 ms"], 2);
    }
}
