#!/usr/bin/env bash
# Side-by-side comparison: the same volley-loadgen scenarios against
#   volley        Volley's bench_server example on its default backend, io_uring (the note under
#                 the table says so when the kernel refused it and it ran epoll),
#   volley-epoll  the same with VOLLEY_BACKEND=epoll,
#   node          the reference socket.io 4.x server (benches/peers/node, npm ci from its lockfile),
#   socketioxide  socketioxide on tokio + hyper (benches/peers/socketioxide, cargo build --release),
# plus raw WebSocket echo (Volley's ws_echo example and Node's `ws` package) as the floor.
# Every server runs on core 0 with one thread (VOLLEY_WORKERS=1, TOKIO_WORKER_THREADS=1), the load
# generator on the other cores. Prints and writes benches/RESULTS.md: the date, an lscpu summary,
# one row per run and the servers side by side per server CPU-second. RESULTS.md keeps whatever
# follows its "<!-- analysis -->" line, so the written analysis survives a rerun.
#
# Env (defaults): BENCH_SECONDS (5), BENCH_WARMUP (1), BENCH_CONNECTIONS (128), BENCH_IN_FLIGHT
# (1), BENCH_PAYLOAD (64), BENCH_MEMBERS (1000), BENCH_BROADCAST_RATE (100 per second),
# BENCH_CONNECTS (2000), BENCH_CONNECT_RATE (1000 per second; also the ramp of broadcast
# members), BENCH_PORT (37121), BENCH_SERVERS (volley volley-epoll node socketioxide),
# BENCH_PERF (0; 1 adds a pass, after and apart from the measured runs, with `perf record -e
# cpu-clock -g` on the Volley server in every scenario, and writes each profile's top symbols
# beside the JSON), BENCH_RESULTS (benches/RESULTS.md), BENCH_OUT (a fresh temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
root=$(pwd)

secs=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
conns=${BENCH_CONNECTIONS:-128}
in_flight=${BENCH_IN_FLIGHT:-1}
payload=${BENCH_PAYLOAD:-64}
members=${BENCH_MEMBERS:-1000}
bcast_rate=${BENCH_BROADCAST_RATE:-100}
connects=${BENCH_CONNECTS:-2000}
connect_rate=${BENCH_CONNECT_RATE:-1000}
port=${BENCH_PORT:-37121}
servers=${BENCH_SERVERS:-volley volley-epoll node socketioxide}
perf_on=${BENCH_PERF:-0}
results=${BENCH_RESULTS:-benches/RESULTS.md}
out=${BENCH_OUT:-$(mktemp -d /tmp/volley-bench-peers.XXXXXX)}
mkdir -p "$out"

split_cores 1

wants() { [[ " $servers " == *" $1 "* ]]; }

build_release
if wants node; then
  echo "==> npm ci in benches/peers/node (socket.io, ws)"
  if [ ! -d benches/peers/node/node_modules ] \
    || [ benches/peers/node/package-lock.json -nt benches/peers/node/node_modules ]; then
    (cd benches/peers/node && npm ci --no-audit --no-fund)
  fi
