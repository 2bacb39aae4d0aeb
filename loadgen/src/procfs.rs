//! The server's CPU time and memory, read from `/proc/PID/stat`, so a run can report messages per
//! server CPU-second.

use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

/// CPU time and resident memory of a process at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcSample {
    /// User plus system CPU seconds since the process started (`utime + stime`).
    pub cpu_s: f64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
}

/// What the server spent between the start and the end of the measurement window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// The server's process id.
    pub pid: u32,
    /// Sample at the start of the window.
    pub start: ProcSample,
    /// Sample at the end of the window.
    pub end: ProcSample,
}

impl ServerUsage {
    /// CPU seconds the server used during the window.
    pub fn cpu_s(&self) -> f64 {
        (self.end.cpu_s - self.start.cpu_s).max(0.0)
    }
}

/// Reads `/proc/<pid>/stat`.
pub fn sample(pid: u32) -> io::Result<ProcSample> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text, clock_ticks_per_s(), page_size()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat format"),
        )
    })
}

/// Parses the text of a `stat` file: `utime` and `stime` are fields 14 and 15 (in clock ticks),
/// `rss` field 24 (in pages). The command name (field 2) may hold spaces and parentheses, so
/// fields are counted after its last `)`.
pub fn parse_stat(text: &str, ticks_per_s: u64, page_size: u64) -> Option<ProcSample> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // `rest` starts at field 3, so field N sits at index N - 3.
    let field = |n: usize| -> Option<u64> { fields.get(n.checked_sub(3)?)?.parse().ok() };
    let ticks = field(14)?.checked_add(field(15)?)?;
    let rss_pages = field(24)?;
    Some(ProcSample {
        cpu_s: ticks as f64 / ticks_per_s.max(1) as f64,
        rss_bytes: rss_pages.saturating_mul(page_size),
    })
}

fn clock_ticks_per_s() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|s| *s > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (node (my) server) S 1 4242 4242 0 -1 4194560 12345 0 0 0 \
                        250 75 0 0 20 0 11 0 1000 1234567890 5000 18446744073709551615 \
                        1 1 0 0 0 0 0 16781312 134235650 0 0 0 17 3 0 0 0 0 0";

    #[test]
    fn parses_cpu_and_rss_past_a_tricky_name() {
        let s = parse_stat(STAT, 100, 4096).unwrap();
        assert!((s.cpu_s - 3.25).abs() < 1e-9);
        assert_eq!(s.rss_bytes, 5000 * 4096);
    }

    #[test]
    fn malformed_stat_is_none() {
        assert_eq!(parse_stat("", 100, 4096), None);
        assert_eq!(parse_stat("1 (x) S 1 2", 100, 4096), None);
        assert_eq!(parse_stat("1 (x) S 1 2 3 4 5 6 7 8 9 x y", 100, 4096), None);
    }

    #[test]
    fn samples_this_process() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_bytes > 0);
        assert!(s.cpu_s >= 0.0);
        assert!(sample(u32::MAX).is_err());
    }

    #[test]
    fn usage_never_goes_negative() {
        let a = ProcSample {
            cpu_s: 2.0,
            rss_bytes: 1,
        };
        let b = ProcSample {
            cpu_s: 1.0,
            rss_bytes: 1,
        };
        let u = ServerUsage {
            pid: 1,
            start: a,
            end: b,
        };
        assert_eq!(u.cpu_s(), 0.0);
    }
}
