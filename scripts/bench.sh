#!/usr/bin/env bash
# The main job: build Volley in release mode, start the example WebSocket echo server pinned to
# one core, drive it from a load client pinned to another, and print throughput, latency and the
# CPU seconds the server used (from /proc/PID/stat).
# Env: BENCH_CONNECTIONS (50), BENCH_SECONDS (5), BENCH_PAYLOAD (32), BENCH_PORT (37111).
set -euo pipefail
cd "$(dirname "$0")/.."

conns=${BENCH_CONNECTIONS:-50}
secs=${BENCH_SECONDS:-5}
size=${BENCH_PAYLOAD:-32}
port=${BENCH_PORT:-37111}
cores=$(nproc)
server_core=0
client_core=$(( cores > 1 ? 1 : 0 ))

echo "==> npm packages (interop/)"
[ -d interop/node_modules ] || (cd interop && npm ci --no-audit --no-fund)

echo "==> cargo build --release --example ws_echo"
cargo build --release -p volley --example ws_echo

echo "==> starting ws_echo on 127.0.0.1:$port (1 worker, core $server_core)"
VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=1 VOLLEY_PIN_CORES=1 VOLLEY_FIRST_CORE=$server_core \
  target/release/examples/ws_echo > /tmp/volley-bench-server.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q listening /tmp/volley-bench-server.log && break
  sleep 0.05
done

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

before=$(cpu_seconds $pid)
echo "==> $conns connections, ${size}-byte messages, closed loop, ${secs}s (client on core $client_core)"
result=$(taskset -c $client_core node interop/ws_bench.mjs "ws://127.0.0.1:$port/" "$conns" "$secs" "$size")
after=$(cpu_seconds $pid)
kill -TERM $pid; wait $pid || true
trap - EXIT

node -e '
const r = JSON.parse(process.argv[1]);
const cpu = Number(process.argv[3]) - Number(process.argv[2]);
const row = (k, v) => console.log(k.padEnd(28), v);
console.log("\nVolley ws_echo (plain WebSocket), client: ws npm");
row("connections", r.connections);
row("payload bytes", r.payload);
row("messages echoed", r.messages);
row("errors", r.errors);
row("echoes per second", r.rate.toFixed(0));
row("latency p50 / p99 / max ms", `${r.p50_ms.toFixed(3)} / ${r.p99_ms.toFixed(3)} / ${r.max_ms.toFixed(3)}`);
row("server CPU seconds", cpu.toFixed(2));
row("echoes per server CPU-second", cpu > 0 ? (r.messages / cpu).toFixed(0) : "n/a");
' "$result" "$before" "$after"
