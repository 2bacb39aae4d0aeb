#!/usr/bin/env bash
# Compares two revisions of Volley on scripts/bench.sh's scenarios (raw WebSocket echo,
# Socket.IO echo with a plain and an async handler, room broadcast, connects), alternating them
# in one run so that both meet the same machine: BENCH_ROUNDS rounds of BEFORE then AFTER, every
# run driven by the same load generator (AFTER's). Prints every run, then per round the ratio
# AFTER / BEFORE of each scenario's throughput and of its throughput per server CPU-second.
#
# Usage: scripts/bench-compare.sh BEFORE [AFTER]   (revisions; AFTER defaults to HEAD)
# Env (defaults): BENCH_ROUNDS (3; 0 only builds), BENCH_COMPARE_DIR (target/bench-compare:
# the two source trees and their release builds), and bench.sh's own variables.
set -euo pipefail
cd "$(dirname "$0")/.."

before=${1:?usage: scripts/bench-compare.sh BEFORE [AFTER]}
after=${2:-HEAD}
rounds=${BENCH_ROUNDS:-3}
work=$(realpath -m "${BENCH_COMPARE_DIR:-target/bench-compare}")
out=$(mktemp -d /tmp/volley-compare.XXXXXX)

# build NAME REV: REV's tree under $work/NAME/src, its release bench servers under
# $work/NAME/target.
build() {
  local name=$1 rev=$2 dir=$work/$1 full
  full=$(git rev-parse "$rev^{commit}")
  echo "==> $name: $rev ($(git rev-parse --short "$rev")), release build in $dir"
  # The same revision's tree is kept, so cargo has nothing to redo on a second run.
  if [ "$(cat "$dir/rev" 2>/dev/null)" != "$full" ]; then
    rm -rf "$dir/src"
    mkdir -p "$dir/src"
    git archive "$full" | tar -x -C "$dir/src"
    echo "$full" > "$dir/rev"
  fi
  (cd "$dir/src" && CARGO_TARGET_DIR="$dir/target" \
    cargo build --release -q -p volley --example bench_server --example ws_echo)
}

build before "$before"
build after "$after"
echo "==> load generator (from $after)"
(cd "$work/after/src" && CARGO_TARGET_DIR="$work/after/target" \
  cargo build --release -q -p volley-loadgen --bins)
for bin in volley-loadgen volley-bench-table; do
  cp "$work/after/target/release/$bin" "$work/before/target/release/$bin"
done

(( rounds > 0 )) || { echo "built; BENCH_ROUNDS=0 runs nothing"; exit 0; }

# FILE:SCENARIO:TAG for each run of bench.sh: the JSON file, the scenario it records, and a
# tag that tells the async echo from the plain one.
runs_of_bench=(ws_echo-ws-echo:ws-echo: bench_server-echo:echo: bench_server-echo-async:echo:-async
  bench_server-broadcast:broadcast: bench_server-connect:connect:)
runs=()
ratios=()
for r in $(seq "$rounds"); do
  for name in before after; do
    echo
    echo "==> round $r: $name"
    CARGO_TARGET_DIR="$work/$name/target" BENCH_PREBUILT=1 BENCH_OUT="$out/$name-$r" \
      scripts/bench.sh > "$out/$name-$r.log"
    for run in "${runs_of_bench[@]}"; do
      IFS=: read -r file _ tag <<< "$run"
      runs+=("$name-$r$tag=$out/$name-$r/$file.json")
    done
  done
  for run in "${runs_of_bench[@]}"; do
    IFS=: read -r _ scenario tag <<< "$run"
    ratios+=(--ratio "$scenario$tag, round $r, after/before=after-$r$tag:$scenario/before-$r$tag:$scenario")
  done
done

echo
echo "Revisions: before $(git rev-parse --short "$before"), after $(git rev-parse --short "$after");" \
  "$rounds rounds, alternating; bench.sh defaults unless overridden."
"$work/after/target/release/volley-bench-table" "${runs[@]}" "${ratios[@]}"
echo
echo "Runs (JSON, logs): $out"
