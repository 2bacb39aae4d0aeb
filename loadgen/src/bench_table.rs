//! `volley-bench-table`: turns the `--json` files of several `volley-loadgen` runs into the
//! Markdown tables the benchmark scripts print and commit: one row per run, the ratios asked for,
//! and (with `--compare`) scenarios side by side per server with ratios per server CPU-second.
//!
//! Each run is given as `SERVER=FILE`; the scenario comes from the file. The headline figure of a
//! run is its completions per second (echoes, acks, deliveries) or, for `connect`, connections
//! per second; "per CPU-s" divides the same count by the server's CPU seconds in the window.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde_json::Value;

/// Markdown tables from `volley-loadgen --json` files.
#[derive(Parser, Debug)]
#[command(name = "volley-bench-table", version)]
struct Cli {
    /// Runs as `SERVER=FILE` (the JSON written by `volley-loadgen --json`).
    #[arg(required = true)]
    runs: Vec<String>,
    /// Also print scenarios side by side per server, with each server's figure per CPU-second
    /// divided by this server's.
    #[arg(long)]
    compare: Option<String>,
    /// A ratio line `NAME=SERVER:SCENARIO/SERVER:SCENARIO` (throughput and per CPU-s).
    #[arg(long)]
    ratio: Vec<String>,
}

/// The figures of one run that the tables show.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    server: String,
    scenario: String,
    connections: u64,
    /// Completions (or connections, for `connect`) per second.
    per_s: f64,
    /// The same count per server CPU-second; `None` without a server sample or CPU time.
    per_cpu_s: Option<f64>,
    cpu_s: Option<f64>,
    rss_end_bytes: Option<u64>,
    p50_us: u64,
    p99_us: u64,
    errors: u64,
}

impl Run {
    /// Reads a run from the text of a `--json` file.
    fn parse(server: &str, text: &str) -> Result<Run, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let get = |path: &str| -> Result<&Value, String> {
            path.split('.')
                .try_fold(&doc, |v, key| v.get(key))
                .ok_or_else(|| format!("no {path}"))
        };
        let num = |path: &str| {
            get(path)?
                .as_f64()
                .ok_or_else(|| format!("{path}: not a number"))
        };
        let int = |path: &str| {
            get(path)?
                .as_u64()
                .ok_or_else(|| format!("{path}: not a count"))
        };
        let scenario = get("result.scenario")?
            .as_str()
            .ok_or("result.scenario: not a string")?
            .to_string();
        let connect = scenario == "connect";
        let (count, per_s, lat) = if connect {
            (
                int("summary.counters.connected")?,
                num("summary.connects_per_s")?,
                "handshake",
            )
        } else {
            (
                int("summary.counters.completed")?,
                num("summary.completed_per_s")?,
                "latency",
            )
        };
        let server_doc = get("summary.server").ok().filter(|v| !v.is_null());
        let cpu_s = server_doc
            .and_then(|s| s.get("cpu_s"))
            .and_then(Value::as_f64);
        Ok(Run {
            server: server.to_string(),
            scenario,
            connections: int("result.connections")?,
            per_s,
            per_cpu_s: cpu_s.filter(|c| *c > 0.0).map(|c| count as f64 / c),
            cpu_s,
            rss_end_bytes: server_doc
                .and_then(|s| s.get("rss_end_bytes"))
                .and_then(Value::as_u64),
            p50_us: int(&format!("summary.{lat}.p50_us"))?,
            p99_us: int(&format!("summary.{lat}.p99_us"))?,
            errors: int("summary.errors_total")?,
        })
    }
}

/// `1234567.8` as `1,234,568`.
fn count(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1000.0)
}

fn opt(v: Option<String>) -> String {
    v.unwrap_or_else(|| "n/a".into())
}

/// `a / b` as `2.31x`; `n/a` when either is missing or `b` is zero.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "n/a".into(),
    }
}

/// What the headline figure of a scenario counts.
fn unit(scenario: &str) -> &'static str {
    match scenario {
        "ws-echo" => "echoes/s",
        "echo" => "acks/s",
        "broadcast" => "deliveries/s",
        "connect" => "connects/s",
        _ => "completions/s",
    }
}

