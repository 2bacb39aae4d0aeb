//! `volley-loadgen`: a load generator for WebSocket, Engine.IO and Socket.IO servers.
//!
//! `main` only parses the command line and dispatches: a child runs its share and reports on
//! stdout; otherwise the run happens here or across `--processes` children, and the summary goes
//! to stdout, `--json` and `--plot`.

mod cli;
mod clock;
mod event_loop;
mod failure;
mod ledger;
mod net;
mod plot;
mod procfs;
mod procs;
mod report;
mod run_state;
mod runner;
mod scenario;
mod stats;
mod tls;
mod ws_client;

use std::process::ExitCode;

use clap::Parser;

use cli::{ChildRange, Cli};
use report::RunResult;
use runner::Start;

/// Exit status of a run that completed but counted errors (failed or dropped connections,
/// protocol errors, timeouts, losses, duplicates): scripts notice without reading the JSON.
const EXIT_ERRORS_COUNTED: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(EXIT_ERRORS_COUNTED),
        Err(e) => {
            eprintln!("volley-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; the number of errors counted.
fn run(cli: &Cli) -> Result<u64, String> {
    let opts = cli.command.opts();
    opts.validate()?;
    let limit = procs::raise_nofile_limit();
    if let Some(range) = opts.child {
        let result = runner::run(&cli.command, range, Start::Parent, None)?;
        let json = serde_json::to_string(&result).map_err(|e| e.to_string())?;
        println!("result {{\"result\":{json}}}");
        return Ok(0);
    }
    let processes = procs::processes_needed(opts.connections, u64::from(opts.processes), limit);
    if processes > 1 {
        // Children would each fail on a bad URL or TLS option: say it once, here.
        let target = net::parse_url(&opts.url)?;
        runner::tls_connector(opts, &target)?;
    }
    if processes > u64::from(opts.processes) {
        eprintln!(
            "volley-loadgen: {} connections exceed the open-file limit {limit} of one process; \
             using {processes} processes",
            opts.connections
        );
    }
    let result = if processes > 1 {
        procs::run(&cli.command, processes)?
    } else {
        let all = ChildRange {
            first: 0,
            count: opts.connections,
        };
        runner::run(&cli.command, all, Start::Own, opts.server_pid)?
    };
    write_outputs(&result, opts)?;
    Ok(result.summary().errors_total)
}

fn write_outputs(result: &RunResult, opts: &cli::Opts) -> Result<(), String> {
    print!("{}", result.table());
    if let Some(path) = &opts.json {
        let json = result.to_json().map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &opts.plot {
        let svg = result.plot_svg();
        std::fs::write(path, svg).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
