#!/usr/bin/env bash
# Asynchronous connect middleware does not hold a worker (issue "Fit into a real Rust service"):
# bench_server with one worker pinned to core 0 serves BENCH_CONNECTIONS echo clients on `/`
# (closed loop, one in flight each), first alone, then while new clients connect to
# `/auth-async` at BENCH_CONNECT_RATE per second, whose middleware waits 50 ms on the tokio
# runtime before it admits each. If the worker waited with them, the echo clients' latency would
# grow by the 50 ms times the connects queued before them; it must stay about where it was.
#
# Env (defaults): BENCH_CONNECTIONS (1000), BENCH_CONNECT_RATE (200), BENCH_SECONDS (5),
# BENCH_PORT (37151), BENCH_OUT (a fresh temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

conns=${BENCH_CONNECTIONS:-1000}
rate=${BENCH_CONNECT_RATE:-200}
secs=${BENCH_SECONDS:-5}
port=${BENCH_PORT:-37151}
out=${BENCH_OUT:-$(mktemp -d /tmp/volley-bench.XXXXXX)}
url=http://127.0.0.1:$port

split_cores 1
build_release
start_server "$out/server.log" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=1 \
  VOLLEY_PIN_CORES=1 VOLLEY_FIRST_CORE=0 taskset -c "$server_cores" "$target/examples/bench_server"

echo "==> echo alone ($conns connections)"
run_load "$out/echo-alone" echo --url "$url" -c "$conns" -k 1 --connect-rate 2000 \
  --duration "$secs" --warmup 1 --drain 1
echo "==> echo while clients connect to /auth-async at $rate/s (50 ms async middleware)"
run_load "$out/connects" connect --url "$url" --namespace /auth-async -c $(( rate * (secs + 3) )) \
  --rate "$rate" --duration 0 --drain 1 &
connects=$!
run_load "$out/echo-beside" echo --url "$url" -c "$conns" -k 1 --connect-rate 2000 \
  --duration "$secs" --warmup 1 --drain 1
wait "$connects"
stop_server

"$target/volley-bench-table" "alone=$out/echo-alone.json" "beside-connects=$out/echo-beside.json" \
  "auth-async=$out/connects.json"
echo "Runs (JSON and full reports): $out"
