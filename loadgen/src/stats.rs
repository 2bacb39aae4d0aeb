//! What one event loop measures: counters, latency histograms and error tallies, merged across
//! loops and processes and carried between processes as JSON.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ledger::Ledger;

/// Largest latency a histogram holds, in microseconds (one hour); larger values are clamped.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Significant decimal digits the histograms keep (0.1% value resolution).
const SIGFIG: u8 = 3;

/// Most distinct error messages kept; later ones are tallied under [`OTHER_ERRORS`] so a storm
/// of distinct failures cannot grow the report without bound.
pub const MAX_ERROR_KINDS: usize = 64;

/// The tally key for errors past [`MAX_ERROR_KINDS`].
pub const OTHER_ERRORS: &str = "(other errors)";

/// A latency distribution in microseconds (an HdrHistogram, 1 µs to one hour, 3 significant
/// digits).
///
/// Serialises as `{"unit":"us","buckets":[[value,count],...]}` listing every recorded bucket, so
/// processes can send theirs to the parent without loss of precision.
#[derive(Clone, Debug)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialEq for Latency {
    fn eq(&self, other: &Self) -> bool {
        self.buckets() == other.buckets()
    }
}

impl Latency {
    /// An empty distribution.
    pub fn new() -> Self {
        Self(
            Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGFIG)
                .expect("constant histogram bounds are valid"),
        )
    }

    /// Records one sample of `us` microseconds, clamped to `1..=MAX_LATENCY_US`.
    pub fn record(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Records `count` samples of `us` microseconds.
    pub fn record_n(&mut self, us: u64, count: u64) {
        self.0
            .saturating_record_n(us.clamp(1, MAX_LATENCY_US), count);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latency) {
        for (value, count) in other.buckets() {
            self.record_n(value, count);
        }
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// Largest sample (bucket upper bound); 0 when empty.
    pub fn max(&self) -> u64 {
        if self.count() == 0 {
            0
        } else {
            self.0.max()
        }
    }

    /// Mean in microseconds; 0 when empty.
    pub fn mean(&self) -> f64 {
        if self.count() == 0 {
            0.0
        } else {
            self.0.mean()
        }
    }

    /// The value at `percentile` (0 to 100); 0 when empty.
    pub fn at(&self, percentile: f64) -> u64 {
        if self.count() == 0 {
            0
        } else {
            self.0.value_at_percentile(percentile.clamp(0.0, 100.0))
        }
    }

    /// The usual percentiles of the distribution.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles {
            count: self.count(),
            mean_us: self.mean(),
            p50_us: self.at(50.0),
            p90_us: self.at(90.0),
            p99_us: self.at(99.0),
            p999_us: self.at(99.9),
            max_us: self.max(),
        }
    }

    /// Points `(percentile, value_us)` of the percentile curve, from 0 up to 100 with
    /// `ticks_per_half` points per halving of the distance to 100%, as HdrHistogram plots do.
    pub fn curve(&self, ticks_per_half: u32) -> Vec<(f64, u64)> {
        if self.count() == 0 {
            return Vec::new();
        }
        let mut points: Vec<(f64, u64)> = self
            .0
            .iter_quantiles(ticks_per_half.max(1))
            .map(|v| (v.quantile_iterated_to() * 100.0, v.value_iterated_to()))
            .collect();
        if points.last().map(|p| p.0 < 100.0).unwrap_or(true) {
            points.push((100.0, self.max()));
        }
        points
    }

    /// Every recorded bucket as `(value, count)`, lowest first.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.0
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct LatencyWire {
    unit: String,
    buckets: Vec<(u64, u64)>,
}

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LatencyWire {
            unit: "us".to_owned(),
            buckets: self.buckets(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = LatencyWire::deserialize(d)?;
        if wire.unit != "us" {
            return Err(D::Error::custom(format!(
                "latency unit {:?}, expected \"us\"",
                wire.unit
            )));
        }
        let mut latency = Latency::new();
        for (value, count) in wire.buckets {
            latency.record_n(value, count);
        }
        Ok(latency)
    }
}

/// Summary figures of one distribution, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest sample.
    pub max_us: u64,
}

