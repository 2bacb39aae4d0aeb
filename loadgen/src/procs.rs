//! `--processes`: run copies of this binary, each owning a contiguous share of the connections
//! within its open-file limit, start their windows together and merge their results.
//!
//! Protocol with a child (stdin/stdout, one line each): the child prints `ready` once its
//! connections settled, the parent answers `go START_NS END_NS` (monotonic clock, shared by all
//! processes of the machine), and the child ends with `result <JSON>`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command as Process, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::cli::{ChildRange, Command};
use crate::clock::{now_ns, secs_to_ns};
use crate::report::RunResult;
use crate::runner::{split, Sampler};

/// File descriptors kept for everything but connections (stdio, epoll, pipes...).
const FD_RESERVE: u64 = 64;

/// Raises the soft open-file limit to the hard one and returns the resulting soft limit.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; raising the soft limit up to the hard one needs
        // no privilege, and on failure the old limit stays.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    lim.rlim_cur
}

/// Processes needed so each holds at most `limit - FD_RESERVE` connections: at least
/// `requested`.
pub fn processes_needed(connections: u64, requested: u64, limit: u64) -> u64 {
    let per_process = limit.saturating_sub(FD_RESERVE).max(1);
    requested.max(connections.div_ceil(per_process)).max(1)
}

/// What a child said on stdout.
enum Said {
    Ready(usize),
    Result(usize, Box<RunResult>),
    Gone(usize, String),
}

/// Runs `command` over `processes` children and merges their results.
pub fn run(command: &Command, processes: u64) -> Result<RunResult, String> {
    let opts = command.opts();
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let ranges: Vec<ChildRange> = split(opts.connections, processes)
        .into_iter()
        .filter(|r| r.count > 0)
        .collect();
    let threads = (opts.loops() / ranges.len()).max(1);
    let is_connect = matches!(command, Command::Connect(_));
    let mut sampler = Sampler::new(opts.server_pid);
    if is_connect {
        sampler.start()?;
    }

    let (tx, rx) = mpsc::channel();
    let mut children = Children(Vec::new());
    let mut stdins: Vec<ChildStdin> = Vec::new();
    for (i, range) in ranges.iter().enumerate() {
        let mut child = Process::new(&exe)
            .args(opts.child_args(command.name(), *range, threads))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start child {i}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(format!("child {i} has no pipes"));
        };
        children.0.push(child);
        stdins.push(stdin);
        let tx = tx.clone();
        thread::spawn(move || listen(i, BufReader::new(stdout), &tx));
    }
    drop(tx);

    let ramp_s = if is_connect {
        opts.rate
    } else {
        opts.connect_rate
    }
    .map_or(0.0, |r| opts.connections as f64 / r);
    let ready_by = now_ns() + secs_to_ns(ramp_s + opts.handshake_timeout + 30.0);
    let mut ready = 0;
    while ready < ranges.len() {
        match recv_until(&rx, ready_by)? {
            Said::Ready(_) => ready += 1,
            Said::Result(i, _) => return Err(format!("child {i} ended before starting")),
            Said::Gone(i, why) => return Err(format!("child {i}: {why}")),
        }
    }

    let start = now_ns() + secs_to_ns(if is_connect { 0.0 } else { opts.warmup });
    let end = start + secs_to_ns(opts.duration);
    for (i, stdin) in stdins.iter_mut().enumerate() {
        writeln!(stdin, "go {start} {end}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot start child {i}: {e}"))?;
    }
    if !is_connect {
        sleep_until(start);
        sampler.start()?;
    }
    sleep_until(end);
    let server = sampler.end()?;

    let done_by = now_ns() + secs_to_ns(opts.drain + 30.0);
    let mut merged: Option<RunResult> = None;
    let mut results = 0;
    while results < ranges.len() {
        match recv_until(&rx, done_by)? {
            Said::Result(_, r) => {
                results += 1;
                match &mut merged {
                    Some(m) => m.merge(&r),
                    None => merged = Some(*r),
                }
            }
            Said::Ready(i) => return Err(format!("child {i} said ready twice")),
            Said::Gone(i, why) => return Err(format!("child {i}: {why}")),
        }
    }
    children.wait();
    let mut merged = merged.ok_or("no child reported")?;
    merged.processes = ranges.len() as u32;
    merged.threads = threads;
    merged.server = server;
    Ok(merged)
}

fn listen(i: usize, stdout: impl BufRead, tx: &mpsc::Sender<Said>) {
    for line in stdout.lines() {
        let Ok(line) = line else { break };
        let said = if line == "ready" {
            Said::Ready(i)
        } else if let Some(json) = line.strip_prefix("result ") {
            let said = match RunResult::from_json(json) {
                Ok(r) => Said::Result(i, Box::new(r)),
                Err(e) => Said::Gone(i, format!("unreadable result: {e}")),
            };
            let _ = tx.send(said);
            return;
        } else {
            continue;
        };
        if tx.send(said).is_err() {
            return;
        }
    }
    let _ = tx.send(Said::Gone(i, "exited without a result".into()));
}

fn recv_until(rx: &mpsc::Receiver<Said>, deadline_ns: u64) -> Result<Said, String> {
    let wait = Duration::from_nanos(deadline_ns.saturating_sub(now_ns()));
    rx.recv_timeout(wait)
        .map_err(|_| "children did not answer in time".to_owned())
}

fn sleep_until(ns: u64) {
    let now = now_ns();
    if ns > now {
        thread::sleep(Duration::from_nanos(ns - now));
    }
}

/// Children killed if still running when dropped, so an error never leaves load running.
struct Children(Vec<Child>);

impl Children {
    fn wait(&mut self) {
        for c in &mut self.0 {
            let _ = c.wait();
        }
        self.0.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_fit_the_open_file_limit() {
        assert_eq!(processes_needed(100, 1, 1024), 1);
        assert_eq!(processes_needed(100, 3, 1024), 3);
        assert_eq!(processes_needed(10_000, 1, 1024), 11);
        assert_eq!(processes_needed(960, 1, 1024), 1);
        assert_eq!(processes_needed(961, 1, 1024), 2);
        assert_eq!(
            processes_needed(5, 1, 10),
            5,
            "tiny limits still make progress"
        );
    }

    #[test]
    fn raising_the_limit_never_lowers_it() {
        let before = {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `lim` is a valid, writable rlimit.
            assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
            lim.rlim_cur
        };
        assert!(raise_nofile_limit() >= before);
    }
}
