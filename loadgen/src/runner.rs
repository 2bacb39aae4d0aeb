//! One process's run: build the scenario, start the event loops, ramp, wait for the start
//! signal, measure, drain, stop, merge the loops' stats.

use std::io::{self, BufRead, Write};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use volley::client::ConnectOptions;

use crate::cli::{ChildRange, Command, Opts};
use crate::clock::{now_ns, secs_to_ns};
use crate::event_loop::{self, Plan, Scenario};
use crate::net::{self, Target};
use crate::procfs::{self, ServerUsage};
use crate::report::RunResult;
use crate::run_state::{Phase, Progress, ProgressSnapshot, RunState};
use crate::scenario::broadcast::Broadcast;
use crate::scenario::echo::Echo;
use crate::scenario::hold::Hold;
use crate::scenario::ws_echo::WsEcho;
use crate::scenario::Settings;
use crate::stats::Stats;
use crate::tls::{self, Connector};

/// How the measurement window is agreed.
pub enum Start {
    /// This process decides: the window opens one warm-up after the ramp.
    Own,
    /// A parent decides: print `ready` on stdout, then read `go START_NS END_NS` from stdin.
    Parent,
}

/// Splits `total` into `parts` contiguous ranges whose sizes differ by at most one.
pub fn split(total: u64, parts: u64) -> Vec<ChildRange> {
    let parts = parts.max(1);
    let mut first = 0;
    (0..parts)
        .map(|i| {
            let count = total / parts + u64::from(i < total % parts);
            let r = ChildRange { first, count };
            first += count;
            r
        })
        .collect()
}

/// The scenario settings for `opts`.
pub fn settings(opts: &Opts) -> Result<Settings, String> {
    let target = net::parse_url(&opts.url)?;
    let sio = ConnectOptions {
        host: target.host.clone(),
        path: opts.path.clone(),
        connect_timeout: Duration::from_secs_f64(opts.handshake_timeout),
        per_message_deflate: opts.deflate,
        ..ConnectOptions::default()
    };
    Ok(Settings {
        target,
        sio,
        nsp: opts.namespace.clone(),
        payload: opts.payload,
        in_flight: opts.in_flight,
        rate: opts.rate,
        connections: opts.connections,
        request_timeout_ns: secs_to_ns(opts.timeout),
        event: opts.event.clone(),
        room: opts.room.clone(),
        senders: opts.senders,
        deflate: opts.deflate,
        words: opts.words,
    })
}

/// The TLS connector for `opts` (`None` for a plain URL), or why the URL and the TLS options do
/// not go together, or why the CA file cannot be used.
pub fn tls_connector(opts: &Opts, target: &Target) -> Result<Option<Connector>, String> {
    tls::for_target(
        &opts.url,
        target.tls_name.as_deref(),
        opts.tls_ca.as_deref(),
        opts.tls_insecure,
    )
}

/// Runs `command`'s connections in `range` in this process. `server_pid` is sampled at the start
/// and end of the window (a parent passes `None` and samples itself).
pub fn run(
    command: &Command,
    range: ChildRange,
    start: Start,
    server_pid: Option<u32>,
) -> Result<RunResult, String> {
    let opts = command.opts();
    let s = Arc::new(settings(opts)?);
    let target = s.target.clone();
    let tls = tls_connector(opts, &target)?;
    let stats = match command {
        Command::WsEcho(_) => drive(WsEcho(s), &target, tls, command, range, start, server_pid),
        Command::Echo(_) => drive(
            Echo::new(s),
            &target,
            tls,
            command,
            range,
            start,
            server_pid,
        ),
        Command::Broadcast(_) => drive(
            Broadcast::new(s),
            &target,
            tls,
            command,
            range,
            start,
            server_pid,
        ),
        Command::Connect(_) | Command::Idle(_) => {
            drive(Hold(s), &target, tls, command, range, start, server_pid)
        }
    }?;
    Ok(RunResult {
        scenario: command.name().into(),
        url: opts.url.clone(),
        connections: opts.connections,
        processes: 1,
        threads: opts.loops(),
        payload: opts.payload,
        rate: opts.rate,
        window_s: stats.1,
        stats: stats.0,
        server: stats.2,
    })
}

