#!/usr/bin/env bash
# How the engine scales with workers: bench_server with 1, 2, 4 ... workers pinned to cores
# 0..N-1, on each backend, against volley-loadgen on the upper half of the cores (the same client
# cores for every row, so only the server changes). Two scenarios per row: Socket.IO echo with
# acks, closed loop (throughput), and a room broadcast at a fixed rate whose members are spread
# over the workers (fan-out across cores through the workers' mailboxes). Prints one table: rates,
# per server CPU-second, p99 latency, and throughput relative to the one-worker row.
#
# Needs at least 4 cores to say anything (workers get at most half of them); on 2 cores it runs
# the one-worker row only.
#
# Env (defaults): BENCH_WORKERS (1 2 4 8, capped at half the cores), BENCH_BACKENDS (uring
# epoll), BENCH_SECONDS (4), BENCH_CONNECTIONS (1024), BENCH_IN_FLIGHT (1), BENCH_MEMBERS (2000),
# BENCH_BROADCAST_RATE (100 per second), BENCH_PORT (37151), BENCH_PREBUILT (0; see lib.sh),
# BENCH_OUT (a fresh temporary directory: one JSON file and one log per run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

secs=${BENCH_SECONDS:-4}
conns=${BENCH_CONNECTIONS:-1024}
in_flight=${BENCH_IN_FLIGHT:-1}
members=${BENCH_MEMBERS:-2000}
bcast_rate=${BENCH_BROADCAST_RATE:-100}
backends=(${BENCH_BACKENDS:-uring epoll})
port=${BENCH_PORT:-37151}
out=${BENCH_OUT:-$(mktemp -d /tmp/volley-bench-scale.XXXXXX)}
mkdir -p "$out"

build_release

cores=$(nproc)
half=$(( cores / 2 > 0 ? cores / 2 : 1 ))
workers=()
for w in ${BENCH_WORKERS:-1 2 4 8}; do
  (( w <= half )) && workers+=("$w")
done
(( ${#workers[@]} > 0 )) || workers=(1)
# The load generator keeps the upper half (the last core on a 2-core machine) in every row; each
# row pins its workers itself.
split_cores "$half"
url=http://127.0.0.1:$port
window=(--duration "$secs" --warmup 1 --drain 1)

for backend in "${backends[@]}"; do
  for w in "${workers[@]}"; do
    base="$out/$backend.$w"
    echo "==> $backend, $w worker(s) on cores 0-$(( w - 1 )); load generator on $client_cores"
    start_server "$base.server.log" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS="$w" \
      VOLLEY_PIN_CORES=1 VOLLEY_FIRST_CORE=0 VOLLEY_BACKEND="$backend" \
      taskset -c "0-$(( w - 1 ))" "$target/examples/bench_server"
    run_load "$base.echo" echo --url "$url" -c "$conns" -k "$in_flight" --payload 64 "${window[@]}"
    run_load "$base.broadcast" broadcast --url "$url" -c "$members" --connect-rate 2000 --senders 1 \
      --rate "$bcast_rate" --payload 64 "${window[@]}"
    stop_server
  done
done

echo
echo "bench_server, N workers pinned from core 0; volley-loadgen with $client_threads threads on" \
  "cores $client_cores; echo: $conns connections x $in_flight in flight, 64-byte payloads;" \
  "broadcast: $members members, $bcast_rate/s; ${secs}s windows."
echo
python3 - "$out" "${backends[*]}" "${workers[*]}" <<'PY'
import json, sys
out, backends, workers = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def summary(path):
    s = json.load(open(path))["summary"]
    if s["errors_total"]:
        sys.exit(f"{path}: {s['errors_total']} errors")
    return s
print("| backend | workers | echo acks/s | / 1 worker | acks per server CPU-s | echo p99 ms "
      "| deliveries/s | deliveries per server CPU-s | broadcast p99 ms |")
print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
for b in backends:
    base = None
    for w in workers:
        e = summary(f"{out}/{b}.{w}.echo.json")
        d = summary(f"{out}/{b}.{w}.broadcast.json")
        rate = e["completed_per_s"]
        base = base or rate
        print(f"| {b} | {w} | {rate:,.0f} | {rate / base:.2f}x "
              f"| {e['server']['completed_per_cpu_s']:,.0f} | {e['latency']['p99_us'] / 1000:.2f} "
              f"| {d['completed_per_s']:,.0f} | {d['server']['completed_per_cpu_s']:,.0f} "
              f"| {d['latency']['p99_us'] / 1000:.2f} |")
PY
echo
echo "Runs (JSON and full reports): $out"