fi
sioxide=
if wants socketioxide; then
  echo "==> cargo build --release in benches/peers/socketioxide"
  # Absolute, so a relative CARGO_TARGET_DIR means the same folder as for the workspace build.
  sx_target=${CARGO_TARGET_DIR:-benches/peers/socketioxide/target}
  [[ $sx_target == /* ]] || sx_target="$root/$sx_target"
  (cd benches/peers/socketioxide && cargo build --release --locked --target-dir "$sx_target")
  sioxide="$sx_target/release/volley-peer-socketioxide"
fi

# start NAME COMMAND...: runs COMMAND on the server core, waits for its "listening" line.
start() {
  local name=$1; shift
  start_server "$out/$name.server.log" taskset -c "$server_cores" "$@"
}

start_volley() {
  local example=$1; shift
  start "$example" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=1 VOLLEY_PIN_CORES=1 \
    VOLLEY_FIRST_CORE=0 "$@" "$target/examples/$example"
}

# load SERVER SCENARIO ARGS...: one volley-loadgen run against the running server. With
# PROFILE set, the run is not a result: perf samples the server and the top symbols are kept.
load() {
  local server=$1 scenario=$2; shift 2
  local base="$out/$server-$scenario${PROFILE:+.profile}" rc=0 perf_pid=
  echo "==> $scenario against $server${PROFILE:+ (profiled; not in the table)}"
  if [ -n "${PROFILE:-}" ]; then
    perf record -e cpu-clock -g -p "$pid" -o "$base.perf.data" > "$base.perf.log" 2>&1 &
    perf_pid=$!
  fi
  run_load "$base" "$scenario" "$@" || rc=$?
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    top() {
      perf report -i "$base.perf.data" --stdio --no-children -g none --sort "$1" 2>/dev/null \
        | grep -E '^ +[0-9.]+%' | sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//' | head -n "$2"
    }
    { top dso 4; echo; top symbol 30; } > "$base.perf.txt" || true
    echo "    top symbols: $base.perf.txt"
    return 0
  fi
  if (( rc == 1 )); then cat "$base.log"; exit 1; fi
  (( rc == 0 )) || echo "    errors counted, see $base.log"
  runs+=("$server=$base.json")
}

window=(--duration "$secs" --warmup "$warmup" --drain 1)
sio_scenarios() {
  local server=$1 url=http://127.0.0.1:$port
  load "$server" echo --url "$url" -c "$conns" -k "$in_flight" --payload "$payload" "${window[@]}"
  load "$server" broadcast --url "$url" -c "$members" --connect-rate "$connect_rate" --senders 1 \
    --rate "$bcast_rate" --payload "$payload" "${window[@]}"
  load "$server" connect --url "$url" -c "$connects" --rate "$connect_rate" --duration 0 \
    --drain 0.5
}
ws_scenario() {
  load "$1" ws-echo --url "ws://127.0.0.1:$port/" -c "$conns" -k "$in_flight" \
    --payload "$payload" "${window[@]}"
}

runs=()
uring_note=
if wants volley; then
  start_volley ws_echo; ws_scenario volley; stop_server
  start_volley bench_server
  if ! ls -l "/proc/$pid/fd" 2>/dev/null | grep -q io_uring; then
    uring_note="The kernel refused io_uring: the volley column ran its epoll fallback."
    echo "==> $uring_note"
  fi
  sio_scenarios volley; stop_server
fi
if wants volley-epoll; then
  start_volley ws_echo VOLLEY_BACKEND=epoll; ws_scenario volley-epoll; stop_server
  start_volley bench_server VOLLEY_BACKEND=epoll; sio_scenarios volley-epoll; stop_server
fi
if wants node; then
  start node-ws node benches/peers/node/server.mjs "$port" ws; ws_scenario node; stop_server
  start node node benches/peers/node/server.mjs "$port" sio; sio_scenarios node; stop_server
fi
if wants socketioxide; then
  start socketioxide env TOKIO_WORKER_THREADS=1 "$sioxide" "$port"
  sio_scenarios socketioxide
  stop_server
fi

if [ "$perf_on" = 1 ]; then
  start_volley ws_echo; PROFILE=1 ws_scenario volley; stop_server
  start_volley bench_server
  PROFILE=1 sio_scenarios volley
  stop_server
fi

compare=node
wants node || compare=$(echo "$servers" | awk '{ print $1 }')
ratio=()
if wants volley; then
  ratio=(--ratio "Volley: Socket.IO echo / raw WebSocket echo=volley:echo/volley:ws-echo")
fi
table=$("$target/volley-bench-table" "${runs[@]}" --compare "$compare" "${ratio[@]}")

versions() {
  echo "- Volley: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine || echo '+changes'), $(rustc --version)"
  if wants node; then
    echo "- Node $(node --version), socket.io $(node -p "require('./benches/peers/node/node_modules/socket.io/package.json').version"), ws $(node -p "require('./benches/peers/node/node_modules/ws/package.json').version")"
  fi
  if wants socketioxide; then
    echo "- socketioxide $(grep -A1 '^name = "socketioxide"$' benches/peers/socketioxide/Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p'), tokio $(grep -A1 '^name = "tokio"$' benches/peers/socketioxide/Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')"
  fi
}

analysis=
if [ -f "$results" ] && grep -q '^<!-- analysis -->$' "$results"; then
  analysis=$(sed -n '/^<!-- analysis -->$/,$p' "$results")
fi
{
  echo "# Benchmark results"
  echo
  echo "Written by \`scripts/bench-peers.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); rerun it to refresh"
  echo "everything above the analysis."
  echo
  echo "## Machine"
  echo
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|L2 cache|L3 cache|Hypervisor vendor):' \
    | sed -E 's/:[[:space:]]+/: /; s/^/- /'
  echo "- Linux $(uname -r); $(free -g | awk '/^Mem:/ { print $2 " GiB memory" }')"
  versions
  echo
  echo "## Setup"
  echo
  echo "Every server on core 0 with one thread; volley-loadgen on cores $client_cores ($client_threads loop(s))."
  echo "echo and ws-echo: $conns connections x $in_flight in flight, $payload-byte payloads, closed loop."
  echo "broadcast: $members members of one room (joining at $connect_rate/s), 1 sender at $bcast_rate broadcasts/s."
  echo "connect: $connects connections at $connect_rate/s (WebSocket upgrade, Engine.IO open, Socket.IO CONNECT)."
  echo "Windows of ${secs}s after ${warmup}s of warm-up. Server CPU seconds and RSS come from /proc/PID/stat"
  echo "over the window; \"per server CPU-s\" is the scenario's count divided by them."
  [ -z "$uring_note" ] || { echo; echo "$uring_note"; }
  echo
  echo "## Results"
  echo
  echo "$table"
  if [ -n "$analysis" ]; then
    echo
    echo "$analysis"
  fi
} > "$results.tmp"
mv "$results.tmp" "$results"

echo
echo "$table"
echo
echo "Written to $results; runs (JSON, logs$([ "$perf_on" = 1 ] && echo ', perf')) in $out"