/// One row per run.
fn runs_table(runs: &[Run]) -> String {
    let mut t = String::from(
        "| server | scenario | conns | rate | p50 ms | p99 ms | server CPU s | per server CPU-s \
         | server RSS MiB | errors |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in runs {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} {} | {} | {} | {} | {} | {} | {} |",
            r.server,
            r.scenario,
            r.connections,
            count(r.per_s),
            unit(&r.scenario),
            ms(r.p50_us),
            ms(r.p99_us),
            opt(r.cpu_s.map(|c| format!("{c:.2}"))),
            opt(r.per_cpu_s.map(count)),
            opt(r
                .rss_end_bytes
                .map(|b| format!("{:.1}", b as f64 / f64::from(1 << 20)))),
            r.errors,
        );
    }
    t
}

fn find<'a>(runs: &'a [Run], key: &str) -> Result<&'a Run, String> {
    let (server, scenario) = key
        .split_once(':')
        .ok_or_else(|| format!("{key:?}: expected SERVER:SCENARIO"))?;
    runs.iter()
        .find(|r| r.server == server && r.scenario == scenario)
        .ok_or_else(|| format!("no run {key}"))
}

/// `NAME=A/B` as a sentence with both ratios.
fn ratio_line(runs: &[Run], spec: &str) -> Result<String, String> {
    let (name, pair) = spec
        .split_once('=')
        .ok_or_else(|| format!("--ratio {spec:?}: expected NAME=A/B"))?;
    let (a, b) = pair
        .split_once('/')
        .ok_or_else(|| format!("--ratio {spec:?}: expected NAME=A/B"))?;
    let (a, b) = (find(runs, a)?, find(runs, b)?);
    Ok(format!(
        "{name}: {} of the throughput, {} per server CPU-second",
        ratio(Some(a.per_s), Some(b.per_s)),
        ratio(a.per_cpu_s, b.per_cpu_s)
    ))
}

