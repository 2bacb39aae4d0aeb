//! Reconnection delays: exponential backoff with jitter, as the JS client's `backo2`.

use std::time::Duration;

use super::rng::Rng;

/// Exponential backoff: attempt `n` (from 0) waits `min * 2^n`, moved up or down by up to
/// `jitter` of itself at random, and capped at `max`.
///
/// JS client defaults (see [`Backoff::default`]): min 1000 ms, max 5000 ms, jitter 0.5.
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    jitter: f64,
    attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(
            Duration::from_millis(1000),
            Duration::from_millis(5000),
            0.5,
        )
    }
}

impl Backoff {
    /// A backoff from `min` to `max`; `jitter` is clamped to `0.0..=1.0`.
    pub fn new(min: Duration, max: Duration, jitter: f64) -> Self {
        Self {
            min,
            max,
            jitter: if jitter.is_nan() {
                0.0
            } else {
                jitter.clamp(0.0, 1.0)
            },
            attempts: 0,
        }
    }

    /// The delay before the next attempt; counts the attempt.
    pub fn next_delay(&mut self, rng: &mut Rng) -> Duration {
        let exp =
            self.min.as_secs_f64() * 2f64.powi(i32::try_from(self.attempts).unwrap_or(i32::MAX));
        self.attempts = self.attempts.saturating_add(1);
        let mut secs = exp;
        if self.jitter > 0.0 {
            let r = rng.next_f64();
            let deviation = r * self.jitter * exp;
            // backo2 picks the direction from the same draw.
            secs = if (r * 10.0) as u32 & 1 == 0 {
                exp - deviation
            } else {
                exp + deviation
            };
        }
        let max = self.max.as_secs_f64();
        Duration::try_from_secs_f64(secs.min(max)).unwrap_or(self.max)
    }

    /// Attempts counted since the last [`reset`](Self::reset).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Starts over from `min` (after a successful reconnection).
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_up_to_the_cap_without_jitter() {
        let mut rng = Rng::new(1);
        let mut b = Backoff::new(ms(100), ms(1000), 0.0);
        let delays: Vec<_> = (0..6).map(|_| b.next_delay(&mut rng)).collect();
        assert_eq!(
            delays,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(b.attempts(), 6);
        b.reset();
        assert_eq!(b.next_delay(&mut rng), ms(100));
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let mut rng = Rng::new(9);
        let mut seen_low = false;
        let mut seen_high = false;
        for _ in 0..200 {
            let mut b = Backoff::default();
            let d = b.next_delay(&mut rng);
            assert!(d >= ms(500) && d <= ms(1500), "{d:?}");
            seen_low |= d < ms(1000);
            seen_high |= d > ms(1000);
            for _ in 0..20 {
                assert!(b.next_delay(&mut rng) <= ms(5000));
            }
        }
        assert!(seen_low && seen_high);
        let mut huge = Backoff::new(Duration::MAX, Duration::MAX, 2.0);
        assert!(huge.next_delay(&mut rng) > Duration::ZERO);
    }
}
