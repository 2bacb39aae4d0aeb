//! Results: the mergeable per-process [`RunResult`], the derived [`Summary`], the stdout table
//! and the JSON file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::plot::{percentile_svg, Series};
use crate::procfs::ServerUsage;
use crate::stats::{Counters, Percentiles, Stats};

/// What a run (or one child process of it) measured, with enough context to read it alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Scenario name (`ws-echo`, `echo`...).
    pub scenario: String,
    /// Server URL.
    pub url: String,
    /// Connections requested over the whole run.
    pub connections: u64,
    /// Processes that ran.
    pub processes: u32,
    /// Event loops per process.
    pub threads: usize,
    /// Payload bytes per message.
    pub payload: usize,
    /// Requested rate (see `--rate`), if any.
    pub rate: Option<f64>,
    /// Length of the measurement window in seconds.
    pub window_s: f64,
    /// Everything counted and timed.
    pub stats: Stats,
    /// Server CPU and memory over the window, with `--server-pid`.
    pub server: Option<ServerUsage>,
}

/// Figures derived from a [`RunResult`]; what the table and the JSON `summary` show.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Counters, with broadcast losses and unexpected deliveries settled from the ledger.
    pub counters: Counters,
    /// All failures together; 0 in a clean run.
    pub errors_total: u64,
    /// Completed handshakes per second over the ramp.
    pub connects_per_s: f64,
    /// Handshake latency.
    pub handshake: Percentiles,
    /// Completions (echoes, acks, deliveries) per second inside the window.
    pub completed_per_s: f64,
    /// Round-trip or delivery latency inside the window.
    pub latency: Percentiles,
    /// Broadcast accounting, for the broadcast scenario.
    pub broadcast: Option<BroadcastSummary>,
    /// Error messages and counts.
    pub errors: BTreeMap<String, u64>,
    /// Server cost, with `--server-pid`.
    pub server: Option<ServerSummary>,
}

/// Broadcast accounting over all processes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BroadcastSummary {
    /// Room members.
    pub members: u64,
    /// Broadcasts sent.
    pub broadcasts: u64,
    /// Deliveries expected: members × broadcasts.
    pub expected: u64,
    /// First-copy deliveries that arrived.
    pub delivered: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Broadcasts that missed at least one member.
    pub incomplete: u64,
    /// Per broadcast sent in the window and delivered to all: time until the last member got it.
    pub last_member: Percentiles,
}

/// Server cost over the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerSummary {
    /// Process id.
    pub pid: u32,
    /// CPU seconds used in the window.
    pub cpu_s: f64,
    /// Completions per server CPU-second.
    pub completed_per_cpu_s: f64,
    /// Resident memory at the start, bytes.
    pub rss_start_bytes: u64,
    /// Resident memory at the end, bytes.
    pub rss_end_bytes: u64,
}

impl RunResult {
    /// Adds a child's measurements.
    pub fn merge(&mut self, other: &RunResult) {
        self.stats.merge(&other.stats);
        self.window_s = self.window_s.max(other.window_s);
    }

    /// Derives the summary.
    pub fn summary(&self) -> Summary {
        let s = &self.stats;
        let mut counters = s.counters;
        let broadcast = (self.scenario == "broadcast").then(|| {
            let o = s.ledger.outcome();
            counters.lost += o.lost;
            counters.duplicated += o.unexpected;
            BroadcastSummary {
                members: s.ledger.members,
                broadcasts: s.ledger.sent.values().sum(),
                expected: o.expected,
                delivered: o.delivered,
                lost: o.lost,
                incomplete: o.incomplete,
                last_member: o.completion.percentiles(),
            }
        });
        let ramp_s = s.last_connected_ns.saturating_sub(s.first_attempt_ns) as f64 / 1e9;
        let per_s = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let server = self.server.map(|u| ServerSummary {
            pid: u.pid,
            cpu_s: u.cpu_s(),
            completed_per_cpu_s: per_s(counters.completed, u.cpu_s()),
            rss_start_bytes: u.start.rss_bytes,
            rss_end_bytes: u.end.rss_bytes,
        });
        Summary {
            counters,
            errors_total: counters.errors(),
            connects_per_s: per_s(counters.connected, ramp_s),
            handshake: s.handshake.percentiles(),
            completed_per_s: per_s(counters.completed, self.window_s),
            latency: s.latency.percentiles(),
            broadcast,
            errors: s.errors.clone(),
            server,
        }
    }

