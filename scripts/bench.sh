#!/usr/bin/env bash
# The main benchmark: build Volley and the load generator in release mode, start the servers
# pinned to the first core(s), drive them with volley-loadgen on the other cores, and print one
# table: throughput, latency, server CPU seconds and RSS for
#   ws-echo   raw WebSocket echo against the ws_echo example (the floor),
#   echo      Socket.IO emit with ack against bench_server (a plain handler, then an async one:
#             `on_async` on a tokio runtime, the row labelled volley-async),
#   broadcast Socket.IO room broadcast against bench_server,
#   connect   WebSocket + Engine.IO + Socket.IO handshakes against bench_server,
# then the ratio Socket.IO echo / raw WebSocket echo. Takes well under two minutes after the build.
#
# Env (defaults): VOLLEY_WORKERS (1; server threads, pinned from core 0), BENCH_SECONDS (5),
# BENCH_WARMUP (1), BENCH_CONNECTIONS (128), BENCH_IN_FLIGHT (1), BENCH_PAYLOAD (64),
# BENCH_MEMBERS (1000), BENCH_BROADCAST_RATE (100 per second), BENCH_CONNECTS (2000),
# BENCH_CONNECT_RATE (1000 per second; also the ramp of broadcast members), BENCH_PORT (37111),
# BENCH_OUT (a fresh temporary directory: one JSON file and one log per run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

workers=${VOLLEY_WORKERS:-1}
secs=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-1}
conns=${BENCH_CONNECTIONS:-128}
in_flight=${BENCH_IN_FLIGHT:-1}
payload=${BENCH_PAYLOAD:-64}
members=${BENCH_MEMBERS:-1000}
bcast_rate=${BENCH_BROADCAST_RATE:-100}
connects=${BENCH_CONNECTS:-2000}
connect_rate=${BENCH_CONNECT_RATE:-1000}
port=${BENCH_PORT:-37111}
out=${BENCH_OUT:-$(mktemp -d /tmp/volley-bench.XXXXXX)}
mkdir -p "$out"

split_cores "$workers"

build_release

# serve NAME: the example NAME on $port, its workers pinned to the server cores and (taskset)
# its other threads kept off the load generator's cores.
serve() {
  start_server "$out/$1.server.log" env VOLLEY_LISTEN=127.0.0.1:$port VOLLEY_WORKERS=$workers \
    VOLLEY_PIN_CORES=1 VOLLEY_FIRST_CORE=0 taskset -c "$server_cores" "$target/examples/$1"
}

# load NAME SCENARIO ARGS...: one volley-loadgen run against the running server, saved as
# $out/NAME-SCENARIO (LOAD_TAG=x makes it NAME-SCENARIO-x).
load() {
  local name=$1 scenario=$2; shift 2
  local rc=0 base="$out/$name-$scenario${LOAD_TAG:+-$LOAD_TAG}"
  echo "==> $scenario${LOAD_TAG:+ ($LOAD_TAG)} against $name (server cores $server_cores, client cores $client_cores)"
  run_load "$base" "$scenario" "$@" || rc=$?
  if (( rc == 1 )); then cat "$base.log"; exit 1; fi
  (( rc == 0 )) || echo "    errors counted, see $base.log"
}

window=(--duration "$secs" --warmup "$warmup" --drain 1)

serve ws_echo
load ws_echo ws-echo --url "ws://127.0.0.1:$port/" -c "$conns" -k "$in_flight" \
  --payload "$payload" "${window[@]}"
stop_server

serve bench_server
url=http://127.0.0.1:$port
load bench_server echo --url "$url" -c "$conns" -k "$in_flight" --payload "$payload" "${window[@]}"
LOAD_TAG=async load bench_server echo --url "$url" -c "$conns" -k "$in_flight" \
  --payload "$payload" --event echo-async "${window[@]}"
load bench_server broadcast --url "$url" -c "$members" --connect-rate "$connect_rate" --senders 1 \
  --rate "$bcast_rate" --payload "$payload" "${window[@]}"
load bench_server connect --url "$url" -c "$connects" --rate "$connect_rate" --duration 0 \
  --drain 0.5
stop_server

echo
echo "Volley, $workers worker(s) pinned from core 0; load generator on cores $client_cores;"
echo "$conns connections x $in_flight in flight, $payload-byte payloads, ${secs}s windows;" \
  "broadcast: $members members, $bcast_rate/s; connect: $connects at $connect_rate/s."
echo
"$target/volley-bench-table" \
  "volley=$out/ws_echo-ws-echo.json" \
  "volley=$out/bench_server-echo.json" \
  "volley-async=$out/bench_server-echo-async.json" \
  "volley=$out/bench_server-broadcast.json" \
  "volley=$out/bench_server-connect.json" \
  --ratio "Socket.IO echo / raw WebSocket echo=volley:echo/volley:ws-echo" \
  --ratio "async handler echo / plain handler echo=volley-async:echo/volley:echo"
echo
echo "Runs (JSON and full reports): $out"
