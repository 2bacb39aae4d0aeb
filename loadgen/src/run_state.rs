//! State the coordinating thread shares with the event loops: the run's phase and measurement
//! window, and each loop's progress counters for the once-a-second line.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// Where the run is. Loops react to a change on their next wake-up (at most 50 ms later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Opening connections; scenarios do not send yet.
    Ramp = 0,
    /// Sending: warm-up, then the measurement window.
    Run = 1,
    /// No new sends; answers and deliveries still in flight are collected.
    Drain = 2,
    /// Loops exit and drop their connections.
    Stop = 3,
}

/// The run as every loop sees it.
#[derive(Debug)]
pub struct RunState {
    phase: AtomicU8,
    window_start_ns: AtomicU64,
    window_end_ns: AtomicU64,
}

impl Default for RunState {
    fn default() -> Self {
        Self::new()
    }
}

impl RunState {
    /// Ramp phase, no window yet.
    pub fn new() -> Self {
        Self {
            phase: AtomicU8::new(Phase::Ramp as u8),
            window_start_ns: AtomicU64::new(u64::MAX),
            window_end_ns: AtomicU64::new(u64::MAX),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Ramp,
            1 => Phase::Run,
            2 => Phase::Drain,
            _ => Phase::Stop,
        }
    }

    /// Moves to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }

    /// Sets the measurement window `[start_ns, end_ns)` in monotonic ns. Set it before entering
    /// [`Phase::Run`] so no loop sends without knowing it.
    pub fn set_window(&self, start_ns: u64, end_ns: u64) {
        self.window_start_ns.store(start_ns, Ordering::Release);
        self.window_end_ns.store(end_ns, Ordering::Release);
    }

    /// The measurement window `(start, end)`; `(MAX, MAX)` before it is set.
    pub fn window(&self) -> (u64, u64) {
        (
            self.window_start_ns.load(Ordering::Acquire),
            self.window_end_ns.load(Ordering::Acquire),
        )
    }

    /// Whether `ns` falls inside the measurement window.
    pub fn in_window(&self, ns: u64) -> bool {
        let (start, end) = self.window();
        start <= ns && ns < end
    }
}

/// One loop's running totals, published every ~100 ms, read by the progress line.
#[derive(Debug, Default)]
pub struct Progress {
    /// Connections with a completed handshake, open now.
    pub open: AtomicU64,
    /// Connections that completed or failed their handshake.
    pub settled: AtomicU64,
    /// Completed echoes, acks or deliveries (window or not).
    pub completed: AtomicU64,
    /// Failures of every kind.
    pub errors: AtomicU64,
}

/// A snapshot of [`Progress`], summed over loops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// See [`Progress::open`].
    pub open: u64,
    /// See [`Progress::settled`].
    pub settled: u64,
    /// See [`Progress::completed`].
    pub completed: u64,
    /// See [`Progress::errors`].
    pub errors: u64,
}

impl ProgressSnapshot {
    /// Sums the loops' counters.
    pub fn sum(loops: &[std::sync::Arc<Progress>]) -> Self {
        let mut s = Self::default();
        for p in loops {
            s.open += p.open.load(Ordering::Relaxed);
            s.settled += p.settled.load(Ordering::Relaxed);
            s.completed += p.completed.load(Ordering::Relaxed);
            s.errors += p.errors.load(Ordering::Relaxed);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn phases_and_window() {
        let r = RunState::new();
        assert_eq!(r.phase(), Phase::Ramp);
        assert!(!r.in_window(5));
        r.set_window(10, 20);
        r.set_phase(Phase::Run);
        assert_eq!(r.phase(), Phase::Run);
        assert!(!r.in_window(9));
        assert!(r.in_window(10));
        assert!(r.in_window(19));
        assert!(!r.in_window(20));
        r.set_phase(Phase::Stop);
        assert_eq!(r.phase(), Phase::Stop);
    }

    #[test]
    fn progress_sums_loops() {
        let a = Arc::new(Progress::default());
        let b = Arc::new(Progress::default());
        a.open.store(2, Ordering::Relaxed);
        b.open.store(3, Ordering::Relaxed);
        b.errors.store(1, Ordering::Relaxed);
        let s = ProgressSnapshot::sum(&[a, b]);
        assert_eq!((s.open, s.errors, s.completed), (5, 1, 0));
    }
}