/// Scenarios down, servers across: figure per server CPU-second (throughput below it), then
/// each other server's ratio to `base`.
fn side_by_side(runs: &[Run], base: &str) -> String {
    let mut servers: Vec<&str> = Vec::new();
    let mut scenarios: Vec<&str> = Vec::new();
    for r in runs {
        if !servers.contains(&r.server.as_str()) {
            servers.push(&r.server);
        }
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    let others: Vec<&str> = servers.iter().copied().filter(|s| *s != base).collect();
    let mut t = String::from("| scenario (per server CPU-s; throughput) |");
    for s in &servers {
        let _ = write!(t, " {s} |");
    }
    for s in &others {
        let _ = write!(t, " {s} / {base} |");
    }
    t.push_str("\n|---|");
    t.push_str(&"--:|".repeat(servers.len() + others.len()));
    t.push('\n');
    let cell = |server: &str, scenario: &str| {
        runs.iter()
            .find(|r| r.server == server && r.scenario == scenario)
    };
    for sc in &scenarios {
        let _ = write!(t, "| {sc} ({}) |", unit(sc));
        for s in &servers {
            let _ = match cell(s, sc) {
                Some(r) => write!(t, " {} ({}) |", opt(r.per_cpu_s.map(count)), count(r.per_s)),
                None => write!(t, " - |"),
            };
        }
        let base_run = cell(base, sc);
        for s in &others {
            let _ = match (cell(s, sc), base_run) {
                (Some(r), Some(b)) => write!(t, " {} |", ratio(r.per_cpu_s, b.per_cpu_s)),
                _ => write!(t, " - |"),
            };
        }
        t.push('\n');
    }
    t
}

fn run(cli: &Cli) -> Result<String, String> {
    let mut runs = Vec::new();
    for spec in &cli.runs {
        let (server, file) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec:?}: expected SERVER=FILE"))?;
        let path = PathBuf::from(file);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        runs.push(Run::parse(server, &text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    let mut out = runs_table(&runs);
    for spec in &cli.ratio {
        let _ = writeln!(out, "\n{}", ratio_line(&runs, spec)?);
    }
    if let Some(base) = &cli.compare {
        let _ = write!(out, "\n{}", side_by_side(&runs, base));
    }
    Ok(out)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("volley-bench-table: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(scenario: &str, completed: u64, cpu_s: Option<f64>) -> String {
        let server = match cpu_s {
            Some(c) => format!(
                r#"{{"pid":1,"cpu_s":{c},"completed_per_cpu_s":0,"rss_start_bytes":0,
                    "rss_end_bytes":3145728}}"#
            ),
            None => "null".into(),
        };
        format!(
            r#"{{"result":{{"scenario":"{scenario}","connections":100}},
                "summary":{{"counters":{{"completed":{completed},"connected":100}},
                "errors_total":0,"completed_per_s":{completed}.0,"connects_per_s":50.0,
                "latency":{{"p50_us":650,"p99_us":6019}},
                "handshake":{{"p50_us":250,"p99_us":12287}},"server":{server}}}}}"#
        )
    }

    fn run_of(server: &str, scenario: &str, completed: u64, cpu_s: Option<f64>) -> Run {
        Run::parse(server, &doc(scenario, completed, cpu_s)).unwrap()
    }

    #[test]
    fn reads_the_figures_of_a_run() {
        let r = run_of("volley", "echo", 129054, Some(0.5));
        assert_eq!(r.scenario, "echo");
        assert_eq!(r.per_s, 129054.0);
        assert_eq!(r.per_cpu_s, Some(258108.0));
        assert_eq!((r.p50_us, r.p99_us, r.errors), (650, 6019, 0));
        assert_eq!(r.rss_end_bytes, Some(3 << 20));
        let c = run_of("volley", "connect", 0, Some(0.25));
        assert_eq!((c.per_s, c.per_cpu_s), (50.0, Some(400.0)));
        assert_eq!((c.p50_us, c.p99_us), (250, 12287));
        let none = run_of("node", "echo", 10, None);
        assert_eq!((none.cpu_s, none.per_cpu_s), (None, None));
        assert!(Run::parse("x", "{}")
            .unwrap_err()
            .contains("result.scenario"));
        assert!(Run::parse("x", "not json").is_err());
    }

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.4), "999");
        assert_eq!(count(1000.0), "1,000");
        assert_eq!(count(1234567.8), "1,234,568");
        assert_eq!(count(-4200.0), "-4,200");
        assert_eq!(count(f64::NAN), "n/a");
    }

    #[test]
    fn the_runs_table_has_one_row_per_run() {
        let runs = [
            run_of("volley", "ws-echo", 200000, Some(1.0)),
            run_of("volley", "echo", 100000, Some(1.0)),
        ];
        let t = runs_table(&runs);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[2],
            "| volley | ws-echo | 100 | 200,000 echoes/s | 0.650 | 6.019 | 1.00 | 200,000 | 3.0 | 0 |"
        );
        assert!(lines[3].contains("100,000 acks/s"));
    }

    #[test]
    fn ratios_name_both_figures() {
        let runs = [
            run_of("volley", "ws-echo", 200000, Some(1.0)),
            run_of("volley", "echo", 100000, Some(2.0)),
        ];
        assert_eq!(
            ratio_line(&runs, "SIO/WS=volley:echo/volley:ws-echo").unwrap(),
            "SIO/WS: 0.50x of the throughput, 0.25x per server CPU-second"
        );
        assert!(ratio_line(&runs, "x=volley:echo/node:echo")
            .unwrap_err()
            .contains("node:echo"));
        assert!(ratio_line(&runs, "no-pair").is_err());
    }

    #[test]
    fn side_by_side_divides_by_the_base_server() {
        let runs = [
            run_of("node", "echo", 10000, Some(1.0)),
            run_of("volley", "echo", 40000, Some(0.5)),
            run_of("volley", "ws-echo", 50000, Some(0.5)),
        ];
        let t = side_by_side(&runs, "node");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "| scenario (per server CPU-s; throughput) | node | volley | volley / node |"
        );
        assert_eq!(
            lines[2],
            "| echo (acks/s) | 10,000 (10,000) | 80,000 (40,000) | 8.00x |"
        );
        assert_eq!(
            lines[3],
            "| ws-echo (echoes/s) | - | 100,000 (50,000) | - |"
        );
    }
}
