#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser with libFuzzer on the stable toolchain (SanitizerCoverage
# flags instead of cargo-fuzz's nightly sanitizers): each target runs FUZZ_SECONDS (default 60)
# from its seed corpus. Prints executions and crashes per target; FUZZ_RECORD=1 adds them to the
# fuzzing table of benches/RESULTS.md. A crash stops the script with the reproducer's path.
set -euo pipefail
cd "$(dirname "$0")/../engine/fuzz"

secs=${FUZZ_SECONDS:-60}
targets=$(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' Cargo.toml)
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-target-cov}
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"

# An explicit --target keeps the instrumentation out of build scripts and proc-macros.
host=$(rustc -vV | sed -n 's/^host: //p')
echo "==> building instrumented fuzz targets ($host)"
cargo build --release --bins --target "$host"

rows=()
for t in $targets; do
  work=$(mktemp -d)
  cp -r "corpus/$t/." "$work/"
  mkdir -p artifacts
  echo "==> $t for ${secs}s"
  log=$(mktemp)
  if ! "$CARGO_TARGET_DIR/$host/release/$t" -max_total_time="$secs" -artifact_prefix="artifacts/$t-" \
      -print_final_stats=1 "$work" > "$log" 2>&1; then
    tail -n 30 "$log"
    echo "CRASH in $t: see engine/fuzz/artifacts/"
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  corpus=$(ls "$work" | wc -l)
  printf '%-14s %12s executions, coverage %s, corpus %s, 0 crashes\n' "$t" "$execs" "$cov" "$corpus"
  rows+=("| $(date -u +%F) | $t | ${secs} s | $execs | $cov | $corpus | 0 |")
  rm -rf "$work" "$log"
done
if [ "${FUZZ_RECORD:-0}" = 1 ]; then
  printf '%s\n' "${rows[@]}" | node -e '
    const fs = require("fs");
    const rows = fs.readFileSync(0, "utf8");
    const file = "../../benches/RESULTS.md";
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("<!-- fuzz rows -->", rows + "<!-- fuzz rows -->"));
  '
fi