/// Event counts. Every failure lands in exactly one of the failure counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// TCP connections started.
    pub attempts: u64,
    /// Connections that completed the whole handshake of their scenario.
    pub connected: u64,
    /// Connections that failed before completing the handshake (refused, reset, upgrade
    /// refused, connect error, handshake timeout).
    pub connect_failed: u64,
    /// Established connections lost before the end of the run (closed by the server, reset,
    /// heartbeat expired).
    pub dropped: u64,
    /// Connections ended because the peer broke a protocol rule.
    pub protocol_errors: u64,
    /// Requests (echoes, acks) not answered within the timeout.
    pub timeouts: u64,
    /// Messages sent while the run was measuring or warming up.
    pub sent: u64,
    /// Echoes, acks or deliveries completed inside the measurement window.
    pub completed: u64,
    /// Expected deliveries that never arrived (broadcast).
    pub lost: u64,
    /// Answers or deliveries received more than once, or matching nothing sent.
    pub duplicated: u64,
}

impl Counters {
    /// Adds `other` field by field.
    pub fn merge(&mut self, other: &Counters) {
        self.attempts += other.attempts;
        self.connected += other.connected;
        self.connect_failed += other.connect_failed;
        self.dropped += other.dropped;
        self.protocol_errors += other.protocol_errors;
        self.timeouts += other.timeouts;
        self.sent += other.sent;
        self.completed += other.completed;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
    }

    /// Failures of every kind together: what a clean run keeps at zero.
    pub fn errors(&self) -> u64 {
        self.connect_failed
            + self.dropped
            + self.protocol_errors
            + self.timeouts
            + self.lost
            + self.duplicated
    }
}

/// Everything one loop (and, merged, one run) measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Event counts.
    pub counters: Counters,
    /// Round trip (echo, ack) or delivery (broadcast) latency inside the measurement window.
    pub latency: Latency,
    /// From starting the TCP connect to the end of the scenario's handshake.
    pub handshake: Latency,
    /// Error messages and how often each occurred.
    pub errors: BTreeMap<String, u64>,
    /// Earliest connection attempt, monotonic ns; 0 when none.
    pub first_attempt_ns: u64,
    /// Latest completed handshake, monotonic ns; 0 when none.
    pub last_connected_ns: u64,
    /// Broadcast bookkeeping; empty for other scenarios.
    pub ledger: Ledger,
}

impl Stats {
    /// Tallies one occurrence of error `message`.
    pub fn note_error(&mut self, message: &str) {
        if let Some(n) = self.errors.get_mut(message) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_KINDS {
            self.errors.insert(message.to_owned(), 1);
        } else {
            *self.errors.entry(OTHER_ERRORS.to_owned()).or_insert(0) += 1;
        }
    }

    /// Notes a connection attempt started at `now_ns`.
    pub fn note_attempt(&mut self, now_ns: u64) {
        self.counters.attempts += 1;
        if self.first_attempt_ns == 0 || now_ns < self.first_attempt_ns {
            self.first_attempt_ns = now_ns;
        }
    }

    /// Notes a handshake completed at `now_ns` that took `us` microseconds.
    pub fn note_connected(&mut self, now_ns: u64, us: u64) {
        self.counters.connected += 1;
        self.handshake.record(us);
        self.last_connected_ns = self.last_connected_ns.max(now_ns);
    }