fn drive<S: Scenario + 'static>(
    scenario: S,
    target: &Target,
    tls: Option<Connector>,
    command: &Command,
    range: ChildRange,
    start: Start,
    server_pid: Option<u32>,
) -> Result<(Stats, f64, Option<ServerUsage>), String> {
    let opts = command.opts();
    let is_connect = matches!(command, Command::Connect(_));
    let scenario = Arc::new(scenario);
    let run = Arc::new(RunState::new());
    let loops = opts.loops().min(range.count.max(1) as usize).max(1);
    // Ramp speed for this process: its share of the run's rate.
    let share = range.count as f64 / opts.connections.max(1) as f64;
    let ramp_rate = if is_connect {
        opts.rate
    } else {
        opts.connect_rate
    }
    .map(|r| r * share);
    let open_interval_ns = ramp_rate.map_or(0, |r| secs_to_ns(loops as f64 / r));
    let label = format!("[{}]", range.first);

    let mut handles = Vec::new();
    let mut progress = Vec::new();
    for (i, part) in split(range.count, loops as u64).into_iter().enumerate() {
        let plan = Plan {
            first_index: range.first + part.first,
            count: part.count,
            open_interval_ns,
            local_addrs: opts.local_addrs.clone(),
            handshake_timeout_ns: secs_to_ns(opts.handshake_timeout),
            tls: tls.clone(),
        };
        let p = Arc::new(Progress::default());
        progress.push(Arc::clone(&p));
        let (scenario, target, run) = (Arc::clone(&scenario), target.clone(), Arc::clone(&run));
        let pin = opts.pin;
        let handle = thread::Builder::new()
            .name(format!("loadgen-loop-{i}"))
            .spawn(move || {
                if pin {
                    core_affinity::set_for_current(core_affinity::CoreId { id: i });
                }
                event_loop::run(&*scenario, &target, &plan, &run, &p)
            })
            .map_err(|e| format!("cannot start an event loop: {e}"))?;
        handles.push(handle);
    }

    let mut meter = Meter::new(label, opts.quiet, progress);
    let ramp_start = now_ns();
    let mut sampler = Sampler::new(server_pid);
    if is_connect {
        sampler.start()?;
    }
    let ramp_s = ramp_rate.map_or(0.0, |r| range.count as f64 / r);
    let ramp_deadline = ramp_start + secs_to_ns(ramp_s + opts.handshake_timeout + 2.0);
    while meter.snapshot().settled < range.count && now_ns() < ramp_deadline {
        meter.tick("ramp");
    }

    let (window_start, window_end) = match start {
        Start::Own => {
            let begin = now_ns() + secs_to_ns(if is_connect { 0.0 } else { opts.warmup });
            (begin, begin + secs_to_ns(opts.duration))
        }
        Start::Parent => wait_for_go()?,
    };
    run.set_window(window_start, window_end);
    run.set_phase(Phase::Run);
    while now_ns() < window_start {
        meter.tick("warmup");
    }
    if !is_connect {
        sampler.start()?;
    }
    while now_ns() < window_end {
        meter.tick("run");
    }
    let server = sampler.end()?;
    run.set_phase(Phase::Drain);
    let drain_end = now_ns() + secs_to_ns(opts.drain);
    while now_ns() < drain_end {
        meter.tick("drain");
    }
    run.set_phase(Phase::Stop);

    let mut stats = Stats::default();
    for h in handles {
        match h.join() {
            Ok(Ok(s)) => stats.merge(&s),
            Ok(Err(e)) => return Err(format!("event loop failed: {e}")),
            Err(_) => return Err("event loop panicked".into()),
        }
    }
    let window_s = window_end.saturating_sub(window_start) as f64 / 1e9;
    Ok((stats, window_s, server))
}

/// Child side of the start barrier.
fn wait_for_go() -> Result<(u64, u64), String> {
    let mut out = io::stdout().lock();
    writeln!(out, "ready")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot tell the parent we are ready: {e}"))?;
    let mut line = String::new();
    io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("no start signal from the parent: {e}"))?;
    parse_go(&line).ok_or_else(|| format!("bad start signal from the parent: {line:?}"))
}

