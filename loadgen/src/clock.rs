//! The one clock every loop and process reads: `CLOCK_MONOTONIC` in nanoseconds.
//!
//! `std::time::Instant` cannot be sent to another process, but the broadcast scenario stamps a
//! send time into a payload that a receiver in another process compares with its own clock, and
//! child processes share one measurement window. `CLOCK_MONOTONIC` is system-wide on Linux, so
//! raw nanoseconds from it mean the same thing in every process on the machine.

use std::time::Instant;

/// One reading of both clocks: raw nanoseconds for payloads and windows, and the matching
/// [`Instant`] for the engine's sans-IO state machines, which take `now: Instant`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub ns: u64,
    /// The same moment as an `Instant`.
    pub at: Instant,
}

impl Now {
    /// Reads the clocks.
    pub fn read() -> Self {
        Self {
            ns: now_ns(),
            at: Instant::now(),
        }
    }

    /// `t` in monotonic nanoseconds, using this reading as the reference point.
    pub fn ns_of(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.at) {
            Some(ahead) => self
                .ns
                .saturating_add(u64::try_from(ahead.as_nanos()).unwrap_or(u64::MAX)),
            None => self.ns.saturating_sub(
                u64::try_from(self.at.duration_since(t).as_nanos()).unwrap_or(u64::MAX),
            ),
        }
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC is always supported on
    // Linux, so the call only writes into `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

/// Whole microseconds from `from_ns` to `to_ns`; 0 if the clock went backwards.
pub fn micros_between(from_ns: u64, to_ns: u64) -> u64 {
    to_ns.saturating_sub(from_ns) / 1_000
}

/// `secs` as nanoseconds, saturating; negative or NaN count as 0.
pub fn secs_to_ns(secs: f64) -> u64 {
    let ns = secs * 1e9;
    if ns.is_nan() || ns <= 0.0 {
        0
    } else if ns >= u64::MAX as f64 {
        u64::MAX
    } else {
        ns as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotonic_and_nonzero() {
        let a = now_ns();
        let b = now_ns();
        assert!(a > 0);
        assert!(b >= a);
    }

    #[test]
    fn now_maps_instants_to_nanoseconds() {
        let now = Now::read();
        let later = now.at + std::time::Duration::from_millis(5);
        assert_eq!(now.ns_of(later), now.ns + 5_000_000);
        assert_eq!(now.ns_of(now.at), now.ns);
        let earlier = now
            .at
            .checked_sub(std::time::Duration::from_nanos(10))
            .unwrap();
        assert_eq!(now.ns_of(earlier), now.ns - 10);
    }

    #[test]
    fn conversions_saturate() {
        assert_eq!(micros_between(5_000, 2_000), 0);
        assert_eq!(micros_between(1_000, 3_500), 2);
        assert_eq!(secs_to_ns(1.5), 1_500_000_000);
        assert_eq!(secs_to_ns(-1.0), 0);
        assert_eq!(secs_to_ns(f64::NAN), 0);
        assert_eq!(secs_to_ns(1e30), u64::MAX);
    }
}