    /// The JSON document written by `--json`: `{"result": ..., "summary": ...}`.
    pub fn to_json(&self) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct Doc<'a> {
            result: &'a RunResult,
            summary: Summary,
        }
        serde_json::to_string_pretty(&Doc {
            result: self,
            summary: self.summary(),
        })
    }

    /// Reads the `result` of a document written by [`to_json`](Self::to_json).
    pub fn from_json(text: &str) -> serde_json::Result<RunResult> {
        #[derive(Deserialize)]
        struct Doc {
            result: RunResult,
        }
        serde_json::from_str::<Doc>(text).map(|d| d.result)
    }

    /// The SVG for `--plot`: the curves that matter for the scenario, on one latency scale.
    pub fn plot_svg(&self) -> String {
        let stats = &self.stats;
        let curves: Vec<(&str, Vec<(f64, u64)>)> = match self.scenario.as_str() {
            "connect" | "idle" => vec![("handshake", stats.handshake.curve(5))],
            "broadcast" => vec![
                ("delivery", stats.latency.curve(5)),
                ("last member", stats.ledger.outcome().completion.curve(5)),
            ],
            _ => vec![("round trip", stats.latency.curve(5))],
        };
        let series: Vec<Series<'_>> = curves
            .iter()
            .map(|(name, points)| Series { name, points })
            .collect();
        let title = format!(
            "{} latency, {} connections ({})",
            self.scenario, self.connections, self.url
        );
        percentile_svg(&title, &series)
    }

    /// The summary table for stdout.
    pub fn table(&self) -> String {
        let sum = self.summary();
        let c = &sum.counters;
        let what = match self.scenario.as_str() {
            "ws-echo" => "echoes",
            "echo" => "acks",
            "broadcast" => "deliveries",
            _ => "completions",
        };
        let mut t = String::new();
        let mut row = |label: &str, value: String| {
            let _ = writeln!(t, "{label:<12} {value}");
        };
        row(
            "scenario",
            format!(
                "{} {} ({} connections, {} process(es) x {} loop(s), payload {} B{})",
                self.scenario,
                self.url,
                self.connections,
                self.processes,
                self.threads,
                self.payload,
                self.rate
                    .map(|r| format!(", rate {r}/s"))
                    .unwrap_or_default()
            ),
        );
        row(
            "connections",
            format!(
                "{} of {} attempted ({:.1}/s), failed {}, dropped {}",
                c.connected, c.attempts, sum.connects_per_s, c.connect_failed, c.dropped
            ),
        );
        row("handshake", percentiles(&sum.handshake));
        row("window", format!("{:.2} s", self.window_s));
        row("sent", c.sent.to_string());
        row(
            what,
            format!("{} ({:.1}/s)", c.completed, sum.completed_per_s),
        );
        row("latency", percentiles(&sum.latency));
        if let Some(b) = &sum.broadcast {
            row(
                "broadcast",
                format!(
                    "{} members x {} broadcasts = {} expected, {} delivered, {} lost, {} incomplete",
                    b.members, b.broadcasts, b.expected, b.delivered, b.lost, b.incomplete
                ),
            );
            row("last member", percentiles(&b.last_member));
        }
        row(
            "errors",
            format!(
                "{} (connect {}, dropped {}, protocol {}, timeouts {}, lost {}, duplicated {})",
                sum.errors_total,
                c.connect_failed,
                c.dropped,
                c.protocol_errors,
                c.timeouts,
                c.lost,
                c.duplicated
            ),
        );
        for (message, n) in &sum.errors {
            row("", format!("{n:>8} x {message}"));
        }
        if let Some(s) = &sum.server {
            row(
                "server",
                format!(
                    "pid {}: {:.2} CPU-s, {:.0} {what} per CPU-s, RSS {:.1} -> {:.1} MiB",
                    s.pid,
                    s.cpu_s,
                    s.completed_per_cpu_s,
                    s.rss_start_bytes as f64 / 1048576.0,
                    s.rss_end_bytes as f64 / 1048576.0
                ),
            );
        }
        t
    }
}