    /// Adds everything `other` measured.
    pub fn merge(&mut self, other: &Stats) {
        self.counters.merge(&other.counters);
        self.latency.merge(&other.latency);
        self.handshake.merge(&other.handshake);
        for (message, n) in &other.errors {
            if let Some(mine) = self.errors.get_mut(message) {
                *mine += n;
            } else if self.errors.len() < MAX_ERROR_KINDS || message == OTHER_ERRORS {
                self.errors.insert(message.clone(), *n);
            } else {
                *self.errors.entry(OTHER_ERRORS.to_owned()).or_insert(0) += n;
            }
        }
        if other.first_attempt_ns != 0
            && (self.first_attempt_ns == 0 || other.first_attempt_ns < self.first_attempt_ns)
        {
            self.first_attempt_ns = other.first_attempt_ns;
        }
        self.last_connected_ns = self.last_connected_ns.max(other.last_connected_ns);
        self.ledger.merge(&other.ledger);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency_of(values: &[u64]) -> Latency {
        let mut l = Latency::new();
        for v in values {
            l.record(*v);
        }
        l
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let l = latency_of(&(1..=1000).collect::<Vec<_>>());
        let p = l.percentiles();
        assert_eq!(p.count, 1000);
        assert_eq!(p.p50_us, 500);
        assert_eq!(p.p90_us, 900);
        assert_eq!(p.p99_us, 990);
        assert_eq!(p.p999_us, 1000, "hdrhistogram rounds this rank up");
        assert_eq!(p.max_us, 1000);
        assert!((p.mean_us - 500.5).abs() < 0.5);
    }

    #[test]
    fn empty_distribution_reads_as_zero() {
        let l = Latency::new();
        assert_eq!(l.percentiles(), Percentiles::default());
        assert!(l.curve(5).is_empty());
    }

    #[test]
    fn values_are_clamped_not_refused() {
        let l = latency_of(&[0, u64::MAX]);
        assert_eq!(l.count(), 2);
        assert_eq!(l.at(0.0), 1);
        assert!(l.max() >= MAX_LATENCY_US);
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let a = latency_of(&[1, 5, 900, 12_000]);
        let b = latency_of(&[7, 900, 2_000_000]);
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged, latency_of(&[1, 5, 900, 12_000, 7, 900, 2_000_000]));
        assert_eq!(merged.count(), 7);
    }

    #[test]
    fn latency_json_round_trip_is_lossless() {
        let l = latency_of(&[3, 3, 250, 123_456, 3_000_000]);
        let json = serde_json::to_string(&l).unwrap();
        assert!(
            json.starts_with(r#"{"unit":"us","buckets":[[3,2],"#),
            "{json}"
        );
        let back: Latency = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
        assert_eq!(back.percentiles(), l.percentiles());
    }

    #[test]
    fn latency_json_with_another_unit_is_refused() {
        let err = serde_json::from_str::<Latency>(r#"{"unit":"ms","buckets":[]}"#);
        assert!(err.is_err());
    }

    #[test]
    fn curve_rises_to_the_maximum() {
        let l = latency_of(&(1..=10_000).collect::<Vec<_>>());
        let curve = l.curve(5);
        assert!(curve.len() > 10);
        assert!(curve
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(curve.last().unwrap().0, 100.0);
        assert_eq!(curve.last().unwrap().1, l.max());
    }

    #[test]
    fn stats_merge_adds_counters_errors_and_extremes() {
        let mut a = Stats::default();
        a.note_attempt(100);
        a.note_connected(150, 40);
        a.note_error("connect: refused");
        a.counters.completed = 10;
        a.latency.record(8);
        let mut b = Stats::default();
        b.note_attempt(90);
        b.note_attempt(95);
        b.note_connected(400, 60);
        b.note_error("connect: refused");
        b.note_error("protocol: bad frame");
        b.counters.completed = 5;
        b.counters.timeouts = 2;
        b.latency.record(9);

        a.merge(&b);
        assert_eq!(a.counters.attempts, 3);
        assert_eq!(a.counters.connected, 2);
        assert_eq!(a.counters.completed, 15);
        assert_eq!(a.counters.timeouts, 2);
        assert_eq!(a.counters.errors(), 2);
        assert_eq!(a.errors["connect: refused"], 2);
        assert_eq!(a.errors["protocol: bad frame"], 1);
        assert_eq!(a.first_attempt_ns, 90);
        assert_eq!(a.last_connected_ns, 400);
        assert_eq!(a.latency.count(), 2);
        assert_eq!(a.handshake.count(), 2);
    }

    #[test]
    fn error_kinds_are_bounded() {
        let mut s = Stats::default();
        for i in 0..(MAX_ERROR_KINDS + 10) {
            s.note_error(&format!("error {i}"));
        }
        assert_eq!(s.errors.len(), MAX_ERROR_KINDS + 1);
        assert_eq!(s.errors[OTHER_ERRORS], 10);
        assert_eq!(s.errors.values().sum::<u64>(), MAX_ERROR_KINDS as u64 + 10);
    }

    #[test]
    fn stats_json_round_trip() {
        let mut s = Stats::default();
        s.note_attempt(1);
        s.note_connected(2, 3);
        s.note_error("x");
        s.latency.record(77);
        let back: Stats = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