/// Parses `go START_NS END_NS`.
pub fn parse_go(line: &str) -> Option<(u64, u64)> {
    let mut words = line.split_whitespace();
    if words.next()? != "go" {
        return None;
    }
    let start = words.next()?.parse().ok()?;
    let end = words.next()?.parse().ok()?;
    (start <= end && words.next().is_none()).then_some((start, end))
}

/// Samples the server's CPU and memory at the start and end of the window.
pub struct Sampler {
    pid: Option<u32>,
    start: Option<procfs::ProcSample>,
}

impl Sampler {
    /// A sampler for `pid`; does nothing without one.
    pub fn new(pid: Option<u32>) -> Self {
        Self { pid, start: None }
    }

    /// Takes the start sample.
    pub fn start(&mut self) -> Result<(), String> {
        if let Some(pid) = self.pid {
            self.start = Some(read(pid)?);
        }
        Ok(())
    }

    /// Takes the end sample; the usage between the two.
    pub fn end(&mut self) -> Result<Option<ServerUsage>, String> {
        match (self.pid, self.start) {
            (Some(pid), Some(start)) => Ok(Some(ServerUsage {
                pid,
                start,
                end: read(pid)?,
            })),
            _ => Ok(None),
        }
    }
}

fn read(pid: u32) -> Result<procfs::ProcSample, String> {
    procfs::sample(pid).map_err(|e| format!("--server-pid {pid}: {e}"))
}

/// The once-a-second progress line on stderr.
struct Meter {
    label: String,
    quiet: bool,
    loops: Vec<Arc<Progress>>,
    started_ns: u64,
    next_line_ns: u64,
    last: ProgressSnapshot,
}

impl Meter {
    fn new(label: String, quiet: bool, loops: Vec<Arc<Progress>>) -> Self {
        let now = now_ns();
        Self {
            label,
            quiet,
            loops,
            started_ns: now,
            next_line_ns: now + 1_000_000_000,
            last: ProgressSnapshot::default(),
        }
    }

    fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot::sum(&self.loops)
    }

    /// Sleeps a little; prints the line when a second has passed.
    fn tick(&mut self, phase: &str) {
        thread::sleep(Duration::from_millis(20));
        let now = now_ns();
        if now < self.next_line_ns {
            return;
        }
        self.next_line_ns += 1_000_000_000;
        let s = self.snapshot();
        if !self.quiet {
            eprintln!(
                "{} {:>4}s {:<6} open {:>7} settled {:>7} done {:>10} (+{}/s) errors {}",
                self.label,
                (now - self.started_ns) / 1_000_000_000,
                phase,
                s.open,
                s.settled,
                s.completed,
                s.completed.saturating_sub(self.last.completed),
                s.errors
            );
        }
        self.last = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_contiguous_and_balanced() {
        let parts = split(10, 3);
        assert_eq!(
            parts,
            [
                ChildRange { first: 0, count: 4 },
                ChildRange { first: 4, count: 3 },
                ChildRange { first: 7, count: 3 }
            ]
        );
        assert_eq!(split(2, 4).iter().map(|r| r.count).sum::<u64>(), 2);
        assert_eq!(split(5, 0), [ChildRange { first: 0, count: 5 }]);
    }

    #[test]
    fn go_line() {
        assert_eq!(parse_go("go 10 20\n"), Some((10, 20)));
        assert_eq!(parse_go("go 20 10"), None);
        assert_eq!(parse_go("go 10"), None);
        assert_eq!(parse_go("stop 1 2"), None);
        assert_eq!(parse_go("go 1 2 3"), None);
        assert_eq!(parse_go(""), None);
    }

    #[test]
    fn sampler_without_pid_reports_nothing() {
        let mut s = Sampler::new(None);
        s.start().unwrap();
        assert_eq!(s.end(), Ok(None));
        let mut s = Sampler::new(Some(std::process::id()));
        s.start().unwrap();
        assert_eq!(s.end().unwrap().unwrap().pid, std::process::id());
    }
}