fn percentiles(p: &Percentiles) -> String {
    if p.count == 0 {
        return "no samples".into();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    format!(
        "p50 {:.3} ms, p90 {:.3}, p99 {:.3}, p99.9 {:.3}, max {:.3} (mean {:.3}, n={})",
        ms(p.p50_us),
        ms(p.p90_us),
        ms(p.p99_us),
        ms(p.p999_us),
        ms(p.max_us),
        p.mean_us / 1000.0,
        p.count
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procfs::ProcSample;

    fn result(scenario: &str) -> RunResult {
        RunResult {
            scenario: scenario.into(),
            url: "ws://127.0.0.1:1/".into(),
            connections: 2,
            processes: 1,
            threads: 1,
            payload: 64,
            rate: None,
            window_s: 2.0,
            stats: Stats::default(),
            server: None,
        }
    }

    #[test]
    fn summary_derives_rates_and_server_cost() {
        let mut r = result("echo");
        r.stats.note_attempt(1_000_000_000);
        r.stats.note_connected(1_500_000_000, 500);
        r.stats.counters.completed = 400;
        r.stats.latency.record(1000);
        r.server = Some(ServerUsage {
            pid: 7,
            start: ProcSample {
                cpu_s: 1.0,
                rss_bytes: 1 << 20,
            },
            end: ProcSample {
                cpu_s: 3.0,
                rss_bytes: 2 << 20,
            },
        });
        let s = r.summary();
        assert_eq!(s.completed_per_s, 200.0);
        assert_eq!(s.connects_per_s, 2.0);
        let server = s.server.unwrap();
        assert_eq!((server.cpu_s, server.completed_per_cpu_s), (2.0, 200.0));
        let table = r.table();
        assert!(table.contains("acks         400 (200.0/s)"), "{table}");
        assert!(table.contains("p50 1.000 ms"), "{table}");
        assert!(table.contains("pid 7: 2.00 CPU-s, 200 acks per CPU-s, RSS 1.0 -> 2.0 MiB"));
        assert!(table.contains("errors       0 ("), "{table}");
    }

    #[test]
    fn broadcast_losses_are_settled_into_the_counters() {
        let mut r = result("broadcast");
        r.stats.ledger.members = 2;
        r.stats.ledger.note_sent(0, 0);
        r.stats.ledger.note_delivered(0, 0, 10, true);
        let s = r.summary();
        assert_eq!(s.counters.lost, 1);
        assert_eq!(s.errors_total, 1);
        let b = s.broadcast.unwrap();
        assert_eq!(
            (b.expected, b.delivered, b.lost, b.incomplete),
            (2, 1, 1, 1)
        );
        assert!(r
            .table()
            .contains("2 members x 1 broadcasts = 2 expected, 1 delivered, 1 lost"));
    }

    #[test]
    fn plot_shows_the_scenario_curves() {
        let mut r = result("broadcast");
        r.stats.latency.record(100);
        r.stats.ledger.members = 1;
        r.stats.ledger.note_sent(0, 0);
        r.stats.ledger.note_delivered(0, 0, 100, true);
        let svg = r.plot_svg();
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">last member</text>"));
        let mut r = result("connect");
        r.stats.handshake.record(900);
        let svg = r.plot_svg();
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.contains(">handshake</text>"));
    }

    #[test]
    fn json_round_trips_and_merges() {
        let mut a = result("ws-echo");
        a.stats.counters.completed = 3;
        a.stats.latency.record(5);
        a.stats.note_error("closed: reset");
        let json = a.to_json().unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["summary"]["counters"]["completed"], 3);
        assert_eq!(v["summary"]["latency"]["p50_us"], 5);
        assert_eq!(v["summary"]["errors"]["closed: reset"], 1);
        let back = RunResult::from_json(&json).unwrap();
        assert_eq!(back, a);
        let mut merged = a.clone();
        merged.merge(&back);
        assert_eq!(merged.stats.counters.completed, 6);
        assert_eq!(merged.stats.latency.count(), 2);
        assert_eq!(merged.summary().errors["closed: reset"], 2);
    }
}
