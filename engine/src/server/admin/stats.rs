//! `server_stats`, sent to the admin namespace when the server starts and every
//! [`STATS_INTERVAL`] after (the reference's `initStatsEmitter`), from a thread of its own since
//! counting sockets waits for the workers.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::{json, Value as Json};

use super::instrument::Instrument;
use crate::server::handle::ServerHandle;
use crate::server::stats::{Counter, StatsSnapshot};

/// How often the stats go out (the reference's 2 s).
pub(crate) const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// How long counting a namespace's sockets may wait for the workers.
const COUNT_TIMEOUT: Duration = Duration::from_secs(1);

/// The Engine.IO-level disconnect reasons, counted as the reference's `rawDisconnection`.
const RAW_DISCONNECTS: [(Counter, &str); 6] = [
    (Counter::DisconnectTransportClose, "transport close"),
    (Counter::DisconnectTransportError, "transport error"),
    (Counter::DisconnectPingTimeout, "ping timeout"),
    (Counter::DisconnectParseError, "parse error"),
    (Counter::DisconnectForced, "forced close"),
    (Counter::DisconnectShutdown, "server shutting down"),
];

/// The running stats thread; [`StatsTask::stop`] ends it.
pub(crate) struct StatsTask {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl StatsTask {
    /// Starts sending stats for `core` through `handle` as server `server_id`.
    pub fn start(
        core: Arc<Instrument>,
        handle: ServerHandle,
        server_id: Option<String>,
    ) -> std::io::Result<StatsTask> {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("volley-admin-stats".into())
            .spawn(move || run(&core, &handle, server_id, &stopped))?;
        Ok(StatsTask { stop, thread })
    }

    /// Ends the thread and waits for it.
    pub fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

fn run(core: &Instrument, h: &ServerHandle, server_id: Option<String>, stopped: &Receiver<()>) {
    let hostname = hostname();
    let base = json!({
        "serverId": server_id.unwrap_or_else(|| hostname.clone()),
        "hostname": hostname,
        "pid": std::process::id(),
    });
    let started = Instant::now();
    let mut last = h.stats();
    loop {
        let now = h.stats();
        let mut stats = base.clone();
        stats["uptime"] = json!(started.elapsed().as_secs_f64());
        stats["clientsCount"] = json!(now.sessions);
        stats["pollingClientsCount"] = json!(core.polling_clients());
        stats["aggregatedEvents"] = Json::Array(aggregated(&last, &now, SystemTime::now()));
        stats["namespaces"] = core
            .names()
            .into_iter()
            .map(|name| {
                let count = h.of(&name).local().count(COUNT_TIMEOUT);
                json!({ "name": name, "socketsCount": count })
            })
            .collect();
        core.emit("server_stats", &(stats,));
        last = now;
        match stopped.recv_timeout(STATS_INTERVAL) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}

/// What happened between two snapshots, as the reference's `aggregatedEvents`: one entry per
/// kind that changed, all stamped with the current second (the reference buckets by second;
/// Volley's counters are read once per interval).
fn aggregated(before: &StatsSnapshot, after: &StatsSnapshot, at: SystemTime) -> Vec<Json> {
    let second = iso_second_ms(at);
    let delta = |c: Counter| after.get(c).saturating_sub(before.get(c));
    let mut out = Vec::new();
    let mut push = |kind: &str, sub: Option<&str>, count: u64| {
        if count > 0 {
            let mut e = json!({ "timestamp": second, "type": kind, "count": count });
            if let Some(sub) = sub {
                e["subType"] = json!(sub);
            }
            out.push(e);
        }
    };
    push("rawConnection", None, delta(Counter::SessionsOpened));
    push("packetsIn", None, delta(Counter::PacketsIn));
    push(
        "packetsOut",
        None,
        delta(Counter::PacketsOut) + delta(Counter::Deliveries),
    );
    for (c, reason) in RAW_DISCONNECTS {
        push("rawDisconnection", Some(reason), delta(c));
    }
    out
}

/// `at` in milliseconds since the epoch, rounded down to the second.
fn iso_second_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() * 1000)
}

/// The machine's name (the reference's `os.hostname()`); `localhost` if it cannot be read.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length, which is what gethostname is told.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match rc {
        0 if len > 0 => String::from_utf8_lossy(&buf[..len]).into_owned(),
        _ => "localhost".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_events_are_the_changes_of_the_interval() {
        let before = StatsSnapshot::default();
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(5_432);
        assert!(aggregated(&before, &before, at).is_empty());
        let after = StatsSnapshot::with_counts(&[
            (Counter::SessionsOpened, 2),
            (Counter::PacketsOut, 3),
            (Counter::Deliveries, 4),
            (Counter::DisconnectTransportClose, 1),
        ]);
        assert_eq!(
            aggregated(&before, &after, at),
            [
                json!({"timestamp": 5000, "type": "rawConnection", "count": 2}),
                json!({"timestamp": 5000, "type": "packetsOut", "count": 7}),
                json!({"timestamp": 5000, "type": "rawDisconnection", "subType": "transport close", "count": 1}),
            ]
        );
    }
}
