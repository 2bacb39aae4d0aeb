//! Runs one parity script in every transport mode and checks its scenarios, and checks
//! `interop/PARITY.md` against the scripts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Condvar, Mutex};

use volley::config::Config;
use volley::server::{Server, ServerBuilder};

use super::common;

/// The builder every parity server starts from: 127.0.0.1 on a free port, two workers (so
/// sockets of one scenario sit on different workers), compression as the environment says.
pub fn builder() -> ServerBuilder {
    Server::builder().configure(|c| {
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.workers = 2;
        compression_from_env(c);
    })
}

/// Takes permessage-deflate's settings from `VOLLEY_PER_MESSAGE_DEFLATE` and
/// `VOLLEY_DEFLATE_THRESHOLD`, so a pass of the test suite runs every scenario with the stock
/// clients negotiating compression (scripts/test.sh's direct-descriptor pass).
pub fn compression_from_env(c: &mut Config) {
    let env = Config::from_env().expect("the VOLLEY_* variables parse");
    c.per_message_deflate = env.per_message_deflate;
    c.deflate_threshold = env.deflate_threshold;
}

/// Runs `interop/parity/<file>.mjs` against `server` in every mode ([`run`]), then shuts it down.
pub fn check(file: &str, server: Server) {
    run(file, &format!("http://{}", server.local_addr()));
    server.shutdown();
}

/// How many parity scripts run at once. The test harness runs every file's test in parallel; on
/// two cores eleven Node processes and their servers at once starve each other's timers for
/// seconds, which the scenarios' reconnection and heartbeat timings do not survive.
const AT_ONCE: usize = 3;

/// A place among the [`AT_ONCE`] scripts allowed to run, held until dropped.
struct Turn;

static RUNNING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

impl Turn {
    fn take() -> Turn {
        let (count, freed) = &RUNNING;
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= AT_ONCE {
            n = freed.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Turn
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let (count, freed) = &RUNNING;
        *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        freed.notify_one();
    }
}

/// Transport modes every script runs in: WebSocket only, polling only, polling then upgrade.
const MODES: [&str; 3] = ["websocket", "polling", "upgrade"];

/// Runs `interop/parity/<file>.mjs` against `url` in each mode: every scenario must pass in each
/// mode it is meant for (the script exits non-zero otherwise), and in one mode at least.
pub fn run(file: &str, url: &str) {
    run_each(file, |_| vec![url.to_string()]);
}

/// [`run`] with arguments made for each mode: `args(mode)` gives the base URL and any extra
/// arguments the script reads after the mode (e.g. a server started for that run alone).
pub fn run_each(file: &str, mut args: impl FnMut(&str) -> Vec<String>) {
    let _turn = Turn::take();
    let mut declared = BTreeSet::new();
    let mut passed = BTreeSet::new();
    for mode in MODES {
        let mut argv = args(mode);
        argv.insert(1.min(argv.len()), mode.to_string());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = common::run_node(&format!("parity/{file}.mjs"), &argv);
        for line in out.lines() {
            if let Some(name) = line.strip_prefix("case ") {
                declared.insert(name.to_string());
            } else if let Some(name) = line.strip_prefix("ok ") {
                passed.insert(name.to_string());
            }
        }
    }
    assert!(
        !declared.is_empty(),
        "parity/{file}.mjs declared no scenario"
    );
    let missing: Vec<_> = declared.difference(&passed).collect();
    assert!(missing.is_empty(), "never ran in any mode: {missing:?}");
}

/// The scenario names of a parity script: the first argument of each `it(`.
fn scenarios(file: &str) -> Vec<String> {
    let path = common::interop_dir().join(format!("parity/{file}.mjs"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.split("\nit('")
        .skip(1)
        .map(|rest| {
            rest.split("', ")
                .next()
                .unwrap_or_default()
                .replace("\\'", "'")
        })
        .collect()
}

#[test]
fn table_matches_the_scripts() {
    let md = std::fs::read_to_string(common::interop_dir().join("PARITY.md")).unwrap();
    // Rows: | file | its | API | NODE | ported | not applicable | not yet ported | script |
    let mut rows = BTreeMap::new();
    for line in md.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let num = |i: usize| {
            cells[i]
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("{line}"))
        };
        let script = cells[8].trim_matches('`');
        let (its, ported, na, not_yet) = (num(2), num(5), num(6), num(7));
        assert_eq!(ported + na + not_yet, its, "{line}: the counts must add up");
        assert_eq!(num(3) + num(4), its, "{line}: API + NODE");
        rows.insert(script.to_string(), (ported, line.to_string()));
    }
    assert!(rows.len() >= 6, "table rows: {rows:?}");
    for (script, (ported, line)) in &rows {
        if script == "-" {
            assert_eq!(*ported, 0, "{line}");
            continue;
        }
        let file = script
            .trim_start_matches("parity/")
            .trim_end_matches(".mjs");
        let names = scenarios(file);
        assert_eq!(
            names.len(),
            *ported,
            "{line}: scenarios in {script}: {names:?}"
        );
        for name in &names {
            assert!(
                md.contains(&format!("- ported: {name}\n")),
                "{script}: scenario {name:?} is not listed as ported in PARITY.md"
            );
        }
    }
}
