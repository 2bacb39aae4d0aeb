#!/usr/bin/env bash
# How connections should reach the workers: the same load against bench_server with two
# workers, once with one SO_REUSEPORT listener per worker (VOLLEY_ACCEPT=reuseport) and once with
# a single acceptor dealing connections round-robin (VOLLEY_ACCEPT=acceptor). Prints one table
# (per server CPU-second, the same loadgen options as bench.sh). On a 2-core machine the load
# generator shares the cores with the two workers, so compare the columns, not absolute rates.
# Env: BENCH_SECONDS (5), BENCH_CONNECTS (4000), BENCH_CONNECT_RATE (2000), BENCH_PORT (37131).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

secs=${BENCH_SECONDS:-5}
connects=${BENCH_CONNECTS:-4000}
connect_rate=${BENCH_CONNECT_RATE:-2000}
port=${BENCH_PORT:-37131}
out=$(mktemp -d /tmp/volley-bench-accept.XXXXXX)

build_release

tables=()
for mode in reuseport acceptor; do
  start_server "$out/$mode.server.log" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=2 \
    VOLLEY_ACCEPT=$mode "$target/examples/bench_server"
  url=http://127.0.0.1:$port
  echo "==> $mode: connect, echo"
  "$target/volley-loadgen" connect --url "$url" -c "$connects" --rate "$connect_rate" --duration 0 \
    --drain 0.5 --threads 1 --server-pid "$pid" --json "$out/$mode-connect.json" -q > /dev/null || true
  "$target/volley-loadgen" echo --url "$url" -c 128 -k 1 --payload 64 --duration "$secs" --warmup 1 \
    --threads 1 --server-pid "$pid" --json "$out/$mode-echo.json" -q > /dev/null || true
  stop_server
  tables+=("$mode=$out/$mode-connect.json" "$mode=$out/$mode-echo.json")
done
"$target/volley-bench-table" --compare reuseport "${tables[@]}"
echo "Runs: $out"
